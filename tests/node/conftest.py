"""Fixtures for the node's tests: a real Anvil with provenet deployed and a full history made through the SDK,
the node app on it, and a live uvicorn server for the browser tests (always stopped)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from eth_account.signers.local import LocalAccount
from fastapi import FastAPI
from fastapi.testclient import TestClient

from client_sdk.client import ProvenetClient
from client_sdk.deploy import Deployment, deploy_contracts
from client_sdk.devnet import DevnetProcess, free_port, start_anvil
from client_sdk.rpc import make_web3
from node.app import NodeState, create_app
from node.scenario import Scenario, build_scenario
from node.settings import NodeSettings


@dataclass
class ProvenetChain:
    """A devnet with provenet deployed on it and the files a node needs."""

    devnet: DevnetProcess
    deployment: Deployment
    deployment_path: Path
    client: ProvenetClient
    accounts: list[LocalAccount]

    @property
    def rpc_url(self) -> str:
        return self.devnet.rpc_url


def deploy_chain(tmp: Path, **anvil_args: object) -> ProvenetChain:
    devnet = start_anvil(**anvil_args)  # type: ignore[arg-type]
    try:
        accounts = devnet.accounts(10)
        deployment = deploy_contracts(make_web3(devnet.rpc_url), accounts[0])
        path = deployment.save(tmp / "deployment.json")
        return ProvenetChain(devnet, deployment, path, ProvenetClient(devnet.rpc_url, deployment), accounts)
    except BaseException:
        devnet.stop()
        raise


@pytest.fixture
def fresh_chain(tmp_path: Path) -> Iterator[ProvenetChain]:
    """A fresh Anvil with provenet deployed and nothing else, for tests that rewrite the chain (reorgs)."""
    chain = deploy_chain(tmp_path)
    try:
        yield chain
    finally:
        chain.devnet.stop()


@pytest.fixture(scope="session")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ProvenetChain, Scenario, Path]]:
    """One Anvil for the node's read tests, with the scenario of :mod:`node.scenario` and its metrics file."""
    tmp = tmp_path_factory.mktemp("node-history")
    chain = deploy_chain(tmp)
    try:
        scenario = build_scenario(chain.client, chain.accounts)
        metrics = tmp / "metrics.json"
        metrics.write_text(json.dumps(scenario.metrics), encoding="utf-8")
        yield chain, scenario, metrics
    finally:
        chain.devnet.stop()


@pytest.fixture(scope="session")
def node_state(
    history: tuple[ProvenetChain, Scenario, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[NodeState]:
    """The node's state on the history chain, indexed to the head (the background indexer is off: tests sync)."""
    chain, _, metrics = history
    settings = NodeSettings(
        rpc_url=chain.rpc_url,
        deployment=chain.deployment_path,
        db=str(tmp_path_factory.mktemp("node-db") / "node.db"),
        metrics_file=metrics,
        index=False,
    )
    state = NodeState(settings)
    state.indexer.sync()
    try:
        yield state
    finally:
        state.stop()


@pytest.fixture(scope="session")
def node_app(node_state: NodeState) -> FastAPI:
    return create_app(node_state.settings, state=node_state)


@pytest.fixture(scope="session")
def api(node_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(node_app, raise_server_exceptions=False) as client:
        yield client


class LiveServer:
    """A uvicorn server in a thread on a free loopback port; :meth:`stop` always ends it."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, name="uvicorn-test", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture(scope="session")
def live_node(
    history: tuple[ProvenetChain, Scenario, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A real node (own database, background indexer on) served by uvicorn on loopback."""
    chain, _, metrics = history
    settings = NodeSettings(
        rpc_url=chain.rpc_url,
        deployment=chain.deployment_path,
        db=str(tmp_path_factory.mktemp("live-node") / "node.db"),
        metrics_file=metrics,
        poll_interval=0.2,
    )
    server = LiveServer(create_app(settings)).start()
    try:
        import requests

        deadline = time.monotonic() + 30
        while requests.get(server.url + "/ready", timeout=5).status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("the live node did not catch up with the chain")
            time.sleep(0.2)
        yield server
    finally:
        server.stop()
