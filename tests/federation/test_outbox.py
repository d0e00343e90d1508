"""The round outbox on a real Anvil: in order, exactly once, through a chain outage and a lost chain state."""

from __future__ import annotations

import pytest

from client_sdk.client import ProvenetClient
from client_sdk.deploy import deploy_contracts
from client_sdk.devnet import dev_accounts, free_port, start_anvil
from client_sdk.rpc import make_web3
from client_sdk.signing import sign_attestation
from federation.outbox import OutboxConflict, PendingRound, RoundOutbox


def _rounds(client: ProvenetClient, federation_id: int, members, count: int, start_hash: bytes = b"\0" * 32):
    """``count`` signed rounds chaining from ``start_hash``."""
    out, previous = [], start_hash
    for number in range(1, count + 1):
        new = bytes([number]) * 32
        attestations = tuple(
            sign_attestation(
                m,
                federation_id=federation_id,
                round=number,
                previous_global_hash=previous,
                update_hash=bytes([number, i]) * 16,
                num_examples=100 + i,
                chain_id=client.chain_id,
                federation_log=client.federations.address,
            )
            for i, m in enumerate(members)
        )
        out.append(PendingRound(federation_id, number, previous, new, b"\x09" * 32, attestations))
        previous = new
    return out


@pytest.fixture
def chain(tmp_path):
    """A fresh Anvil with a state file on a fixed port (so it can be restarted in place), a federation."""
    port = free_port()
    state = tmp_path / "anvil-state.json"
    devnet = start_anvil(port=port, state_file=state)
    coordinator, *members = dev_accounts(4)
    deployment = deploy_contracts(make_web3(devnet.rpc_url), coordinator)
    client = ProvenetClient(devnet.rpc_url, deployment, timeout=2)
    federation_id = client.federations.create(coordinator, [m.address for m in members], 2)
    for member in members:
        client.federations.accept(member, federation_id)
    holder = {"devnet": devnet}

    def restart():
        holder["devnet"] = start_anvil(port=port, state_file=state)

    try:
        yield client, coordinator, members, federation_id, holder, restart
    finally:
        holder["devnet"].stop()


def _chain_rounds(client, federation_id):
    return [r["round"] for r in client.federations.round_records(federation_id)]


def test_rounds_go_in_order_once_and_enqueue_is_idempotent(chain, tmp_path):
    client, coordinator, members, federation_id, _holder, _restart = chain
    outbox = RoundOutbox(tmp_path / "outbox.sqlite", client, coordinator, federation_id)
    rounds = _rounds(client, federation_id, members, 3)
    for pending in reversed(rounds):  # arrival order does not matter: sending is by round
        outbox.enqueue(pending)
    outbox.enqueue(rounds[0])
    assert outbox.drain() == 0
    assert _chain_rounds(client, federation_id) == [1, 2, 3]
    assert [row.state for row in outbox.rows()] == ["recorded"] * 3
    assert client.federations.member(federation_id, members[0].address).rounds == 3
    conflicting = PendingRound(federation_id, 2, rounds[1].previous_global_hash, b"\x77" * 32, b"\0" * 32, ())
    with pytest.raises(OutboxConflict):
        outbox.enqueue(conflicting)
    outbox.close()


def test_a_round_mined_before_a_crash_is_not_sent_again(chain, tmp_path):
    client, coordinator, members, federation_id, _holder, _restart = chain
    rounds = _rounds(client, federation_id, members, 2)
    outbox = RoundOutbox(tmp_path / "outbox.sqlite", client, coordinator, federation_id)
    for pending in rounds:
        outbox.enqueue(pending)
    outbox.close()
    # The coordinator sent round 1 and died before marking it: the chain has it, the outbox says pending.
    first = rounds[0]
    client.federations.record_round(
        coordinator,
        federation_id,
        1,
        first.previous_global_hash,
        first.new_global_hash,
        first.metrics_hash,
        first.attestations,
    )
    reopened = RoundOutbox(tmp_path / "outbox.sqlite", client, coordinator, federation_id)
    assert [row.state for row in reopened.rows()] == ["pending", "pending"]
    assert reopened.drain() == 0
    rows = reopened.rows()
    assert [row.state for row in rows] == ["recorded", "recorded"]
    assert rows[0].attempts == 0  # recognised, not resent
    assert _chain_rounds(client, federation_id) == [1, 2]
    reopened.close()


