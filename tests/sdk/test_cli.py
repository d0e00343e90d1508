"""The `provenet` CLI as a person runs it: real processes, a real devnet, exit codes and messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from client_sdk.devnet import free_port

PROVENET = [sys.executable, "-m", "client_sdk.cli"]


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    """Run `provenet …` against a devnet of this module's own (started and stopped by the CLI)."""
    root = tmp_path_factory.mktemp("cli")
    port = free_port()
    env = {
        **os.environ,
        "PROVENET_DEVNET_DIR": str(root / "devnet"),
        "PROVENET_RPC_URL": f"http://127.0.0.1:{port}",
        "PROVENET_DEPLOYMENT": str(root / "devnet" / "deployments" / "31337.json"),
    }
    env.pop("PROVENET_PASSWORD", None)

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([*PROVENET, *args], env=env, capture_output=True, text=True, timeout=120, cwd=root)
        if check and done.returncode != 0:
            raise AssertionError(f"provenet {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    up = run("devnet", "up", "--port", str(port), "--json")
    info = json.loads(up.stdout)
    try:
        yield run, info, root
    finally:
        run("devnet", "down", check=False)


def test_licence_story_through_the_cli(cli, tmp_path):
    run, info, _root = cli
    weights = tmp_path / "m.safetensors"
    save_file({"w": torch.ones(4, 4)}, str(weights))
    digest = json.loads(run("model", "hash", str(weights), "--json").stdout)["weights_hash"]
    assert digest == "0x" + __import__("hashlib").sha256(weights.read_bytes()).hexdigest()

    run("model", "register", str(weights), "-a", "owner", "--metadata-uri", "ipfs://m")
    shown = json.loads(run("model", "show", digest, "--json").stdout)
    assert shown["owner"] == info["accounts"]["owner"]

    issued = json.loads(
        run(
            "license",
            "issue",
            digest,
            "--to",
            "licensee1",
            "--scope",
            "inference",
            "--expires",
            "+30d",
            "-a",
            "owner",
            "--json",
        ).stdout
    )
    check = run("license", "check", digest, "licensee1", "--scope", "inference", "--json")
    assert json.loads(check.stdout) == {"valid": True, "reason": "none", "license_id": issued["license_id"]}

    allowed = run("load", str(weights), "-a", "licensee1", "--json")
    assert json.loads(allowed.stdout)["license_id"] == issued["license_id"]

    refused = run("load", str(weights), "-a", "licensee2", check=False)
    assert refused.returncode == 1 and "holds no licence" in refused.stderr

    not_valid = run("license", "check", digest, "licensee2", check=False)
    assert not_valid.returncode == 1 and "not_licensed" in not_valid.stdout

    offer = tmp_path / "offer.json"
    run(
        "license",
        "offer",
        digest,
        "--scope",
        "inference,commercial",
        "--price-wei",
        "1000",
        "-a",
        "owner",
        "--licensee",
        "licensee2",
        "--out",
        str(offer),
    )
    redeemed = json.loads(run("license", "redeem", str(offer), "-a", "licensee2", "--json").stdout)
    twice = run("license", "redeem", str(offer), "-a", "licensee2", check=False)
    assert twice.returncode == 1 and "LicenseRegistryOfferUsed" in twice.stderr

    run("license", "revoke", str(redeemed["license_id"]), "-a", "owner")
    revoked = run("load", str(weights), "-a", "licensee2", "--scope", "inference", check=False)
    assert revoked.returncode == 1 and "revoked" in revoked.stderr

    listed = json.loads(run("license", "list", "--model", digest, "--json").stdout)
    assert {row["state"] for row in listed} == {"active", "revoked"}


def test_bad_input_and_chain_down(cli, tmp_path):
    run, _info, root = cli
    bad = run("license", "check", "0x1234", "licensee1", check=False)
    assert bad.returncode == 2 and "64 hex digits" in bad.stderr
    scope = run("license", "check", "0x" + "11" * 32, "licensee1", "--scope", "teleport", check=False)
    assert scope.returncode == 2 and "unknown scope" in scope.stderr
    down = subprocess.run(
        [
            *PROVENET,
            "license",
            "check",
            "0x" + "11" * 32,
            "0x" + "22" * 20,
            "--rpc-url",
            f"http://127.0.0.1:{free_port()}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=root,
        env={**os.environ, "PROVENET_DEVNET_DIR": str(root / "devnet")},
    )
    assert down.returncode == 3 and "does not answer" in down.stderr


def test_licence_commands_do_not_import_torch_or_flwr():
    probe = (
        "import sys; sys.argv = ['provenet', 'license', 'check']; import client_sdk.cli, client_sdk.gate;"
        "print('torch' in sys.modules, 'flwr' in sys.modules, 'fastapi' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "False"]


def test_devnet_status_reports_the_running_chain(cli):
    run, info, _root = cli
    status = json.loads(run("devnet", "status", "--json").stdout)
    assert status["running"] and status["rpc_url"] == info["rpc_url"]
    assert Path(status["state_path"]).name == "anvil-state.json"
