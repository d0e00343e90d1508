"""The learning task: a small CNN on scikit-learn's 8x8 digits, its data split and its weights format.

Usage::

    from federation.task import DigitsCNN, load_partition, train, evaluate, model_to_arrays

    data = load_partition(partner_id=0, num_partners=3, partitioning="dirichlet", alpha=0.5, seed=7)
    model = DigitsCNN()
    stats = train(model, make_loader(data.train, batch_size=32, seed=7), epochs=1, lr=0.05)
    arrays = model_to_arrays(model)          # ArrayRecord in training order
    export_safetensors(arrays, "global.safetensors")
    assert load_safetensors_as_arrayrecord("global.safetensors").object_id == arrays.object_id

Hash bridge
-----------
``ArrayRecord.object_id`` (flwr 1.42) is the SHA-256 of a deflated header+body. For an ArrayRecord the
body is ``json.dumps({name: array_object_id, ...})`` in insertion order and the header lists the child
ids in that order, so the **order of names matters**. Each ``Array`` id covers its ``dtype`` string,
``shape``, ``stype`` and its ``np.save`` bytes (which embed the ``'<f4'`` descr, ``fortran_order`` and
shape), so **dtype, shape, memory layout and bytes all matter**. :func:`model_to_arrays` therefore always
stores C-contiguous arrays in ``state_dict`` order, and :func:`export_safetensors` writes that order into
the file's ``__metadata__`` so that :func:`load_safetensors_as_arrayrecord` can rebuild the same record.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from flwr.app import Array, ArrayRecord
from safetensors import safe_open
from safetensors.numpy import save_file
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

Partitioning = Literal["iid", "dirichlet"]

NUM_CLASSES = 10
IMAGE_SHAPE = (1, 8, 8)
TEST_FRACTION = 0.2
# The coordinator keeps a small clean set of its own for the watermark fine-tune, so that the
# held-out test split stays untouched by any training.
COORDINATOR_FRACTION = 0.1
LOCAL_VALIDATION_FRACTION = 0.2
# Dirichlet draws can leave a partner with almost nothing; below this we redraw.
MIN_PARTNER_EXAMPLES = 20
MAX_DIRICHLET_ATTEMPTS = 1000
MAX_GRAD_NORM = 2.0
# The single safetensors metadata key: one key keeps the header bytes independent of map ordering.
TRAINING_ORDER_METADATA_KEY = "provenet.training_order"


class PartitionError(ValueError):
    """A data split was asked for with parameters that cannot produce one."""


class WeightsFormatError(ValueError):
    """A weights file or record does not match what the model or the hash bridge expects."""


@dataclass(frozen=True)
class PartnerData:
    """One partner's local data.

    Attributes
    ----------
    train : TensorDataset
        Local training examples (``float32`` images ``(n, 1, 8, 8)`` in ``[0, 1]``, ``int64`` labels).
    validation : TensorDataset
        Local validation examples, held out from ``train`` and used by federated evaluation.
    """

    train: TensorDataset
    validation: TensorDataset


@dataclass(frozen=True)
class TrainStats:
    """Loss and accuracy of a pass over a data set.

    Attributes
    ----------
    loss : float
        Mean cross-entropy per example.
    accuracy : float
        Fraction of examples classified correctly.
    num_examples : int
        Number of examples seen (per epoch for training).
    """

    loss: float
    accuracy: float
    num_examples: int


class DigitsCNN(nn.Module):
    """A two-convolution network for 1x8x8 digit images (about 37k parameters)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(32 * 4 * 4, 64),
            nn.ReLU(),
            nn.Linear(64, NUM_CLASSES),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return class logits for a batch of ``(n, 1, 8, 8)`` images."""
        return self.classifier(self.features(x))


def new_model(seed: int = 0) -> DigitsCNN:
    """Return a freshly initialised model whose weights depend only on ``seed``."""
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    model = DigitsCNN()
    # Restore the global stream so that seeding a model does not perturb the caller's randomness.
    torch.random.set_rng_state(generator_state)
    return model


def _load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    digits = load_digits()
    images = (digits.images.astype(np.float32) / 16.0).reshape(-1, *IMAGE_SHAPE)
    labels = digits.target.astype(np.int64)
    return images, labels


def _split_indices(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (partner pool, coordinator set, test set) indices, stratified by label."""
    indices = np.arange(len(labels))
    rest_idx, test_idx = train_test_split(indices, test_size=TEST_FRACTION, random_state=seed, stratify=labels)
    pool_idx, coordinator_idx = train_test_split(
        rest_idx,
        test_size=COORDINATOR_FRACTION / (1 - TEST_FRACTION),
        random_state=seed,
        stratify=labels[rest_idx],
    )
    return np.sort(pool_idx), np.sort(coordinator_idx), np.sort(test_idx)


