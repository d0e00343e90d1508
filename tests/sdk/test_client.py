"""The client on a real devnet: connecting (and refusing to), typed read errors, batched licence checks,
and the deployment manifest."""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import replace
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount

from client_sdk.client import ProvenetClient, connect
from client_sdk.contract_errors import (
    FederationLogUnknownFederation,
    LicenseRegistryUnknownLicense,
    ModelRegistryUnknownModel,
)
from client_sdk.deploy import Deployment, DeploymentMismatch, deploy_contracts
from client_sdk.devnet import DevnetProcess, free_port, start_anvil
from client_sdk.errors import ChainUnavailable, ProvenetValueError
from client_sdk.rpc import make_web3
from client_sdk.types import LicenseReason, LicenseState, LicenseTerms, Scope


def weights(name: str) -> bytes:
    return hashlib.sha256(f"test_client {name}".encode()).digest()


@pytest.fixture(scope="module")
def deployment(anvil: DevnetProcess) -> Deployment:
    return deploy_contracts(make_web3(anvil.rpc_url), anvil.accounts()[0])


@pytest.fixture(scope="module")
def client(anvil: DevnetProcess, deployment: Deployment) -> ProvenetClient:
    return connect(anvil.rpc_url, deployment)


# ---------------------------------------------------------------------------------------------
# connecting
# ---------------------------------------------------------------------------------------------


def test_connect_to_nothing_names_the_url(deployment: Deployment) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(ChainUnavailable) as caught:
        connect(url, deployment)
    assert url in str(caught.value)
    assert isinstance(caught.value, ConnectionError)
    assert time.monotonic() - started < 5, "an unreachable chain must be reported promptly"


def test_connect_refuses_a_manifest_of_another_chain(
    anvil: DevnetProcess, deployment: Deployment, tmp_path: Path
) -> None:
    other_chain = replace(deployment, chain_id=1337)
    with pytest.raises(DeploymentMismatch) as caught:
        connect(anvil.rpc_url, other_chain)
    assert "1337" in str(caught.value) and str(anvil.chain_id) in str(caught.value)

    path = other_chain.save(tmp_path / "1337.json")
    with pytest.raises(DeploymentMismatch):
        connect(anvil.rpc_url, path)


def test_connect_refuses_a_manifest_of_other_abis(anvil: DevnetProcess, deployment: Deployment) -> None:
    stale = replace(deployment, abi_hashes={**deployment.abi_hashes, "LicenseRegistry": "0x" + "00" * 32})
    with pytest.raises(DeploymentMismatch, match="LicenseRegistry"):
        connect(anvil.rpc_url, stale)


def test_connect_with_a_manifest_path(anvil: DevnetProcess, deployment: Deployment, tmp_path: Path) -> None:
    path = deployment.save(tmp_path / f"{anvil.chain_id}.json")
    client = connect(anvil.rpc_url, str(path))
    assert client.deployment == deployment
    assert client.chain_id == anvil.chain_id


# ---------------------------------------------------------------------------------------------
# typed reads
# ---------------------------------------------------------------------------------------------


def test_reading_unknown_things_raises_typed_errors(client: ProvenetClient) -> None:
    unknown = weights("never registered")
    with pytest.raises(ModelRegistryUnknownModel) as caught:
        client.models.get(unknown)
    assert caught.value.args == {"model": "0x" + unknown.hex()}
    assert caught.value.tx_hash is None

    with pytest.raises(LicenseRegistryUnknownLicense) as license_error:
        client.licenses.get(10**9)
    assert license_error.value.args == {"license_id": 10**9}

    with pytest.raises(FederationLogUnknownFederation) as federation_error:
        client.federations.get(4242)
    assert federation_error.value.args == {"federation_id": 4242}

    assert client.models.owner_of(unknown) is None
    assert client.models.is_registered(unknown) is False


