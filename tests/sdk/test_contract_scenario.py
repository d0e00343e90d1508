"""The committed artifacts on a real Anvil and a real Ganache: one licence and federation scenario, and
every named revert of the security bar, each raised as its generated exception with decoded arguments."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import pytest
from eth_account.signers.local import LocalAccount

from client_sdk.client import ProvenetClient
from client_sdk.contract_errors import (
    FederationLogDuplicateSigner,
    FederationLogInvalidSignature,
    FederationLogNotMember,
    FederationLogUnexpectedRound,
    LicenseRegistryInvalidOfferSigner,
    LicenseRegistryOfferExpired,
    LicenseRegistryOfferUsed,
)
from client_sdk.deploy import Deployment, deploy_contracts
from client_sdk.devnet import DevnetProcess
from client_sdk.rpc import make_web3
from client_sdk.signing import recover_attestation_signer, sign_attestation
from client_sdk.types import (
    ZERO_HASH,
    Attestation,
    LicenseOffer,
    LicenseReason,
    LicenseState,
    MemberStatus,
    Scope,
)

PRICE = 10**15


@dataclass(frozen=True)
class Chain:
    """A fresh provenet deployment on one devnet, and the roles played by its funded accounts."""

    devnet: DevnetProcess
    client: ProvenetClient
    deployment: Deployment
    owner: LocalAccount  # deployer, model owner and federation coordinator
    licensee: LocalAccount
    other: LocalAccount
    members: tuple[LocalAccount, LocalAccount, LocalAccount]
    outsider: LocalAccount


@pytest.fixture(scope="module", params=["anvil", "ganache"])
def chain(request: pytest.FixtureRequest) -> Chain:
    """The artifacts deployed once per backend for this module (the devnets are session fixtures)."""
    if request.param == "ganache":
        request.applymarker(pytest.mark.ganache)
    devnet: DevnetProcess = request.getfixturevalue(request.param)
    accounts = devnet.accounts()
    deployment = deploy_contracts(make_web3(devnet.rpc_url), accounts[0])
    assert deployment.chain_id == devnet.chain_id
    return Chain(
        devnet=devnet,
        client=ProvenetClient(devnet.rpc_url, deployment),
        deployment=deployment,
        owner=accounts[0],
        licensee=accounts[1],
        other=accounts[2],
        members=(accounts[3], accounts[4], accounts[5]),
        outsider=accounts[6],
    )


def model_hash(request: pytest.FixtureRequest) -> bytes:
    """A weights hash unique to the running test (tests share one deployment per backend)."""
    return hashlib.sha256(request.node.nodeid.encode()).digest()


def round_hash(federation_id: int, round_: int) -> bytes:
    return hashlib.sha256(f"global {federation_id} {round_}".encode()).digest()


def attest(chain: Chain, member: LocalAccount, federation_id: int, round_: int, previous: bytes) -> Attestation:
    return sign_attestation(
        member,
        federation_id=federation_id,
        round=round_,
        previous_global_hash=previous,
        update_hash=hashlib.sha256(f"update {federation_id} {round_} {member.address}".encode()).digest(),
        num_examples=100 + 10 * round_ + chain.members.index(member),
        chain_id=chain.deployment.chain_id,
        federation_log=chain.deployment.address("FederationLog"),
    )


def new_federation(chain: Chain, min_signers: int = 2) -> int:
    federation_id = chain.client.federations.create(chain.owner, [m.address for m in chain.members], min_signers)
    for member in chain.members:
        chain.client.federations.accept(member, federation_id)
    return federation_id


def record(chain: Chain, federation_id: int, round_: int, signers: tuple[LocalAccount, ...] | None = None) -> None:
    previous = ZERO_HASH if round_ == 1 else round_hash(federation_id, round_ - 1)
    attestations = [attest(chain, m, federation_id, round_, previous) for m in signers or chain.members]
    chain.client.federations.record_round(
        chain.owner, federation_id, round_, previous, round_hash(federation_id, round_), ZERO_HASH, attestations
    )


def time_travel(chain: Chain, seconds: int) -> None:
    chain.client.rpc.call("evm_increaseTime", [seconds])
    chain.client.rpc.call("evm_mine", [])


def offer_nonce(model: bytes) -> int:
    """Offer nonces are per signer across models: one per test's model keeps the tests independent."""
    return int.from_bytes(model[:8], "big")


def open_offer(chain: Chain, model: bytes, deadline_in: int = 3600) -> LicenseOffer:
    return LicenseOffer(
        model=model,
        scope=Scope.INFERENCE | Scope.COMMERCIAL,
        nonce=offer_nonce(model),
        deadline=chain.client.block_timestamp() + deadline_in,
        price=PRICE,
    )


# ---------------------------------------------------------------------------------------------
# the scenario
# ---------------------------------------------------------------------------------------------


