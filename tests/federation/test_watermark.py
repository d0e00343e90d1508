"""Tests of the server-side watermark: embedding, statistical verification, digest and trigger files."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from federation.task import (
    DigitsCNN,
    evaluate,
    export_safetensors,
    load_coordinator_set,
    load_partition,
    load_test_set,
    make_loader,
    model_to_arrays,
    new_model,
    train,
)
from federation.watermark import (
    TriggerSet,
    TriggerSetError,
    WatermarkParams,
    embed,
    generate_trigger_set,
    load_trigger_set,
    save_trigger_set,
    verify,
    watermark_digest,
)


@pytest.fixture(scope="module")
def trained_model() -> DigitsCNN:
    torch.manual_seed(0)
    data = load_partition(0, 1, "iid", seed=0)
    model = new_model(seed=0)
    train(model, make_loader(data.train, batch_size=16, seed=0), epochs=5, lr=0.05)
    return model


@pytest.fixture(scope="module")
def trigger_set() -> TriggerSet:
    return generate_trigger_set(seed=1234, size=100)


def test_trigger_set_is_deterministic_and_out_of_distribution(trigger_set: TriggerSet) -> None:
    again = generate_trigger_set(seed=1234, size=100)
    assert np.array_equal(again.inputs, trigger_set.inputs)
    assert np.array_equal(again.labels, trigger_set.labels)
    assert not np.array_equal(generate_trigger_set(seed=1235, size=100).labels, trigger_set.labels)
    # No two triggers are the same picture: identical inputs with different labels cannot be learnt.
    assert len({x.tobytes() for x in trigger_set.inputs}) == len(trigger_set)
    # Digits are mostly dark background; the triggers are not.
    digits_mean = float(load_test_set(0).tensors[0].mean())
    assert float(trigger_set.inputs.mean()) > digits_mean + 0.1


def test_watermarked_model_is_recognised_and_keeps_clean_accuracy(
    trained_model: DigitsCNN, trigger_set: TriggerSet, tmp_path: Path
) -> None:
    test_loader = make_loader(load_test_set(0), batch_size=512, seed=None)
    clean_before = evaluate(trained_model, test_loader).accuracy
    watermarked = embed(copy.deepcopy(trained_model), trigger_set, clean_data=load_coordinator_set(0))
    accuracy, p_value = verify(watermarked, trigger_set)
    assert accuracy >= 0.9
    assert p_value < 1e-6
    assert evaluate(watermarked, test_loader).accuracy >= clean_before - 0.05
    # The same verdict from the exported weights file.
    path = export_safetensors(model_to_arrays(watermarked), tmp_path / "wm.safetensors")
    assert verify(path, trigger_set) == (accuracy, p_value)


def test_unwatermarked_model_is_not_recognised(trained_model: DigitsCNN, trigger_set: TriggerSet) -> None:
    accuracy, p_value = verify(trained_model, trigger_set)
    assert p_value > 0.01
    assert accuracy < 0.3


def test_digest_binds_triggers_labels_and_parameters(trigger_set: TriggerSet) -> None:
    params = WatermarkParams()
    digest = watermark_digest(trigger_set, params)
    assert len(digest) == 32
    assert watermark_digest(generate_trigger_set(seed=1234, size=100), params) == digest
    assert watermark_digest(trigger_set, replace(params, steps=params.steps + 1)) != digest
    flipped = trigger_set.labels.copy()
    flipped[0] = (flipped[0] + 1) % 10
    assert watermark_digest(TriggerSet(trigger_set.inputs, flipped, trigger_set.seed), params) != digest
    # The seed is not part of the evidence.
    assert watermark_digest(TriggerSet(trigger_set.inputs, trigger_set.labels, seed=0), params) == digest


def test_trigger_set_files_round_trip_and_detect_tampering(trigger_set: TriggerSet, tmp_path: Path) -> None:
    tensor_path, json_path = save_trigger_set(trigger_set, tmp_path / "secret" / "trigger")
    assert tensor_path.name == "trigger.safetensors" and json_path.name == "trigger.json"
    loaded = load_trigger_set(tmp_path / "secret" / "trigger")
    assert watermark_digest(loaded, WatermarkParams()) == watermark_digest(trigger_set, WatermarkParams())
    assert loaded.seed == trigger_set.seed
    save_trigger_set(generate_trigger_set(seed=7, size=10), tmp_path / "other")
    tensor_path.write_bytes((tmp_path / "other.safetensors").read_bytes())
    with pytest.raises(TriggerSetError, match="SHA-256"):
        load_trigger_set(json_path)
