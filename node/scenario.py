"""A small, complete provenet history on a devnet, made through the SDK: for the node's tests, bench and demo.

It records a federation of three partners over three rounds (with metrics documents whose hashes are on
chain), registers the trained model with its provenance pointer, issues licences in every state (valid,
expired, suspended, revoked, parent-invalid), redeems a signed offer for a derivative, registers the
derivative, and commits, reveals and claims a watermark.

Needs a devnet with time travel (Anvil): the expired licence is made by ``evm_increaseTime``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount

from client_sdk.client import ProvenetClient
from client_sdk.signing import sign_attestation
from client_sdk.types import LicenseOffer, LicenseTerms, Scope
from node.metrics import metrics_hash

__all__ = ["Scenario", "build_scenario", "record_rounds"]


def _h(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


@dataclass
class Scenario:
    """What :func:`build_scenario` made (hashes as 0x-hex, addresses checksummed)."""

    federation_id: int
    model: str
    derivative: str
    coordinator: str
    partners: list[str]
    licenses: dict[str, int] = field(default_factory=dict)
    holders: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    commitment: str = ""
    suspect: str = ""
    initial_global_hash: str = ""
    global_hashes: list[str] = field(default_factory=list)


def record_rounds(
    client: ProvenetClient,
    coordinator: LocalAccount,
    partners: list[LocalAccount],
    federation_id: int,
    rounds: int,
    previous: bytes,
    *,
    first_round: int = 1,
    seed: str = "",
) -> tuple[list[bytes], list[dict[str, Any]]]:
    """Record ``rounds`` rounds signed by every partner; returns the new global hashes and metrics documents."""
    hashes: list[bytes] = []
    documents: list[dict[str, Any]] = []
    fed_log = client.deployment.address("FederationLog")
    for number in range(first_round, first_round + rounds):
        new = _h(f"{seed}global-{federation_id}-{number}")
        document = {
            "round": number,
            "loss": round(1.9 / (number + 0.6), 4),
            "accuracy": round(0.97 - 0.6 / (number + 0.8), 4),
        }
        attestations = [
            sign_attestation(
                partner,
                federation_id=federation_id,
                round=number,
                previous_global_hash=previous,
                update_hash=_h(f"{seed}update-{federation_id}-{number}-{i}"),
                num_examples=400 + 50 * i,
                chain_id=client.chain_id,
                federation_log=fed_log,
            )
            for i, partner in enumerate(partners)
        ]
        client.federations.record_round(
            coordinator,
            federation_id,
            number,
            previous,
            new,
            bytes.fromhex(metrics_hash(document)[2:]),
            attestations,
        )
        hashes.append(new)
        documents.append(document)
        previous = new
    return hashes, documents


def build_scenario(client: ProvenetClient, accounts: list[LocalAccount], rounds: int = 3) -> Scenario:
    """Make the history described in the module docstring; ``accounts`` needs 10 funded accounts."""
    owner, valid_holder, expired_holder, p1, p2, p3, deriver, suspended_holder, reseller, sub_holder = accounts[:10]
    partners = [p1, p2, p3]
    initial = _h("initial-arrays")
    fid = client.federations.create(owner, [p.address for p in partners], 2, initial_global_hash=initial)
    for partner in partners:
        client.federations.accept(partner, fid)
    hashes, documents = record_rounds(client, owner, partners, fid, rounds, initial)

    model = _h(f"digits-cnn.safetensors-{fid}")
    client.models.register(
        owner,
        model,
        metadata_uri="ipfs://bafy-digits-cnn/model.json",
        metadata_hash=_h("model.json"),
        federation_id=fid,
        final_round=rounds,
    )
    now = client.block_timestamp()
    licenses: dict[str, int] = {}
    holders: dict[str, str] = {}

    def issue(label: str, to: LocalAccount, scope: Scope, expiry: int = 0, parent: int = 0, by: LocalAccount = owner):
        licenses[label] = client.licenses.issue(
            by,
            to.address,
            LicenseTerms(
                model=model,
                scope=scope,
                expiry=expiry,
                parent_id=parent,
                legal_hash=_h("licence-text-v1"),
                legal_uri="https://provenet.example/licences/v1.txt",
            ),
        )
        holders[label] = to.address

    issue("valid", valid_holder, Scope.INFERENCE | Scope.COMMERCIAL, expiry=now + 365 * 86400)
    issue("expired", expired_holder, Scope.INFERENCE, expiry=now + 60)
    issue("suspended", suspended_holder, Scope.INFERENCE)
    issue("revoked", reseller, Scope.INFERENCE | Scope.REDISTRIBUTE)
    issue("parent-invalid", sub_holder, Scope.INFERENCE, parent=licenses["revoked"], by=reseller)
    client.licenses.suspend(owner, licenses["suspended"], _h("incident-42"))
    client.licenses.revoke(owner, licenses["revoked"], _h("breach-of-terms"))

    offer = LicenseOffer(
        model=model,
        scope=Scope.INFERENCE | Scope.DERIVATIVE,
        nonce=7,
        deadline=now + 3600,
        licensee=deriver.address,
        legal_hash=_h("licence-text-v1"),
        legal_uri="https://provenet.example/licences/v1.txt",
    )
    licenses["offer"] = client.licenses.redeem(deriver, offer, client.licenses.sign_offer(owner, offer))
    holders["offer"] = deriver.address
    derivative = _h("digits-cnn-finetuned.safetensors")
    client.models.register(deriver, derivative, metadata_uri="ipfs://bafy-finetuned/model.json", parents=[model])

    digest, salt = _h("watermark-trigger-set"), _h("salt")
    commitment = client.watermarks.compute_commitment(owner.address, model, digest, salt)
    client.watermarks.commit(owner, model, commitment)
    client.watermarks.reveal(owner, commitment, digest, salt)
    suspect = _h("suspect-model.safetensors")
    client.watermarks.claim(owner, commitment, suspect, _h("evidence.pdf"), "https://provenet.example/evidence.pdf")

    client.rpc.call("evm_increaseTime", [120])
    client.rpc.call("evm_mine", [])
    return Scenario(
        federation_id=fid,
        model="0x" + model.hex(),
        derivative="0x" + derivative.hex(),
        coordinator=owner.address,
        partners=[p.address for p in partners],
        licenses=licenses,
        holders=holders,
        metrics={"federation_id": fid, "rounds": documents},
        commitment="0x" + commitment.hex(),
        suspect="0x" + suspect.hex(),
        initial_global_hash="0x" + initial.hex(),
        global_hashes=["0x" + h.hex() for h in hashes],
    )