def test_licence_and_federation_scenario(chain: Chain, request: pytest.FixtureRequest) -> None:
    client, owner, licensee = chain.client, chain.owner, chain.licensee
    model = model_hash(request)

    client.models.register(owner, model, metadata_uri="ipfs://scenario")
    assert client.models.owner_of(model) == owner.address

    offer = replace(open_offer(chain, model), licensee=licensee.address)
    signature = client.licenses.sign_offer(owner, offer)
    balance_before = client.w3.eth.get_balance(licensee.address)
    license_id = client.licenses.redeem(licensee, offer, signature)
    assert client.w3.eth.get_balance(licensee.address) <= balance_before - PRICE
    assert client.licenses._read("proceedsOf", owner.address) >= PRICE
    assert client.licenses.offer_nonce_used(owner.address, offer.nonce)

    licence = client.licenses.get(license_id)
    assert (licence.holder, licence.model, licence.scope, licence.state) == (
        licensee.address,
        model,
        Scope.INFERENCE | Scope.COMMERCIAL,
        LicenseState.ACTIVE,
    )
    granted = client.licenses.check(model, licensee.address, Scope.INFERENCE | Scope.COMMERCIAL)
    assert (granted.valid, granted.reason, granted.license_id) == (True, LicenseReason.NONE, license_id)
    other_scope = client.licenses.check(model, licensee.address, Scope.DERIVATIVE)
    assert (other_scope.valid, other_scope.reason, other_scope.license_id) == (
        False,
        LicenseReason.SCOPE_NOT_GRANTED,
        license_id,
    )

    client.licenses.revoke(owner, license_id)
    revoked = client.licenses.check(model, licensee.address, Scope.INFERENCE)
    assert (revoked.valid, revoked.reason, revoked.license_id) == (False, LicenseReason.REVOKED, license_id)
    assert client.licenses.get(license_id).state == LicenseState.REVOKED

    federation_id = new_federation(chain, min_signers=3)
    signed: dict[int, list[Attestation]] = {}
    previous = ZERO_HASH
    for round_ in (1, 2):
        signed[round_] = [attest(chain, m, federation_id, round_, previous) for m in chain.members]
        new = round_hash(federation_id, round_)
        receipt = client.federations.record_round(
            owner, federation_id, round_, previous, new, ZERO_HASH, signed[round_]
        )
        assert receipt["status"] == 1
        previous = new

    state = client.federations.get(federation_id)
    assert (state.coordinator, state.last_round, state.min_signers, state.member_count, state.last_global_hash) == (
        owner.address,
        2,
        3,
        3,
        round_hash(federation_id, 2),
    )
    for member in chain.members:
        member_state = client.federations.member(federation_id, member.address)
        examples = sum(a.num_examples for atts in signed.values() for a in atts if a.signer == member.address)
        assert (member_state.status, member_state.rounds, member_state.examples) == (MemberStatus.ACTIVE, 2, examples)

    records = client.federations.round_records(federation_id)
    assert [r["round"] for r in records] == [1, 2]
    assert records[0]["previous_global_hash"] == ZERO_HASH
    assert records[1]["previous_global_hash"] == records[0]["new_global_hash"] == round_hash(federation_id, 1)
    log_address = chain.deployment.address("FederationLog")
    for round_record in records:
        expected = sorted(signed[round_record["round"]], key=lambda a: int(a.signer, 16))
        assert round_record["attestations"] == expected
        assert round_record["examples"] == sum(a.num_examples for a in expected)
        signers = {
            recover_attestation_signer(a, chain.deployment.chain_id, log_address) for a in round_record["attestations"]
        }
        assert signers == {m.address for m in chain.members}


# ---------------------------------------------------------------------------------------------
# named reverts
# ---------------------------------------------------------------------------------------------


def test_offer_redeemed_twice_reverts(chain: Chain, request: pytest.FixtureRequest) -> None:
    model = model_hash(request)
    chain.client.models.register(chain.owner, model)
    offer = open_offer(chain, model)
    signature = chain.client.licenses.sign_offer(chain.owner, offer)
    chain.client.licenses.redeem(chain.licensee, offer, signature)
    issued = chain.client.licenses.total_issued()

    for redeemer in (chain.licensee, chain.other):
        with pytest.raises(LicenseRegistryOfferUsed) as caught:
            chain.client.licenses.redeem(redeemer, offer, signature)
        assert caught.value.args == {"signer": chain.owner.address, "nonce": offer.nonce}
    assert chain.client.licenses.total_issued() == issued


