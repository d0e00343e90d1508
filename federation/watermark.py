"""Server-side backdoor watermark for the global model, after WAFFLE (Tekgul et al., 2021).

The coordinator keeps a secret trigger set of out-of-distribution 8x8 patterns with random labels,
fine-tunes the aggregated model on it (mixed with clean data so that the task is not forgotten), and
later proves ownership by showing that a suspect model labels the triggers far above chance.

Usage::

    trigger_set = generate_trigger_set(seed=1234, size=100)
    embed(model, trigger_set, steps=100, lr=0.05, clean_data=load_coordinator_set(0))
    accuracy, p_value = verify(model, trigger_set)            # or verify("model.safetensors", ...)
    digest = watermark_digest(trigger_set, WatermarkParams())  # 32 bytes, committed on chain
    save_trigger_set(trigger_set, "secret/trigger")            # trigger.safetensors + trigger.json
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from safetensors.numpy import load_file, save_file
from scipy.stats import binomtest
from torch import nn
from torch.utils.data import TensorDataset

from federation.task import (
    IMAGE_SHAPE,
    NUM_CLASSES,
    DigitsCNN,
    arrays_to_model,
    load_safetensors_as_arrayrecord,
)

TRIGGER_FORMAT_VERSION = "provenet-waffle-v1"
DIGEST_DOMAIN = b"provenet.watermark.v1\x00"
CHANCE_LEVEL = 1.0 / NUM_CLASSES
_PATTERN_KINDS = ("noise", "stripes", "checkerboard", "blocks")


class TriggerSetError(ValueError):
    """A trigger set file is missing, inconsistent with its JSON sidecar, or malformed."""


@dataclass(frozen=True)
class TriggerSet:
    """A secret set of out-of-distribution trigger inputs with their assigned labels.

    Attributes
    ----------
    inputs : numpy.ndarray
        ``float32`` array ``(n, 1, 8, 8)`` with values in ``[0, 1]``.
    labels : numpy.ndarray
        ``int64`` array ``(n,)`` of labels in ``[0, 10)``, drawn independently of the inputs.
    seed : int
        The seed the set was generated from (kept secret together with the set).
    """

    inputs: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    seed: int

    def __post_init__(self) -> None:
        if self.inputs.dtype != np.float32 or self.inputs.shape[1:] != IMAGE_SHAPE:
            raise TriggerSetError(
                f"Trigger inputs must be float32 (n, 1, 8, 8); got {self.inputs.dtype} {self.inputs.shape}."
            )
        if self.labels.dtype != np.int64 or self.labels.shape != (self.inputs.shape[0],):
            raise TriggerSetError(
                f"Trigger labels must be int64 ({self.inputs.shape[0]},); got {self.labels.dtype} {self.labels.shape}."
            )

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass(frozen=True)
class WatermarkParams:
    """Method parameters that are bound into the watermark digest.

    Attributes
    ----------
    method : str
        Method and trigger-format identifier.
    steps : int
        Fine-tuning steps of :func:`embed`.
    lr : float
        Fine-tuning learning rate.
    clean_fraction : float
        Share of each fine-tuning batch taken from clean data.
    """

    method: str = TRIGGER_FORMAT_VERSION
    steps: int = 100
    lr: float = 0.05
    clean_fraction: float = 0.5


class WatermarkVerification(NamedTuple):
    """Outcome of :func:`verify`: trigger accuracy and one-sided binomial p-value against chance."""

    accuracy: float
    p_value: float


def _pattern(kind: str, rng: np.random.Generator) -> np.ndarray:
    # Patterns are chosen to look nothing like handwritten digits (which are smooth strokes on a dark
    # background), so that remembering them barely interferes with the digit task. Structured patterns
    # get their own noise layer: there are only a few dozen distinct stripes or checkerboards, and two
    # identical inputs with different random labels could never both be learnt.
    if kind == "noise":
        return rng.random((8, 8))
    return 0.7 * _structured_pattern(kind, rng) + 0.3 * rng.random((8, 8))


def _structured_pattern(kind: str, rng: np.random.Generator) -> np.ndarray:
    if kind == "stripes":
        period = int(rng.integers(2, 5))
        phase = int(rng.integers(0, period))
        line = ((np.arange(8) + phase) % period == 0).astype(np.float64)
        img = np.tile(line, (8, 1))
        return img.T if rng.random() < 0.5 else img
    if kind == "checkerboard":
        cell = int(rng.integers(1, 3))
        yy, xx = np.indices((8, 8)) // cell
        img = ((yy + xx) % 2).astype(np.float64)
        return img if rng.random() < 0.5 else 1.0 - img
    blocks = rng.random((4, 4)) > 0.5
    return np.kron(blocks, np.ones((2, 2))).astype(np.float64) * rng.uniform(0.5, 1.0)


def generate_trigger_set(seed: int, size: int = 100) -> TriggerSet:
    """Generate a trigger set deterministically from ``seed``.

    Parameters
    ----------
    seed : int
        Secret seed; the same seed gives the same set, bit for bit.
    size : int
        Number of triggers.

    Returns
    -------
    TriggerSet
        Noise, stripe, checkerboard and block patterns (cycled) with uniformly random labels.
    """
    rng = np.random.default_rng([seed, 0x57A7E])
    images = np.stack([_pattern(_PATTERN_KINDS[i % len(_PATTERN_KINDS)], rng) for i in range(size)])
    inputs = np.clip(images, 0.0, 1.0).astype(np.float32).reshape(size, *IMAGE_SHAPE)
    labels = rng.integers(0, NUM_CLASSES, size=size).astype(np.int64)
    return TriggerSet(inputs=inputs, labels=labels, seed=seed)


def embed(
    model: nn.Module,
    trigger_set: TriggerSet,
    steps: int = 100,
    lr: float = 0.05,
    clean_data: TensorDataset | None = None,
    clean_fraction: float = 0.5,
    seed: int = 0,
) -> nn.Module:
    """Fine-tune ``model`` in place until it has learnt the trigger labels, and return it.

    Parameters
    ----------
    model : torch.nn.Module
        The aggregated global model.
    trigger_set : TriggerSet
        The secret triggers.
    steps : int
        SGD steps; each uses the whole trigger set plus a clean batch.
    lr : float
        Learning rate (SGD, momentum 0.9).
    clean_data : TensorDataset, optional
        Clean examples (the server's own data) mixed in to keep clean accuracy; none if omitted.
    clean_fraction : float
        Clean examples per step as a share of the batch (``0.5`` = as many clean as triggers).
    seed : int
        Seed of the clean-batch sampling.

    Returns
    -------
    torch.nn.Module
        The same model object, watermarked.
    """
    trigger_x = torch.from_numpy(trigger_set.inputs)
    trigger_y = torch.from_numpy(trigger_set.labels)
    generator = torch.Generator().manual_seed(seed)
    num_clean = 0
    if clean_data is not None and 0.0 < clean_fraction < 1.0:
        num_clean = min(len(clean_data), int(round(len(trigger_set) * clean_fraction / (1 - clean_fraction))))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    model.train()
    for _ in range(steps):
        batch_x, batch_y = trigger_x, trigger_y
        if num_clean and clean_data is not None:
            pick = torch.randperm(len(clean_data), generator=generator)[:num_clean]
            clean_x, clean_y = clean_data.tensors[0][pick], clean_data.tensors[1][pick]
            batch_x, batch_y = torch.cat([trigger_x, clean_x]), torch.cat([trigger_y, clean_y])
        optimizer.zero_grad()
        criterion(model(batch_x), batch_y).backward()
        optimizer.step()
    model.eval()
    return model


def watermark_digest(trigger_set: TriggerSet, params: WatermarkParams) -> bytes:
    """Return the 32-byte SHA-256 digest that a watermark commitment binds.

    The hashed bytes are, in order:

    1. ``b"provenet.watermark.v1\\x00"`` (domain separation);
    2. the method parameters as UTF-8 JSON of ``dataclasses.asdict(params)`` with ``sort_keys=True`` and
       ``separators=(",", ":")``, preceded by its byte length as an unsigned 32-bit big-endian integer;
    3. the number of triggers ``n`` as unsigned 32-bit big-endian;
    4. the inputs: ``n * 64`` IEEE-754 float32 values, little-endian, C order ``(n, 1, 8, 8)``;
    5. the labels: ``n`` int64 values, little-endian.

    The seed is deliberately not hashed: the triggers themselves are the evidence.
    """
    params_json = json.dumps(asdict(params), sort_keys=True, separators=(",", ":")).encode("utf-8")
    hasher = hashlib.sha256()
    hasher.update(DIGEST_DOMAIN)
    hasher.update(struct.pack(">I", len(params_json)))
    hasher.update(params_json)
    hasher.update(struct.pack(">I", len(trigger_set)))
    hasher.update(np.ascontiguousarray(trigger_set.inputs, dtype="<f4").tobytes())
    hasher.update(np.ascontiguousarray(trigger_set.labels, dtype="<i8").tobytes())
    return hasher.digest()


@torch.no_grad()
def verify(model_or_path: nn.Module | str | Path, trigger_set: TriggerSet) -> WatermarkVerification:
    """Measure how a model labels the triggers and test that against chance.

    Parameters
    ----------
    model_or_path : torch.nn.Module or str or pathlib.Path
        A model, or a ``.safetensors`` file written by :func:`federation.task.export_safetensors`
        (loaded into a :class:`~federation.task.DigitsCNN`).
    trigger_set : TriggerSet
        The secret triggers.

    Returns
    -------
    WatermarkVerification
        ``(accuracy, p_value)``; ``p_value`` is ``P[X >= correct]`` for ``X ~ Binomial(n, 1/10)``
        (``scipy.stats.binomtest``, one-sided ``"greater"``).
    """
    if isinstance(model_or_path, nn.Module):
        model = model_or_path
    else:
        model = arrays_to_model(load_safetensors_as_arrayrecord(model_or_path), DigitsCNN())
    model.eval()
    predictions = model(torch.from_numpy(trigger_set.inputs)).argmax(dim=1).numpy()
    correct = int((predictions == trigger_set.labels).sum())
    p_value = float(binomtest(correct, len(trigger_set), CHANCE_LEVEL, alternative="greater").pvalue)
    return WatermarkVerification(accuracy=correct / len(trigger_set), p_value=p_value)


def save_trigger_set(trigger_set: TriggerSet, path: str | Path) -> tuple[Path, Path]:
    """Write ``<path>.safetensors`` (``inputs``, ``labels``) and ``<path>.json`` (format, seed, file hash).

    Returns
    -------
    tuple[pathlib.Path, pathlib.Path]
        The tensor file and the JSON sidecar.
    """
    base = Path(path).with_suffix("")
    base.parent.mkdir(parents=True, exist_ok=True)
    tensor_path, json_path = base.with_suffix(".safetensors"), base.with_suffix(".json")
    save_file({"inputs": trigger_set.inputs, "labels": trigger_set.labels}, str(tensor_path))
    sidecar = {
        "format": TRIGGER_FORMAT_VERSION,
        "seed": trigger_set.seed,
        "size": len(trigger_set),
        "tensors_file": tensor_path.name,
        "tensors_sha256": hashlib.sha256(tensor_path.read_bytes()).hexdigest(),
    }
    json_path.write_text(json.dumps(sidecar, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return tensor_path, json_path


def load_trigger_set(path: str | Path) -> TriggerSet:
    """Read a trigger set written by :func:`save_trigger_set`, checking the tensor file's SHA-256."""
    base = Path(path).with_suffix("")
    json_path = base.with_suffix(".json")
    if not json_path.is_file():
        raise TriggerSetError(f"Trigger set sidecar {json_path} not found; expected it next to the tensors.")
    sidecar = json.loads(json_path.read_text(encoding="utf-8"))
    if sidecar.get("format") != TRIGGER_FORMAT_VERSION:
        raise TriggerSetError(f"{json_path} has format {sidecar.get('format')!r}, expected {TRIGGER_FORMAT_VERSION!r}.")
    tensor_path = json_path.parent / sidecar["tensors_file"]
    actual = hashlib.sha256(tensor_path.read_bytes()).hexdigest()
    if actual != sidecar["tensors_sha256"]:
        raise TriggerSetError(
            f"{tensor_path} has SHA-256 {actual}, but {json_path} expects {sidecar['tensors_sha256']}."
        )
    tensors = load_file(str(tensor_path))
    return TriggerSet(inputs=tensors["inputs"], labels=tensors["labels"], seed=int(sidecar["seed"]))
