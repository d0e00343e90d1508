"""Writes the node accepts from people who keep their own keys: EIP-712 signed payloads, verified and stored.

The node holds no user key. Three payloads are accepted:

- a **licence offer** to publish, signed by the model owner exactly as ``LicenseRegistry.redeemOffer``
  checks it (domain ``provenet LicenseRegistry``/``1``, the registry address); its nonce is the offer's
  own, so it is refused once the nonce was redeemed or cancelled on chain or published here before;
- a **watermark claim intent** with its evidence, signed by the committer of the watermark;
- **round metrics** of a federation round, signed by the federation's coordinator, whose SHA-256 must equal
  the round's ``metricsHash`` on chain.

The last two use the node's own domain: name ``provenet Node``, version ``1``, the chain id and the
``WatermarkRegistry`` address as ``verifyingContract``; each carries a ``nonce`` (one use per signer and
kind) and a ``deadline`` (unix seconds, compared with the chain's time)::

    typed = claim_intent_typed_data(intent, chain_id, watermark_registry)
    signature = account.sign_message(encode_typed_data(full_message=typed)).signature
"""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

__all__ = [
    "CLAIM_INTENT_TYPE",
    "NODE_DOMAIN",
    "ROUND_METRICS_TYPE",
    "SignedPayloadError",
    "claim_intent_typed_data",
    "recover_signer",
    "round_metrics_typed_data",
    "sign_typed",
]

NODE_DOMAIN = ("provenet Node", "1")

CLAIM_INTENT_TYPE = [
    {"name": "commitment", "type": "bytes32"},
    {"name": "suspectHash", "type": "bytes32"},
    {"name": "evidenceHash", "type": "bytes32"},
    {"name": "evidenceURI", "type": "string"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]

ROUND_METRICS_TYPE = [
    {"name": "federationId", "type": "uint64"},
    {"name": "round", "type": "uint64"},
    {"name": "metricsHash", "type": "bytes32"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]

_DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


class SignedPayloadError(ValueError):
    """A signed payload was refused; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _node_domain(chain_id: int, verifying_contract: str) -> dict[str, Any]:
    return {
        "name": NODE_DOMAIN[0],
        "version": NODE_DOMAIN[1],
        "chainId": chain_id,
        "verifyingContract": to_checksum_address(verifying_contract),
    }


def _b32(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else bytes.fromhex(value.removeprefix("0x"))


def claim_intent_typed_data(intent: dict[str, Any], chain_id: int, watermark_registry: str) -> dict[str, Any]:
    """The EIP-712 message of a claim intent (keys as in :data:`CLAIM_INTENT_TYPE`, hashes as 0x-hex)."""
    return {
        "types": {"EIP712Domain": _DOMAIN_TYPE, "WatermarkClaimIntent": CLAIM_INTENT_TYPE},
        "primaryType": "WatermarkClaimIntent",
        "domain": _node_domain(chain_id, watermark_registry),
        "message": {
            "commitment": _b32(intent["commitment"]),
            "suspectHash": _b32(intent["suspectHash"]),
            "evidenceHash": _b32(intent["evidenceHash"]),
            "evidenceURI": str(intent["evidenceURI"]),
            "nonce": int(intent["nonce"]),
            "deadline": int(intent["deadline"]),
        },
    }


def round_metrics_typed_data(message: dict[str, Any], chain_id: int, watermark_registry: str) -> dict[str, Any]:
    """The EIP-712 message of a round-metrics publication (keys as in :data:`ROUND_METRICS_TYPE`)."""
    return {
        "types": {"EIP712Domain": _DOMAIN_TYPE, "RoundMetrics": ROUND_METRICS_TYPE},
        "primaryType": "RoundMetrics",
        "domain": _node_domain(chain_id, watermark_registry),
        "message": {
            "federationId": int(message["federationId"]),
            "round": int(message["round"]),
            "metricsHash": _b32(message["metricsHash"]),
            "nonce": int(message["nonce"]),
            "deadline": int(message["deadline"]),
        },
    }


def sign_typed(account: LocalAccount, typed: dict[str, Any]) -> str:
    """``0x``-hex 65-byte signature of an EIP-712 message (for clients and tests)."""
    return "0x" + bytes(account.sign_message(encode_typed_data(full_message=typed)).signature).hex()


def recover_signer(typed: dict[str, Any], signature: str) -> str:
    """The checksummed signer of ``typed``; :class:`SignedPayloadError` (400) when the signature is malformed."""
    try:
        raw = bytes.fromhex(signature.removeprefix("0x"))
    except ValueError:
        raise SignedPayloadError(400, "bad-signature", "the signature is not hex") from None
    if len(raw) != 65:
        raise SignedPayloadError(400, "bad-signature", f"a signature has 65 bytes; got {len(raw)}")
    try:
        return to_checksum_address(Account.recover_message(encode_typed_data(full_message=typed), signature=raw))
    except Exception:  # eth-keys raises several types for signatures that do not parse
        raise SignedPayloadError(400, "bad-signature", "the signature does not recover to any address") from None
