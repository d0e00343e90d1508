"""The node's JSON API against a real Anvil with a full provenet history made through the SDK."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from client_sdk.types import Scope
from node.metrics import metrics_hash

ZERO = "0x" + "00" * 32


@pytest.fixture(scope="module")
def ctx(history, api):  # type: ignore[no-untyped-def]
    chain, scenario, _ = history
    return chain, scenario, api


def test_health_and_ready_report_lag(ctx) -> None:  # type: ignore[no-untyped-def]
    _, _, api = ctx
    health = api.get("/health").json()
    assert health["chain_reachable"] is True
    assert health["lag_blocks"] == 0
    assert api.get("/ready").status_code == 200


def test_model_with_provenance_and_lineage(ctx) -> None:  # type: ignore[no-untyped-def]
    chain, scenario, api = ctx
    body = api.get(f"/api/models/{scenario.model}").json()
    assert body["owner"] == scenario.coordinator
    assert body["provenance"] == {"federation_id": scenario.federation_id, "final_round": 3}
    assert body["children"] == [scenario.derivative]
    assert body["evidence"]["tx_hash"].startswith("0x") and body["evidence"]["block_number"] > 0
    lineage = api.get(f"/api/models/{scenario.derivative}/lineage").json()
    assert {"parent": scenario.model, "child": scenario.derivative} in lineage["edges"]
    # upper-case hex is the same hash
    assert api.get(f"/api/models/0x{scenario.model[2:].upper()}").status_code == 200


def test_model_list_pages(ctx) -> None:  # type: ignore[no-untyped-def]
    _, _, api = ctx
    first = api.get("/api/models", params={"limit": 1}).json()
    assert first["total"] == 2 and len(first["items"]) == 1 and first["next_offset"] == 1
    second = api.get("/api/models", params={"limit": 1, "offset": 1}).json()
    assert second["next_offset"] is None
    assert first["items"][0]["model"] != second["items"][0]["model"]


def test_licence_statuses_are_computed(ctx) -> None:  # type: ignore[no-untyped-def]
    _, scenario, api = ctx
    page = api.get(f"/api/models/{scenario.model}/licenses", params={"limit": 100}).json()
    status = {item["license_id"]: item["status"] for item in page["items"]}
    expected = {
        "valid": "valid",
        "expired": "expired",
        "suspended": "suspended",
        "revoked": "revoked",
        "parent-invalid": "parent-invalid",
        "offer": "valid",
    }
    for label, want in expected.items():
        assert status[scenario.licenses[label]] == want, label
    revoked = api.get(f"/api/licenses/{scenario.licenses['revoked']}").json()
    assert [e["kind"] for e in revoked["history"]] == ["issued", "revoked"]
    assert revoked["sublicenses"] == [scenario.licenses["parent-invalid"]]


def test_licences_by_holder(ctx) -> None:  # type: ignore[no-untyped-def]
    _, scenario, api = ctx
    holder = scenario.holders["valid"]
    body = api.get(f"/api/holders/{holder}/licenses").json()
    assert [item["license_id"] for item in body["items"]] == [scenario.licenses["valid"]]
    assert api.get(f"/api/holders/{holder.lower()}/licenses").json()["total"] == 1


@pytest.mark.parametrize("label", ["valid", "expired", "suspended", "revoked", "parent-invalid", "offer"])
@pytest.mark.parametrize("scope", [Scope.INFERENCE, Scope.COMMERCIAL, Scope.DERIVATIVE])
def test_check_agrees_with_the_chain(ctx, label: str, scope: Scope) -> None:  # type: ignore[no-untyped-def]
    _, scenario, api = ctx
    body = api.get(
        "/api/check",
        params={"model": scenario.model, "account": scenario.holders[label], "scope": int(scope), "source": "both"},
    ).json()
    assert body["agrees"] is True, body
    assert body["source"] == "index"


def test_check_for_owner_and_stranger(ctx) -> None:  # type: ignore[no-untyped-def]
    chain, scenario, api = ctx
    owner = api.get("/api/check", params={"model": scenario.model, "account": scenario.coordinator}).json()
    assert owner["valid"] is True and owner["license_id"] == 0
    stranger = "0x" + "ab" * 20
    body = api.get("/api/check", params={"model": scenario.model, "account": stranger, "source": "both"}).json()
    assert body["valid"] is False and body["reason"] == "not_licensed" and body["agrees"] is True
    unknown = api.get("/api/check", params={"model": ZERO, "account": stranger, "source": "both"}).json()
    assert unknown["valid"] is False and unknown["agrees"] is True


def test_federation_rounds_attestations_contributions(ctx) -> None:  # type: ignore[no-untyped-def]
    _, scenario, api = ctx
    fid = scenario.federation_id
    federation = api.get(f"/api/federations/{fid}").json()
    assert federation["last_round"] == 3 and federation["member_count"] == 3
    rounds = api.get(f"/api/federations/{fid}/rounds").json()
    assert [r["round"] for r in rounds["items"]] == [1, 2, 3]
    assert [r["new_global_hash"] for r in rounds["items"]] == scenario.global_hashes
    assert rounds["items"][0]["previous_global_hash"] == scenario.initial_global_hash
    assert all(len(r["attestations"]) == 3 for r in rounds["items"])
    assert all(r["metrics"]["verified"] for r in rounds["items"])
    members = api.get(f"/api/federations/{fid}/members").json()["items"]
    assert {m["member"]: (m["rounds"], m["examples"]) for m in members} == {
        scenario.partners[0]: (3, 1200),
        scenario.partners[1]: (3, 1350),
        scenario.partners[2]: (3, 1500),
    }
    one = api.get(f"/api/federations/{fid}/rounds/2").json()
    assert one["metrics_hash"] == metrics_hash(scenario.metrics["rounds"][1])


def test_watermark_commitment_reveal_claim(ctx) -> None:  # type: ignore[no-untyped-def]
    _, scenario, api = ctx
    watermark = api.get(f"/api/watermarks/{scenario.commitment}").json()
    assert watermark["reveal"] is not None
    assert watermark["claims"][0]["suspect_hash"] == scenario.suspect
    claims = api.get("/api/watermarks/claims", params={"model": scenario.model}).json()
    assert claims["total"] == 1
    assert api.get(f"/api/models/{scenario.model}/watermarks").json()["total"] == 1


def test_audit_json_passes_and_carries_evidence(ctx) -> None:  # type: ignore[no-untyped-def]
    _, scenario, api = ctx
    report = api.get(f"/models/{scenario.model}/audit.json").json()
    assert report["summary"]["verdict"] == "pass", report["summary"]
    statements = [s for section in report["sections"] for s in section["statements"]]
    ids = {s["id"] for s in statements}
    assert {"registration", "round-1", "round-2", "round-3", "federation"} <= ids
    for statement in statements:
        if statement["evidence"] is not None:
            assert statement["evidence"]["tx_hash"].startswith("0x")
            assert statement["evidence"]["block_number"] > 0 and statement["evidence"]["block_time"] > 0
    registration = next(s for s in statements if s["id"] == "registration")
    assert registration["commands"][0].startswith("sha256sum")
    assert any(c.startswith("cast call") and "getModel(bytes32)" in c for c in registration["commands"])
    assert any(
        "RoundRecorded(uint64 indexed" in c for c in next(s for s in statements if s["id"] == "round-1")["commands"]
    )
    assert api.get(f"/api/models/{scenario.model}/audit").json()["summary"] == report["summary"]


def test_audit_fails_visibly_when_a_signature_does_not_hold(ctx, node_state) -> None:  # type: ignore[no-untyped-def]
    _, scenario, api = ctx
    conn = node_state.db.connect()
    (original,) = conn.execute(
        "SELECT r FROM attestations WHERE federation_id = ? AND round = 2 AND position = 0", (scenario.federation_id,)
    ).fetchone()
    conn.execute(
        "UPDATE attestations SET r = ? WHERE federation_id = ? AND round = 2 AND position = 0",
        ("0x" + "11" * 32, scenario.federation_id),
    )
    try:
        report = api.get(f"/models/{scenario.model}/audit.json").json()
        assert report["summary"]["verdict"] == "fail"
        assert "round-2" in report["summary"]["failed"]
        html = api.get(f"/models/{scenario.model}/audit").text
        assert "FAILED" in html
    finally:
        conn.execute(
            "UPDATE attestations SET r = ? WHERE federation_id = ? AND round = 2 AND position = 0",
            (original, scenario.federation_id),
        )


def test_search(ctx) -> None:  # type: ignore[no-untyped-def]
    _, scenario, api = ctx
    hits = api.get("/api/search", params={"q": scenario.global_hashes[1]}).json()["hits"]
    assert hits == [{"kind": "round-global-hash", "federation_id": scenario.federation_id, "round": 2}]
    account = api.get("/api/search", params={"q": scenario.holders["valid"]}).json()
    assert {"kind": "licence-held", "license_id": scenario.licenses["valid"], "status": "valid"} in account["hits"]
    assert api.get("/api/search", params={"q": "not a thing"}).json()["kind"] == "unrecognised"
    # Unicode digits are not numbers to look up (found by schemathesis: int("²") raises).
    assert api.get("/api/search", params={"q": "²"}).json()["kind"] == "unrecognised"
    assert api.get("/search", params={"q": "١٢"}).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/api/models/0x1234",
        "/api/models/notahash",
        "/api/licenses/-1",
        "/api/licenses/99999999999999999999999",
        "/api/holders/0xnothex/licenses",
        "/api/check?model=0x12&account=0x00",
        "/api/check?model=" + ZERO + "&account=0x" + "ab" * 20 + "&scope=99",
        "/api/models?limit=0",
        "/api/models?limit=100000",
        "/api/federations/1/rounds?offset=-3",
        "/models/0xzz",
    ],
)
def test_bad_input_is_a_json_4xx(ctx, path: str) -> None:  # type: ignore[no-untyped-def]
    _, _, api = ctx
    response = api.get(path)
    assert response.status_code == 422, response.text
    if not path.startswith("/models/"):
        body = response.json()
        assert body["error"] == "invalid-request" and body["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/models/" + ZERO,
        "/api/licenses/4242",
        "/api/federations/77",
        "/api/federations/1/rounds/99",
        "/api/watermarks/" + ZERO,
        "/api/nothing-here",
    ],
)
def test_unknown_things_are_json_404(ctx, path: str) -> None:  # type: ignore[no-untyped-def]
    _, _, api = ctx
    response = api.get(path)
    assert response.status_code == 404
    assert response.json()["message"]


def test_openapi_lists_the_api(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    for path in (
        "/api/check",
        "/api/models/{model}",
        "/api/federations/{federation_id}/rounds",
        "/health",
        "/ready",
        "/api/offers",
        "/api/watermark-claim-intents",
        "/models/{model}/audit.json",
    ):
        assert path in paths


def test_cli_audit_writes_html_and_json(history, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from node.cli import write_audit

    chain, scenario, metrics = history
    html, data, report = write_audit(scenario.model, chain.rpc_url, chain.deployment_path, tmp_path, metrics=metrics)
    assert report["summary"]["verdict"] == "pass"
    assert "<style>" in html.read_text() and "Provenance audit" in html.read_text()
    assert data.exists()


def test_audit_command_registers_on_a_typer_app(history, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import typer
    from typer.testing import CliRunner

    from node.cli import audit_command, node_app

    chain, scenario, _ = history
    app = typer.Typer()
    app.command("audit")(audit_command)
    app.add_typer(node_app, name="node")
    result = CliRunner().invoke(
        app,
        [
            "audit",
            scenario.model,
            "--rpc-url",
            chain.rpc_url,
            "--deployment",
            str(chain.deployment_path),
            "--out-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "verdict: pass" in result.output
    assert len(list(tmp_path.glob("audit-*.html"))) == 1 and len(list(tmp_path.glob("audit-*.json"))) == 1
    bad = CliRunner().invoke(app, ["audit", "0x1234", "--rpc-url", chain.rpc_url])
    assert bad.exit_code == 2
    assert "serve" in CliRunner().invoke(app, ["node", "--help"]).output
