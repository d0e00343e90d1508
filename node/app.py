"""The node's FastAPI application: JSON API (``/api``), pages for people, the audit report, health.

::

    app = create_app(NodeSettings(rpc_url="http://127.0.0.1:8545", deployment="devnet/deployments/31337.json"))
    uvicorn.run(app, host="127.0.0.1", port=8000)

The licence check (``GET /api/check``) answers from the index, at the chain time of the last head the indexer
saw; it mirrors ``LicenseRegistry.checkLicense``. Confirmed state only: with ``confirmations`` > 0 a change in
the newest blocks shows up once they are confirmed. ``source=chain`` answers from the chain instead
(one ``eth_call``), ``source=both`` answers from the index and reports whether the chain agrees.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, Literal

from eth_utils import to_checksum_address
from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from client_sdk.client import ProvenetClient, default_deployment_path
from client_sdk.deploy import Deployment
from client_sdk.rpc import RawRpc
from client_sdk.signing import offer_typed_data
from client_sdk.types import LicenseOffer, Scope
from node import pages
from node.audit import build_audit, utc
from node.db import Database
from node.indexer import Indexer
from node.metrics import canonical_json, metrics_hash
from node.queries import Store
from node.settings import NodeSettings
from node.signed_writes import (
    SignedPayloadError,
    claim_intent_typed_data,
    recover_signer,
    round_metrics_typed_data,
)

__all__ = ["NodeState", "create_app"]

log = logging.getLogger("provenet.node")

HASH_PATTERN = r"^0x[0-9a-fA-F]{64}$"
ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"
MAX_INT64 = 2**63 - 1
HERE = Path(__file__).parent

HashPath = Annotated[str, PathParam(pattern=HASH_PATTERN, description="A 32-byte hash as 0x + 64 hex digits")]
AddressPath = Annotated[str, PathParam(pattern=ADDRESS_PATTERN, description="An address as 0x + 40 hex digits")]
IdPath = Annotated[int, PathParam(ge=0, le=MAX_INT64)]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size")]
Offset = Annotated[int, Query(ge=0, le=MAX_INT64, description="Items to skip")]


class ApiError(Exception):
    """An error answered as ``{"error": code, "message": ...}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# -- response and request models (documented in the OpenAPI) -------------------------------------


class ErrorBody(BaseModel):
    error: str = Field(description="A stable error code")
    message: str = Field(description="What went wrong and what to do")


class PageBody(BaseModel):
    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int
    next_offset: int | None = Field(description="The offset of the next page, or null on the last page")


class CheckBody(BaseModel):
    model: str
    account: str
    scope: int
    valid: bool
    reason: str
    license_id: int
    source: Literal["index", "chain"]
    as_of_block: int
    chain_time: int
    chain: dict[str, Any] | None = None
    agrees: bool | None = None


class HealthBody(BaseModel):
    status: Literal["ok", "degraded", "unavailable"]
    chain_reachable: bool
    chain_id: int
    head: int | None
    indexed_block: int
    confirmations: int
    lag_blocks: int | None
    last_error: str | None = None


class SignedOfferBody(BaseModel):
    offer: dict[str, Any] = Field(description="A LicenseOffer as LicenseOffer.to_json() writes it")
    signature: str = Field(description="The model owner's EIP-712 signature, 0x-hex (65 bytes)")


class ClaimIntentBody(BaseModel):
    commitment: str = Field(pattern=HASH_PATTERN)
    suspectHash: str = Field(pattern=HASH_PATTERN)
    evidenceHash: str = Field(pattern=HASH_PATTERN)
    evidenceURI: str = Field(max_length=2048)
    nonce: int = Field(ge=0, le=2**256 - 1)
    deadline: int = Field(ge=0, le=2**256 - 1)
    signature: str = Field(description="The committer's EIP-712 signature (domain 'provenet Node'), 0x-hex")