def test_get_model_returns_the_registered_record(client: ProvenetClient, anvil: DevnetProcess) -> None:
    owner = anvil.accounts()[0]
    parent, child = weights("record parent"), weights("record child")
    client.models.register(owner, parent, metadata_uri="ipfs://parent")
    client.models.register(owner, child, metadata_uri="ipfs://child", metadata_hash=b"\x07" * 32, parents=[parent])

    record = client.models.get(child)
    assert (record.weights_hash, record.owner, record.metadata_uri, record.metadata_hash, record.parents) == (
        child,
        owner.address,
        "ipfs://child",
        b"\x07" * 32,
        (parent,),
    )
    assert record.registered_at > 0
    assert [r.weights_hash for r in client.models.lineage(child)] == [child, parent]


def test_get_licence_returns_the_stored_terms(client: ProvenetClient, anvil: DevnetProcess) -> None:
    owner, licensee = anvil.accounts()[0], anvil.accounts()[1]
    model = weights("licence record")
    client.models.register(owner, model)
    expiry = client.block_timestamp() + 3600
    license_id = client.licenses.issue(
        owner, licensee.address, LicenseTerms(model=model, scope=Scope.INFERENCE, expiry=expiry, transferable=True)
    )
    record = client.licenses.get(license_id)
    assert (record.holder, record.model, record.scope, record.expiry, record.state, record.transferable) == (
        licensee.address,
        model,
        Scope.INFERENCE,
        expiry,
        LicenseState.ACTIVE,
        True,
    )
    assert client.licenses.held(model, licensee.address) == license_id


# ---------------------------------------------------------------------------------------------
# batched checks
# ---------------------------------------------------------------------------------------------


def licensed_world(client: ProvenetClient, accounts: list[LocalAccount], tag: str) -> list[bytes]:
    """Six models with a spread of licences: valid, scoped, suspended, revoked, expiring, sublicensed."""
    owner = accounts[0]
    models = [weights(f"{tag} batch {i}") for i in range(6)]
    for model in models:
        client.models.register(owner, model)
    now = client.block_timestamp()
    lic = client.licenses
    for i, model in enumerate(models):
        holder, other = accounts[1 + i % 4], accounts[5 + i % 3]
        root = lic.issue(owner, holder.address, LicenseTerms(model=model, scope=Scope(1 + 4 + (i % 2) * 8)))
        lic.issue(holder, other.address, LicenseTerms(model=model, scope=Scope.INFERENCE, parent_id=root))
        short = lic.issue(owner, accounts[8].address, LicenseTerms(model=model, scope=Scope(15), expiry=now + 50))
        if i % 3 == 0:
            lic.suspend(owner, root)
        if i % 3 == 1:
            lic.revoke(owner, short)
    client.rpc.call("evm_increaseTime", [100])
    client.rpc.call("evm_mine", [])
    return models


def test_check_many_equals_single_checks(devnet: DevnetProcess) -> None:
    accounts = devnet.accounts()
    deployment = deploy_contracts(make_web3(devnet.rpc_url), accounts[0])
    client = ProvenetClient(devnet.rpc_url, deployment)
    models = licensed_world(client, accounts, devnet.kind)
    stranger = "0x" + "5a" * 20
    holders = [a.address for a in accounts] + [stranger]
    pairs = [(account, model, scope) for account in holders for model in models for scope in range(1, 16)][:1000]
    pairs += [(holders[i % len(holders)], models[i % 6], 1 + i % 15) for i in range(1000 - len(pairs))]
    assert len(pairs) == 1000

    answers = client.licenses.check_many(pairs)
    assert len(answers) == 1000

    sample = random.Random(7).sample(range(1000), 80)
    for index in sample:
        account, model, scope = pairs[index]
        assert answers[index] == client.licenses.check(model, account, scope), pairs[index]
    reasons = {answer.reason for answer in answers}
    assert {LicenseReason.NONE, LicenseReason.NOT_LICENSED, LicenseReason.SCOPE_NOT_GRANTED} <= reasons
    assert {
        LicenseReason.SUSPENDED,
        LicenseReason.REVOKED,
        LicenseReason.EXPIRED,
        LicenseReason.PARENT_INVALID,
    } <= reasons
    assert client.licenses.check_many([]) == []