def _iid_shards(indices: np.ndarray, num_partners: int, rng: np.random.Generator) -> list[np.ndarray]:
    shuffled = rng.permutation(indices)
    return [np.sort(shard) for shard in np.array_split(shuffled, num_partners)]


def _dirichlet_shards(
    indices: np.ndarray, labels: np.ndarray, num_partners: int, alpha: float, rng: np.random.Generator
) -> list[np.ndarray]:
    for _ in range(MAX_DIRICHLET_ATTEMPTS):
        shards: list[list[int]] = [[] for _ in range(num_partners)]
        for cls in range(NUM_CLASSES):
            cls_idx = rng.permutation(indices[labels[indices] == cls])
            proportions = rng.dirichlet(np.full(num_partners, alpha))
            cuts = (np.cumsum(proportions)[:-1] * len(cls_idx)).astype(int)
            for partner, part in enumerate(np.split(cls_idx, cuts)):
                shards[partner].extend(part.tolist())
        if min(len(s) for s in shards) >= MIN_PARTNER_EXAMPLES:
            return [np.sort(np.asarray(s, dtype=np.int64)) for s in shards]
    raise PartitionError(
        f"Dirichlet(alpha={alpha}) gave some partner fewer than {MIN_PARTNER_EXAMPLES} examples in "
        f"{MAX_DIRICHLET_ATTEMPTS} draws for {num_partners} partners; raise alpha or use fewer partners."
    )


def partition_indices(
    num_partners: int, partitioning: Partitioning = "iid", alpha: float = 0.5, seed: int = 0
) -> list[np.ndarray]:
    """Split the training pool of the digits data set into one index array per partner.

    Parameters
    ----------
    num_partners : int
        Number of partners; at least 1.
    partitioning : {"iid", "dirichlet"}
        ``"iid"`` shuffles and cuts into near-equal shards; ``"dirichlet"`` gives each class to the
        partners in Dirichlet(``alpha``) proportions (label skew; smaller alpha, more skew).
    alpha : float
        Dirichlet concentration; ignored for ``"iid"``.
    seed : int
        Seed of the whole split (test hold-out and shards): same arguments, same indices everywhere.

    Returns
    -------
    list[numpy.ndarray]
        Disjoint sorted indices into ``load_digits()``, one array per partner, none from the test split
        or the coordinator's set.
    """
    if num_partners < 1:
        raise PartitionError(f"num_partners must be at least 1, got {num_partners}.")
    if partitioning == "dirichlet" and not alpha > 0:
        raise PartitionError(f"Dirichlet alpha must be positive, got {alpha}.")
    _, labels = _load_digits_arrays()
    train_idx, _, _ = _split_indices(labels, seed)
    rng = np.random.default_rng(seed)
    if partitioning == "iid":
        return _iid_shards(train_idx, num_partners, rng)
    if partitioning == "dirichlet":
        return _dirichlet_shards(train_idx, labels, num_partners, alpha, rng)
    raise PartitionError(f"partitioning must be 'iid' or 'dirichlet', got {partitioning!r}.")


def _dataset(images: np.ndarray, labels: np.ndarray) -> TensorDataset:
    return TensorDataset(torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels))


