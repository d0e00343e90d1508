"""The outcome of a federated run: per-round metrics, global hashes and the final arrays, on disk and back.

A ServerApp in the deployment engine runs in a process of its own, so it hands its result over as
files in the run's output directory: ``run_result.json`` (everything but the weights) and
``global_model.safetensors`` (the final arrays, via :func:`federation.task.export_safetensors`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flwr.app import ArrayRecord

from federation.task import export_safetensors, load_safetensors_as_arrayrecord

RESULT_JSON = "run_result.json"
GLOBAL_MODEL_FILE = "global_model.safetensors"


class RunResultError(RuntimeError):
    """A run finished without leaving a readable result."""


@dataclass
class RoundResult:
    """What happened in one round.

    Attributes
    ----------
    server_round : int
        Round number from 1.
    global_hash : str
        ``ArrayRecord.object_id`` of the global arrays after the round.
    train : dict[str, float]
        Aggregated train metrics (weighted by examples), plus ``watermark-accuracy`` if watermarking.
    evaluate : dict[str, float]
        Aggregated federated evaluation metrics (partners' local validation data).
    central : dict[str, float]
        Server-side ``test-loss`` / ``test-accuracy`` on the held-out test split.
    partners : dict[int, dict[str, dict[str, float]]]
        ``partners[partner_id] = {"train": {...}, "evaluate": {...}}`` as each partner reported.
    excluded : list[dict[str, Any]]
        Replies excluded by the provenance wrapper (``node_id``, ``reason``).
    """

    server_round: int
    global_hash: str
    train: dict[str, float] = field(default_factory=dict)
    evaluate: dict[str, float] = field(default_factory=dict)
    central: dict[str, float] = field(default_factory=dict)
    partners: dict[int, dict[str, dict[str, float]]] = field(default_factory=dict)
    excluded: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RunResult:
    """The outcome of a run.

    Attributes
    ----------
    config : dict[str, Any]
        The run config used (kebab-case keys).
    initial_hash : str
        ``object_id`` of the initial global arrays.
    initial_central : dict[str, float]
        Server-side test metrics of the initial model.
    rounds : list[RoundResult]
        One entry per completed round.
    final_arrays : ArrayRecord
        The final global arrays, in training order.
    """

    config: dict[str, Any]
    initial_hash: str
    initial_central: dict[str, float]
    rounds: list[RoundResult]
    final_arrays: ArrayRecord

    @property
    def final_hash(self) -> str:
        """``object_id`` of the final global arrays (the last round's global hash)."""
        return self.final_arrays.object_id

    def write(self, output_dir: str | Path) -> Path:
        """Write ``run_result.json`` and ``global_model.safetensors`` into ``output_dir``; return the JSON path."""
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        export_safetensors(self.final_arrays, output_dir / GLOBAL_MODEL_FILE)
        body = {
            "config": self.config,
            "initial_hash": self.initial_hash,
            "initial_central": self.initial_central,
            "final_hash": self.final_hash,
            "rounds": [asdict(r) for r in self.rounds],
        }
        path = output_dir / RESULT_JSON
        # Write then rename so a reader polling for the file never sees half of it.
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def read(cls, output_dir: str | Path) -> RunResult:
        """Read a result written by :meth:`write` and check the weights file against the recorded hash."""
        output_dir = Path(output_dir)
        path = output_dir / RESULT_JSON
        if not path.is_file():
            raise RunResultError(f"No {RESULT_JSON} in {output_dir}; the ServerApp did not finish.")
        body = json.loads(path.read_text(encoding="utf-8"))
        final_arrays = load_safetensors_as_arrayrecord(output_dir / GLOBAL_MODEL_FILE)
        if final_arrays.object_id != body["final_hash"]:
            raise RunResultError(
                f"{output_dir / GLOBAL_MODEL_FILE} loads as object_id {final_arrays.object_id}, "
                f"but {path} records {body['final_hash']}."
            )
        rounds = []
        for entry in body["rounds"]:
            entry["partners"] = {int(k): v for k, v in entry["partners"].items()}
            rounds.append(RoundResult(**entry))
        return cls(
            config=body["config"],
            initial_hash=body["initial_hash"],
            initial_central=body["initial_central"],
            rounds=rounds,
            final_arrays=final_arrays,
        )
