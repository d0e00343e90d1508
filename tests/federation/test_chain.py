"""Rounds on a real Anvil from real Flower runs: attestations, the outbox through outages, release, lineage."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount
from flwr.app import ConfigRecord, Context

from client_sdk.client import ProvenetClient
from client_sdk.deploy import deploy_contracts
from client_sdk.devnet import DevnetProcess, dev_accounts, free_port, start_anvil
from client_sdk.rpc import make_web3
from federation.attestation import UpdateClaim
from federation.chain import (
    ChainProvenanceHook,
    ChainTarget,
    EIP712AttestationSigner,
    attestation_record,
    hash32,
)
from federation.config import FederationConfig
from federation.engines import FlowerProcesses, run_deployment, run_simulation
from federation.outbox import RoundOutbox
from federation.release import initial_global_hash, release_model, verify_lineage
from federation.watermark import load_trigger_set, verify


@dataclass
class Chain:
    """An Anvil with a state file on a fixed port (restartable in place) and provenet deployed."""

    devnet: DevnetProcess
    port: int
    state: Path
    client: ProvenetClient
    coordinator: LocalAccount
    partners: list[LocalAccount]
    outsider: LocalAccount
    owner: LocalAccount

    def stop(self) -> None:
        self.devnet.stop()

    def restart(self) -> None:
        self.devnet = start_anvil(port=self.port, state_file=self.state)

    def federation(self, config: FederationConfig, members: Sequence[LocalAccount], min_signers: int) -> int:
        federation_id = self.client.federations.create(
            self.coordinator,
            [m.address for m in members],
            min_signers,
            initial_global_hash=hash32(initial_global_hash(config)),
        )
        for member in members:
            self.client.federations.accept(member, federation_id)
        return federation_id

    def signer(self, federation_id: int, cls: type[EIP712AttestationSigner] = EIP712AttestationSigner):
        target = ChainTarget(self.client.chain_id, self.client.federations.address, federation_id)
        return cls({i: bytes(p.key) for i, p in enumerate(self.partners)}, target)


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    port = free_port()
    state = tmp_path / "anvil-state.json"
    devnet = start_anvil(port=port, state_file=state)
    coordinator, p1, p2, p3, outsider, owner = dev_accounts(6)
    try:
        deployment = deploy_contracts(make_web3(devnet.rpc_url), coordinator)
        client = ProvenetClient(devnet.rpc_url, deployment, timeout=5)
        holder = Chain(devnet, port, state, client, coordinator, [p1, p2, p3], outsider, owner)
        yield holder
    finally:
        devnet.stop()
        if "holder" in locals():
            holder.devnet.stop()


def _on_chain(client: ProvenetClient, federation_id: int) -> list[dict]:
    return client.federations.round_records(federation_id)


def test_simulation_end_to_end_release_and_lineage(chain: Chain, tmp_path: Path) -> None:
    config = FederationConfig(num_partners=3, num_rounds=3, watermark=True, watermark_steps=60, seed=5)
    federation_id = chain.federation(config, chain.partners, min_signers=3)
    hook = ChainProvenanceHook(
        chain.client, chain.coordinator, federation_id, tmp_path / "outbox.sqlite", drain_timeout=30
    )
    result = run_simulation(
        replace(config, output_dir=str(tmp_path / "run")), hook=hook, signer=chain.signer(federation_id)
    )

    assert hook.drained
    records = _on_chain(chain.client, federation_id)
    assert [r["round"] for r in records] == [1, 2, 3]
    assert all(len(r["attestations"]) == 3 for r in records)
    assert {a.signer for a in records[0]["attestations"]} == {p.address for p in chain.partners}
    assert records[0]["previous_global_hash"].hex() == result.initial_hash
    assert records[-1]["new_global_hash"].hex() == result.final_hash
    # The metrics hash on chain is the SHA-256 of the stored canonical JSON.
    metrics_file = tmp_path / "round-metrics" / "round-0002.json"
    assert hashlib.sha256(metrics_file.read_bytes()).digest() == records[1]["metrics_hash"]
    assert json.loads(metrics_file.read_bytes())["round"] == 2
    assert chain.client.federations.member(federation_id, chain.partners[0].address).rounds == 3

    release = release_model(
        chain.client,
        chain.coordinator,
        result,
        federation_id,
        tmp_path / "release",
        config=config,
        partners=[p.address for p in chain.partners],
        owner=chain.owner,
    )
    registered = chain.client.models.get(release.weights_hash)
    assert (registered.federation_id, registered.final_round, registered.owner) == (
        federation_id,
        3,
        chain.owner.address,
    )
    commitment = chain.client.watermarks.get(bytes.fromhex(release.watermark_commitment[2:]))
    assert commitment.owner == chain.owner.address and commitment.model.hex() == release.weights_hash[2:]
    assert oct(os.stat(release.salt_path).st_mode & 0o777) == "0o600"
    accuracy, p_value = verify(release.model_path, load_trigger_set(release.trigger_set_path))
    assert accuracy >= 0.9 and p_value < 1e-6

    report = verify_lineage(release.model_path, chain.client)
    assert report.passed, report.to_json()
    assert [c.name for c in report.checks] == [
        "registered",
        "metadata",
        "final-global-hash",
        "hash-chain",
        "attestations",
    ]

    tampered = tmp_path / "tampered.safetensors"
    data = bytearray(Path(release.model_path).read_bytes())
    data[-3] ^= 0x01
    tampered.write_bytes(bytes(data))
    bad = verify_lineage(tampered, chain.client)
    assert not bad.passed and not bad.checks[0].passed


class OutageHook(ChainProvenanceHook):
    """Stops the chain once round 2 is on chain and restarts it from its state file during round 4."""

    def __init__(self, chain: Chain, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.chain = chain
        self.restarted = threading.Event()

    def on_round_aggregated(self, server_round, prev_global_hash, new_global_hash, metrics, accepted_replies):
        super().on_round_aggregated(server_round, prev_global_hash, new_global_hash, metrics, accepted_replies)
        if server_round == 2:
            assert self.outbox.wait_drained(30)
            self.chain.stop()

    def verify_reply(self, reply, claim):
        if claim.server_round == 4 and not self.restarted.is_set():
            self.restarted.set()
            self.chain.restart()
        return super().verify_reply(reply, claim)


def test_chain_down_from_round_2_to_round_4_every_round_lands_once(chain: Chain, tmp_path: Path) -> None:
    config = FederationConfig(num_partners=3, num_rounds=5, local_epochs=1)
    federation_id = chain.federation(config, chain.partners, min_signers=2)
    hook = OutageHook(
        chain,
        chain.client,
        chain.coordinator,
        federation_id,
        tmp_path / "outbox.sqlite",
        drain_timeout=60,
        retry_interval=0.2,
        max_retry_interval=1.0,
    )
    result = run_simulation(config, hook=hook, signer=chain.signer(federation_id))

    assert hook.restarted.is_set() and hook.drained
    records = _on_chain(chain.client, federation_id)
    assert [r["round"] for r in records] == [1, 2, 3, 4, 5]
    assert [r["new_global_hash"].hex() for r in records] == [r.global_hash for r in result.rounds]
    rows = hook.rows()
    assert [(r.round, r.state) for r in rows] == [(n, "recorded") for n in range(1, 6)]
    # Sent once each: a failed attempt while the chain was down never reached the send step.
    assert all(r.attempts == 1 for r in rows)
    assert chain.client.federations.member(federation_id, chain.partners[1].address).rounds == 5


class FaultySigner(EIP712AttestationSigner):
    """Round 2: partner 0 signs something else; round 3: partner 1 crashes; round 4: an outsider signs for 2."""

    def __init__(self, keys, target, outsider_key: bytes) -> None:
        super().__init__(keys, target)
        self.outsider_key = outsider_key

    def __call__(self, claim: UpdateClaim, context: Context) -> ConfigRecord:
        assert self.target is not None
        if (claim.server_round, claim.partner_id) == (2, 0):
            honest = self.attest(claim, self.target)
            forged = self.attest(replace(claim, num_examples=claim.num_examples * 10), self.target)
            return attestation_record(replace(honest, r=forged.r, vs=forged.vs))
        if (claim.server_round, claim.partner_id) == (3, 1):
            raise RuntimeError("partner 1 lost its GPU in round 3")
        if (claim.server_round, claim.partner_id) == (4, 2):
            outsider = EIP712AttestationSigner({2: self.outsider_key}, self.target)
            return attestation_record(outsider.attest(claim, self.target))
        return super().__call__(claim, context)


def test_bad_signature_non_member_and_failed_partner_are_left_out_of_their_round_only(
    chain: Chain, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = FederationConfig(num_partners=3, num_rounds=4, local_epochs=1)
    federation_id = chain.federation(config, chain.partners, min_signers=2)
    hook = ChainProvenanceHook(chain.client, chain.coordinator, federation_id, tmp_path / "outbox.sqlite")
    target = ChainTarget(chain.client.chain_id, chain.client.federations.address, federation_id)
    signer = FaultySigner({i: bytes(p.key) for i, p in enumerate(chain.partners)}, target, bytes(chain.outsider.key))
    result = run_simulation(config, hook=hook, signer=signer)

    p1, p2, p3 = (p.address for p in chain.partners)
    signers = [{a.signer for a in r["attestations"]} for r in _on_chain(chain.client, federation_id)]
    assert signers == [{p1, p2, p3}, {p2, p3}, {p1, p3}, {p1, p2}]
    reasons = {r.server_round: [e["reason"] for e in r.excluded] for r in result.rounds}
    assert reasons[1] == []
    assert len(reasons[2]) == 1 and reasons[2][0].startswith(f"invalid signature: the attestation names signer {p1}")
    assert len(reasons[3]) == 1 and reasons[3][0].startswith("error reply")
    assert reasons[4] == [
        f"signer {chain.outsider.address} is not an active member of federation {federation_id} (status none)"
    ]
    logged = [r.getMessage() for r in caplog.records if r.name == "flwr"]
    assert any("round 2 excludes reply" in m and "invalid signature" in m for m in logged)
    assert any("round 4 excludes reply" in m and "not an active member" in m for m in logged)
    # The partners' contribution counters count the rounds they were in.
    assert [chain.client.federations.member(federation_id, a).rounds for a in (p1, p2, p3)] == [3, 3, 3]


_KILLED_COORDINATOR = textwrap.dedent(
    """
    import sys, time
    from client_sdk.client import ProvenetClient
    from client_sdk.deploy import Deployment
    from client_sdk.devnet import dev_accounts
    from client_sdk.signing import sign_attestation
    from federation.outbox import PendingRound, RoundOutbox

    rpc_url, manifest, federation_id, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    client = ProvenetClient(rpc_url, Deployment.load(manifest), timeout=2)
    coordinator, *members = dev_accounts(4)
    rounds, previous = [], b"\\0" * 32
    for number in range(1, 6):
        new = bytes([number]) * 32
        attestations = tuple(
            sign_attestation(m, federation_id=federation_id, round=number, previous_global_hash=previous,
                             update_hash=bytes([number, i]) * 16, num_examples=10 + i, chain_id=client.chain_id,
                             federation_log=client.federations.address)
            for i, m in enumerate(members)
        )
        rounds.append(PendingRound(federation_id, number, previous, new, b"\\x09" * 32, attestations))
        previous = new
    outbox = RoundOutbox(path, client, coordinator, federation_id, retry_interval=0.2, max_retry_interval=0.5)
    outbox.start()
    for pending in rounds[:2]:
        outbox.enqueue(pending)
    assert outbox.wait_drained(30)
    print("recorded 2", flush=True)
    sys.stdin.readline()  # the chain is down now
    for pending in rounds[2:]:
        outbox.enqueue(pending)
    print("pending 3", flush=True)
    time.sleep(600)
    """
)


def test_coordinator_killed_with_rounds_pending_sends_them_once_on_restart(chain: Chain, tmp_path: Path) -> None:
    members = chain.partners
    federation_id = chain.client.federations.create(chain.coordinator, [m.address for m in members], 2)
    for member in members:
        chain.client.federations.accept(member, federation_id)
    manifest = chain.client.deployment.save(tmp_path / "deployment.json")
    outbox_path = tmp_path / "outbox.sqlite"
    coordinator = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _KILLED_COORDINATOR,
            chain.devnet.rpc_url,
            str(manifest),
            str(federation_id),
            str(outbox_path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert coordinator.stdout is not None and coordinator.stdin is not None
        assert coordinator.stdout.readline().strip() == "recorded 2"
        chain.stop()
        coordinator.stdin.write("go\n")
        coordinator.stdin.flush()
        assert coordinator.stdout.readline().strip() == "pending 3"
        os.killpg(coordinator.pid, signal.SIGKILL)
        coordinator.wait(timeout=10)
    finally:
        if coordinator.poll() is None:
            os.killpg(coordinator.pid, signal.SIGKILL)
            coordinator.wait(timeout=10)
    assert coordinator.returncode == -signal.SIGKILL

    chain.restart()
    restarted = RoundOutbox(outbox_path, chain.client, chain.coordinator, federation_id)
    assert [(r.round, r.state) for r in restarted.rows()] == [
        (1, "recorded"),
        (2, "recorded"),
        (3, "pending"),
        (4, "pending"),
        (5, "pending"),
    ]
    assert restarted.drain() == 0
    assert restarted.drain() == 0  # a second restart finds nothing to do
    assert all(r.attempts == 1 and r.state == "recorded" for r in restarted.rows())
    restarted.close()
    assert [r["round"] for r in _on_chain(chain.client, federation_id)] == [1, 2, 3, 4, 5]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_deployment_engine_signs_in_supernodes_from_keystores(
    chain: Chain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from client_sdk.accounts import import_account

    monkeypatch.setenv("TEST_KEYSTORE_PASSWORD", "partner-secret")
    keystores = tmp_path / "keystores"
    coordinator_file = import_account("coordinator", chain.coordinator.key, "partner-secret", keystores, scrypt_n=2**12)
    partner_files = [
        import_account(f"partner{i}", p.key, "partner-secret", keystores, scrypt_n=2**12)
        for i, p in enumerate(chain.partners[:2])
    ]
    config = FederationConfig(num_partners=2, num_rounds=2, local_epochs=1)
    federation_id = chain.federation(config, chain.partners[:2], min_signers=2)
    manifest = chain.client.deployment.save(tmp_path / "deployment.json")
    run_config = replace(
        config,
        provenance_hook="federation.chain:provenance_hook_factory",
        federation_id=federation_id,
        chain_id=chain.client.chain_id,
        federation_log=chain.client.federations.address,
        rpc_url=chain.devnet.rpc_url,
        deployment=str(manifest),
        coordinator_keystore=str(coordinator_file.path),
        coordinator_password_env="TEST_KEYSTORE_PASSWORD",
        chain_wait=30.0,
    )
    node_configs = [
        {
            "attestation-signer": "federation.chain:keystore_signer_factory",
            "keystore": str(info.path),
            "password-env": "TEST_KEYSTORE_PASSWORD",
        }
        for info in partner_files
    ]
    started: list[FlowerProcesses] = []
    result = run_deployment(
        run_config, tmp_path / "deploy", node_configs=node_configs, timeout=180, on_started=started.append
    )

    records = _on_chain(chain.client, federation_id)
    assert [r["round"] for r in records] == [1, 2]
    assert [{a.signer for a in r["attestations"]} for r in records] == [{p.address for p in chain.partners[:2]}] * 2
    assert records[-1]["new_global_hash"].hex() == result.final_hash
    assert (tmp_path / "deploy" / "output" / "round-metrics" / "round-0002.json").is_file()
    (processes,) = started
    assert processes.all_pids() == []
