"""Cost and strength of the server-side watermark on the federated digits model.

Two simulations with the same seed (3 partners, 5 rounds, Flower's simulation engine): one embeds the
watermark after every aggregation, one does not. Then an attacker who holds 20% of the data (a
stratified sample of the training pool) fine-tunes the watermarked model on it for 5 epochs (SGD with the
partners' own settings). Trigger-set accuracy and the one-sided binomial p-value against chance (1/10)
are measured for the watermarked, the unwatermarked and the fine-tuned model.

Prints one JSON object on its last line. Keys and targets: ``clean_acc_drop_points`` (unwatermarked minus
watermarked clean test accuracy, in percentage points) <= 2; ``wm_trigger_acc`` >= 0.9; ``wm_p`` < 1e-6;
``unwm_p`` > 0.01 (no false ownership claim); ``finetuned_p`` < 1e-6.
"""

from __future__ import annotations

import copy
import json
import logging
import os

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.utils.data import TensorDataset

from federation.config import FederationConfig
from federation.engines import run_simulation
from federation.task import DigitsCNN, arrays_to_model, evaluate, load_test_set, load_training_pool, make_loader, train
from federation.watermark import generate_trigger_set, verify

ATTACKER_FRACTION = 0.2
ATTACKER_EPOCHS = 5
TARGETS = {
    "clean_acc_drop_points": ("<=", 2.0),
    "wm_trigger_acc": (">=", 0.9),
    "wm_p": ("<", 1e-6),
    "unwm_p": (">", 0.01),
    "finetuned_p": ("<", 1e-6),
}


def attacker_data(seed: int) -> TensorDataset:
    """20% of the whole data set, drawn (stratified) from the training pool, never from the test split."""
    pool = load_training_pool(seed)
    images, labels = pool.tensors
    total = len(load_digits().target)
    picked, _ = train_test_split(
        np.arange(len(labels)),
        train_size=int(round(ATTACKER_FRACTION * total)),
        random_state=seed + 1,
        stratify=labels.numpy(),
    )
    picked = np.sort(picked)
    return TensorDataset(images[picked], labels[picked])


def main() -> dict[str, object]:
    os.environ["FLWR_TELEMETRY_ENABLED"] = "0"
    logging.getLogger("flwr").setLevel(logging.WARNING)
    base = FederationConfig(num_partners=3, num_rounds=5, seed=0)
    watermarked_config = FederationConfig(**{**base.__dict__, "watermark": True})
    watermarked = arrays_to_model(run_simulation(watermarked_config).final_arrays, DigitsCNN())
    plain = arrays_to_model(run_simulation(base).final_arrays, DigitsCNN())

    test_loader = make_loader(load_test_set(base.seed), batch_size=512, seed=None)
    triggers = generate_trigger_set(watermarked_config.watermark_seed, watermarked_config.watermark_size)
    wm_acc = evaluate(watermarked, test_loader).accuracy
    unwm_acc = evaluate(plain, test_loader).accuracy
    wm = verify(watermarked, triggers)
    unwm = verify(plain, triggers)

    torch.manual_seed(0)
    stolen = copy.deepcopy(watermarked)
    data = attacker_data(base.seed)
    train(stolen, make_loader(data, batch_size=base.batch_size, seed=99), epochs=ATTACKER_EPOCHS, lr=base.lr)
    finetuned = verify(stolen, triggers)
    finetuned_acc = evaluate(stolen, test_loader).accuracy

    figures: dict[str, object] = {
        "clean_acc_watermarked": round(wm_acc, 4),
        "clean_acc_unwatermarked": round(unwm_acc, 4),
        "clean_acc_drop_points": round((unwm_acc - wm_acc) * 100, 2),
        "wm_trigger_acc": wm.accuracy,
        "wm_p": wm.p_value,
        "unwm_trigger_acc": unwm.accuracy,
        "unwm_p": unwm.p_value,
        "finetuned_trigger_acc": finetuned.accuracy,
        "finetuned_p": finetuned.p_value,
        "finetuned_clean_acc": round(finetuned_acc, 4),
        "attacker_examples": len(data),
        "attacker_epochs": ATTACKER_EPOCHS,
        "triggers": len(triggers),
        "watermark_steps": watermarked_config.watermark_steps,
    }
    ops = {"<=": float.__le__, ">=": float.__ge__, "<": float.__lt__, ">": float.__gt__}
    figures["meets_targets"] = {
        key: bool(ops[op](float(figures[key]), bound))
        for key, (op, bound) in TARGETS.items()  # type: ignore[arg-type]
    }
    return figures


if __name__ == "__main__":
    print(json.dumps(main()))