def test_training_goes_on_while_the_chain_is_down_then_the_outbox_drains(chain, tmp_path):
    client, coordinator, members, federation_id, holder, restart = chain
    rounds = _rounds(client, federation_id, members, 5)
    outbox = RoundOutbox(
        tmp_path / "outbox.sqlite", client, coordinator, federation_id, retry_interval=0.2, max_retry_interval=0.5
    )
    outbox.start()
    for pending in rounds[:2]:
        outbox.enqueue(pending)
    assert outbox.wait_drained(timeout=30)
    holder["devnet"].stop()  # the chain goes down (its state is dumped on exit)
    for pending in rounds[2:4]:
        outbox.enqueue(pending)  # returns at once: nothing waits for the chain
    assert [row.state for row in outbox.rows(state="pending")] == ["pending", "pending"]
    restart()
    outbox.enqueue(rounds[4])
    assert outbox.wait_drained(timeout=60), outbox.rows(state="pending")
    outbox.close()
    assert _chain_rounds(client, federation_id) == [1, 2, 3, 4, 5]


def test_rounds_lost_by_the_chain_are_resent(chain, tmp_path):
    client, coordinator, members, federation_id, holder, restart = chain
    rounds = _rounds(client, federation_id, members, 3)
    snapshot = client.rpc.call("evm_snapshot", [])
    outbox = RoundOutbox(tmp_path / "outbox.sqlite", client, coordinator, federation_id)
    for pending in rounds:
        outbox.enqueue(pending)
    assert outbox.drain() == 0
    client.rpc.call("evm_revert", [snapshot])  # the chain forgets rounds 1-3 (as after an older state file)
    client.sender(coordinator).nonces.reset()
    assert client.federations.get(federation_id).last_round == 0
    assert outbox.drain() == 0
    assert _chain_rounds(client, federation_id) == [1, 2, 3]
    outbox.close()


def test_a_member_who_left_after_attesting_does_not_block_the_log(chain, tmp_path):
    client, coordinator, members, federation_id, _holder, _restart = chain
    rounds = _rounds(client, federation_id, members, 2)
    outbox = RoundOutbox(tmp_path / "outbox.sqlite", client, coordinator, federation_id)
    for pending in rounds:
        outbox.enqueue(pending)
    client.federations.leave(members[0], federation_id)  # after its update was verified and aggregated
    assert outbox.drain() == 0
    records = client.federations.round_records(federation_id)
    assert [len(r["attestations"]) for r in records] == [2, 2]
    assert members[0].address not in {a.signer for r in records for a in r["attestations"]}
    client.federations.leave(members[1], federation_id)  # now only one member could attest: below the minimum
    outbox.enqueue(_rounds(client, federation_id, members, 3)[2])
    with pytest.raises(OutboxConflict, match="needs 2"):
        outbox.drain()
    assert [row.state for row in outbox.rows()] == ["recorded", "recorded", "pending"]
    outbox.close()


def test_enqueue_does_not_wait_for_a_chain_that_hangs(chain, tmp_path):
    import os
    import signal
    import time

    client, coordinator, members, federation_id, holder, _restart = chain
    rounds = _rounds(client, federation_id, members, 3)
    outbox = RoundOutbox(tmp_path / "outbox.sqlite", client, coordinator, federation_id, retry_interval=0.2)
    outbox.start()
    outbox.enqueue(rounds[0])
    assert outbox.wait_drained(timeout=30)
    os.kill(holder["devnet"].pid, signal.SIGSTOP)  # the chain stops answering (no error, just silence)
    try:
        outbox.enqueue(rounds[1])
        time.sleep(0.5)  # the sender is now stuck in a chain call
        started = time.monotonic()
        outbox.enqueue(rounds[2])
        assert time.monotonic() - started < 0.5, "training waited on the chain"
    finally:
        os.kill(holder["devnet"].pid, signal.SIGCONT)
    assert outbox.wait_drained(timeout=60)
    outbox.close()
    assert _chain_rounds(client, federation_id) == [1, 2, 3]
