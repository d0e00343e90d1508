"""Connections to an Ethereum JSON-RPC endpoint: a tuned ``Web3`` and a raw fast path.

``make_web3`` builds a ``Web3`` over HTTP that reuses one keep-alive session; ``ensure_reachable``
turns "nothing answers" into :class:`~client_sdk.errors.ChainUnavailable`. ``RawRpc`` skips web3's
middleware and formatters for hot read paths (the licence check), and sends JSON-RPC batches::

    rpc = RawRpc("http://127.0.0.1:8545")
    chain_id = int(rpc.call("eth_chainId", []), 16)
    block, balance = rpc.batch([("eth_blockNumber", []), ("eth_getBalance", [address, "latest"])])
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from web3 import Web3
from web3.providers.rpc.utils import ExceptionRetryConfiguration

from client_sdk.errors import ChainUnavailable, JsonRpcError, ProvenetValueError

__all__ = ["DEFAULT_RPC_URL", "DEFAULT_TIMEOUT", "RawRpc", "ensure_reachable", "make_session", "make_web3"]

DEFAULT_RPC_URL = "http://127.0.0.1:8545"
DEFAULT_TIMEOUT = 10.0

# Failures where the endpoint is not there (as opposed to answering with an error).
_UNREACHABLE = (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)


def make_session(pool_size: int = 32) -> requests.Session:
    """A keep-alive HTTP session with a connection pool large enough for concurrent senders."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update({"Content-Type": "application/json"})
    return session


def make_web3(
    rpc_url: str = DEFAULT_RPC_URL,
    timeout: float = DEFAULT_TIMEOUT,
    *,
    session: requests.Session | None = None,
    retries: int = 2,
) -> Web3:
    """A ``Web3`` on ``rpc_url`` that reuses one HTTP session across calls and threads.

    ``retries`` bounds web3's own retry of idempotent reads when the connection fails, so that a
    chain that is down is reported after well under a second rather than after several.
    """
    if not rpc_url.startswith(("http://", "https://")):
        raise ProvenetValueError(f"RPC URL {rpc_url!r} is not an HTTP(S) URL; expected e.g. {DEFAULT_RPC_URL}")
    provider = Web3.HTTPProvider(
        rpc_url,
        request_kwargs={"timeout": timeout},
        session=session or make_session(),
        exception_retry_configuration=ExceptionRetryConfiguration(
            errors=(requests.ConnectionError, requests.Timeout), retries=retries, backoff_factor=0.05
        ),
    )
    return Web3(provider)


def ensure_reachable(w3: Web3, url: str | None = None) -> int:
    """Return the chain id, or raise :class:`ChainUnavailable` naming the URL if nothing answers."""
    url = url or str(getattr(w3.provider, "endpoint_uri", "") or "<unknown endpoint>")
    try:
        return int(w3.eth.chain_id)
    except _UNREACHABLE as error:
        raise ChainUnavailable(url, _short(error)) from error
    except requests.HTTPError as error:
        raise ChainUnavailable(url, f"HTTP {error.response.status_code if error.response else ''}") from error


class RawRpc:
    """Minimal JSON-RPC client over a keep-alive session per thread.

    Parameters
    ----------
    url:
        The HTTP(S) JSON-RPC endpoint.
    timeout:
        Seconds to wait for each HTTP response.

    Raises (from ``call`` and ``batch``)
    ------------------------------------
    ChainUnavailable
        The endpoint does not answer.
    JsonRpcError
        The endpoint answered with a JSON-RPC error object.
    """

    def __init__(self, url: str = DEFAULT_RPC_URL, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url
        self.timeout = timeout
        self._local = threading.local()

    @property
    def session(self) -> requests.Session:
        # requests does not promise that a Session is thread-safe; one per thread keeps each
        # thread on its own warm connection.
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = make_session(pool_size=1)
        return session

    def call(self, method: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        """Send one request and return its ``result``."""
        # Ids only need to be unique within one HTTP request.
        params = params if isinstance(params, dict) else list(params)
        reply = self._post({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        if not isinstance(reply, dict):
            raise JsonRpcError(method, None, f"unexpected reply {reply!r}")
        return _result(method, reply)

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]], *, raise_errors: bool = True) -> list[Any]:
        """Send the calls as one JSON-RPC batch and return their results in order.

        With ``raise_errors=False`` a failed call yields its :class:`JsonRpcError` in its place
        instead of raising.
        """
        if not calls:
            return []
        first = 1
        payload = [
            {"jsonrpc": "2.0", "id": first + index, "method": method, "params": list(params)}
            for index, (method, params) in enumerate(calls)
        ]
        replies = self._post(payload)
        if isinstance(replies, dict):  # a whole-batch error, e.g. batches disabled
            error = replies.get("error") or {}
            raise JsonRpcError("batch", error.get("code"), error.get("message", str(replies)), error.get("data"))
        by_id = {reply.get("id"): reply for reply in replies}
        results: list[Any] = []
        for index, (method, _) in enumerate(calls):
            reply = by_id.get(first + index)
            try:
                if reply is None:
                    raise JsonRpcError(method, None, "no reply to this call in the batch")
                results.append(_result(method, reply))
            except JsonRpcError as error:
                if raise_errors:
                    raise
                results.append(error)
        return results

    def close(self) -> None:
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()
            self._local.session = None

    def __enter__(self) -> RawRpc:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _post(self, payload: Any) -> Any:
        try:
            response = self.session.post(self.url, data=json.dumps(payload), timeout=self.timeout)
        except _UNREACHABLE as error:
            raise ChainUnavailable(self.url, _short(error)) from error
        if response.status_code >= 500 or response.status_code in (404, 405):
            raise ChainUnavailable(self.url, f"HTTP {response.status_code} {response.reason}")
        try:
            return response.json()
        except ValueError:
            raise ChainUnavailable(
                self.url, f"HTTP {response.status_code}: the answer is not JSON-RPC ({response.text[:80]!r})"
            ) from None


def _result(method: str, reply: dict[str, Any]) -> Any:
    error = reply.get("error")
    if error is not None:
        if isinstance(error, dict):
            raise JsonRpcError(method, error.get("code"), str(error.get("message", "")), error.get("data"))
        raise JsonRpcError(method, None, str(error))
    return reply.get("result")


def _short(error: BaseException) -> str:
    text = str(error)
    # urllib3's messages embed whole object reprs; the first clause is what a person needs.
    for marker in ("Failed to establish a new connection: ", "Read timed out"):
        if marker in text:
            tail = text.split(marker, 1)[1] if marker.endswith(": ") else marker
            return tail.split(")")[0].strip().strip("\"'") or type(error).__name__
    return type(error).__name__ + (f": {text[:160]}" if text else "")
