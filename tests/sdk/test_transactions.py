"""Transactions on real devnets: concurrent senders, retries without double-sends, typed reverts."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import requests
from eth_abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from web3 import Web3

from client_sdk.devnet import DevnetProcess, free_port
from client_sdk.errors import ChainUnavailable, ContractRevert, TransactionFailed
from client_sdk.rpc import RawRpc, ensure_reachable, make_web3
from client_sdk.transactions import CallReverted, TransactionSender, decode_revert, revert_data_of

# A hand-assembled contract (no compiler needed): plain ETH transfers succeed; any call with data
# reverts with the custom error 0xdeadbeef(uint256 42).
#   CALLDATASIZE ISZERO PUSH1 0x1a JUMPI  PUSH4 0xdeadbeef PUSH1 0xe0 SHL PUSH1 0 MSTORE
#   PUSH1 42 PUSH1 4 MSTORE  PUSH1 36 PUSH1 0 REVERT  JUMPDEST STOP
RUNTIME = "3615601a5763deadbeef60e01b600052602a600452602460" + "00fd5b00"
INITCODE = "0x601c600c600039601c6000f3" + RUNTIME
SELECTOR = bytes.fromhex("deadbeef")


class Boom(ContractRevert):
    hint = "the test contract always refuses"


def boom_decoder(data: bytes) -> Exception | None:
    if data[:4] != SELECTOR:
        return None
    (value,) = abi_decode(["uint256"], data[4:])
    return Boom("TestBoom", {"value": value}, contract="Reverter")


def sender_for(devnet: DevnetProcess, account: LocalAccount, **kwargs: Any) -> TransactionSender:
    return TransactionSender(make_web3(devnet.rpc_url), account, devnet.chain_id, **kwargs)


@pytest.fixture
def reverter(devnet: DevnetProcess) -> str:
    receipt = sender_for(devnet, devnet.accounts()[9]).send({"data": INITCODE})
    assert receipt["status"] == 1
    return str(receipt["contractAddress"])


def test_transfer_uses_eip1559_fees(devnet: DevnetProcess) -> None:
    alice, bob = devnet.accounts()[0], devnet.accounts()[1]
    sender = sender_for(devnet, alice)
    before = sender.w3.eth.get_balance(bob.address)
    receipt = sender.transfer(bob.address, 12345)
    assert receipt["status"] == 1
    assert sender.w3.eth.get_balance(bob.address) == before + 12345
    assert sender.w3.eth.get_transaction(receipt["transactionHash"])["type"] == 2


def test_concurrent_senders_share_nonces(devnet: DevnetProcess) -> None:
    account, recipient = devnet.accounts()[2], devnet.accounts()[3]
    w3 = make_web3(devnet.rpc_url)
    start_nonce = w3.eth.get_transaction_count(account.address)
    per_thread = 6
    receipts: list[Any] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def work() -> None:
        # A separate sender (and Web3) per thread: the nonce manager is still the same one.
        sender = sender_for(devnet, account)
        try:
            for _ in range(per_thread):
                receipt = sender.transfer(recipient.address, 1)
                with lock:
                    receipts.append(receipt)
        except BaseException as error:  # reported below, in the test's thread
            failures.append(error)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    assert len(receipts) == 2 * per_thread
    assert all(receipt["status"] == 1 for receipt in receipts)
    nonces = sorted(w3.eth.get_transaction(r["transactionHash"])["nonce"] for r in receipts)
    assert nonces == list(range(start_nonce, start_nonce + 2 * per_thread))
    assert w3.eth.get_transaction_count(account.address) == start_nonce + 2 * per_thread


def _inject_send_failure(w3: Web3, *, after_forwarding: bool) -> list[int]:
    """Make the first eth_sendRawTransaction fail like a dropped connection."""
    original: Callable[..., Any] = w3.provider.make_request
    calls = [0]

    def flaky(method: str, params: Any) -> Any:
        if method == "eth_sendRawTransaction":
            calls[0] += 1
            if calls[0] == 1:
                if after_forwarding:
                    original(method, params)  # the node has it; only the answer is lost
                raise requests.ConnectionError("injected: connection reset by peer")
        return original(method, params)

    w3.provider.make_request = flaky  # type: ignore[method-assign]
    return calls


@pytest.mark.parametrize("after_forwarding", [True, False], ids=["answer-lost", "request-lost"])
def test_transient_send_error_does_not_double_send(devnet: DevnetProcess, after_forwarding: bool) -> None:
    account, recipient = devnet.accounts()[4], devnet.accounts()[5]
    w3 = make_web3(devnet.rpc_url)
    calls = _inject_send_failure(w3, after_forwarding=after_forwarding)
    nonce_before = w3.eth.get_transaction_count(account.address)
    balance_before = w3.eth.get_balance(recipient.address)
    sender = TransactionSender(w3, account, devnet.chain_id, retry_backoff=0.01)
    receipt = sender.transfer(recipient.address, 777)
    assert receipt["status"] == 1
    # A lost answer is resolved by looking the hash up; a lost request by re-sending the same bytes.
    assert calls[0] == (1 if after_forwarding else 2)
    assert w3.eth.get_transaction_count(account.address) == nonce_before + 1
    assert w3.eth.get_balance(recipient.address) == balance_before + 777
    # The next transaction takes the next nonce: the manager was not confused by the retry.
    assert sender.transfer(recipient.address, 1)["status"] == 1
    assert w3.eth.get_transaction_count(account.address) == nonce_before + 2


def test_estimate_revert_goes_through_the_decoder(devnet: DevnetProcess, reverter: str) -> None:
    sender = sender_for(devnet, devnet.accounts()[6], error_decoder=boom_decoder)
    with pytest.raises(Boom) as raised:
        sender.send({"to": reverter, "data": "0x01"})
    assert raised.value.error_name == "TestBoom"
    assert raised.value.args == {"value": 42}
    assert raised.value.tx_hash is None
    assert "Reverter.TestBoom(value=42)" in str(raised.value)


def test_estimate_revert_without_decoder(devnet: DevnetProcess, reverter: str) -> None:
    sender = sender_for(devnet, devnet.accounts()[6])
    with pytest.raises(CallReverted) as raised:
        sender.send({"to": reverter, "data": "0x01"})
    assert raised.value.data == SELECTOR + (42).to_bytes(32, "big")


def test_mined_revert_is_replayed_and_decoded(devnet: DevnetProcess, reverter: str) -> None:
    sender = sender_for(devnet, devnet.accounts()[7], error_decoder=boom_decoder)
    nonce_before = sender.w3.eth.get_transaction_count(sender.address)
    with pytest.raises(Boom) as raised:
        sender.send({"to": reverter, "data": "0x01", "gas": 100_000})  # preset gas: no estimate
    assert raised.value.args == {"value": 42}
    assert raised.value.tx_hash is not None
    receipt = sender.w3.eth.get_transaction_receipt(raised.value.tx_hash)
    assert receipt["status"] == 0
    assert sender.w3.eth.get_transaction_count(sender.address) == nonce_before + 1


def test_mined_revert_without_decoder_is_transaction_failed(devnet: DevnetProcess, reverter: str) -> None:
    sender = sender_for(devnet, devnet.accounts()[7])
    with pytest.raises(TransactionFailed) as raised:
        sender.send({"to": reverter, "data": "0x01", "gas": 100_000})
    assert raised.value.receipt is not None and raised.value.receipt["status"] == 0
    # The sender keeps working after a failure.
    assert sender.transfer(devnet.accounts()[8].address, 1)["status"] == 1


def test_error_string_and_panic_are_decoded() -> None:
    from eth_abi import encode

    error = decode_revert(bytes.fromhex("08c379a0") + encode(["string"], ["not owner"]))
    assert isinstance(error, ContractRevert) and error.args == {"reason": "not owner"}
    panic = decode_revert(bytes.fromhex("4e487b71") + encode(["uint256"], [0x11]))
    assert isinstance(panic, ContractRevert) and panic.args["code"] == 0x11
    assert decode_revert(b"") is None
    assert decode_revert(SELECTOR) is None


def test_revert_data_formats() -> None:
    from web3.exceptions import ContractCustomError

    assert revert_data_of(ContractCustomError("0xdeadbeef", data="0xdeadbeef")) == SELECTOR
    assert revert_data_of(ContractCustomError("x", data={"data": "0xdeadbeef"})) == SELECTOR  # type: ignore[arg-type]
    assert revert_data_of(ContractCustomError("x", data="Reverted 0xdeadbeef")) == SELECTOR
    assert revert_data_of(ValueError("nothing")) is None


def test_down_endpoint_raises_chain_unavailable_with_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    w3 = make_web3(url, timeout=2)
    with pytest.raises(ChainUnavailable, match=url) as raised:
        ensure_reachable(w3, url)
    assert "provenet devnet up" in str(raised.value)
    with pytest.raises(ChainUnavailable, match=url):
        RawRpc(url).call("eth_chainId")
    with pytest.raises(ChainUnavailable, match=url):
        TransactionSender(w3, Web3().eth.account.create(), retry_backoff=0.01)


def test_raw_rpc_call_and_batch(anvil: DevnetProcess) -> None:
    with RawRpc(anvil.rpc_url) as rpc:
        assert int(rpc.call("eth_chainId"), 16) == anvil.chain_id
        address = anvil.accounts()[0].address
        chain_id, balance = rpc.batch([("eth_chainId", []), ("eth_getBalance", [address, "latest"])])
        assert int(chain_id, 16) == anvil.chain_id and int(balance, 16) > 0
        results = rpc.batch([("eth_chainId", []), ("no_such_method", [])], raise_errors=False)
        assert int(results[0], 16) == anvil.chain_id
        assert isinstance(results[1], Exception)
