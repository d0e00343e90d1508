"""Gas used by provenet's main transactions, measured on a real Anvil that this script starts and stops.

Prints one JSON object on its last line, with the gas used by: ``registerModel``; ``issueLicense``
(a root licence to a holder with no licence yet, steady state: not the registry's first licence, which
also initialises the id counter and is reported as ``issueLicense_first_ever``) and
``issueLicense_existing_holder``;
``redeemOffer``; ``commitWatermark``; ``recordRound_3`` (3 attestations, steady state: round 3, members
that attested before); ``recordRound_4`` and ``recordRound_extra_member`` (the marginal gas of one more
attestation: round 4 with 4 attestations minus round 3 with 3). Targets (issue 2): recordRound_3 <= 100,000,
recordRound_extra_member <= 15,000, issueLicense <= 150,000.
"""

from __future__ import annotations

import json

from client_sdk.client import ProvenetClient
from client_sdk.deploy import deploy_contracts
from client_sdk.devnet import dev_accounts, start_anvil
from client_sdk.rpc import make_web3
from client_sdk.signing import sign_attestation
from client_sdk.types import LicenseOffer, LicenseTerms, Scope

TARGETS = {"recordRound_3": 100_000, "recordRound_extra_member": 15_000, "issueLicense": 150_000}


def measure(rpc_url: str) -> dict[str, int]:
    owner, first_holder, licensee, buyer, *members = dev_accounts(8)
    deployment = deploy_contracts(make_web3(rpc_url), owner)
    client = ProvenetClient(rpc_url, deployment)
    gas: dict[str, int] = {}

    model = bytes.fromhex("ab" * 32)
    receipt = client.models.register(owner, model, metadata_uri="ipfs://bench-model", metadata_hash=b"\x01" * 32)
    gas["registerModel"] = receipt["gasUsed"]

    terms = LicenseTerms(
        model=model, scope=Scope.INFERENCE | Scope.COMMERCIAL, legal_hash=b"\x02" * 32, legal_uri="ipfs://legal-text"
    )
    # The very first licence also initialises the id counter (a one-off 17k); measure the steady state:
    # a licence to a holder that has none yet, then one more to the same holder.
    receipt = client.licenses._write(owner, "issueLicense", first_holder.address, terms.as_tuple())
    gas["issueLicense_first_ever"] = receipt["gasUsed"]
    receipt = client.licenses._write(owner, "issueLicense", licensee.address, terms.as_tuple())
    gas["issueLicense"] = receipt["gasUsed"]
    receipt = client.licenses._write(owner, "issueLicense", licensee.address, terms.as_tuple())
    gas["issueLicense_existing_holder"] = receipt["gasUsed"]

    now = client.block_timestamp()
    offer = LicenseOffer(
        model=model,
        scope=Scope.INFERENCE,
        nonce=1,
        deadline=now + 3600,
        price=10**15,
        legal_hash=b"\x02" * 32,
        legal_uri="ipfs://legal-text",
    )
    signature = client.licenses.sign_offer(owner, offer)
    receipt = client.licenses._write(buyer, "redeemOffer", offer.as_tuple(), signature, value=offer.price)
    gas["redeemOffer"] = receipt["gasUsed"]

    receipt = client.watermarks.commit(owner, model, b"\x03" * 32)
    gas["commitWatermark"] = receipt["gasUsed"]

    federations = client.federations
    federation_id = federations.create(owner, [m.address for m in members], 3)
    for member in members:
        federations.accept(member, federation_id)
    previous = b"\x00" * 32
    log = deployment.address("FederationLog")

    def record(round_: int, signers: list) -> int:
        nonlocal previous
        new = round_.to_bytes(32, "big")
        attestations = [
            sign_attestation(
                m,
                federation_id=federation_id,
                round=round_,
                previous_global_hash=previous,
                update_hash=bytes([round_, i]) * 16,
                num_examples=600,
                chain_id=deployment.chain_id,
                federation_log=log,
            )
            for i, m in enumerate(signers)
        ]
        receipt = federations.record_round(owner, federation_id, round_, previous, new, b"\x04" * 32, attestations)
        previous = new
        return int(receipt["gasUsed"])

    record(1, members)  # first round: every member's counter slot goes from zero to non-zero
    record(2, members)
    gas["recordRound_3"] = record(3, members[:3])
    gas["recordRound_4"] = record(4, members)
    gas["recordRound_extra_member"] = gas["recordRound_4"] - gas["recordRound_3"]
    return gas


def main() -> None:
    with start_anvil() as anvil:
        gas = measure(anvil.rpc_url)
    gas_ok = {f"{key}_within_target": gas[key] <= limit for key, limit in TARGETS.items()}
    print(json.dumps(gas | gas_ok))


if __name__ == "__main__":
    main()