def load_partition(
    partner_id: int,
    num_partners: int,
    partitioning: Partitioning = "iid",
    alpha: float = 0.5,
    seed: int = 0,
) -> PartnerData:
    """Return one partner's training and validation data.

    Parameters
    ----------
    partner_id : int
        Zero-based partner index, ``0 <= partner_id < num_partners``.
    num_partners : int
        Number of partners sharing the training pool.
    partitioning : {"iid", "dirichlet"}
        See :func:`partition_indices`.
    alpha : float
        Dirichlet concentration for ``"dirichlet"``.
    seed : int
        Seed of the split; every partner must use the same one.

    Returns
    -------
    PartnerData
        The partner's shard, cut (seeded) into training and local validation examples.
    """
    if not 0 <= partner_id < num_partners:
        raise PartitionError(f"partner_id must be in [0, {num_partners}), got {partner_id}.")
    images, labels = _load_digits_arrays()
    shard = partition_indices(num_partners, partitioning, alpha, seed)[partner_id]
    # Seed per partner so that validation cuts differ between partners but never between runs.
    rng = np.random.default_rng([seed, partner_id])
    shuffled = rng.permutation(shard)
    num_val = max(1, int(round(len(shuffled) * LOCAL_VALIDATION_FRACTION)))
    val_idx, train_idx = np.sort(shuffled[:num_val]), np.sort(shuffled[num_val:])
    return PartnerData(
        train=_dataset(images[train_idx], labels[train_idx]),
        validation=_dataset(images[val_idx], labels[val_idx]),
    )


def load_test_set(seed: int = 0) -> TensorDataset:
    """Return the held-out test split (never trained on by anyone) for a split ``seed``."""
    images, labels = _load_digits_arrays()
    _, _, test_idx = _split_indices(labels, seed)
    return _dataset(images[test_idx], labels[test_idx])


def load_training_pool(seed: int = 0) -> TensorDataset:
    """Return the whole pool the partners' shards are cut from (no test, no coordinator examples)."""
    images, labels = _load_digits_arrays()
    pool_idx, _, _ = _split_indices(labels, seed)
    return _dataset(images[pool_idx], labels[pool_idx])


def load_coordinator_set(seed: int = 0) -> TensorDataset:
    """Return the coordinator's own clean examples (used to keep accuracy while watermarking)."""
    images, labels = _load_digits_arrays()
    _, coordinator_idx, _ = _split_indices(labels, seed)
    return _dataset(images[coordinator_idx], labels[coordinator_idx])


def make_loader(dataset: TensorDataset, batch_size: int = 32, seed: int | None = 0) -> DataLoader:
    """Return a loader that shuffles with its own seeded generator, or keeps order if ``seed`` is None."""
    if seed is None:
        return DataLoader(dataset, batch_size=batch_size, shuffle=False)
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=generator)


def train(model: nn.Module, loader: DataLoader, epochs: int = 1, lr: float = 0.05) -> TrainStats:
    """Train ``model`` in place with SGD (momentum 0.9) and return the last epoch's statistics.

    Parameters
    ----------
    model : torch.nn.Module
        The model to train.
    loader : torch.utils.data.DataLoader
        Batches of ``(images, labels)``.
    epochs : int
        Passes over ``loader``.
    lr : float
        Learning rate.

    Returns
    -------
    TrainStats
        Mean loss and accuracy over the final epoch, measured on the fly during training.
    """
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    model.train()
    stats = TrainStats(loss=float("nan"), accuracy=0.0, num_examples=0)
    for _ in range(epochs):
        total_loss, correct, seen = 0.0, 0, 0
        for images, labels in loader:
            optimizer.zero_grad()
            logits = model(images)
            loss = criterion(logits, labels)
            loss.backward()
            # Fresh optimiser state meets a global model moved by other partners (or the watermark
            # step) every round; bounded steps keep the first updates from throwing it off a cliff.
            nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
            optimizer.step()
            total_loss += float(loss.item()) * len(labels)
            correct += int((logits.argmax(dim=1) == labels).sum().item())
            seen += len(labels)
        stats = TrainStats(loss=total_loss / max(seen, 1), accuracy=correct / max(seen, 1), num_examples=seen)
    return stats


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader) -> TrainStats:
    """Return mean cross-entropy and accuracy of ``model`` on ``loader`` without changing the model."""
    criterion = nn.CrossEntropyLoss(reduction="sum")
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    for images, labels in loader:
        logits = model(images)
        total_loss += float(criterion(logits, labels).item())
        correct += int((logits.argmax(dim=1) == labels).sum().item())
        seen += len(labels)
    return TrainStats(loss=total_loss / max(seen, 1), accuracy=correct / max(seen, 1), num_examples=seen)


