"""Tests of the digits task: the seeded partner split and the safetensors / object_id hash bridge."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord
from safetensors.numpy import save_file
from sklearn.datasets import load_digits

from federation.task import (
    PartitionError,
    WeightsFormatError,
    arrays_to_model,
    export_safetensors,
    load_coordinator_set,
    load_partition,
    load_safetensors_as_arrayrecord,
    load_test_set,
    model_to_arrays,
    new_model,
    partition_indices,
)


@pytest.mark.parametrize("partitioning", ["iid", "dirichlet"])
def test_partition_is_deterministic_disjoint_and_excludes_held_out_data(partitioning: str) -> None:
    shards = partition_indices(3, partitioning, alpha=0.5, seed=11)
    again = partition_indices(3, partitioning, alpha=0.5, seed=11)
    assert all(np.array_equal(a, b) for a, b in zip(shards, again, strict=True))
    union = np.concatenate(shards)
    assert len(union) == len(set(union.tolist()))
    n_total = len(load_digits().target)
    held_out = len(load_test_set(11)) + len(load_coordinator_set(11))
    assert len(union) + held_out == n_total
    other_seed = partition_indices(3, partitioning, alpha=0.5, seed=12)
    assert not all(np.array_equal(a, b) for a, b in zip(shards, other_seed, strict=True))


def test_iid_shards_are_balanced_and_dirichlet_shards_are_label_skewed() -> None:
    labels = load_digits().target
    iid = partition_indices(3, "iid", seed=0)
    assert max(len(s) for s in iid) - min(len(s) for s in iid) <= 1
    skewed = partition_indices(3, "dirichlet", alpha=0.1, seed=0)

    def max_class_share(shard: np.ndarray) -> float:
        return float(np.bincount(labels[shard], minlength=10).max() / len(shard))

    assert max(max_class_share(s) for s in skewed) > 2 * max(max_class_share(s) for s in iid)


def test_load_partition_gives_disjoint_train_and_validation() -> None:
    data = load_partition(1, 3, "iid", seed=3)
    assert data.train.tensors[0].shape[1:] == (1, 8, 8)
    assert len(data.train) + len(data.validation) == len(partition_indices(3, "iid", seed=3)[1])
    assert float(data.train.tensors[0].max()) <= 1.0


@pytest.mark.parametrize(
    ("partner_id", "num_partners", "partitioning", "alpha"),
    [(3, 3, "iid", 0.5), (0, 0, "iid", 0.5), (0, 3, "pathological", 0.5), (0, 3, "dirichlet", 0.0)],
)
def test_bad_split_requests_fail_loudly(partner_id: int, num_partners: int, partitioning: str, alpha: float) -> None:
    with pytest.raises(PartitionError):
        load_partition(partner_id, num_partners, partitioning, alpha, seed=0)  # type: ignore[arg-type]


def test_safetensors_round_trip_keeps_object_id(tmp_path: Path) -> None:
    arrays = model_to_arrays(new_model(seed=5))
    path = export_safetensors(arrays, tmp_path / "model.safetensors")
    loaded = load_safetensors_as_arrayrecord(path)
    assert list(loaded.keys()) == list(arrays.keys())
    assert loaded.object_id == arrays.object_id
    # Exporting the loaded record again gives byte-identical files, so the registry hash is stable too.
    assert export_safetensors(loaded, tmp_path / "again.safetensors").read_bytes() == path.read_bytes()
    restored = arrays_to_model(loaded, new_model(seed=6))
    assert model_to_arrays(restored).object_id == arrays.object_id


def test_object_id_depends_on_order_dtype_and_shape() -> None:
    arrays = model_to_arrays(new_model(seed=5))
    names = list(arrays.keys())
    reordered = ArrayRecord({name: arrays[name] for name in reversed(names)})
    assert reordered.object_id != arrays.object_id
    as_float64 = ArrayRecord({name: Array(arrays[name].numpy().astype(np.float64)) for name in names})
    assert as_float64.object_id != arrays.object_id
    first = names[0]
    reshaped = ArrayRecord(
        {name: Array(arrays[name].numpy().reshape(-1)) if name == first else arrays[name] for name in names}
    )
    assert reshaped.object_id != arrays.object_id


def test_plain_safetensors_needs_an_explicit_training_order(tmp_path: Path) -> None:
    arrays = model_to_arrays(new_model(seed=5))
    path = tmp_path / "plain.safetensors"
    save_file({name: array.numpy() for name, array in arrays.items()}, str(path))
    with pytest.raises(WeightsFormatError, match="training_order"):
        load_safetensors_as_arrayrecord(path)
    order = list(new_model().state_dict().keys())
    assert load_safetensors_as_arrayrecord(path, training_order=order).object_id == arrays.object_id
    with pytest.raises(WeightsFormatError):
        load_safetensors_as_arrayrecord(path, training_order=order[:-1])
