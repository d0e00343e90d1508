"""Signed writes: EIP-712 payloads accepted when well signed, refused when unsigned, forged, expired or replayed."""

from __future__ import annotations

import hashlib

import pytest

from client_sdk.signing import sign_offer
from client_sdk.types import LicenseOffer, Scope
from node.signed_writes import claim_intent_typed_data, round_metrics_typed_data, sign_typed


def _h(text: str) -> str:
    return "0x" + hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(scope="module")
def ctx(history, api, node_state):  # type: ignore[no-untyped-def]
    chain, scenario, _ = history
    return chain, scenario, api, node_state


def _offer(scenario, now: int, nonce: int, deadline_in: int = 3600) -> LicenseOffer:  # type: ignore[no-untyped-def]
    return LicenseOffer(
        model=bytes.fromhex(scenario.model[2:]),
        scope=Scope.INFERENCE,
        nonce=nonce,
        deadline=now + deadline_in,
        price=10**15,
    )


def _post_offer(ctx, signer_index: int, offer: LicenseOffer):  # type: ignore[no-untyped-def]
    chain, _, api, _ = ctx
    signature = sign_offer(
        chain.accounts[signer_index], offer, chain.deployment.chain_id, chain.deployment.address("LicenseRegistry")
    )
    return api.post("/api/offers", json={"offer": offer.to_json(), "signature": "0x" + signature.hex()})


def test_offer_signed_by_the_owner_is_published_once(ctx) -> None:  # type: ignore[no-untyped-def]
    chain, scenario, api, node = ctx
    offer = _offer(scenario, node.now(), nonce=1001)
    accepted = _post_offer(ctx, 0, offer)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["signer"] == chain.accounts[0].address
    listed = api.get("/api/offers", params={"model": scenario.model}).json()["items"]
    assert any(item["nonce"] == "1001" and item["status"] == "open" for item in listed)
    replay = _post_offer(ctx, 0, offer)
    assert replay.status_code == 409 and replay.json()["error"] == "replayed"


def test_offer_refusals(ctx) -> None:  # type: ignore[no-untyped-def]
    _, scenario, api, node = ctx
    now = node.now()
    not_owner = _post_offer(ctx, 1, _offer(scenario, now, nonce=1002))
    assert not_owner.status_code == 403 and not_owner.json()["error"] == "not-model-owner"
    expired = _post_offer(ctx, 0, _offer(scenario, now, nonce=1003, deadline_in=-10))
    assert expired.status_code == 400 and expired.json()["error"] == "expired"
    used_on_chain = _post_offer(ctx, 0, _offer(scenario, now, nonce=7))  # redeemed in the scenario
    assert used_on_chain.status_code == 409
    unsigned = api.post("/api/offers", json={"offer": _offer(scenario, now, nonce=1004).to_json()})
    assert unsigned.status_code == 422 and unsigned.json()["error"] == "invalid-request"
    garbage = api.post(
        "/api/offers", json={"offer": _offer(scenario, now, nonce=1005).to_json(), "signature": "0x" + "00" * 65}
    )
    assert garbage.status_code == 400 and garbage.json()["error"] == "bad-signature"
    malformed = api.post("/api/offers", json={"offer": {"model": "zz"}, "signature": "0x00"})
    assert malformed.status_code == 422


def _intent(ctx, nonce: int, deadline_in: int = 3600, signer_index: int = 0):  # type: ignore[no-untyped-def]
    chain, scenario, _, node = ctx
    intent = {
        "commitment": scenario.commitment,
        "suspectHash": _h(f"suspect-{nonce}"),
        "evidenceHash": _h("evidence"),
        "evidenceURI": "https://provenet.example/evidence-2.pdf",
        "nonce": nonce,
        "deadline": node.now() + deadline_in,
    }
    typed = claim_intent_typed_data(intent, chain.deployment.chain_id, chain.deployment.address("WatermarkRegistry"))
    return {**intent, "signature": sign_typed(chain.accounts[signer_index], typed)}


def test_claim_intent_accepted_then_replay_refused(ctx) -> None:  # type: ignore[no-untyped-def]
    _, scenario, api, _ = ctx
    body = _intent(ctx, nonce=1)
    accepted = api.post("/api/watermark-claim-intents", json=body)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["model"] == scenario.model and accepted.json()["revealed"] is True
    stored = api.get("/api/watermark-claim-intents", params={"model": scenario.model}).json()
    assert stored["total"] >= 1
    replay = api.post("/api/watermark-claim-intents", json=body)
    assert replay.status_code == 409 and replay.json()["error"] == "replayed"
    # the same nonce with other content is a replay too
    again = api.post("/api/watermark-claim-intents", json=_intent(ctx, nonce=1))
    assert again.status_code == 409


def test_claim_intent_refusals(ctx) -> None:  # type: ignore[no-untyped-def]
    _, _, api, _ = ctx
    expired = api.post("/api/watermark-claim-intents", json=_intent(ctx, nonce=2, deadline_in=-1))
    assert expired.status_code == 400 and expired.json()["error"] == "expired"
    stranger = api.post("/api/watermark-claim-intents", json=_intent(ctx, nonce=3, signer_index=4))
    assert stranger.status_code == 403 and stranger.json()["error"] == "not-committer"
    tampered = _intent(ctx, nonce=4)
    tampered["evidenceURI"] = "https://elsewhere.example/"
    refused = api.post("/api/watermark-claim-intents", json=tampered)
    assert refused.status_code == 403  # recovers to some other address
    unsigned = _intent(ctx, nonce=5)
    del unsigned["signature"]
    assert api.post("/api/watermark-claim-intents", json=unsigned).status_code == 422
    short = {**_intent(ctx, nonce=6), "signature": "0x1234"}
    assert api.post("/api/watermark-claim-intents", json=short).json()["error"] == "bad-signature"


def test_round_metrics_signed_by_the_coordinator(ctx) -> None:  # type: ignore[no-untyped-def]
    chain, scenario, api, node = ctx
    fid = scenario.federation_id
    document = scenario.metrics["rounds"][0]

    def body(doc: dict, nonce: int, signer: int = 0, deadline_in: int = 3600) -> dict:
        from node.metrics import metrics_hash

        message = {
            "federationId": fid,
            "round": 1,
            "metricsHash": metrics_hash(doc),
            "nonce": nonce,
            "deadline": node.now() + deadline_in,
        }
        typed = round_metrics_typed_data(
            message, chain.deployment.chain_id, chain.deployment.address("WatermarkRegistry")
        )
        return {
            "round": 1,
            "metrics": doc,
            "nonce": nonce,
            "deadline": message["deadline"],
            "signature": sign_typed(chain.accounts[signer], typed),
        }

    ok = api.post(f"/api/federations/{fid}/metrics", json=body(document, 1))
    assert ok.status_code == 201 and ok.json()["verified"] is True
    assert api.post(f"/api/federations/{fid}/metrics", json=body(document, 1)).status_code == 409
    wrong = api.post(f"/api/federations/{fid}/metrics", json=body({**document, "accuracy": 0.99}, 2))
    assert wrong.status_code == 422 and wrong.json()["error"] == "metrics-hash-mismatch"
    other = api.post(f"/api/federations/{fid}/metrics", json=body(document, 3, signer=3))
    assert other.status_code == 403
    late = api.post(f"/api/federations/{fid}/metrics", json=body(document, 4, deadline_in=-5))
    assert late.status_code == 400
