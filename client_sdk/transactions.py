"""Sending transactions safely: local signing, shared nonces, bounded waits, typed reverts.

``TransactionSender`` signs with a local key (never ``eth_sendTransaction``), takes nonces from one
manager per sender address shared by the whole process, prices with EIP-1559 fees when the chain
has a base fee (legacy ``gasPrice`` otherwise), estimates gas with a margin, broadcasts the raw
transaction and waits for its receipt::

    sender = TransactionSender(w3, account, error_decoder=registry_errors.decode)
    receipt = sender.send({"to": registry.address, "data": registry.encode_abi("register", [h, uri])})

A transaction is never sent twice: after a transient RPC failure the sender looks its hash up and
re-broadcasts the *same* signed bytes; it signs again (with a fresh nonce) only when the old nonce
was provably taken by another transaction, so the old one can never be mined.

Reverts reach the caller as typed errors. The revert data (from ``eth_estimateGas``, or, for a
mined revert, from replaying the transaction as ``eth_call`` at the block before) is handed to the
caller's ``error_decoder(revert_data) -> Exception | None``; ``Error(string)`` and ``Panic(uint256)``
are decoded here when the caller's decoder does not claim the data.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import requests
from eth_abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress, HexStr
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError

from client_sdk.errors import (
    ChainUnavailable,
    ContractRevert,
    JsonRpcError,
    ProvenetError,
    TransactionFailed,
    TransactionTimeout,
)

__all__ = [
    "CallReverted",
    "ErrorDecoder",
    "NonceManager",
    "TransactionSender",
    "decode_revert",
    "revert_data_of",
]

log = logging.getLogger(__name__)

ErrorDecoder = Callable[[bytes], Exception | None]
"""Turns raw revert data (selector + ABI-encoded arguments) into a typed error, or ``None``."""

_ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
_PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)
_PANIC_CODES = {
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "invalid enum value",
    0x22: "invalid storage byte array",
    0x31: "pop on an empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to an uninitialised function pointer",
}
# Answers to a re-broadcast that mean "this exact transaction is already in the pool or chain".
_ALREADY_KNOWN = ("already known", "known transaction", "already imported", "already in the pool")
# Our transaction was refused because its nonce is taken (by it, if it was mined, or by another one).
_NONCE_TOO_LOW = (
    "nonce too low",
    "nonce is too low",
    "oldnonce",
    "the tx doesn't have the correct nonce",
    "replacement transaction underpriced",
)


class CallReverted(ProvenetError):
    """A call or gas estimate reverted and the revert data matched no known error."""

    def __init__(self, message: str, data: bytes | None) -> None:
        self.data = data
        shown = "0x" + data.hex() if data else "no revert data"
        super().__init__(
            f"the transaction would revert: {message} ({shown}). Check the call's arguments and the"
            " contract's state; pass the contract's error decoder to get a named error."
        )


# ---------------------------------------------------------------------------------------------
# revert data
# ---------------------------------------------------------------------------------------------


def revert_data_of(error: BaseException) -> bytes | None:
    """Extract raw revert data from a web3 or JSON-RPC error, whatever the node's format."""
    candidates: list[Any] = []
    if isinstance(error, ContractLogicError):
        candidates.append(error.data)
    if isinstance(error, JsonRpcError):
        candidates.append(error.data)
    if isinstance(error, Web3RPCError) and isinstance(error.rpc_response, Mapping):
        rpc_error = error.rpc_response.get("error")
        if isinstance(rpc_error, Mapping):
            candidates.append(rpc_error.get("data"))
    for candidate in candidates:
        data = _hex_data(candidate)
        if data is not None:
            return data
    return None