# ---------------------------------------------------------------------------------------------
# the manifest
# ---------------------------------------------------------------------------------------------


def test_deployment_save_load_round_trip(deployment: Deployment, tmp_path: Path) -> None:
    path = deployment.save(tmp_path / "nested" / "31337.json")
    assert Deployment.load(path) == deployment
    assert json.loads(path.read_text()) == deployment.to_json()
    assert not list(path.parent.glob("*.tmp")), "the atomic write leaves no temporary file"

    lower = {**deployment.to_json(), "contracts": {k: v.lower() for k, v in deployment.contracts.items()}}
    path.write_text(json.dumps(lower))
    assert Deployment.load(path) == deployment, "addresses are checksummed on load"


def test_deployment_load_errors(tmp_path: Path) -> None:
    with pytest.raises(DeploymentMismatch, match="no deployment manifest"):
        Deployment.load(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"chain_id": 31337}')
    with pytest.raises(ProvenetValueError, match="malformed"):
        Deployment.load(broken)
    with pytest.raises(DeploymentMismatch, match="WatermarkRegistry"):
        Deployment(chain_id=1, contracts={}).address("WatermarkRegistry")


# ---------------------------------------------------------------------------------------------
# a chain that goes away or goes back
# ---------------------------------------------------------------------------------------------


def test_a_stopped_chain_is_reported_as_unavailable() -> None:
    devnet = start_anvil()
    try:
        owner, licensee = devnet.accounts(2)
        client = ProvenetClient(devnet.rpc_url, deploy_contracts(make_web3(devnet.rpc_url), owner))
        model = weights("stopped chain")
        client.models.register(owner, model)
    finally:
        devnet.stop()
    reads = {
        "check": lambda: client.licenses.check(model, licensee.address, Scope.INFERENCE),
        "check_many": lambda: client.licenses.check_many([(licensee.address, model, Scope.INFERENCE)]),
        "owner_of": lambda: client.models.owner_of(model),
    }
    for name, read in reads.items():
        with pytest.raises(ChainUnavailable) as caught:
            read()
        message = str(caught.value)
        assert devnet.rpc_url in message, name
        # The reason is quoted from urllib3: it must come out clean, without its closing quote.
        assert 'refused"' not in message and "refused'" not in message, (name, message)


def test_writes_after_a_chain_reset_do_not_hang() -> None:
    """After ``evm_revert`` (or a fresh devnet on the same URL) the node's nonces went back: the SDK's
    cached nonce must follow, or the transaction waits forever behind a nonce gap."""
    devnet = start_anvil()
    try:
        owner, licensee = devnet.accounts(2)
        client = ProvenetClient(devnet.rpc_url, deploy_contracts(make_web3(devnet.rpc_url), owner))
        model = weights("chain reset")
        client.models.register(owner, model)
        snapshot = client.rpc.call("evm_snapshot", [])
        client.licenses.issue(owner, licensee.address, LicenseTerms(model=model, scope=Scope.INFERENCE))
        assert client.rpc.call("evm_revert", [snapshot]) is True

        client.sender(owner).receipt_timeout = 5
        license_id = client.licenses.issue(owner, licensee.address, LicenseTerms(model=model, scope=Scope.INFERENCE))
        assert license_id == 1
    finally:
        devnet.stop()


def test_connect_refuses_a_manifest_whose_contracts_are_not_on_the_chain(anvil, tmp_path):
    """Same chain id, but a chain where nothing was deployed (a restarted devnet): a typed error, not garbage."""
    from client_sdk.abi import CONTRACT_NAMES
    from client_sdk.deploy import Deployment, DeploymentMismatch
    from client_sdk.devnet import start_anvil

    manifest = tmp_path / "31337.json"
    Deployment(
        chain_id=anvil.chain_id, contracts={name: "0x" + f"{i + 1:040x}" for i, name in enumerate(CONTRACT_NAMES)}
    ).save(manifest)
    with start_anvil() as empty, pytest.raises(DeploymentMismatch, match="no contract at the manifest's address"):
        connect(empty.rpc_url, manifest)
