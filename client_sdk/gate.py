"""The licence gate: weights load only when their hash is registered and the caller is licensed.

::

    tensors = load_licensed(model_hash, "model.safetensors", account="0xAbc…", scope="inference",
                            client=connect(rpc_url))

Steps, in order, with nothing loaded on any refusal:

1. hash the weights (SHA-256 of the ``.safetensors`` file, or the manifest hash of a directory of shards);
2. when the caller names the model, the hash must equal it (``WeightsHashMismatch``);
3. one JSON-RPC batch (one round trip) asks the registry who owns the hash and ``checkLicense`` for the
   account and scope; an unregistered hash is ``ModelNotRegistered``, an invalid licence the typed
   refusal for its reason (``NotLicensed``, ``LicenseExpired``, ``LicenseRevoked``, ``LicenseSuspended``,
   ``ScopeNotGranted``, ``ParentLicenseInvalid``); a chain that does not answer is ``ChainUnavailable``;
4. the file is loaded with safetensors (memory-mapped, never pickle) into torch tensors, and its identity
   (device, inode, size, modification time) is checked again so that a file swapped after hashing is
   refused rather than loaded.

When the model is named, the chain query runs while the file is hashed, so the gate costs about the
hash plus the load. ``torch`` is imported only when weights are actually loaded.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector, to_checksum_address
from safetensors import SafetensorError

from client_sdk.client import ProvenetClient, to_hash32
from client_sdk.errors import (
    LicenseExpired,
    LicenseRefused,
    LicenseRevoked,
    LicenseSuspended,
    ModelNotRegistered,
    NotLicensed,
    ParentLicenseInvalid,
    ProvenetError,
    ProvenetValueError,
    ScopeNotGranted,
    WeightsHashMismatch,
)
from client_sdk.hashing import model_files, weights_hash
from client_sdk.types import LicenseCheck, LicenseReason, Scope

if TYPE_CHECKING:
    import torch

__all__ = ["GateDecision", "MalformedWeights", "WeightsChanged", "check_licenses", "load_licensed", "verify_access"]

_OWNER_AND_INDEX = function_signature_to_4byte_selector("modelOwnerAndIndex(bytes32)")


class WeightsChanged(LicenseRefused):
    """The weights file changed between hashing and loading."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        super().__init__(
            f"{path} changed while it was being checked (another process wrote to it); nothing was loaded."
            " Make sure nothing writes to the file and load it again."
        )


class MalformedWeights(ProvenetValueError):
    """The file has the registered hash but is not a valid safetensors file."""

    def __init__(self, path: Path | str, detail: str) -> None:
        self.path = str(path)
        super().__init__(
            f"{path} is not a valid safetensors file ({detail}); nothing was loaded. Weights are only"
            " loaded from .safetensors files (never pickle): ask the owner for the safetensors export."
        )


@dataclass(frozen=True)
class GateDecision:
    """What the gate established before loading: the weights hash, the owner and the licence used."""

    weights_hash: bytes
    owner: str
    account: str
    scope: Scope
    license_id: int


def _file_identity(path: Path) -> list[tuple[int, int, int, int]]:
    files = [path] if path.is_file() else [full for _, full in model_files(path)]
    out = []
    for file in files:
        st = file.stat()
        out.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
    return out


def _query(client: ProvenetClient, model: bytes, account: str, scope: Scope) -> tuple[str, LicenseCheck]:
    registry = client.deployment.address("ModelRegistry")
    licenses = client.deployment.address("LicenseRegistry")
    owner_call = "0x" + (_OWNER_AND_INDEX + abi_encode(["bytes32"], [model])).hex()
    check_call = client.licenses.check_calldata(model, account, scope)
    owner_raw, check_raw = client.rpc.batch(
        [
            ("eth_call", [{"to": registry, "data": owner_call}, "latest"]),
            ("eth_call", [{"to": licenses, "data": check_call}, "latest"]),
        ]
    )
    owner, _index = abi_decode(["address", "uint32"], bytes.fromhex(owner_raw.removeprefix("0x")))
    valid, reason, license_id = abi_decode(["bool", "uint8", "uint256"], bytes.fromhex(check_raw.removeprefix("0x")))
    return to_checksum_address(owner), LicenseCheck(bool(valid), LicenseReason(reason), int(license_id))


