"""The licence gate against a real Anvil: what it loads, and every refusal, with nothing loaded on refusal."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import client_sdk.gate as gate
from client_sdk.client import ProvenetClient
from client_sdk.deploy import deploy_contracts
from client_sdk.devnet import free_port
from client_sdk.errors import (
    ChainUnavailable,
    LicenseExpired,
    LicenseRevoked,
    LicenseSuspended,
    ModelNotRegistered,
    NotLicensed,
    ParentLicenseInvalid,
    ScopeNotGranted,
    WeightsHashMismatch,
)
from client_sdk.gate import WeightsChanged, load_licensed
from client_sdk.hashing import weights_hash
from client_sdk.rpc import make_web3
from client_sdk.types import LicenseTerms, Scope


@pytest.fixture(scope="module")
def world(anvil, dev_keys, tmp_path_factory):
    """Fresh contracts, one registered single-file model and one registered sharded model."""
    owner = dev_keys[0]
    client = ProvenetClient(anvil.rpc_url, deploy_contracts(make_web3(anvil.rpc_url), owner))
    folder = tmp_path_factory.mktemp("gate")
    weights = folder / "model.safetensors"
    tensors = {"w": torch.arange(12, dtype=torch.float32).reshape(3, 4), "b": torch.ones(4)}
    save_file(tensors, str(weights))
    shards = folder / "sharded"
    shards.mkdir()
    save_file({"a": torch.zeros(5)}, str(shards / "part-0.safetensors"))
    save_file({"c": torch.full((2,), 3.0)}, str(shards / "part-1.safetensors"))
    model, sharded = weights_hash(weights), weights_hash(shards)
    client.models.register(owner, model, metadata_uri="test://model")
    client.models.register(owner, sharded, metadata_uri="test://sharded")
    return {
        "client": client,
        "owner": owner,
        "weights": weights,
        "tensors": tensors,
        "model": model,
        "shards": shards,
        "sharded": sharded,
    }


@pytest.fixture
def load_calls(monkeypatch):
    """Records every time the gate actually deserialises weights."""
    calls: list[Path] = []
    original = gate._load_tensors

    def spy(path, device):
        calls.append(path)
        return original(path, device)

    monkeypatch.setattr(gate, "_load_tensors", spy)
    return calls


def _issue(world, holder, scope=Scope.INFERENCE, **terms) -> int:
    return world["client"].licenses.issue(
        world["owner"], holder.address, LicenseTerms(model=world["model"], scope=scope, **terms)
    )


def test_licensed_account_gets_the_tensors(world, dev_keys, load_calls):
    holder = dev_keys[1]
    _issue(world, holder)
    loaded = load_licensed(world["model"], world["weights"], holder.address, "inference", client=world["client"])
    assert set(loaded) == {"w", "b"}
    assert torch.equal(loaded["w"], world["tensors"]["w"])
    assert load_calls == [world["weights"]]


def test_lookup_by_the_files_own_hash_and_owner_rights(world, load_calls):
    owner = world["owner"]
    loaded = load_licensed(None, world["weights"], owner.address, Scope.COMMERCIAL, client=world["client"])
    assert torch.equal(loaded["b"], world["tensors"]["b"])


def test_sharded_model_loads_all_shards(world, dev_keys):
    holder = dev_keys[2]
    world["client"].licenses.issue(
        world["owner"], holder.address, LicenseTerms(model=world["sharded"], scope=Scope.INFERENCE)
    )
    loaded = load_licensed(world["sharded"], world["shards"], holder.address, "inference", client=world["client"])
    assert set(loaded) == {"a", "c"} and float(loaded["c"][0]) == 3.0


def test_unregistered_weights_are_refused(world, dev_keys, tmp_path, load_calls):
    other = tmp_path / "other.safetensors"
    save_file({"x": torch.ones(3)}, str(other))
    with pytest.raises(ModelNotRegistered) as refused:
        load_licensed(None, other, dev_keys[1].address, "inference", client=world["client"])
    assert refused.value.weights_hash == "0x" + weights_hash(other).hex()
    assert load_calls == []


def test_tampered_weights_are_refused_with_both_hashes(world, dev_keys, tmp_path, load_calls):
    tampered = tmp_path / "tampered.safetensors"
    data = bytearray(world["weights"].read_bytes())
    data[-1] ^= 1
    tampered.write_bytes(bytes(data))
    with pytest.raises(WeightsHashMismatch) as refused:
        load_licensed(world["model"], tampered, dev_keys[1].address, "inference", client=world["client"])
    assert refused.value.expected == "0x" + world["model"].hex()
    assert refused.value.actual == "0x" + weights_hash(tampered).hex()
    assert load_calls == []


def test_unlicensed_and_wrong_scope(world, dev_keys, load_calls):
    with pytest.raises(NotLicensed):
        load_licensed(world["model"], world["weights"], dev_keys[7].address, "inference", client=world["client"])
    holder = dev_keys[3]
    license_id = _issue(world, holder, Scope.INFERENCE)
    with pytest.raises(ScopeNotGranted) as refused:
        load_licensed(world["model"], world["weights"], holder.address, "inference,commercial", client=world["client"])
    assert refused.value.license_id == license_id and refused.value.granted == ["inference"]
    assert load_calls == []


def test_expired_suspended_revoked(world, dev_keys, load_calls):
    client = world["client"]
    holder = dev_keys[4]
    now = client.block_timestamp()
    license_id = _issue(world, holder, expiry=now + 60)
    client.rpc.call("evm_increaseTime", [120])
    client.rpc.call("evm_mine", [])
    with pytest.raises(LicenseExpired) as expired:
        load_licensed(world["model"], world["weights"], holder.address, "inference", client=client)
    assert expired.value.license_id == license_id and expired.value.expired_at == now + 60

    holder = dev_keys[5]
    license_id = _issue(world, holder)
    client.licenses.suspend(world["owner"], license_id)
    with pytest.raises(LicenseSuspended):
        load_licensed(world["model"], world["weights"], holder.address, "inference", client=client)
    client.licenses.reinstate(world["owner"], license_id)
    assert load_licensed(world["model"], world["weights"], holder.address, "inference", client=client)
    client.licenses.revoke(world["owner"], license_id)
    with pytest.raises(LicenseRevoked):
        load_licensed(world["model"], world["weights"], holder.address, "inference", client=client)
    assert len(load_calls) == 1


def test_sublicence_falls_with_its_parent(world, dev_keys, load_calls):
    client = world["client"]
    distributor, customer = dev_keys[6], dev_keys[8]
    parent = _issue(world, distributor, Scope.INFERENCE | Scope.REDISTRIBUTE)
    child = client.licenses.issue(
        distributor, customer.address, LicenseTerms(model=world["model"], scope=Scope.INFERENCE, parent_id=parent)
    )
    assert load_licensed(world["model"], world["weights"], customer.address, "inference", client=client)
    client.licenses.revoke(world["owner"], parent)
    with pytest.raises(ParentLicenseInvalid) as refused:
        load_licensed(world["model"], world["weights"], customer.address, "inference", client=client)
    assert (refused.value.license_id, refused.value.parent_id) == (child, parent)


def test_chain_down_is_chain_unavailable_and_loads_nothing(world, dev_keys, load_calls):
    dead = f"http://127.0.0.1:{free_port()}"
    client = ProvenetClient(dead, world["client"].deployment, timeout=2)
    with pytest.raises(ChainUnavailable) as refused:
        load_licensed(world["model"], world["weights"], dev_keys[1].address, "inference", client=client)
    assert dead in str(refused.value)
    assert load_calls == []


def test_weights_swapped_after_the_check_are_refused(world, dev_keys, monkeypatch, tmp_path):
    holder = dev_keys[9]
    _issue(world, holder)
    copy = tmp_path / "model.safetensors"
    copy.write_bytes(world["weights"].read_bytes())
    original = gate.verify_access

    def verify_then_swap(*args, **kwargs):
        decision = original(*args, **kwargs)
        with open(copy, "ab") as handle:  # another process writes to the file after hashing
            handle.write(b"\0")
        return decision

    monkeypatch.setattr(gate, "verify_access", verify_then_swap)
    with pytest.raises(WeightsChanged):
        load_licensed(world["model"], copy, holder.address, "inference", client=world["client"])


def test_registered_but_malformed_file_is_a_clear_error(world, dev_keys, tmp_path):
    from client_sdk.gate import MalformedWeights

    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{bad json")
    world["client"].models.register(world["owner"], weights_hash(junk), metadata_uri="test://junk")
    with pytest.raises(MalformedWeights, match="not a valid safetensors file"):
        load_licensed(None, junk, world["owner"].address, "inference", client=world["client"])


def test_files_the_manifest_does_not_cover_are_never_loaded(world, dev_keys, tmp_path):
    """Hidden files are outside a directory's weights hash, so the gate must not load them either."""
    import shutil

    shards = tmp_path / "sharded"
    shutil.copytree(world["shards"], shards)
    (shards / ".cache").mkdir()
    save_file({"evil": torch.ones(1)}, str(shards / ".cache" / "extra.safetensors"))
    save_file({"evil2": torch.ones(1)}, str(shards / ".hidden.safetensors"))
    assert weights_hash(shards) == world["sharded"]
    loaded = load_licensed(world["sharded"], shards, world["owner"].address, "inference", client=world["client"])
    assert set(loaded) == {"a", "c"}
