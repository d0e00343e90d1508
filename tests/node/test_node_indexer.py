"""The indexer on a real Anvil: resume after restart, confirmations, progress, and repair after ``anvil_reorg``."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from node.db import Database
from node.indexer import Indexer, IndexerError, IndexProgress
from node.queries import Store


def _h(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


ProvenetChain = Any  # tests/node/conftest.py's ProvenetChain (conftest modules are not imported by name)


@pytest.fixture
def chain(fresh_chain: ProvenetChain) -> ProvenetChain:
    return fresh_chain


def _models(db: Database) -> set[str]:
    return {row[0] for row in db.connect().execute("SELECT model FROM models").fetchall()}


def _register(chain: ProvenetChain, name: str, account: int = 0) -> str:
    chain.client.models.register(chain.accounts[account], _h(name), metadata_uri=f"ipfs://{name}")
    return "0x" + _h(name).hex()


def test_resume_after_restart_in_chunks_with_progress(chain: ProvenetChain, tmp_path: Path) -> None:
    registered = [_register(chain, f"model-{i}") for i in range(12)]
    progress: list[IndexProgress] = []
    db = Database(tmp_path / "node.db")
    first = Indexer(db, chain.rpc_url, chain.deployment, chunk_size=3, on_progress=progress.append)
    first.sync(max_chunks=2)
    partial = first.cursor
    assert partial == chain.deployment.deploy_block - 1 + 6
    assert 0 < len(_models(db)) < 12
    db.close()

    reopened = Database(tmp_path / "node.db")  # a restart: new process state, same file
    second = Indexer(reopened, chain.rpc_url, chain.deployment, chunk_size=3, on_progress=progress.append)
    assert second.cursor == partial
    head = second.sync()
    assert head == int(chain.client.rpc.call("eth_blockNumber"), 16)
    assert _models(reopened) == set(registered)
    assert [p.to_block for p in progress] == sorted(p.to_block for p in progress)
    assert progress[-1].percent == 100.0
    # nothing is indexed twice
    assert reopened.connect().execute("SELECT count(*) FROM models").fetchone()[0] == 12


def test_confirmations_hold_back_the_newest_blocks(chain: ProvenetChain, tmp_path: Path) -> None:
    db = Database(tmp_path / "node.db")
    indexer = Indexer(db, chain.rpc_url, chain.deployment, confirmations=2)
    model = _register(chain, "fresh")
    indexer.sync()
    assert model not in _models(db)
    chain.client.rpc.call("anvil_mine", [2])
    indexer.sync()
    assert model in _models(db)


def test_reorg_is_repaired(chain: ProvenetChain, tmp_path: Path) -> None:
    db = Database(tmp_path / "node.db")
    indexer = Indexer(db, chain.rpc_url, chain.deployment)
    kept = _register(chain, "kept")
    dropped = [_register(chain, "dropped-1"), _register(chain, "dropped-2")]
    indexer.sync()
    assert _models(db) == {kept, *dropped}
    head = indexer.cursor

    chain.client.rpc.call("anvil_reorg", [2, []])  # the last two blocks are replaced by empty ones
    assert int(chain.client.rpc.call("eth_blockNumber"), 16) == head
    indexer.sync()
    assert indexer.reorgs == 1
    assert _models(db) == {kept}
    chain_hash = chain.client.rpc.call("eth_getBlockByNumber", [hex(head), False])["hash"]
    assert db.connect().execute("SELECT hash FROM blocks WHERE number = ?", (head,)).fetchone()[0] == chain_hash

    # the SDK's nonce cache of account 0 still counts the dropped transactions: write from another account
    after = _register(chain, "after-the-reorg", account=2)
    indexer.sync()
    assert _models(db) == {kept, after}


def test_reorg_of_licence_events_recomputes_status(chain: ProvenetChain, tmp_path: Path) -> None:
    from client_sdk.types import LicenseTerms, Scope

    db = Database(tmp_path / "node.db")
    indexer = Indexer(db, chain.rpc_url, chain.deployment)
    model = _register(chain, "licensed")
    license_id = chain.client.licenses.issue(
        chain.accounts[0], chain.accounts[1].address, LicenseTerms(model=_h("licensed"), scope=Scope.INFERENCE)
    )
    chain.client.licenses.revoke(chain.accounts[0], license_id)
    indexer.sync()
    store = Store(db)
    now = indexer.head_time or 0
    assert store.license_status(license_id, now).status == "revoked"
    chain.client.rpc.call("anvil_reorg", [1, []])  # the revocation is gone
    indexer.sync()
    assert store.license_status(license_id, indexer.head_time or 0).status == "valid"
    assert store.check(model, chain.accounts[1].address, 1, indexer.head_time or 0)[0] is True


def test_database_of_another_deployment_is_refused(chain: ProvenetChain, tmp_path: Path) -> None:
    from dataclasses import replace

    db = Database(tmp_path / "node.db")
    Indexer(db, chain.rpc_url, chain.deployment)
    other = replace(chain.deployment, contracts={**chain.deployment.contracts, "ModelRegistry": "0x" + "11" * 20})
    with pytest.raises(IndexerError, match="another deployment"):
        Indexer(db, chain.rpc_url, other)
