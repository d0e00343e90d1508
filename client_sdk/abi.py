"""Packaged contract artifacts (ABI, bytecode) and decoding of contract errors into typed exceptions.

The artifacts in ``client_sdk/artifacts/`` are written by ``contracts/compile.py`` from the committed
sources, so a licensee needs no compiler::

    abi = load_artifact("LicenseRegistry").abi
    error = decode_contract_error(revert_data)   # -> LicenseRegistryOfferUsed(signer=..., nonce=...)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address

from client_sdk.contract_errors import ERRORS_BY_SIGNATURE, GeneratedRevert

__all__ = ["CONTRACT_NAMES", "Artifact", "decode_contract_error", "load_artifact"]

CONTRACT_NAMES = ("ModelRegistry", "LicenseRegistry", "WatermarkRegistry", "FederationLog")


@dataclass(frozen=True)
class Artifact:
    """A compiled contract: its name, ABI and creation bytecode."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str

    @property
    def abi_hash(self) -> str:
        """SHA-3 of the canonical ABI JSON: deployments record it so a client can detect a mismatch."""
        canonical = json.dumps(self.abi, sort_keys=True, separators=(",", ":")).encode()
        return "0x" + keccak(canonical).hex()


@cache
def load_artifact(name: str) -> Artifact:
    """The packaged artifact of contract ``name`` (one of :data:`CONTRACT_NAMES`)."""
    if name not in CONTRACT_NAMES:
        raise ValueError(f"unknown contract {name!r}; expected one of {', '.join(CONTRACT_NAMES)}")
    text = resources.files("client_sdk").joinpath("artifacts", f"{name}.json").read_text(encoding="utf-8")
    data = json.loads(text)
    return Artifact(name=name, abi=data["abi"], bytecode=data["bytecode"])


@cache
def _selectors() -> dict[bytes, tuple[type[GeneratedRevert], list[str]]]:
    table: dict[bytes, tuple[type[GeneratedRevert], list[str]]] = {}
    for signature, cls in ERRORS_BY_SIGNATURE.items():
        types = signature[signature.index("(") + 1 : -1]
        table[keccak(text=signature)[:4]] = (cls, [t for t in types.split(",") if t])
    return table


def _plain(value: Any, abi_type: str) -> Any:
    if abi_type == "address":
        return to_checksum_address(value)
    if abi_type.startswith("bytes") and isinstance(value, bytes):
        return "0x" + value.hex()
    return value


def decode_contract_error(data: bytes | None, *, tx_hash: str | None = None) -> GeneratedRevert | None:
    """The typed exception for revert ``data`` from any provenet contract, or ``None`` if unknown.

    Arguments are decoded against the ABI: addresses checksummed, fixed bytes as 0x-hex strings.
    """
    if not data or len(data) < 4:
        return None
    entry = _selectors().get(bytes(data[:4]))
    if entry is None:
        return None
    cls, types = entry
    try:
        values = abi_decode(types, bytes(data[4:])) if types else ()
    except Exception:  # malformed revert data: not ours to interpret
        return None
    args = {field: _plain(value, abi_type) for field, value, abi_type in zip(cls.fields, values, types, strict=True)}
    return cls(cls.__name__, args, contract=cls.contract_name, tx_hash=tx_hash)