def _hex_data(value: Any) -> bytes | None:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("Reverted "):  # some nodes prefix the data
            text = text.split(" ", 1)[1]
        if text.startswith("0x"):
            try:
                return bytes.fromhex(text[2:])
            except ValueError:
                return None
        return None
    if isinstance(value, Mapping):  # {"data": "0x..."} or Ganache's {"result": "0x...", ...}
        for key in ("data", "result", "return"):
            found = _hex_data(value.get(key))
            if found is not None:
                return found
        for nested in value.values():
            if isinstance(nested, Mapping):
                found = _hex_data(nested)
                if found is not None:
                    return found
    return None


def decode_revert(data: bytes | None, error_decoder: ErrorDecoder | None = None) -> Exception | None:
    """Turn revert data into a typed error: the caller's decoder first, then Error/Panic."""
    if not data:
        return None
    if error_decoder is not None:
        decoded = error_decoder(bytes(data))
        if decoded is not None:
            return decoded
    try:
        if data[:4] == _ERROR_SELECTOR:
            (reason,) = abi_decode(["string"], data[4:])
            return ContractRevert("Error", {"reason": reason})
        if data[:4] == _PANIC_SELECTOR:
            (code,) = abi_decode(["uint256"], data[4:])
            return ContractRevert("Panic", {"code": code, "meaning": _PANIC_CODES.get(code, "unknown")})
    except Exception:  # malformed data: leave it undecoded
        return None
    return None


# ---------------------------------------------------------------------------------------------
# nonces
# ---------------------------------------------------------------------------------------------


@dataclass
class NonceManager:
    """The next nonce of one sender on one endpoint; hold ``lock`` while using it."""

    address: ChecksumAddress
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_nonce: int | None = None

    def take(self, w3: Web3) -> int:
        """The nonce to use now (the caller holds ``lock``): the node's pending count.

        Every nonce committed here was broadcast while the lock was held, so the node's pending count
        already includes it. The count is asked each time because it can go down: a devnet restarted
        from an older state, or ``evm_revert``, forgets transactions, and a cached nonce ahead of the node
        would queue behind a gap and never be mined. It goes up when another process sends from the key.
        """
        pending = int(w3.eth.get_transaction_count(self.address, "pending"))
        if self.next_nonce is not None and pending < self.next_nonce:
            log.warning(
                "the node's pending nonce for %s is %d, below the %d this process expected: the chain forgot "
                "transactions (restarted from an older state?); continuing from the node's count",
                self.address,
                pending,
                self.next_nonce,
            )
        self.next_nonce = pending
        return pending

    def commit(self, nonce: int) -> None:
        self.next_nonce = nonce + 1

    def reset(self) -> None:
        """Forget the nonce, so that the next use asks the node again."""
        self.next_nonce = None


_MANAGERS: dict[tuple[str, int, str], NonceManager] = {}
_MANAGERS_LOCK = threading.Lock()


def nonce_manager(endpoint: str, chain_id: int, address: str) -> NonceManager:
    """The process-wide nonce manager of ``address`` on that endpoint and chain."""
    key = (endpoint, chain_id, address.lower())
    with _MANAGERS_LOCK:
        manager = _MANAGERS.get(key)
        if manager is None:
            manager = _MANAGERS[key] = NonceManager(to_checksum_address(address))
        return manager


# ---------------------------------------------------------------------------------------------
# sending
# ---------------------------------------------------------------------------------------------


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, requests.ConnectionError | requests.Timeout | ChainUnavailable):
        return True
    if isinstance(error, ConnectionError | TimeoutError):
        return True
    if isinstance(error, requests.HTTPError):
        response = error.response
        return response is None or response.status_code >= 500 or response.status_code == 429
    return False


def _message_of(error: BaseException) -> str:
    if isinstance(error, Web3RPCError):
        return str(error.message).lower()
    return str(error).lower()


