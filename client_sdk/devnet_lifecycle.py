"""The devnet's life cycle behind ``provenet devnet up | down | status | deploy``.

``up`` starts Anvil (or Ganache) on loopback with a persistent state file under ``devnet/state/``, waits
until it answers, deploys the contracts unless the manifest's contracts are already on that chain,
writes ``devnet/deployments/<chainId>.json``, creates the demo accounts as keystore files in
``devnet/keystores/`` (once) and funds them. ``down`` stops it; the state file keeps every model, licence
and round for the next ``up``; ``--fresh`` starts from an empty chain, where the deployer's first
transactions always give the contracts the same addresses.

Demo keystores are encrypted with ``$PROVENET_PASSWORD`` (default ``provenet-devnet``): devnet only.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from client_sdk.accounts import AccountInfo, create_account, list_accounts
from client_sdk.client import connect
from client_sdk.deploy import Deployment, DeploymentMismatch, deploy_contracts
from client_sdk.devnet import (
    REPO_ROOT,
    DevnetStatus,
    dev_accounts,
    read_status,
    start_anvil,
    start_ganache,
    stop_from_status,
    write_status,
)
from client_sdk.errors import DevnetError
from client_sdk.rpc import RawRpc, make_web3
from client_sdk.transactions import TransactionSender

__all__ = [
    "DEMO_ACCOUNTS",
    "DEMO_PASSWORD_DEFAULT",
    "DevnetInfo",
    "demo_password",
    "devnet_down",
    "devnet_status",
    "devnet_up",
    "ensure_demo_accounts",
]

DEMO_ACCOUNTS = ("owner", "coordinator", "partner1", "partner2", "partner3", "licensee1", "licensee2")
DEMO_PASSWORD_DEFAULT = "provenet-devnet"
DEMO_FUNDING_WEI = 100 * 10**18
DEVNET_ROOT = REPO_ROOT / "devnet"


@dataclass(frozen=True)
class DevnetInfo:
    """A running devnet: its process record, deployment and demo accounts."""

    status: DevnetStatus
    deployment: Deployment
    deployment_path: Path
    accounts: list[AccountInfo]
    deployed_now: bool


def demo_password() -> str:
    return os.environ.get("PROVENET_PASSWORD", DEMO_PASSWORD_DEFAULT)


def _state_location(engine: str, root: Path) -> Path:
    return root / "state" / ("anvil-state.json" if engine == "anvil" else "ganache-db")


def ensure_demo_accounts(rpc_url: str, keystore_directory: Path, chain_id: int) -> list[AccountInfo]:
    """Create the demo keystores that are missing and top each account up to the funding amount."""
    existing = {info.name: info for info in list_accounts(keystore_directory)}
    for name in DEMO_ACCOUNTS:
        if name not in existing:
            # A lighter scrypt cost keeps `devnet up` quick; these keys guard devnet ether only.
            existing[name] = create_account(name, demo_password(), keystore_directory, scrypt_n=2**14)
    w3 = make_web3(rpc_url)
    funder = TransactionSender(w3, dev_accounts(1)[0], chain_id)
    rpc = RawRpc(rpc_url)
    balances = rpc.batch([("eth_getBalance", [existing[n].address, "latest"]) for n in DEMO_ACCOUNTS])
    for name, balance in zip(DEMO_ACCOUNTS, balances, strict=True):
        missing = DEMO_FUNDING_WEI - int(balance, 16)
        if missing > 0:
            funder.transfer(existing[name].address, missing)
    return [existing[name] for name in DEMO_ACCOUNTS]


def devnet_up(
    engine: str = "anvil",
    port: int = 8545,
    fresh: bool = False,
    root: Path = DEVNET_ROOT,
) -> DevnetInfo:
    """Start (or find running) the devnet, deploy if needed, prepare the demo accounts."""
    if engine not in ("anvil", "ganache"):
        raise DevnetError(f"unknown engine {engine!r}: expected anvil or ganache")
    run = root / "run"
    status = read_status(run)
    if status is not None and status.running:
        if fresh or status.kind != engine:
            raise DevnetError(
                f"a {status.kind} devnet is already running at {status.rpc_url}; stop it with "
                "`provenet devnet down` first"
            )
    else:
        state = _state_location(engine, root)
        if fresh and state.exists():
            shutil.rmtree(state) if state.is_dir() else state.unlink()
        log_path = run / f"{engine}.log"
        run.mkdir(parents=True, exist_ok=True)
        if engine == "anvil":
            process = start_anvil(port=port, state_file=state, log_path=log_path, state_interval=5)
        else:
            process = start_ganache(port=port, db_path=state, log_path=log_path)
        write_status(process, run)
        status = read_status(run)
        assert status is not None
    manifest_path = root / "deployments" / f"{status.chain_id}.json"
    deployed_now = False
    deployment: Deployment | None = None
    if manifest_path.exists():
        # The manifest is reused only if connect accepts it: same chain, same ABIs, contracts present.
        try:
            deployment = connect(status.rpc_url, manifest_path).deployment
        except DeploymentMismatch:
            deployment = None
    if deployment is None:
        deployment = deploy_contracts(make_web3(status.rpc_url), dev_accounts(1)[0])
        deployment.save(manifest_path)
        deployed_now = True
    accounts = ensure_demo_accounts(status.rpc_url, root / "keystores", status.chain_id)
    return DevnetInfo(status, deployment, manifest_path, accounts, deployed_now)


def devnet_down(root: Path = DEVNET_ROOT) -> bool:
    """Stop the recorded devnet (its state is dumped to the state file). Whether one was running."""
    return stop_from_status(root / "run")


def devnet_status(root: Path = DEVNET_ROOT) -> DevnetStatus | None:
    return read_status(root / "run")
