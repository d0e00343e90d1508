"""Typed errors of the provenet SDK, rooted at :class:`ProvenetError`.

Every error the SDK raises on purpose derives from :class:`ProvenetError`; where a builtin
exception has the same meaning the error derives from it too (web3.py style), so callers can
catch either ``ProvenetError`` or, for example, ``PermissionError``::

    try:
        gate.load(path, scope="inference")
    except LicenseRefused as refusal:
        print(refusal)          # says what was expected, what was found and what to do

Messages are written for a person: what was expected, what was found, what to do next.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _hex(value: bytes | str | None) -> str:
    if value is None:
        return "<none>"
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return value if value.startswith("0x") else "0x" + value


class ProvenetError(Exception):
    """Root of every error raised by provenet."""


class ProvenetValueError(ProvenetError, ValueError):
    """An argument or a stored value has the wrong form."""


class ProvenetFileNotFoundError(ProvenetError, FileNotFoundError):
    """A file the SDK was asked to read does not exist."""


# ---------------------------------------------------------------------------------------------
# chain and transactions
# ---------------------------------------------------------------------------------------------


class ChainUnavailable(ProvenetError, ConnectionError):
    """The JSON-RPC endpoint does not answer."""

    def __init__(self, url: str, detail: str = "") -> None:
        self.url = url
        self.detail = detail
        message = f"the chain at {url} does not answer"
        if detail:
            message += f" ({detail})"
        message += (
            ". Start the local devnet with `provenet devnet up`, or check --rpc-url"
            " (env PROVENET_RPC_URL) points at a running Ethereum JSON-RPC endpoint."
        )
        super().__init__(message)


class JsonRpcError(ProvenetError):
    """The endpoint answered a JSON-RPC request with an error object."""

    def __init__(self, method: str, code: int | None, message: str, data: Any = None) -> None:
        self.method = method
        self.code = code
        self.rpc_message = message
        self.data = data
        text = f"{method} failed with JSON-RPC error {code}: {message}"
        if data is not None:
            text += f" (data: {data})"
        super().__init__(text)


class TransactionFailed(ProvenetError):
    """A transaction was mined but reverted, and no reason could be decoded."""

    def __init__(self, tx_hash: bytes | str, receipt: Mapping[str, Any] | None = None, detail: str = "") -> None:
        self.tx_hash = _hex(tx_hash)
        self.receipt = receipt
        block = receipt.get("blockNumber") if receipt else None
        gas_used = receipt.get("gasUsed") if receipt else None
        message = f"transaction {self.tx_hash} reverted"
        if block is not None:
            message += f" in block {block} (gas used {gas_used})"
        message += "; no revert reason could be decoded"
        if detail:
            message += f": {detail}"
        message += ". Re-run the call with `cast run` or check the contract's preconditions."
        super().__init__(message)


class TransactionTimeout(ProvenetError, TimeoutError):
    """A sent transaction was not mined within the allowed time."""

    def __init__(self, tx_hash: bytes | str, timeout: float) -> None:
        self.tx_hash = _hex(tx_hash)
        self.timeout = timeout
        super().__init__(
            f"transaction {self.tx_hash} was not mined within {timeout:g} s. It may still be mined:"
            " look it up later by hash before sending it again, or raise the timeout. On a devnet"
            " started with interval mining, check that blocks are being produced."
        )


class ContractRevert(ProvenetError):
    """A contract reverted with a decoded custom error.

    Generated code subclasses this once per contract error (``ModelRegistryAlreadyRegistered``...).

    Attributes
    ----------
    error_name:
        The Solidity error name, e.g. ``"LicenseRegistryExpired"``.
    args:
        The decoded error arguments by parameter name.
    contract:
        The contract name or address that reverted, when known.
    tx_hash:
        The transaction that reverted, when the revert was mined (``None`` for calls and estimates).
    """

    hint: str = ""

    def __init__(
        self,
        error_name: str,
        args: Mapping[str, Any] | None = None,
        contract: str | None = None,
        tx_hash: bytes | str | None = None,
        hint: str | None = None,
    ) -> None:
        self.error_name = error_name
        self.args_by_name: dict[str, Any] = dict(args or {})
        self.contract = contract
        self.tx_hash = _hex(tx_hash) if tx_hash is not None else None
        if hint is not None:
            self.hint = hint
        super().__init__(self._compose())

    def _compose(self) -> str:
        rendered = ", ".join(f"{k}={_render_arg(v)}" for k, v in self.args_by_name.items())
        where = f"{self.contract}." if self.contract else ""
        message = f"{where}{self.error_name}({rendered})"
        if self.tx_hash:
            message += f" in transaction {self.tx_hash}"
        if self.hint:
            message += f". {self.hint}"
        return message

    # ``args`` is BaseException's tuple of constructor arguments; for a contract error callers
    # want the decoded arguments under that name, as in ape and the generated wrappers.
    @property  # type: ignore[override]
    def args(self) -> dict[str, Any]:
        return self.args_by_name

    @args.setter
    def args(self, value: Any) -> None:
        self.args_by_name = dict(value) if isinstance(value, Mapping) else self.args_by_name

    def __str__(self) -> str:
        return self._compose()

    def attach_transaction(self, tx_hash: bytes | str) -> ContractRevert:
        """Record the mined transaction that reverted (the decoder only saw revert data)."""
        if self.tx_hash is None:
            self.tx_hash = _hex(tx_hash)
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_revert,
            (type(self), self.error_name, self.args_by_name, self.contract, self.tx_hash, self.hint),
        )


def _rebuild_revert(cls: type[ContractRevert], *fields: Any) -> ContractRevert:
    error = cls.__new__(cls)
    ContractRevert.__init__(error, *fields)
    return error


def _render_arg(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return repr(value) if isinstance(value, str) else str(value)


# ---------------------------------------------------------------------------------------------
# keys
# ---------------------------------------------------------------------------------------------


class KeystoreError(ProvenetError):
    """A keystore file or directory cannot be used."""


class AccountNotFound(KeystoreError, LookupError):
    """No keystore with that name or path exists."""

    def __init__(self, name_or_path: str, directory: Path | str) -> None:
        self.name_or_path = name_or_path
        self.directory = str(directory)
        super().__init__(
            f"no keystore named {name_or_path!r} in {directory}. List the accounts with"
            " `provenet account list`, create one with `provenet account new`, or pass a keystore"
            " file path (set PROVENET_KEYSTORE_DIR to use another directory)."
        )


class AccountExists(KeystoreError, FileExistsError):
    """A keystore with that name already exists; the SDK never overwrites a key."""

    def __init__(self, name: str, path: Path | str) -> None:
        self.name = name
        self.path = str(path)
        super().__init__(
            f"a keystore named {name!r} already exists at {path}; choose another name, or move the"
            " existing file away first (it is never overwritten)."
        )


class WrongPassword(KeystoreError, PermissionError):
    """The password does not decrypt the keystore."""

    def __init__(self, path: Path | str, source: str = "") -> None:
        self.path = str(path)
        self.source = source
        origin = f" (from {source})" if source else ""
        super().__init__(
            f"the password{origin} does not decrypt keystore {path}; check the password or the"
            " environment variable that holds it."
        )


class PasswordUnavailable(KeystoreError):
    """No password was given, the environment variable is unset and prompting is off."""

    def __init__(self, path: Path | str, password_env: str | None) -> None:
        self.path = str(path)
        self.password_env = password_env
        if password_env:
            where = f"environment variable {password_env} is not set"
        else:
            where = "no password or password environment variable was given"
        super().__init__(
            f"cannot unlock keystore {path}: {where} and interactive prompting is off. Set the"
            " variable, or run interactively to be prompted."
        )


# ---------------------------------------------------------------------------------------------
# hashing
# ---------------------------------------------------------------------------------------------


class HashingError(ProvenetError, OSError):
    """A file of a model could not be read for hashing."""

    def __init__(self, path: Path | str, detail: str) -> None:
        self.path = str(path)
        super().__init__(f"cannot hash {path}: {detail}")


# ---------------------------------------------------------------------------------------------
# the licence gate's refusals
# ---------------------------------------------------------------------------------------------


class LicenseRefused(ProvenetError, PermissionError):
    """The licence gate refuses to load a model; the subclass says why."""


class ModelNotRegistered(LicenseRefused):
    """No model with these weights is registered on chain."""

    def __init__(self, weights_hash: bytes | str) -> None:
        self.weights_hash = _hex(weights_hash)
        super().__init__(
            f"no model with weights hash {self.weights_hash} is registered. The weights may have been"
            " modified or come from an unregistered source; compare `provenet hash <path>` with the"
            " hash the model owner published, or ask the owner to register the model."
        )


class WeightsHashMismatch(LicenseRefused):
    """The weights on disk do not have the hash the caller expected."""

    def __init__(self, path: Path | str, expected: bytes | str, actual: bytes | str) -> None:
        self.path = str(path)
        self.expected = _hex(expected)
        self.actual = _hex(actual)
        super().__init__(
            f"{path} has weights hash {self.actual}, expected {self.expected}. The file was changed"
            " or is a different model: download it again from the owner's published location."
        )


class NotLicensed(LicenseRefused):
    """The account holds no licence on the model for the requested scope."""

    def __init__(self, model: bytes | str, account: str, scope: str | int) -> None:
        self.model = _hex(model)
        self.account = account
        self.scope = scope
        super().__init__(
            f"account {account} holds no licence on model {self.model} for scope {scope!r}. Ask the"
            " model owner for a licence (or an offer to redeem), or load with an account that holds one."
        )


class LicenseExpired(LicenseRefused):
    """The licence's expiry has passed."""

    def __init__(self, license_id: int, expired_at: int) -> None:
        self.license_id = license_id
        self.expired_at = expired_at
        when = datetime.fromtimestamp(expired_at, tz=UTC).isoformat()
        super().__init__(
            f"licence #{license_id} expired at {when} (unix {expired_at}). Ask the model owner to renew it."
        )