def test_forged_offer_signature_reverts(chain: Chain, request: pytest.FixtureRequest) -> None:
    model = model_hash(request)
    chain.client.models.register(chain.owner, model)
    offer = open_offer(chain, model)
    forged = chain.client.licenses.sign_offer(chain.outsider, offer)
    with pytest.raises(LicenseRegistryInvalidOfferSigner) as caught:
        chain.client.licenses.redeem(chain.licensee, offer, forged)
    assert caught.value.args == {"signer": chain.outsider.address, "owner": chain.owner.address}

    # The owner's signature over other terms does not cover a cheaper price either.
    genuine = chain.client.licenses.sign_offer(chain.owner, offer)
    with pytest.raises(LicenseRegistryInvalidOfferSigner) as caught:
        chain.client.licenses.redeem(chain.licensee, replace(offer, price=1), genuine)
    assert caught.value.owner == chain.owner.address
    assert caught.value.signer != chain.owner.address
    assert not chain.client.licenses.offer_nonce_used(chain.owner.address, offer.nonce)
    assert chain.client.licenses.held(model, chain.licensee.address) == 0


def test_expired_offer_reverts(chain: Chain, request: pytest.FixtureRequest) -> None:
    model = model_hash(request)
    chain.client.models.register(chain.owner, model)
    offer = open_offer(chain, model, deadline_in=60)
    signature = chain.client.licenses.sign_offer(chain.owner, offer)
    time_travel(chain, 3600)
    with pytest.raises(LicenseRegistryOfferExpired) as caught:
        chain.client.licenses.redeem(chain.licensee, offer, signature)
    assert caught.value.args == {"deadline": offer.deadline}
    assert chain.client.licenses.held(model, chain.licensee.address) == 0


def test_cross_round_replayed_attestation_reverts(chain: Chain) -> None:
    federation_id = new_federation(chain)
    first, second, third = chain.members
    round1 = attest(chain, first, federation_id, 1, ZERO_HASH)
    chain.client.federations.record_round(
        chain.owner,
        federation_id,
        1,
        ZERO_HASH,
        round_hash(federation_id, 1),
        ZERO_HASH,
        [round1, attest(chain, second, federation_id, 1, ZERO_HASH)],
    )
    previous = round_hash(federation_id, 1)
    fresh = [attest(chain, m, federation_id, 2, previous) for m in (second, third)]
    with pytest.raises(FederationLogInvalidSignature) as caught:
        chain.client.federations.record_round(
            chain.owner, federation_id, 2, previous, round_hash(federation_id, 2), ZERO_HASH, [round1, *fresh]
        )
    assert caught.value.args == {"signer": first.address}
    assert chain.client.federations.get(federation_id).last_round == 1
    assert chain.client.federations.member(federation_id, first.address).rounds == 1


def test_non_member_attestation_reverts(chain: Chain) -> None:
    federation_id = new_federation(chain)
    outsider_attestation = sign_attestation(
        chain.outsider,
        federation_id=federation_id,
        round=1,
        previous_global_hash=ZERO_HASH,
        update_hash=b"\x01" * 32,
        num_examples=10,
        chain_id=chain.deployment.chain_id,
        federation_log=chain.deployment.address("FederationLog"),
    )
    members = [attest(chain, m, federation_id, 1, ZERO_HASH) for m in chain.members[:2]]
    with pytest.raises(FederationLogNotMember) as caught:
        chain.client.federations.record_round(
            chain.owner,
            federation_id,
            1,
            ZERO_HASH,
            round_hash(federation_id, 1),
            ZERO_HASH,
            [*members, outsider_attestation],
        )
    assert caught.value.args == {"federation_id": federation_id, "account": chain.outsider.address}
    assert chain.client.federations.get(federation_id).last_round == 0


def test_duplicated_signer_reverts(chain: Chain) -> None:
    federation_id = new_federation(chain)
    attestation = attest(chain, chain.members[0], federation_id, 1, ZERO_HASH)
    # Straight to the contract: the wrapper sorts, the contract must still refuse the duplicate.
    with pytest.raises(FederationLogDuplicateSigner) as caught:
        chain.client.federations._write(
            chain.owner,
            "recordRound",
            federation_id,
            1,
            ZERO_HASH,
            round_hash(federation_id, 1),
            ZERO_HASH,
            [attestation.as_tuple(), attestation.as_tuple()],
        )
    assert caught.value.args == {"signer": chain.members[0].address}
    assert chain.client.federations.member(federation_id, chain.members[0].address).rounds == 0


def test_repeated_round_reverts(chain: Chain) -> None:
    federation_id = new_federation(chain)
    record(chain, federation_id, 1)
    record(chain, federation_id, 2)
    for repeated in (1, 2):
        with pytest.raises(FederationLogUnexpectedRound) as caught:
            record(chain, federation_id, repeated)
        assert caught.value.args == {"federation_id": federation_id, "expected": 3, "got": repeated}
    state = chain.client.federations.get(federation_id)
    assert (state.last_round, state.last_global_hash) == (2, round_hash(federation_id, 2))