class TransactionSender:
    """Signs and sends transactions for one local account.

    Parameters
    ----------
    w3:
        A connected ``Web3`` (see :func:`client_sdk.rpc.make_web3`).
    account:
        The signing key (see :func:`client_sdk.accounts.load_account`).
    chain_id:
        The chain to sign for; asked from the node when ``None``.
    error_decoder:
        Default decoder for revert data; each :meth:`send` may pass its own.
    gas_margin:
        Multiplier applied to ``eth_estimateGas``.
    receipt_timeout:
        Seconds :meth:`send` waits for the receipt before raising :class:`TransactionTimeout`.
    retries:
        Attempts at each RPC step that fails transiently (connection refused, timeout, HTTP 5xx).
    """

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        chain_id: int | None = None,
        *,
        error_decoder: ErrorDecoder | None = None,
        gas_margin: float = 1.2,
        receipt_timeout: float = 120.0,
        poll_interval: float = 0.05,
        retries: int = 4,
        retry_backoff: float = 0.25,
    ) -> None:
        self.w3 = w3
        self.account = account
        self.address = to_checksum_address(account.address)
        self.endpoint = str(getattr(w3.provider, "endpoint_uri", "") or id(w3.provider))
        self.error_decoder = error_decoder
        self.gas_margin = gas_margin
        self.receipt_timeout = receipt_timeout
        self.poll_interval = poll_interval
        self.retries = retries
        self.retry_backoff = retry_backoff
        self.chain_id = chain_id if chain_id is not None else self._rpc(lambda: int(w3.eth.chain_id))
        self.nonces = nonce_manager(self.endpoint, self.chain_id, self.address)
        self._eip1559: bool | None = None

    # -- public --------------------------------------------------------------------------------

    def send(
        self,
        tx: Mapping[str, Any],
        *,
        error_decoder: ErrorDecoder | None = None,
        wait: bool = True,
        timeout: float | None = None,
    ) -> Any:
        """Sign, send and (by default) wait for one transaction.

        ``tx`` holds ``to`` (omit to deploy), ``data``, ``value`` and optionally ``gas`` and fee
        fields; ``from``, ``nonce`` and ``chainId`` are set here.

        Returns the receipt (``wait=True``) or the transaction hash.

        Raises
        ------
        ContractRevert (or the decoder's error)
            The transaction reverts, in estimation or once mined.
        CallReverted
            Estimation reverted with data no decoder recognised.
        TransactionFailed
            Mined with status 0 and no decodable reason.
        TransactionTimeout
            No receipt within the timeout; the transaction may still be mined.
        ChainUnavailable
            The endpoint stayed unreachable through all retries.
        """
        decoder = error_decoder or self.error_decoder
        prepared = self.prepare(tx, error_decoder=decoder)
        tx_hash = self._sign_and_broadcast(prepared)
        if not wait:
            return tx_hash
        receipt = self.wait_for_receipt(tx_hash, timeout)
        if receipt["status"] != 1:
            raise self._mined_revert_error(prepared, receipt, decoder)
        return receipt

    def transfer(self, to: str, value: int, **kwargs: Any) -> Any:
        """Send ``value`` wei to ``to``."""
        return self.send({"to": to, "value": value}, **kwargs)

    def prepare(self, tx: Mapping[str, Any], *, error_decoder: ErrorDecoder | None = None) -> dict[str, Any]:
        """Fill ``from``, ``chainId``, fees and gas (everything but the nonce)."""
        prepared: dict[str, Any] = {k: v for k, v in tx.items() if k != "nonce"}
        prepared["from"] = self.address
        prepared["chainId"] = self.chain_id
        prepared.setdefault("value", 0)
        if "to" in prepared and prepared["to"] is not None:
            prepared["to"] = to_checksum_address(prepared["to"])
        if "data" in prepared and isinstance(prepared["data"], bytes | bytearray):
            prepared["data"] = "0x" + bytes(prepared["data"]).hex()
        if "gasPrice" not in prepared and "maxFeePerGas" not in prepared:
            prepared.update(self._fees())
        if "gas" not in prepared:
            prepared["gas"] = self._estimate_gas(prepared, error_decoder)
        return prepared

    def wait_for_receipt(self, tx_hash: bytes | str, timeout: float | None = None) -> Any:
        """Poll for the receipt until ``timeout`` seconds pass; transient errors are waited out."""
        timeout = self.receipt_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        interval = self.poll_interval
        while True:
            try:
                return self.w3.eth.get_transaction_receipt(cast(HexStr, _as_hex(tx_hash)))
            except TransactionNotFound:
                pass
            except Exception as error:
                if not _is_transient(error):
                    raise
            if time.monotonic() >= deadline:
                raise TransactionTimeout(tx_hash, timeout)
            time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
            interval = min(interval * 1.5, 1.0)

    # -- steps ---------------------------------------------------------------------------------

    def _sign_and_broadcast(self, prepared: dict[str, Any]) -> HexBytes:
        with self.nonces.lock:
            for _ in range(self.retries + 1):
                try:
                    nonce = self._rpc(lambda: self.nonces.take(self.w3))
                    signed = self.account.sign_transaction({**prepared, "nonce": nonce})
                    accepted = self._broadcast(signed.raw_transaction, HexBytes(signed.hash))
                except BaseException:
                    self.nonces.reset()
                    raise
                if accepted:
                    self.nonces.commit(nonce)
                    return HexBytes(signed.hash)
                # The nonce was consumed by another transaction (another process with this key):
                # ours can never be mined, so signing again with a fresh nonce cannot double-send.
                log.warning("nonce %d of %s was taken by another transaction; re-signing", nonce, self.address)
                self.nonces.reset()
            raise ProvenetError(
                f"could not find a free nonce for {self.address} after {self.retries + 1} attempts;"
                " is another process sending from this account at the same time?"
            )

    def _broadcast(self, raw: bytes, tx_hash: HexBytes) -> bool:
        """Broadcast ``raw`` until the node has it. False if its nonce went to another transaction."""
        last_error: BaseException | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.retry_backoff * 2 ** (attempt - 1))
                # The previous attempt may have reached the node although its answer was lost.
                if self._known(tx_hash):
                    return True
            try:
                self.w3.eth.send_raw_transaction(raw)
                return True
            except Web3RPCError as error:
                message = _message_of(error)
                if any(marker in message for marker in _ALREADY_KNOWN):
                    return True
                if any(marker in message for marker in _NONCE_TOO_LOW):
                    # Mined already (ours) or taken by another: only a definite "not found" allows re-signing.
                    return self._known_or_unavailable(tx_hash)
                raise JsonRpcError("eth_sendRawTransaction", _code(error), str(error.message)) from error
            except Exception as error:
                if not _is_transient(error):
                    raise
                last_error = error
                log.info("broadcast of %s failed transiently (%s); retrying", tx_hash.to_0x_hex(), error)
        if self._known(tx_hash, quiet=True):
            return True
        raise ChainUnavailable(
            self.endpoint,
            f"broadcast failed {self.retries + 1} times: {last_error}; transaction {tx_hash.to_0x_hex()} may still"
            " have reached the node: look it up by hash before sending the same call again",
        )

    def _known_or_unavailable(self, tx_hash: HexBytes) -> bool:
        """Whether the node knows the transaction; ``ChainUnavailable`` when it cannot say."""
        try:
            self.w3.eth.get_transaction(tx_hash)
            return True
        except TransactionNotFound:
            return False
        except Exception as error:
            if _is_transient(error):
                raise ChainUnavailable(
                    self.endpoint, f"cannot tell whether {tx_hash.to_0x_hex()} was sent ({error}); not sending again"
                ) from error
            raise

    def _known(self, tx_hash: HexBytes, quiet: bool = False) -> bool:
        try:
            self.w3.eth.get_transaction(tx_hash)
            return True
        except TransactionNotFound:
            return False
        except Exception as error:
            if quiet or _is_transient(error):
                return False
            raise

    def _fees(self) -> dict[str, int]:
        if self._eip1559 is None:
            block = self._rpc(lambda: self.w3.eth.get_block("latest"))
            self._eip1559 = block.get("baseFeePerGas") is not None
        if not self._eip1559:
            return {"gasPrice": self._rpc(lambda: int(self.w3.eth.gas_price))}
        base_fee = int(self._rpc(lambda: self.w3.eth.get_block("latest"))["baseFeePerGas"])
        try:
            tip = int(self._rpc(lambda: self.w3.eth.max_priority_fee))
        except (Web3RPCError, ValueError):
            tip = Web3.to_wei(1, "gwei")
        # Twice the base fee survives six consecutive full blocks of base-fee increases.
        return {"maxPriorityFeePerGas": tip, "maxFeePerGas": 2 * base_fee + tip}

    def _estimate_gas(self, prepared: dict[str, Any], decoder: ErrorDecoder | None) -> int:
        call = {k: prepared[k] for k in ("from", "to", "data", "value") if k in prepared}
        try:
            estimate = self._rpc(lambda: self.w3.eth.estimate_gas(call))  # type: ignore[arg-type]
        except (ContractLogicError, Web3RPCError) as error:
            data = revert_data_of(error)
            decoded = decode_revert(data, decoder)
            if decoded is not None:
                raise decoded from error
            message = error.message if isinstance(error, Web3RPCError | ContractLogicError) else str(error)
            raise CallReverted(str(message), data) from error
        return int(estimate * self.gas_margin)

    def _mined_revert_error(self, prepared: dict[str, Any], receipt: Any, decoder: ErrorDecoder | None) -> Exception:
        tx_hash = receipt["transactionHash"]
        call = {k: prepared[k] for k in ("from", "to", "data", "value", "gas") if k in prepared}
        block = max(int(receipt["blockNumber"]) - 1, 0)
        data: bytes | None = None
        detail = ""
        try:
            self.w3.eth.call(call, block)  # type: ignore[arg-type]
            detail = "the replay at the previous block succeeded (the state changed in between?)"
        except (ContractLogicError, Web3RPCError) as error:
            data = revert_data_of(error)
            detail = str(getattr(error, "message", error))
        except Exception as error:  # the replay is best effort; the receipt is the fact
            detail = f"replay failed: {error}"
        decoded = decode_revert(data, decoder)
        if decoded is None:
            if int(receipt["gasUsed"]) >= int(prepared.get("gas", 0)) > 0:
                detail = f"it used all of its {prepared['gas']} gas (out of gas?)"
            return TransactionFailed(tx_hash, receipt, detail)
        if isinstance(decoded, ContractRevert):
            decoded.attach_transaction(tx_hash)
        elif not hasattr(decoded, "tx_hash"):
            try:
                decoded.tx_hash = HexBytes(tx_hash).to_0x_hex()  # type: ignore[attr-defined]
            except AttributeError:
                pass
        return decoded

    def _rpc(self, operation: Callable[[], Any]) -> Any:
        """Run a read that may fail transiently, retrying with backoff (reads are idempotent)."""
        for attempt in range(self.retries + 1):
            try:
                return operation()
            except Exception as error:
                if not _is_transient(error):
                    raise
                if attempt == self.retries:
                    raise ChainUnavailable(self.endpoint, f"{type(error).__name__}: {error}") from error
                time.sleep(self.retry_backoff * 2**attempt)
        raise AssertionError("unreachable")


def _code(error: Web3RPCError) -> int | None:
    response = error.rpc_response
    if isinstance(response, Mapping) and isinstance(response.get("error"), Mapping):
        code = response["error"].get("code")
        return int(code) if isinstance(code, int) else None
    return None


def _as_hex(value: bytes | str) -> str:
    return value if isinstance(value, str) else HexBytes(value).to_0x_hex()