class LicenseRevoked(LicenseRefused):
    """The licence was revoked (final)."""

    def __init__(self, license_id: int) -> None:
        self.license_id = license_id
        super().__init__(
            f"licence #{license_id} was revoked by the model owner; revocation is final. A new"
            " licence is needed to use the model."
        )


class LicenseSuspended(LicenseRefused):
    """The licence is suspended, pending reinstatement by the owner."""

    def __init__(self, license_id: int) -> None:
        self.license_id = license_id
        super().__init__(
            f"licence #{license_id} is suspended by the model owner; it can be used again once the"
            " owner reinstates it. Contact the owner."
        )


class ScopeNotGranted(LicenseRefused):
    """The licence exists but does not grant the requested scope."""

    def __init__(self, license_id: int, scope: str | int, granted: str | int | list[str]) -> None:
        self.license_id = license_id
        self.scope = scope
        self.granted = granted
        super().__init__(
            f"licence #{license_id} does not grant scope {scope!r}; it grants {granted!r}. Ask the"
            " model owner for a licence that includes this use."
        )


class ParentLicenseInvalid(LicenseRefused):
    """A sublicence's parent licence is no longer valid, so the sublicence is not either."""

    def __init__(self, license_id: int, parent_id: int) -> None:
        self.license_id = license_id
        self.parent_id = parent_id
        super().__init__(
            f"sublicence #{license_id} depends on licence #{parent_id}, which is no longer valid"
            " (expired, suspended or revoked). Ask whoever granted the sublicence to restore the"
            " parent, or obtain a licence directly from the model owner."
        )


# ---------------------------------------------------------------------------------------------
# the local devnet
# ---------------------------------------------------------------------------------------------


class DevnetError(ProvenetError, RuntimeError):
    """The local devnet (Anvil or Ganache) could not be started, found or stopped."""


class ToolNotFound(DevnetError, FileNotFoundError):
    """A chain tool (anvil, ganache) is not installed where provenet looks for it."""

    def __init__(self, tool: str, env_var: str, searched: list[str]) -> None:
        self.tool = tool
        self.env_var = env_var
        self.searched = searched
        super().__init__(
            f"cannot find {tool}; looked in {', '.join(searched)} and on PATH. Install the pinned tools"
            f" with `npm ci --prefix devnet`, or set {env_var} to the executable."
        )
