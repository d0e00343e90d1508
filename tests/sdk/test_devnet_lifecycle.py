"""`devnet up/down`: deploy once, keep every model and licence across a restart, same addresses when fresh."""

from __future__ import annotations

import pytest

from client_sdk.client import ProvenetClient
from client_sdk.devnet import dev_accounts, free_port
from client_sdk.devnet_lifecycle import DEMO_ACCOUNTS, devnet_down, devnet_status, devnet_up
from client_sdk.types import LicenseTerms, Scope


@pytest.mark.parametrize("engine", ["anvil", pytest.param("ganache", marks=pytest.mark.ganache)])
def test_restart_keeps_state_and_fresh_starts_empty(engine, tmp_path):
    root = tmp_path / "devnet"
    owner, licensee = dev_accounts(2)
    model = bytes.fromhex("5e" * 32)
    try:
        first = devnet_up(engine=engine, port=free_port(), fresh=True, root=root)
        assert first.deployed_now
        assert [a.name for a in first.accounts] == list(DEMO_ACCOUNTS)
        assert (root / "deployments" / f"{first.status.chain_id}.json").exists()
        client = ProvenetClient(first.status.rpc_url, first.deployment)
        assert client.rpc.call("eth_getBalance", [first.accounts[0].address, "latest"]) != "0x0"
        client.models.register(owner, model, metadata_uri="test://kept")
        license_id = client.licenses.issue(owner, licensee.address, LicenseTerms(model=model, scope=Scope.INFERENCE))
        assert devnet_down(root)
        assert devnet_status(root) is None

        again = devnet_up(engine=engine, port=free_port(), root=root)
        assert not again.deployed_now
        assert again.deployment.contracts == first.deployment.contracts
        client = ProvenetClient(again.status.rpc_url, again.deployment)
        assert client.models.get(model).metadata_uri == "test://kept"
        assert client.licenses.check(model, licensee.address, Scope.INFERENCE).license_id == license_id
        assert [a.address for a in again.accounts] == [a.address for a in first.accounts]
        devnet_down(root)

        fresh = devnet_up(engine=engine, port=free_port(), fresh=True, root=root)
        assert fresh.deployed_now
        assert fresh.deployment.contracts == first.deployment.contracts  # same deployer, same nonces
        client = ProvenetClient(fresh.status.rpc_url, fresh.deployment)
        assert not client.models.is_registered(model)
    finally:
        devnet_down(root)
    assert devnet_status(root) is None