def _refusal(client: ProvenetClient, model: bytes, account: str, scope: Scope, check: LicenseCheck) -> ProvenetError:
    """The typed refusal for an invalid check (reads the licence record for the details)."""
    if check.reason in (LicenseReason.NOT_LICENSED, LicenseReason.NONE) or check.license_id == 0:
        return NotLicensed(model, account, ",".join(scope.names()))
    record = client.licenses.get(check.license_id)
    if check.reason == LicenseReason.EXPIRED:
        return LicenseExpired(check.license_id, record.expiry)
    if check.reason == LicenseReason.REVOKED:
        return LicenseRevoked(check.license_id)
    if check.reason == LicenseReason.SUSPENDED:
        return LicenseSuspended(check.license_id)
    if check.reason == LicenseReason.SCOPE_NOT_GRANTED:
        return ScopeNotGranted(check.license_id, ",".join(scope.names()), record.scope.names())
    return ParentLicenseInvalid(check.license_id, record.parent_id)


def verify_access(
    client: ProvenetClient,
    path: Path | str,
    account: str,
    scope: Scope | str | int,
    model: bytes | str | None = None,
) -> GateDecision:
    """Steps 1–3 of the gate, without loading: raises the typed refusal, else returns the decision."""
    path = Path(path)
    scope = Scope.parse(scope)
    account = to_checksum_address(account)
    expected = to_hash32(model) if model is not None else None
    if expected is not None:
        # The chain answer does not depend on the file: ask while hashing.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(_query, client, expected, account, scope)
            actual = weights_hash(path)
            owner, check = pending.result()
        if actual != expected:
            raise WeightsHashMismatch(path, expected, actual)
    else:
        actual = weights_hash(path)
        owner, check = _query(client, actual, account, scope)
    if int(owner, 16) == 0:
        raise ModelNotRegistered(actual)
    if not check.valid:
        raise _refusal(client, actual, account, scope, check)
    return GateDecision(weights_hash=actual, owner=owner, account=account, scope=scope, license_id=check.license_id)


def _load_tensors(path: Path, device: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    if path.is_file():
        return load_file(path, device=device)
    tensors: dict[str, torch.Tensor] = {}
    # Exactly the shards the manifest hashed: a file the hash did not cover is never loaded.
    for relative, shard in model_files(path):
        if not relative.endswith(".safetensors"):
            continue
        for name, tensor in load_file(shard, device=device).items():
            if name in tensors:
                raise ProvenetError(f"tensor {name!r} appears in more than one shard of {path}")
            tensors[name] = tensor
    return tensors


def load_licensed(
    model: bytes | str | None,
    path: Path | str,
    account: str,
    scope: Scope | str | int,
    *,
    client: ProvenetClient,
    device: str = "cpu",
) -> dict[str, torch.Tensor]:
    """Load the safetensors weights at ``path`` as torch tensors if the gate allows it; see the module doc.

    Parameters
    ----------
    model:
        The registered weights hash the caller means to load (recommended), or ``None`` to look the file's
        own hash up.
    path:
        A ``.safetensors`` file, or a directory of ``.safetensors`` shards (hashed as a manifest).
    account:
        The address whose licence is checked.
    scope:
        The use asked for: a :class:`Scope`, its int, or names such as ``"inference,commercial"``.
    """
    path = Path(path)
    before = _file_identity(path) if path.exists() else None
    verify_access(client, path, account, scope, model)
    if _file_identity(path) != before:
        raise WeightsChanged(path)
    try:
        tensors = _load_tensors(path, device)
    except SafetensorError as error:
        raise MalformedWeights(path, str(error)) from None
    if _file_identity(path) != before:
        raise WeightsChanged(path)
    return tensors


def check_licenses(
    client: ProvenetClient, queries: Iterable[tuple[str, bytes | str, Scope | str | int]]
) -> list[LicenseCheck]:
    """Check many ``(account, model, scope)`` at once (JSON-RPC batches)."""
    return client.licenses.check_many((a, m, Scope.parse(s)) for a, m, s in queries)
