"""Domain types shared by the SDK, the CLI, the federation and the node: scopes, terms, records."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from client_sdk.errors import ProvenetValueError

__all__ = [
    "Attestation",
    "FederationState",
    "LicenseCheck",
    "LicenseOffer",
    "LicenseReason",
    "LicenseRecord",
    "LicenseState",
    "LicenseTerms",
    "MemberState",
    "MemberStatus",
    "ModelRecord",
    "Scope",
    "WatermarkCommitment",
    "ZERO_HASH",
]

ZERO_HASH = b"\x00" * 32


class Scope(enum.IntFlag):
    """What a licence lets its holder do (the contract's scope bitmask)."""

    INFERENCE = 1
    DERIVATIVE = 2
    REDISTRIBUTE = 4
    COMMERCIAL = 8

    @classmethod
    def parse(cls, text: str | int | Scope) -> Scope:
        """``"inference,commercial"`` (names, case-insensitive, ``,`` or ``|`` separated) or an int."""
        if isinstance(text, int):
            if text <= 0 or text & ~0xF:
                raise ProvenetValueError(f"scope {text} is empty or has undefined bits (1..15)")
            value = cls(text)
        else:
            value = cls(0)
            for part in text.replace("|", ",").split(","):
                name = part.strip().upper().replace("-", "_")
                if name == "FINE_TUNE":
                    name = "DERIVATIVE"
                if name == "ALL":
                    value |= cls.INFERENCE | cls.DERIVATIVE | cls.REDISTRIBUTE | cls.COMMERCIAL
                    continue
                if name not in cls.__members__:
                    raise ProvenetValueError(
                        f"unknown scope {part.strip()!r}; expected inference, derivative, redistribute, commercial"
                    )
                value |= cls[name]
        if not value or value & ~0xF:
            raise ProvenetValueError(f"scope {int(value)} is empty or has undefined bits")
        return value

    def names(self) -> list[str]:
        """The scope names in bit order, lower case."""
        return [member.name.lower() for member in Scope if member & self and member.name]


class LicenseReason(enum.IntEnum):
    """Why ``checkLicense`` answered as it did (``NONE`` means valid)."""

    NONE = 0
    NOT_LICENSED = 1
    EXPIRED = 2
    REVOKED = 3
    SUSPENDED = 4
    SCOPE_NOT_GRANTED = 5
    PARENT_INVALID = 6


class LicenseState(enum.IntEnum):
    """Stored life-cycle state of a licence (expiry is computed separately)."""

    ACTIVE = 0
    SUSPENDED = 1
    REVOKED = 2


class MemberStatus(enum.IntEnum):
    """A federation member's status."""

    NONE = 0
    INVITED = 1
    ACTIVE = 2
    REMOVED = 3


@dataclass(frozen=True)
class LicenseTerms:
    """Terms requested when issuing. ``parent_id`` 0 issues a root licence (model owner only)."""

    model: bytes
    scope: Scope
    expiry: int = 0
    transferable: bool = False
    parent_id: int = 0
    legal_hash: bytes = ZERO_HASH
    legal_uri: str = ""

    def as_tuple(self) -> tuple:
        return (
            self.model,
            int(self.scope),
            self.expiry,
            self.transferable,
            self.parent_id,
            self.legal_hash,
            self.legal_uri,
        )


@dataclass(frozen=True)
class LicenseOffer:
    """An EIP-712 licence offer, signed by the model owner; ``licensee`` None means open to anyone."""

    model: bytes
    scope: Scope
    nonce: int
    deadline: int
    expiry: int = 0
    transferable: bool = False
    legal_hash: bytes = ZERO_HASH
    legal_uri: str = ""
    price: int = 0
    licensee: str | None = None

    def message(self) -> dict:
        """The EIP-712 message fields, by the contract's names."""
        return {
            "model": self.model,
            "licensee": self.licensee or "0x" + "00" * 20,
            "scope": int(self.scope),
            "expiry": self.expiry,
            "transferable": self.transferable,
            "legalHash": self.legal_hash,
            "legalURI": self.legal_uri,
            "price": self.price,
            "nonce": self.nonce,
            "deadline": self.deadline,
        }

    def as_tuple(self) -> tuple:
        m = self.message()
        return tuple(m[k] for k in OFFER_FIELDS)

    def to_json(self) -> dict:
        """JSON-safe form (hex bytes), for passing an offer from owner to licensee."""
        return {
            "model": "0x" + self.model.hex(),
            "scope": int(self.scope),
            "nonce": self.nonce,
            "deadline": self.deadline,
            "expiry": self.expiry,
            "transferable": self.transferable,
            "legal_hash": "0x" + self.legal_hash.hex(),
            "legal_uri": self.legal_uri,
            "price": self.price,
            "licensee": self.licensee,
        }

    @classmethod
    def from_json(cls, data: dict) -> LicenseOffer:
        return cls(
            model=bytes.fromhex(data["model"].removeprefix("0x")),
            scope=Scope(int(data["scope"])),
            nonce=int(data["nonce"]),
            deadline=int(data["deadline"]),
            expiry=int(data.get("expiry", 0)),
            transferable=bool(data.get("transferable", False)),
            legal_hash=bytes.fromhex(str(data.get("legal_hash", "0x" + "00" * 32)).removeprefix("0x")),
            legal_uri=str(data.get("legal_uri", "")),
            price=int(data.get("price", 0)),
            licensee=data.get("licensee"),
        )


OFFER_FIELDS = (
    "model",
    "licensee",
    "scope",
    "expiry",
    "transferable",
    "legalHash",
    "legalURI",
    "price",
    "nonce",
    "deadline",
)

OFFER_EIP712_TYPE = [
    {"name": "model", "type": "bytes32"},
    {"name": "licensee", "type": "address"},
    {"name": "scope", "type": "uint8"},
    {"name": "expiry", "type": "uint64"},
    {"name": "transferable", "type": "bool"},
    {"name": "legalHash", "type": "bytes32"},
    {"name": "legalURI", "type": "string"},
    {"name": "price", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]

ATTESTATION_EIP712_TYPE = [
    {"name": "federationId", "type": "uint64"},
    {"name": "round", "type": "uint64"},
    {"name": "previousGlobalHash", "type": "bytes32"},
    {"name": "updateHash", "type": "bytes32"},
    {"name": "numExamples", "type": "uint64"},
]


@dataclass(frozen=True)
class LicenseCheck:
    """The answer of ``checkLicense``: valid or not, why, and the licence id considered (0: none/owner)."""

    valid: bool
    reason: LicenseReason
    license_id: int


@dataclass(frozen=True)
class LicenseRecord:
    """A licence as stored on chain, plus its current holder."""

    license_id: int
    model: bytes
    holder: str
    scope: Scope
    expiry: int
    issued_at: int
    parent_id: int
    state: LicenseState
    depth: int
    transferable: bool


@dataclass(frozen=True)
class ModelRecord:
    """A registered model."""

    weights_hash: bytes
    owner: str
    registered_at: int
    federation_id: int
    final_round: int
    metadata_hash: bytes
    metadata_uri: str
    parents: tuple[bytes, ...] = field(default_factory=tuple)
    index: int = 0
    """Registration order (from 1); licences refer to the model by it on chain."""


@dataclass(frozen=True)
class WatermarkCommitment:
    """A stored watermark commitment (``revealed_at`` 0 until revealed)."""

    commitment: bytes
    model: bytes
    owner: str
    committed_at: int
    revealed_at: int
    watermark_digest: bytes


@dataclass(frozen=True)
class FederationState:
    """A federation's on-chain head."""

    federation_id: int
    coordinator: str
    last_round: int
    min_signers: int
    member_count: int
    last_global_hash: bytes


@dataclass(frozen=True)
class MemberState:
    """A member's status and contribution counters."""

    status: MemberStatus
    rounds: int
    examples: int


@dataclass(frozen=True)
class Attestation:
    """A member's signed statement about its update in one round (signature in EIP-2098 form)."""

    signer: str
    federation_id: int
    round: int
    previous_global_hash: bytes
    update_hash: bytes
    num_examples: int
    r: bytes
    vs: bytes

    def as_tuple(self) -> tuple:
        """The contract's ``Attestation`` struct."""
        return (self.signer, self.update_hash, self.num_examples, self.r, self.vs)

    def to_json(self) -> dict:
        return {
            "signer": self.signer,
            "federation_id": self.federation_id,
            "round": self.round,
            "previous_global_hash": "0x" + self.previous_global_hash.hex(),
            "update_hash": "0x" + self.update_hash.hex(),
            "num_examples": self.num_examples,
            "r": "0x" + self.r.hex(),
            "vs": "0x" + self.vs.hex(),
        }

    @classmethod
    def from_json(cls, data: dict) -> Attestation:
        def b(key: str) -> bytes:
            return bytes.fromhex(str(data[key]).removeprefix("0x"))

        return cls(
            signer=data["signer"],
            federation_id=int(data["federation_id"]),
            round=int(data["round"]),
            previous_global_hash=b("previous_global_hash"),
            update_hash=b("update_hash"),
            num_examples=int(data["num_examples"]),
            r=b("r"),
            vs=b("vs"),
        )
