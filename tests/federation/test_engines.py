"""End-to-end runs of the Flower app on the simulation engine and the deployment engine."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from flwr.app import ConfigRecord, Context, Message, MetricRecord

from federation.attestation import AttestationSigner, UpdateClaim, reply_attestation
from federation.config import FederationConfig
from federation.engines import FlowerProcesses, run_deployment, run_simulation
from federation.provenance import AcceptedUpdate, ProvenanceHook
from federation.task import export_safetensors, load_safetensors_as_arrayrecord

# Flower's app processes import hooks and signers by name from the source tree, not as pytest named them.
_THIS_MODULE = f"tests.federation.{Path(__file__).stem}"
# Stands in for a partner's signing key: the test checks the plumbing, not the cryptography.
_TEST_KEY = b"provenet-test-key"


def hmac_signer(claim: UpdateClaim, context: Context) -> ConfigRecord:
    """Sign the claim with an HMAC; module-level so that Ray can ship it to the actors."""
    body = claim.to_bytes()
    return ConfigRecord({"claim": body, "signature": hmac.new(_TEST_KEY, body, hashlib.sha256).digest()})


class InMemoryHook(ProvenanceHook):
    """Checks the HMAC attestation against the server's claim, excludes one partner in one round."""

    def __init__(self, exclude_partner_in_round: tuple[int, int] | None = None) -> None:
        self.exclude = exclude_partner_in_round
        self.rounds: list[tuple[int, str, str, MetricRecord | None, list[AcceptedUpdate]]] = []
        self.excluded: list[tuple[int, str]] = []

    def verify_reply(self, reply: Message, claim: UpdateClaim) -> str | None:
        record = reply_attestation(reply)
        if record is None:
            return "no attestation"
        body, signature = bytes(record["claim"]), bytes(record["signature"])  # type: ignore[arg-type]
        if not hmac.compare_digest(signature, hmac.new(_TEST_KEY, body, hashlib.sha256).digest()):
            return "bad signature"
        if body != claim.to_bytes():
            return f"attested {body!r} but the server computed {claim.to_bytes()!r}"
        if self.exclude == (claim.server_round, claim.partner_id):
            return "excluded by test"
        return None

    def on_round_aggregated(
        self,
        server_round: int,
        prev_global_hash: str,
        new_global_hash: str,
        metrics: MetricRecord | None,
        accepted_replies: Sequence[AcceptedUpdate],
    ) -> None:
        self.rounds.append((server_round, prev_global_hash, new_global_hash, metrics, list(accepted_replies)))

    def on_reply_excluded(self, server_round: int, reply: Message, reason: str) -> None:
        self.excluded.append((server_round, reason))


def hmac_signer_factory(context: Context) -> AttestationSigner:
    """What a SuperNode's node config names as ``attestation-signer``."""
    return hmac_signer


