"""The federation commands as a user runs them: `provenet federate`, `verify lineage`, `watermark verify`, status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from client_sdk.devnet import free_port
from client_sdk.devnet_lifecycle import devnet_down, devnet_up

PROVENET = str(Path(sys.executable).parent / "provenet")


@pytest.fixture
def devnet_root(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "devnet"
    devnet_up(engine="anvil", port=free_port(), fresh=True, root=root)
    try:
        yield root
    finally:
        devnet_down(root)


def _provenet(root: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PROVENET_DEVNET_DIR": str(root), "FLWR_TELEMETRY_ENABLED": "0", "COLUMNS": "200"}
    env.pop("PROVENET_RPC_URL", None)
    return subprocess.run([PROVENET, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.mark.timeout(300)
def test_federate_then_verify_lineage_watermark_and_status(devnet_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = _provenet(devnet_root, "federate", "--partners", "3", "--rounds", "2", "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout[done.stdout.index("{") :])
    release = summary["release"]
    assert release["final_round"] == 2 and release["watermark_commitment"]

    lineage = _provenet(devnet_root, "verify", "lineage", release["model_path"], "--json")
    assert lineage.returncode == 0, lineage.stdout + lineage.stderr
    report = json.loads(lineage.stdout)
    assert report["passed"] and len(report["checks"]) == 5

    watermark = _provenet(
        devnet_root,
        "watermark",
        "verify",
        release["model_path"],
        "--trigger-set",
        release["trigger_set_path"],
        "--json",
    )
    assert watermark.returncode == 0, watermark.stderr
    evidence = json.loads(watermark.stdout)
    assert evidence["trigger_accuracy"] >= 0.9 and evidence["p_value"] < 1e-6

    status = _provenet(devnet_root, "federation", "status", "--out", str(out), "--json")
    assert status.returncode == 0, status.stderr
    (federation,) = json.loads(status.stdout)["federations"]
    assert federation["chain_head_round"] == 2 and federation["pending"] == []

    tampered = tmp_path / "tampered.safetensors"
    data = bytearray(Path(release["model_path"]).read_bytes())
    data[-1] ^= 0x01
    tampered.write_bytes(bytes(data))
    refused = _provenet(devnet_root, "verify", "lineage", str(tampered))
    assert refused.returncode == 1 and "FAIL registered" in refused.stdout