class RoundMetricsBody(BaseModel):
    round: int = Field(ge=1, le=MAX_INT64)
    metrics: dict[str, Any] = Field(description="The round's metrics document; its canonical JSON is hashed")
    nonce: int = Field(ge=0, le=2**256 - 1)
    deadline: int = Field(ge=0, le=2**256 - 1)
    signature: str = Field(description="The coordinator's EIP-712 signature (domain 'provenet Node'), 0x-hex")


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody},
    404: {"model": ErrorBody},
    409: {"model": ErrorBody},
    422: {"model": ErrorBody},
}


# -- state -----------------------------------------------------------------------------------------


class NodeState:
    """What one node process holds: settings, database, chain client and the indexer."""

    def __init__(self, settings: NodeSettings) -> None:
        self.settings = settings
        rpc = RawRpc(settings.rpc_url, timeout=5.0)
        if settings.deployment is None:
            chain_id = int(rpc.call("eth_chainId"), 16)
            deployment = Deployment.load(default_deployment_path(chain_id))
        else:
            deployment = Deployment.load(settings.deployment)
        self.deployment = deployment
        self.db = Database(settings.db)
        self.store = Store(self.db)
        self.client = ProvenetClient(settings.rpc_url, deployment, timeout=5.0)
        self.indexer = Indexer(
            self.db,
            settings.rpc_url,
            deployment,
            confirmations=settings.confirmations,
            chunk_size=settings.chunk_size,
        )
        self.public_rpc_url = settings.public_rpc_url or settings.rpc_url
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if settings.metrics_file:
            self.load_metrics_file(settings.metrics_file)

    def now(self) -> int:
        """Chain time for computed statuses: the newest head the indexer saw, else the last indexed block's."""
        if self.indexer.head_time is not None:
            return self.indexer.head_time
        return self.store.cursor()[1] or int(time.time())

    def start(self) -> None:
        if self.settings.index and self._thread is None:
            self._thread = threading.Thread(
                target=self.indexer.run, args=(self._stop, self.settings.poll_interval), name="indexer", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.db.close()

    def load_metrics_file(self, path: Path | str) -> int:
        """Store the rounds of a coordinator's metrics file; returns how many rounds it had."""
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        federation_id = int(document["federation_id"])
        for entry in document["rounds"]:
            self.store_round_metrics(federation_id, int(entry["round"]), entry, f"file {Path(path).name}")
        return len(document["rounds"])

    def store_round_metrics(self, federation_id: int, number: int, document: dict[str, Any], source: str) -> None:
        self.db.connect().execute(
            "INSERT OR REPLACE INTO round_metrics(federation_id, round, metrics_json, sha256, source)"
            " VALUES (?,?,?,?,?)",
            (federation_id, number, canonical_json(document).decode(), metrics_hash(document), source),
        )


# -- helpers ---------------------------------------------------------------------------------------


def _hash(value: str) -> str:
    return value.lower()


def _address(value: str) -> str:
    return to_checksum_address(value.lower())


def _page(items: list[dict[str, Any]], total: int, limit: int, offset: int) -> dict[str, Any]:
    following = offset + len(items)
    return {
        "items": items,
        "total": total,
        "limit": limit,
        "offset": offset,
        "next_offset": following if following < total else None,
    }


def _wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api") or path.endswith(".json") or path in ("/health", "/ready")


def _parse_offer(data: dict[str, Any]) -> LicenseOffer:
    try:
        offer = LicenseOffer.from_json(data)
        if len(offer.model) != 32 or len(offer.legal_hash) != 32:
            raise ValueError("model and legal_hash are 32-byte hashes")
        if offer.licensee is not None:
            offer = LicenseOffer(**{**offer.__dict__, "licensee": to_checksum_address(str(offer.licensee).lower())})
        for name, value, bits in (
            ("nonce", offer.nonce, 256),
            ("deadline", offer.deadline, 256),
            ("price", offer.price, 256),
            ("expiry", offer.expiry, 64),
        ):
            if not 0 <= value < 2**bits:
                raise ValueError(f"{name} is out of range")
        if not 0 < int(offer.scope) <= 15:
            raise ValueError("scope must be 1-15")
        return offer
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ApiError(422, "malformed-offer", f"the offer is malformed: {error}") from None


def _remember(state: NodeState, kind: str, signer: str, nonce: int, subject: str, payload: Any, signature: str) -> int:
    try:
        cursor = state.db.connect().execute(
            "INSERT INTO signed_payloads(kind, signer, nonce, subject, payload, signature, received_at)"
            " VALUES (?,?,?,?,?,?,?)",
            (kind, signer, str(nonce), subject, json.dumps(payload, sort_keys=True), signature, int(time.time())),
        )
    except Exception as error:
        if "UNIQUE" in str(error):
            raise ApiError(
                409, "replayed", f"{signer} already used nonce {nonce} for a {kind}; sign again with a new nonce"
            ) from None
        raise
    return int(cursor.lastrowid or 0)


def _require_fresh(deadline: int, now: int) -> None:
    if deadline < now:
        raise ApiError(
            400,
            "expired",
            f"the payload's deadline {deadline} ({utc(min(deadline, 2**40))}) has passed "
            f"(chain time {now}); sign again with a later deadline",
        )


# -- the app ---------------------------------------------------------------------------------------


def create_app(settings: NodeSettings, state: NodeState | None = None) -> FastAPI:
    """The node's ASGI app. The background indexer starts and stops with the app's lifespan."""
    node = state or NodeState(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        node.start()
        try:
            yield
        finally:
            node.stop()

    app = FastAPI(
        title="provenet node",
        version="1",
        description=(
            "Provenance index of provenet's contracts: models, lineage, licences with computed status, "
            "federations and rounds, watermark evidence, audit reports. Errors are JSON: "
            '`{"error": code, "message": text}`.'
        ),
        lifespan=lifespan,
    )
    app.state.node = node
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    pages.install_filters(templates.env)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    def error_response(request: Request, status: int, code: str, message: str) -> Response:
        if _wants_json(request):
            return JSONResponse({"error": code, "message": message}, status_code=status)
        return templates.TemplateResponse(
            request, "error.html", {"status": status, "code": code, "message": message}, status_code=status
        )

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> Response:
        return error_response(request, error.status, error.code, error.message)

    @app.exception_handler(SignedPayloadError)
    async def _signed_error(request: Request, error: SignedPayloadError) -> Response:
        return error_response(request, error.status, error.code, error.message)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, error: RequestValidationError) -> Response:
        problems = []
        for item in error.errors():
            where = ".".join(str(p) for p in item.get("loc", ()) if p not in ("body",))
            problems.append(f"{where}: {item.get('msg', 'invalid')}")
        return error_response(request, 422, "invalid-request", "; ".join(problems) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> Response:
        code = {404: "not-found", 405: "method-not-allowed"}.get(error.status_code, "http-error")
        message = str(error.detail) if error.detail else code
        if error.status_code == 404 and message == "Not Found":
            message = f"nothing at {request.url.path}"
        return error_response(request, error.status_code, code, message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path)
        return error_response(request, 500, "internal-error", f"the node failed: {type(error).__name__}")

    # -- health ----------------------------------------------------------------------------------

    def health_body() -> dict[str, Any]:
        cursor, _ = node.store.cursor()
        try:
            head = int(node.client.rpc.call("eth_blockNumber"), 16)
            reachable = True
        except Exception:
            head, reachable = None, False
        lag = None if head is None else max(0, head - node.settings.confirmations - cursor)
        status = (
            "unavailable"
            if not reachable
            else ("ok" if lag is not None and lag <= node.settings.ready_max_lag else "degraded")
        )
        return {
            "status": status,
            "chain_reachable": reachable,
            "chain_id": node.deployment.chain_id,
            "head": head,
            "indexed_block": cursor,
            "confirmations": node.settings.confirmations,
            "lag_blocks": lag,
            "last_error": node.indexer.last_error,
        }

    @app.get("/health", response_model=HealthBody, tags=["health"], summary="Liveness, chain reachability, lag")
    def health() -> dict[str, Any]:
        return health_body()

    @app.get(
        "/ready",
        response_model=HealthBody,
        tags=["health"],
        summary="503 unless the chain is reachable and the index is within ready_max_lag blocks",
        responses={503: {"model": HealthBody}},
    )
    def ready() -> Response:
        body = health_body()
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    # -- models ----------------------------------------------------------------------------------

    def model_or_404(model: str) -> dict[str, Any]:
        record = node.store.model(_hash(model))
        if record is None:
            raise ApiError(404, "unknown-model", f"no model with weights hash {model} is indexed")
        return record

    @app.get("/api/models", response_model=PageBody, tags=["models"], responses=_ERRORS)
    def list_models(
        limit: Limit = 50,
        offset: Offset = 0,
        owner: Annotated[str | None, Query(pattern=ADDRESS_PATTERN)] = None,
    ) -> dict[str, Any]:
        items, total = node.store.models(limit, offset, _address(owner) if owner else None)
        return _page(items, total, limit, offset)

    @app.get("/api/models/{model}", tags=["models"], responses=_ERRORS, summary="A model with its provenance pointer")
    def get_model(model: HashPath) -> dict[str, Any]:
        record = model_or_404(model)
        record["provenance"] = (
            {"federation_id": record["federation_id"], "final_round": record["final_round"]}
            if record["federation_id"]
            else None
        )
        return record

    @app.get("/api/models/{model}/lineage", tags=["models"], responses=_ERRORS)
    def get_lineage(model: HashPath) -> dict[str, Any]:
        model_or_404(model)
        return node.store.lineage(_hash(model))

    @app.get("/api/models/{model}/licenses", response_model=PageBody, tags=["licences"], responses=_ERRORS)
    def model_licenses(model: HashPath, limit: Limit = 50, offset: Offset = 0) -> dict[str, Any]:
        model_or_404(model)
        items, total = node.store.licenses_for_model(_hash(model), node.now(), limit, offset)
        return _page(items, total, limit, offset)

    @app.get("/api/models/{model}/watermarks", response_model=PageBody, tags=["watermarks"], responses=_ERRORS)
    def model_watermarks(model: HashPath, limit: Limit = 50, offset: Offset = 0) -> dict[str, Any]:
        model_or_404(model)
        items = node.store.watermarks_for_model(_hash(model))
        return _page(items[offset : offset + limit], len(items), limit, offset)

    def audit_json(model: str) -> dict[str, Any]:
        model_or_404(model)
        return build_audit(node.store, node.client, _hash(model), public_rpc_url=node.public_rpc_url, now=node.now())

    @app.get("/api/models/{model}/audit", tags=["audit"], responses=_ERRORS, summary="The audit report as JSON")
    def api_audit(model: HashPath) -> dict[str, Any]:
        return audit_json(model)

    @app.get("/models/{model}/audit.json", tags=["audit"], responses=_ERRORS, summary="The audit report as JSON")
    def audit_file(model: HashPath) -> dict[str, Any]:
        return audit_json(model)

    # -- licences --------------------------------------------------------------------------------

    @app.get("/api/licenses/{license_id}", tags=["licences"], responses=_ERRORS)
    def get_license(license_id: IdPath) -> dict[str, Any]:
        record = node.store.license(license_id, node.now())
        if record is None:
            raise ApiError(404, "unknown-licence", f"no licence #{license_id} is indexed")
        return record

    @app.get("/api/holders/{account}/licenses", response_model=PageBody, tags=["licences"], responses=_ERRORS)
    def holder_licenses(account: AddressPath, limit: Limit = 50, offset: Offset = 0) -> dict[str, Any]:
        items, total = node.store.licenses_for_holder(_address(account), node.now(), limit, offset)
        return _page(items, total, limit, offset)

    @app.get(
        "/api/check",
        response_model=CheckBody,
        tags=["licences"],
        responses=_ERRORS,
        summary="May this account use this model for this scope? (from the index; source=chain|both to compare)",
    )
    async def check(
        model: Annotated[str, Query(pattern=HASH_PATTERN)],
        account: Annotated[str, Query(pattern=ADDRESS_PATTERN)],
        scope: Annotated[
            int, Query(ge=1, le=15, description="Bitmask: 1 inference, 2 derivative, 4 redistribute, 8 commercial")
        ] = 1,
        source: Literal["index", "chain", "both"] = "index",
    ) -> Response:
        model_hash, holder = _hash(model), _address(account)
        cursor = node.store.cursor()[0]
        now = node.now()
        body: dict[str, Any] = {
            "model": model_hash,
            "account": holder,
            "scope": scope,
            "as_of_block": cursor,
            "chain_time": now,
        }
        if source in ("index", "both"):
            valid, reason, license_id = node.store.check(model_hash, holder, scope, now)
            body.update(valid=valid, reason=reason.name.lower(), license_id=license_id, source="index")
        if source in ("chain", "both"):
            try:
                answer = node.client.licenses.check(model_hash, holder, Scope(scope))
            except Exception as error:
                raise ApiError(503, "chain-unavailable", f"the chain could not be asked: {error}") from None
            chain = {"valid": answer.valid, "reason": answer.reason.name.lower(), "license_id": answer.license_id}
            if source == "chain":
                body.update(chain, source="chain")
            else:
                body["chain"] = chain
                body["agrees"] = chain == {k: body[k] for k in ("valid", "reason", "license_id")}
        return Response(json.dumps(body), media_type="application/json")

    # -- offers (signed writes) ------------------------------------------------------------------

    @app.post(
        "/api/offers",
        status_code=201,
        tags=["signed writes"],
        responses=_ERRORS,
        summary="Publish a licence offer signed (EIP-712) by the model's owner",
    )
    def publish_offer(body: SignedOfferBody) -> dict[str, Any]:
        offer = _parse_offer(body.offer)
        model = "0x" + offer.model.hex()
        owner = node.store.model_owner(model)
        if owner is None:
            raise ApiError(404, "unknown-model", f"no model with weights hash {model} is indexed")
        typed = offer_typed_data(offer, node.deployment.chain_id, node.deployment.address("LicenseRegistry"))
        signer = recover_signer(typed, body.signature)
        if signer != owner:
            raise ApiError(
                403, "not-model-owner", f"the offer is signed by {signer}, but model {model} is owned by {owner}"
            )
        _require_fresh(offer.deadline, node.now())
        if node.store.offers(signer, offer.nonce):
            raise ApiError(409, "replayed", f"offer nonce {offer.nonce} of {signer} was redeemed or cancelled on chain")
        payload = offer.to_json()
        row = _remember(node, "offer", signer, offer.nonce, model, payload, body.signature)
        return {
            "id": row,
            "signer": signer,
            "model": model,
            "offer": payload,
            "signature": body.signature,
            "status": "published",
        }

    @app.get("/api/offers", response_model=PageBody, tags=["signed writes"], responses=_ERRORS)
    def list_offers(
        model: Annotated[str | None, Query(pattern=HASH_PATTERN)] = None, limit: Limit = 50, offset: Offset = 0
    ) -> dict[str, Any]:
        return _page(*signed_payloads("offer", model, limit, offset), limit, offset)

    def signed_payloads(kind: str, subject: str | None, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        where, args = ("kind = ?", (kind,)) if subject is None else ("kind = ? AND subject = ?", (kind, _hash(subject)))
        conn = node.db.connect()
        total = conn.execute(f"SELECT count(*) FROM signed_payloads WHERE {where}", args).fetchone()[0]
        rows = conn.execute(
            f"SELECT * FROM signed_payloads WHERE {where} ORDER BY id LIMIT ? OFFSET ?", (*args, limit, offset)
        ).fetchall()
        now = node.now()
        items = []
        for row in rows:
            payload = json.loads(row["payload"])
            item = {
                "id": row["id"],
                "signer": row["signer"],
                "nonce": row["nonce"],
                "subject": row["subject"],
                "payload": payload,
                "signature": row["signature"],
                "received_at": row["received_at"],
            }
            if kind == "offer":
                used = node.store.offers(row["signer"], int(row["nonce"]))
                item["status"] = used[-1]["kind"] if used else ("expired" if payload["deadline"] < now else "open")
            items.append(item)
        return items, total

    # -- watermark claim intents (signed writes) -------------------------------------------------

    @app.post(
        "/api/watermark-claim-intents",
        status_code=201,
        tags=["signed writes"],
        responses=_ERRORS,
        summary="File a watermark-claim intent with evidence, signed (EIP-712) by the committer",
    )
    def file_claim_intent(body: ClaimIntentBody) -> dict[str, Any]:
        intent = body.model_dump(exclude={"signature"})
        for key in ("commitment", "suspectHash", "evidenceHash"):
            intent[key] = intent[key].lower()
        typed = claim_intent_typed_data(intent, node.deployment.chain_id, node.deployment.address("WatermarkRegistry"))
        signer = recover_signer(typed, body.signature)
        commitment = node.store.commitment(intent["commitment"])
        if commitment is None:
            raise ApiError(404, "unknown-commitment", f"no watermark commitment {intent['commitment']} is indexed")
        if signer != commitment["owner"]:
            raise ApiError(
                403,
                "not-committer",
                f"the intent is signed by {signer}, but commitment {intent['commitment']} was made by "
                f"{commitment['owner']}",
            )
        _require_fresh(body.deadline, node.now())
        intent["nonce"], intent["deadline"] = str(body.nonce), str(body.deadline)
        row = _remember(node, "claim-intent", signer, body.nonce, commitment["model"], intent, body.signature)
        return {
            "id": row,
            "signer": signer,
            "model": commitment["model"],
            "intent": intent,
            "status": "accepted",
            "revealed": commitment["reveal"] is not None,
        }

    @app.get("/api/watermark-claim-intents", response_model=PageBody, tags=["signed writes"], responses=_ERRORS)
    def list_claim_intents(
        model: Annotated[str | None, Query(pattern=HASH_PATTERN)] = None, limit: Limit = 50, offset: Offset = 0
    ) -> dict[str, Any]:
        return _page(*signed_payloads("claim-intent", model, limit, offset), limit, offset)

    # -- watermarks ------------------------------------------------------------------------------

    @app.get("/api/watermarks/claims", response_model=PageBody, tags=["watermarks"], responses=_ERRORS)
    def list_claims(
        model: Annotated[str | None, Query(pattern=HASH_PATTERN)] = None, limit: Limit = 50, offset: Offset = 0
    ) -> dict[str, Any]:
        items, total = node.store.claims(limit, offset, _hash(model) if model else None)
        return _page(items, total, limit, offset)

    @app.get("/api/watermarks/{commitment}", tags=["watermarks"], responses=_ERRORS)
    def get_commitment(commitment: HashPath) -> dict[str, Any]:
        record = node.store.commitment(_hash(commitment))
        if record is None:
            raise ApiError(404, "unknown-commitment", f"no watermark commitment {commitment} is indexed")
        return record

    # -- federations -----------------------------------------------------------------------------

    def federation_or_404(federation_id: int) -> dict[str, Any]:
        record = node.store.federation(federation_id)
        if record is None:
            raise ApiError(404, "unknown-federation", f"no federation {federation_id} is indexed")
        return record

    @app.get("/api/federations", response_model=PageBody, tags=["federations"], responses=_ERRORS)
    def list_federations(limit: Limit = 50, offset: Offset = 0) -> dict[str, Any]:
        items, total = node.store.federations(limit, offset)
        return _page(items, total, limit, offset)

    @app.get("/api/federations/{federation_id}", tags=["federations"], responses=_ERRORS)
    def get_federation(federation_id: IdPath) -> dict[str, Any]:
        return federation_or_404(federation_id)

    @app.get(
        "/api/federations/{federation_id}/members",
        response_model=PageBody,
        tags=["federations"],
        responses=_ERRORS,
        summary="Members with their contributions (rounds, examples)",
    )
    def federation_members(federation_id: IdPath, limit: Limit = 50, offset: Offset = 0) -> dict[str, Any]:
        members = federation_or_404(federation_id)["members"]
        return _page(members[offset : offset + limit], len(members), limit, offset)

    @app.get(
        "/api/federations/{federation_id}/rounds",
        response_model=PageBody,
        tags=["federations"],
        responses=_ERRORS,
        summary="Rounds with their attestations and metrics",
    )
    def federation_rounds(federation_id: IdPath, limit: Limit = 50, offset: Offset = 0) -> dict[str, Any]:
        federation_or_404(federation_id)
        items, total = node.store.rounds(federation_id, limit, offset)
        return _page(items, total, limit, offset)

    @app.get("/api/federations/{federation_id}/rounds/{round_number}", tags=["federations"], responses=_ERRORS)
    def federation_round(federation_id: IdPath, round_number: IdPath) -> dict[str, Any]:
        federation_or_404(federation_id)
        record = node.store.round(federation_id, round_number)
        if record is None:
            raise ApiError(404, "unknown-round", f"federation {federation_id} has no recorded round {round_number}")
        return record

    @app.post(
        "/api/federations/{federation_id}/metrics",
        status_code=201,
        tags=["signed writes"],
        responses=_ERRORS,
        summary="Publish a round's metrics, signed (EIP-712) by the coordinator; must hash to metricsHash",
    )
    def publish_metrics(federation_id: IdPath, body: RoundMetricsBody) -> dict[str, Any]:
        federation = federation_or_404(federation_id)
        record = node.store.round(federation_id, body.round)
        if record is None:
            raise ApiError(404, "unknown-round", f"federation {federation_id} has no recorded round {body.round}")
        try:
            digest = metrics_hash(body.metrics)
        except (TypeError, ValueError) as error:  # e.g. lone surrogates cannot be UTF-8 encoded
            raise ApiError(
                422, "malformed-metrics", f"the metrics cannot be hashed as canonical JSON: {error}"
            ) from None
        message = {
            "federationId": federation_id,
            "round": body.round,
            "metricsHash": digest,
            "nonce": body.nonce,
            "deadline": body.deadline,
        }
        typed = round_metrics_typed_data(
            message, node.deployment.chain_id, node.deployment.address("WatermarkRegistry")
        )
        signer = recover_signer(typed, body.signature)
        if signer != federation["coordinator"]:
            raise ApiError(
                403,
                "not-coordinator",
                f"the metrics are signed by {signer}, but federation "
                f"{federation_id} is coordinated by {federation['coordinator']}",
            )
        _require_fresh(body.deadline, node.now())
        if digest != record["metrics_hash"]:
            raise ApiError(
                422,
                "metrics-hash-mismatch",
                f"the metrics hash to {digest}, but round {body.round} recorded {record['metrics_hash']} on chain",
            )
        _remember(
            node,
            "round-metrics",
            signer,
            body.nonce,
            f"{federation_id}/{body.round}",
            {**message, "nonce": str(body.nonce), "deadline": str(body.deadline), "metrics": body.metrics},
            body.signature,
        )
        node.store_round_metrics(federation_id, body.round, body.metrics, f"signed by {signer}")
        return {"federation_id": federation_id, "round": body.round, "sha256": digest, "verified": True}

    # -- search ----------------------------------------------------------------------------------

    def search_results(query: str) -> dict[str, Any]:
        text = query.strip()
        if re.fullmatch(HASH_PATTERN, text):
            return {"query": text, "kind": "hash", "hits": node.store.find_hash(text.lower())}
        if re.fullmatch(ADDRESS_PATTERN, text):
            account = _address(text)
            return {"query": text, "kind": "address", "hits": pages.account_hits(node, account)}
        if text.isascii() and text.isdecimal() and len(text) < 18:
            hits = []
            if node.store.federation(int(text)):
                hits.append({"kind": "federation", "federation_id": int(text)})
            if node.store.license(int(text), node.now()):
                hits.append({"kind": "licence", "license_id": int(text)})
            return {"query": text, "kind": "number", "hits": hits}
        return {"query": text, "kind": "unrecognised", "hits": []}

    @app.get("/api/search", tags=["search"], responses=_ERRORS, summary="Find what a hash, address or id names")
    def api_search(q: Annotated[str, Query(max_length=200)]) -> dict[str, Any]:
        return search_results(q)

    # -- pages -----------------------------------------------------------------------------------

    pages.install_routes(
        app, node, templates, search_results, model_or_404, federation_or_404, audit_json, HashPath, AddressPath, IdPath
    )

    return app