class JsonLinesHook(InMemoryHook):
    """Also appends each reported round to ``<output-dir>/provenance.jsonl`` (the ServerApp is another process)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def on_round_aggregated(
        self,
        server_round: int,
        prev_global_hash: str,
        new_global_hash: str,
        metrics: MetricRecord | None,
        accepted_replies: Sequence[AcceptedUpdate],
    ) -> None:
        entry = {
            "round": server_round,
            "prev": prev_global_hash,
            "new": new_global_hash,
            "partners": sorted(u.claim.partner_id for u in accepted_replies),
        }
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")


def json_lines_hook_factory(context: Context) -> ProvenanceHook:
    """What the run config names as ``provenance-hook``."""
    return JsonLinesHook(Path(str(context.run_config["output-dir"])) / "provenance.jsonl")


def test_simulation_three_partners_two_rounds_with_provenance(tmp_path: Path) -> None:
    hook = InMemoryHook(exclude_partner_in_round=(2, 2))
    config = FederationConfig(num_partners=3, num_rounds=2, partitioning="dirichlet", alpha=1.0, seed=3)
    result = run_simulation(config, hook=hook, signer=hmac_signer)

    assert [r.server_round for r in result.rounds] == [1, 2]
    first, second = result.rounds
    assert sorted(first.partners) == [0, 1, 2]
    assert all({"train-loss", "train-accuracy"} <= set(p["train"]) for p in first.partners.values())
    assert all("eval-accuracy" in p["evaluate"] for p in first.partners.values())
    assert "train-loss" in first.train and "eval-accuracy" in first.evaluate
    assert second.central["test-accuracy"] > result.initial_central["test-accuracy"] + 0.3

    # Every signed claim matched the server's own computation (hashes agree across the wire) except
    # the one the hook chose to exclude.
    assert hook.excluded == [(2, "excluded by test")]
    assert second.excluded and second.excluded[0]["reason"] == "excluded by test"
    assert 2 not in {p for p, m in second.partners.items() if m["train"]}

    # The hook sees a hash chain that matches the recorded global hashes.
    (r1, prev1, new1, _, accepted1), (r2, prev2, new2, _, accepted2) = hook.rounds
    assert (r1, r2) == (1, 2)
    assert prev1 == result.initial_hash and new1 == first.global_hash
    assert prev2 == new1 and new2 == second.global_hash == result.final_hash
    assert sorted(u.claim.partner_id for u in accepted1) == [0, 1, 2]
    assert sorted(u.claim.partner_id for u in accepted2) == [0, 1]
    assert all(u.claim.prev_global_hash == prev2 and u.attestation is not None for u in accepted2)

    # The bridge: the exported final model loads back to the last global hash.
    path = export_safetensors(result.final_arrays, tmp_path / "final.safetensors")
    assert load_safetensors_as_arrayrecord(path).object_id == result.final_hash


def test_simulation_with_dp_robust_aggregation_and_watermark() -> None:
    config = FederationConfig(
        num_partners=2,
        num_rounds=1,
        aggregation="fedtrimmedavg",
        dp="server-fixed",
        dp_noise_multiplier=0.01,
        dp_clipping_norm=10.0,
        watermark=True,
    )
    result = run_simulation(config)
    (only_round,) = result.rounds
    assert only_round.train["watermark-accuracy"] >= 0.9
    assert only_round.global_hash == result.final_hash


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_deployment_engine_two_partners_two_rounds_leaves_no_process(tmp_path: Path) -> None:
    config = FederationConfig(num_partners=2, num_rounds=2)
    started: list[FlowerProcesses] = []
    signer_spec = {"attestation-signer": f"{_THIS_MODULE}:hmac_signer_factory"}
    result = run_deployment(
        replace(config, provenance_hook=f"{_THIS_MODULE}:json_lines_hook_factory"),
        tmp_path / "deploy",
        node_configs=[signer_spec, signer_spec],
        timeout=180,
        on_started=started.append,
    )

    assert [r.server_round for r in result.rounds] == [1, 2]
    assert sorted(result.rounds[1].partners) == [0, 1]
    assert result.rounds[1].central["test-accuracy"] > 0.6
    assert (tmp_path / "deploy" / "output" / "global_model.safetensors").is_file()
    # The hook named in the run config verified both partners' HMAC attestations in the ServerApp process.
    logged = [
        json.loads(line) for line in (tmp_path / "deploy" / "output" / "provenance.jsonl").read_text().splitlines()
    ]
    assert [(e["round"], e["partners"]) for e in logged] == [(1, [0, 1]), (2, [0, 1])]
    assert logged[0]["prev"] == result.initial_hash and logged[1]["new"] == result.final_hash
    (processes,) = started
    assert len(processes.processes) == 3
    assert processes.all_pids() == []
    # Same weights, same id, whatever the engine: the simulation reproduces the deployment's hash.
    assert run_simulation(config).final_hash == result.final_hash
