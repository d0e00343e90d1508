"""EIP-712 signatures: licence offers (by model owners) and round attestations (by federation members).

Digests are computed locally with eth-account, exactly as the contracts compute them (domain: name,
version, chain id, verifying contract), so a signature can be made and checked off chain::

    signature = sign_offer(owner, offer, chain_id, license_registry_address)
    attestation = sign_attestation(partner, federation_id=1, round=3, previous_global_hash=prev,
                                   update_hash=h, num_examples=600,
                                   chain_id=31337, federation_log=address)
    assert recover_attestation_signer(attestation, 31337, address) == partner.address
"""

from __future__ import annotations

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from client_sdk.types import ATTESTATION_EIP712_TYPE, OFFER_EIP712_TYPE, Attestation, LicenseOffer

__all__ = [
    "FEDERATION_LOG_DOMAIN",
    "LICENSE_REGISTRY_DOMAIN",
    "attestation_typed_data",
    "offer_typed_data",
    "recover_attestation_signer",
    "recover_offer_signer",
    "sign_attestation",
    "sign_offer",
]

LICENSE_REGISTRY_DOMAIN = ("provenet LicenseRegistry", "1")
FEDERATION_LOG_DOMAIN = ("provenet FederationLog", "1")


def _domain(name_version: tuple[str, str], chain_id: int, contract: str) -> dict:
    name, version = name_version
    return {
        "name": name,
        "version": version,
        "chainId": chain_id,
        "verifyingContract": to_checksum_address(contract),
    }


def _eip712_domain_type() -> list[dict]:
    return [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ]


def offer_typed_data(offer: LicenseOffer, chain_id: int, license_registry: str) -> dict:
    """The full EIP-712 message of an offer (what a wallet shows the owner before signing)."""
    return {
        "types": {"EIP712Domain": _eip712_domain_type(), "LicenseOffer": OFFER_EIP712_TYPE},
        "primaryType": "LicenseOffer",
        "domain": _domain(LICENSE_REGISTRY_DOMAIN, chain_id, license_registry),
        "message": offer.message(),
    }


def sign_offer(owner: LocalAccount, offer: LicenseOffer, chain_id: int, license_registry: str) -> bytes:
    """The owner's 65-byte signature of ``offer``."""
    signable = encode_typed_data(full_message=offer_typed_data(offer, chain_id, license_registry))
    return bytes(owner.sign_message(signable).signature)


def recover_offer_signer(offer: LicenseOffer, signature: bytes, chain_id: int, license_registry: str) -> str:
    """Who signed ``offer`` (checksummed)."""
    signable = encode_typed_data(full_message=offer_typed_data(offer, chain_id, license_registry))
    return to_checksum_address(Account.recover_message(signable, signature=signature))


def attestation_typed_data(
    *,
    federation_id: int,
    round: int,
    previous_global_hash: bytes,
    update_hash: bytes,
    num_examples: int,
    chain_id: int,
    federation_log: str,
) -> dict:
    """The full EIP-712 message of a round attestation."""
    return {
        "types": {"EIP712Domain": _eip712_domain_type(), "RoundAttestation": ATTESTATION_EIP712_TYPE},
        "primaryType": "RoundAttestation",
        "domain": _domain(FEDERATION_LOG_DOMAIN, chain_id, federation_log),
        "message": {
            "federationId": federation_id,
            "round": round,
            "previousGlobalHash": previous_global_hash,
            "updateHash": update_hash,
            "numExamples": num_examples,
        },
    }


def sign_attestation(
    member: LocalAccount,
    *,
    federation_id: int,
    round: int,
    previous_global_hash: bytes,
    update_hash: bytes,
    num_examples: int,
    chain_id: int,
    federation_log: str,
) -> Attestation:
    """The member's attestation of its update, signed in EIP-2098 compact form (r, vs)."""
    typed = attestation_typed_data(
        federation_id=federation_id,
        round=round,
        previous_global_hash=previous_global_hash,
        update_hash=update_hash,
        num_examples=num_examples,
        chain_id=chain_id,
        federation_log=federation_log,
    )
    signed = member.sign_message(encode_typed_data(full_message=typed))
    # EIP-2098: the parity bit of v goes into the top bit of s (s is always in the lower half order).
    vs = signed.s | ((signed.v - 27) << 255)
    return Attestation(
        signer=to_checksum_address(member.address),
        federation_id=federation_id,
        round=round,
        previous_global_hash=previous_global_hash,
        update_hash=update_hash,
        num_examples=num_examples,
        r=signed.r.to_bytes(32, "big"),
        vs=vs.to_bytes(32, "big"),
    )


def recover_attestation_signer(attestation: Attestation, chain_id: int, federation_log: str) -> str | None:
    """Who signed the attestation (checksummed), or ``None`` when the signature does not parse."""
    typed = attestation_typed_data(
        federation_id=attestation.federation_id,
        round=attestation.round,
        previous_global_hash=attestation.previous_global_hash,
        update_hash=attestation.update_hash,
        num_examples=attestation.num_examples,
        chain_id=chain_id,
        federation_log=federation_log,
    )
    vs = int.from_bytes(attestation.vs, "big")
    s = vs & ((1 << 255) - 1)
    v = 27 + (vs >> 255)
    signature = attestation.r + s.to_bytes(32, "big") + bytes([v])
    try:
        return to_checksum_address(Account.recover_message(encode_typed_data(full_message=typed), signature=signature))
    except Exception:  # eth-keys rejects malformed signatures with several error types
        return None
