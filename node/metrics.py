"""Round metrics published by a federation's coordinator, checked against the metrics hash on chain.

The chain stores only ``metricsHash`` per round. Its preimage is the round's metrics document as canonical
JSON: UTF-8, keys sorted, no whitespace (``json.dumps(doc, sort_keys=True, separators=(",", ":"))``), so

    sha256(canonical_json({"accuracy": 0.91, "loss": 0.3, "round": 2})) == metricsHash of round 2

and a third party recomputes it with ``printf '%s' '<canonical json>' | sha256sum``. A metrics file for the
node (``--metrics FILE``, or ``POST /api/federations/{id}/metrics`` signed by the coordinator) holds
``{"federation_id": 1, "rounds": [{"round": 1, "loss": ..., "accuracy": ...}, ...]}``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["canonical_json", "chart_series", "metrics_hash"]

# Keys tried, in order, for the chart's accuracy and loss lines.
_ACCURACY_KEYS = ("accuracy", "test-accuracy", "eval-accuracy", "train-accuracy")
_LOSS_KEYS = ("loss", "test-loss", "eval-loss", "train-loss")


def canonical_json(document: Any) -> bytes:
    """The exact bytes whose SHA-256 is a round's metrics hash."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def metrics_hash(document: Any) -> str:
    """``0x`` + SHA-256 of :func:`canonical_json`."""
    return "0x" + hashlib.sha256(canonical_json(document)).hexdigest()


def _first_number(document: dict[str, Any], keys: tuple[str, ...]) -> float | None:
    flat: dict[str, Any] = dict(document)
    # "aggregated" is the federation's own round document (federation.chain.canonical_round_metrics).
    for section in ("central", "evaluate", "aggregated", "train"):
        if isinstance(document.get(section), dict):
            for key, value in document[section].items():
                flat.setdefault(key, value)
    for key in keys:
        value = flat.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def chart_series(documents: dict[int, dict[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    """``{"accuracy": [(round, value), ...], "loss": [...]}`` from the rounds' metrics documents."""
    series: dict[str, list[tuple[int, float]]] = {"accuracy": [], "loss": []}
    for round_number in sorted(documents):
        for name, keys in (("accuracy", _ACCURACY_KEYS), ("loss", _LOSS_KEYS)):
            value = _first_number(documents[round_number], keys)
            if value is not None:
                series[name].append((round_number, value))
    return series
