"""Devnet processes: persistence across restarts, idempotent stop, the status file."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from client_sdk.devnet import (
    DevnetProcess,
    find_anvil,
    find_ganache,
    read_status,
    start_anvil,
    start_ganache,
    stop_from_status,
    write_status,
)
from client_sdk.errors import ToolNotFound
from client_sdk.rpc import RawRpc, make_web3
from client_sdk.transactions import TransactionSender

RECIPIENT = "0x000000000000000000000000000000000000dEaD"


def _send_and_observe(devnet: DevnetProcess) -> tuple[int, int, int]:
    w3 = make_web3(devnet.rpc_url)
    account = devnet.accounts()[0]
    TransactionSender(w3, account, devnet.chain_id).transfer(RECIPIENT, 10**15)
    return (
        w3.eth.get_balance(RECIPIENT),
        w3.eth.get_transaction_count(account.address),
        w3.eth.block_number,
    )


def _observe(devnet: DevnetProcess) -> tuple[int, int, int]:
    w3 = make_web3(devnet.rpc_url)
    return (
        w3.eth.get_balance(RECIPIENT),
        w3.eth.get_transaction_count(devnet.accounts()[0].address),
        w3.eth.block_number,
    )


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_anvil_restart_keeps_state(tmp_path: Path, stop_signal: signal.Signals) -> None:
    state = tmp_path / "anvil-state.json"
    with start_anvil(state_file=state) as first:
        before = _send_and_observe(first)
        if stop_signal == signal.SIGINT:
            os.killpg(first.pid, signal.SIGINT)
            first.process.wait(timeout=15)
        first.stop()
    assert state.is_file() and state.stat().st_size > 0, "anvil did not dump its state on exit"
    if stop_signal == signal.SIGTERM:
        assert first.state_dumped is True
    with start_anvil(state_file=state) as second:
        assert _observe(second) == before
        # And the chain goes on from there: the next nonce is the stored one.
        after = _send_and_observe(second)
        assert after[1] == before[1] + 1


@pytest.mark.ganache
def test_ganache_restart_keeps_state(tmp_path: Path) -> None:
    database = tmp_path / "ganache-db"
    with start_ganache(db_path=database) as first:
        before = _send_and_observe(first)
    with start_ganache(db_path=database) as second:
        assert _observe(second) == before
        after = _send_and_observe(second)
        assert after[1] == before[1] + 1


def test_stop_is_idempotent_and_kills_the_group() -> None:
    devnet = start_anvil()
    pid = devnet.pid
    devnet.stop()
    devnet.stop()
    assert not devnet.is_running()
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)


def test_anvil_custom_chain_id_and_block_time() -> None:
    with start_anvil(chain_id=4242, block_time=1, accounts=3) as devnet:
        with RawRpc(devnet.rpc_url) as rpc:
            assert int(rpc.call("eth_chainId"), 16) == 4242
            assert len(rpc.call("eth_accounts")) == 3
        assert len(devnet.accounts()) == 3


def test_status_file_round_trip(tmp_path: Path) -> None:
    assert read_status(tmp_path) is None
    assert stop_from_status(tmp_path) is False
    devnet = start_anvil()
    try:
        path = write_status(devnet, tmp_path)
        assert path.parent == tmp_path
        status = read_status(tmp_path)
        assert status is not None and status.running
        assert (status.pid, status.rpc_url, status.chain_id, status.kind) == (
            devnet.pid,
            devnet.rpc_url,
            devnet.chain_id,
            "anvil",
        )
        assert stop_from_status(tmp_path) is True
        devnet.process.wait(timeout=15)
        assert read_status(tmp_path) is None
    finally:
        devnet.stop()


def test_status_of_a_dead_devnet(tmp_path: Path) -> None:
    devnet = start_anvil()
    write_status(devnet, tmp_path)
    devnet.stop()
    status = read_status(tmp_path)
    assert status is not None and not status.running
    assert stop_from_status(tmp_path) is False
    assert read_status(tmp_path) is None


def test_tools_are_found() -> None:
    assert find_anvil().is_file()
    assert find_ganache().is_file()


def test_tool_env_override_must_exist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ANVIL_BIN", str(tmp_path / "no-anvil"))
    with pytest.raises(ToolNotFound, match="ANVIL_BIN"):
        find_anvil()