def model_to_arrays(model: nn.Module) -> ArrayRecord:
    """Return the model's weights as an ArrayRecord in training order (``state_dict`` order).

    Arrays are made C-contiguous because ``np.save`` records ``fortran_order``, which feeds the
    object id: the same numbers in another layout would get another hash.
    """
    return ArrayRecord(
        {
            name: Array(np.ascontiguousarray(tensor.detach().cpu().numpy()))
            for name, tensor in model.state_dict().items()
        }
    )


def arrays_to_model(arrays: ArrayRecord, model: nn.Module) -> nn.Module:
    """Load ``arrays`` into ``model`` in place (all names must match) and return the model."""
    expected = list(model.state_dict().keys())
    if list(arrays.keys()) != expected:
        raise WeightsFormatError(
            f"ArrayRecord names {list(arrays.keys())} differ from the model's training order {expected}."
        )
    model.load_state_dict(arrays.to_torch_state_dict(), strict=True)
    return model


def export_safetensors(arrays: ArrayRecord, path: str | Path) -> Path:
    """Write ``arrays`` to a ``.safetensors`` file that records their training order.

    The file holds each array under its name and a single metadata entry
    ``"provenet.training_order"`` = JSON list of names in record order (compact separators). The weights
    hash of the registry is the SHA-256 of this file's bytes.

    Parameters
    ----------
    arrays : ArrayRecord
        Weights in training order, numpy-serialised (``stype == "numpy.ndarray"``).
    path : str or pathlib.Path
        Destination file; parent directories are created.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {name: np.ascontiguousarray(array.numpy()) for name, array in arrays.items()}
    order = json.dumps(list(arrays.keys()), separators=(",", ":"))
    save_file(tensors, str(path), metadata={TRAINING_ORDER_METADATA_KEY: order})
    return path


def load_safetensors_as_arrayrecord(path: str | Path, training_order: Sequence[str] | None = None) -> ArrayRecord:
    """Load a ``.safetensors`` file into an ArrayRecord in training order.

    Parameters
    ----------
    path : str or pathlib.Path
        A file written by :func:`export_safetensors` (or any safetensors file if ``training_order`` is
        given, e.g. ``DigitsCNN().state_dict().keys()``).
    training_order : Sequence[str], optional
        Names in training order; defaults to the order recorded in the file's metadata.

    Returns
    -------
    ArrayRecord
        A record whose ``object_id`` equals that of the exported record.
    """
    with safe_open(str(path), framework="np") as handle:
        if training_order is None:
            recorded = (handle.metadata() or {}).get(TRAINING_ORDER_METADATA_KEY)
            if recorded is None:
                raise WeightsFormatError(
                    f"{path} has no '{TRAINING_ORDER_METADATA_KEY}' metadata; pass training_order, "
                    "e.g. list(DigitsCNN().state_dict().keys())."
                )
            training_order = json.loads(recorded)
        names_in_file = set(handle.keys())
        if set(training_order) != names_in_file:
            raise WeightsFormatError(
                f"{path} holds tensors {sorted(names_in_file)} but the training order names {sorted(training_order)}."
            )
        return ArrayRecord({name: Array(np.ascontiguousarray(handle.get_tensor(name))) for name in training_order})
