"""Server-rendered pages for people: home, search, model, federation, licence, account and the audit report.

Layout of the inline SVG figures (lineage graph, accuracy/loss chart) is computed here so the templates stay
declarative; there is no JavaScript.

The route functions' annotations are evaluated at definition (no ``from __future__ import annotations``):
FastAPI resolves the validated path types passed in by the app factory from them.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address
from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment

from node.audit import utc
from node.metrics import chart_series
from node.queries import scope_names

if TYPE_CHECKING:
    from node.app import NodeState

__all__ = ["account_hits", "chart_layout", "install_filters", "install_routes", "lineage_layout"]

STATUS_LABELS = {
    "valid": "Valid",
    "expired": "Expired",
    "suspended": "Suspended",
    "revoked": "Revoked",
    "parent-invalid": "Parent invalid",
    "scope-not-granted": "Scope not granted",
    "not-licensed": "Not licensed",
}


def _short(value: Any, head: int = 6, tail: int = 4) -> str:
    text = str(value or "")
    return text if len(text) <= head + tail + 3 else f"{text[: head + 2]}…{text[-tail:]}"


def install_filters(env: Environment) -> None:
    env.filters["short"] = _short
    env.filters["utc"] = lambda t: utc(t) if t else "—"
    env.filters["scopes"] = lambda s: ", ".join(scope_names(int(s)))
    env.filters["status_label"] = lambda s: STATUS_LABELS.get(str(s), str(s).replace("-", " ").capitalize())
    env.filters["thousands"] = lambda n: f"{int(n):,}"


def lineage_layout(lineage: dict[str, Any], current: str) -> dict[str, Any]:
    """Boxes by generation (ancestors above, descendants below) and edges between them, in SVG units."""
    box_w, box_h, gap_x, gap_y, pad = 250, 66, 28, 42, 16
    levels: dict[int, list[dict[str, Any]]] = {}
    for node in lineage["nodes"]:
        levels.setdefault(node["depth"], []).append(node)
    widest = max(len(v) for v in levels.values())
    width = max(box_w + 2 * pad, widest * box_w + (widest - 1) * gap_x + 2 * pad)
    positions: dict[str, tuple[float, float]] = {}
    boxes = []
    for row, depth in enumerate(sorted(levels)):
        nodes = levels[depth]
        row_width = len(nodes) * box_w + (len(nodes) - 1) * gap_x
        x0 = (width - row_width) / 2
        for i, node in enumerate(nodes):
            x, y = x0 + i * (box_w + gap_x), pad + row * (box_h + gap_y)
            positions[node["model"]] = (x, y)
            boxes.append(
                {
                    "x": x,
                    "y": y,
                    "w": box_w,
                    "h": box_h,
                    "model": node["model"],
                    "owner": node["owner"],
                    "current": node["model"] == current,
                    "role": "this model" if node["model"] == current else ("parent" if depth < 0 else "derivative"),
                }
            )
    edges = []
    for edge in lineage["edges"]:
        if edge["parent"] in positions and edge["child"] in positions:
            px, py = positions[edge["parent"]]
            cx, cy = positions[edge["child"]]
            edges.append({"x1": px + box_w / 2, "y1": py + box_h, "x2": cx + box_w / 2, "y2": cy})
    height = 2 * pad + len(levels) * box_h + (len(levels) - 1) * gap_y
    return {"width": width, "height": height, "boxes": boxes, "edges": edges}


def chart_layout(documents: dict[int, dict[str, Any]], rounds: int) -> list[dict[str, Any]]:
    """One small line chart per series (accuracy, loss) over rounds 1..``rounds``, in SVG units."""
    series = chart_series(documents)
    charts = []
    width, height, left, right, top, bottom = 360, 200, 48, 16, 16, 34
    last = max([rounds] + [r for values in series.values() for r, _ in values] or [1])
    for name, values in series.items():
        if not values:
            continue
        low = 0.0
        high = 1.0 if name == "accuracy" else max(v for _, v in values) * 1.1 or 1.0

        def x(r: int) -> float:
            return left + (width - left - right) * ((r - 1) / max(1, last - 1))

        def y(v: float, low: float = low, high: float = high) -> float:
            return top + (height - top - bottom) * (1 - (v - low) / (high - low))

        ticks = [low + (high - low) * i / 4 for i in range(5)]
        charts.append(
            {
                "name": name,
                "width": width,
                "height": height,
                "points": " ".join(f"{x(r):.1f},{y(v):.1f}" for r, v in values),
                "dots": [{"x": x(r), "y": y(v), "round": r, "value": v} for r, v in values],
                "yticks": [{"y": y(t), "label": f"{t:.2f}"} for t in ticks],
                "xticks": [{"x": x(r), "label": str(r)} for r in range(1, last + 1)]
                if last <= 20
                else [{"x": x(r), "label": str(r)} for r in range(1, last + 1, max(1, last // 10))],
                "left": left,
                "right": width - right,
                "top": top,
                "bottom": height - bottom,
                "last": values[-1][1],
            }
        )
    return charts


def account_hits(node: "NodeState", account: str) -> list[dict[str, Any]]:
    hits: list[dict[str, Any]] = [{"kind": "account", "account": account}]
    hits += [{"kind": "model-owned", "model": m} for m in node.store.models_owned_by(account)]
    licences, _ = node.store.licenses_for_holder(account, node.now(), 500, 0)
    hits += [{"kind": "licence-held", "license_id": lic["license_id"], "status": lic["status"]} for lic in licences]
    hits += [{"kind": "federation", "federation_id": f} for f in node.store.federations_of(account)]
    return hits


def install_routes(
    app: FastAPI,
    node: "NodeState",
    templates: Jinja2Templates,
    search_results: Callable[[str], dict[str, Any]],
    model_or_404: Callable[[str], dict[str, Any]],
    federation_or_404: Callable[[int], dict[str, Any]],
    audit_json: Callable[[str], dict[str, Any]],
    HashPath: Any,
    AddressPath: Any,
    IdPath: Any,
) -> None:
    """Register the HTML pages on ``app``."""

    def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
        cursor, cursor_time = node.store.cursor()
        base = {"indexed_block": cursor, "indexed_time": cursor_time, "chain_id": node.deployment.chain_id}
        return templates.TemplateResponse(request, name, {**base, **context}, status_code=status)

    @app.get("/", response_class=HTMLResponse, tags=["pages"], summary="Home: search, recent models, federations")
    def home(request: Request) -> Response:
        models, model_total = node.store.models(12, 0)
        federations, federation_total = node.store.federations(12, 0)
        return render(
            request,
            "home.html",
            {
                "models": models,
                "model_total": model_total,
                "federations": federations,
                "federation_total": federation_total,
            },
        )

    @app.get("/search", response_class=HTMLResponse, tags=["pages"], summary="Search by hash, address or id")
    def search(request: Request, q: str = Query("", max_length=200)) -> Response:
        results = search_results(q) if q.strip() else {"query": "", "kind": "empty", "hits": []}
        hits = results["hits"]
        if len(hits) == 1 and hits[0]["kind"] == "model":
            return RedirectResponse(f"/models/{hits[0]['model']}", status_code=303)
        if results["kind"] == "address":
            return RedirectResponse(f"/accounts/{hits[0]['account']}", status_code=303)
        return render(request, "search.html", {"results": results})

    @app.get("/models/{model}", response_class=HTMLResponse, tags=["pages"], summary="Model page")
    def model_page(request: Request, model: HashPath) -> Response:
        record = model_or_404(model)
        now = node.now()
        licences, licence_total = node.store.licenses_for_model(record["model"], now, 500, 0)
        lineage = node.store.lineage(record["model"])
        federation = node.store.federation(record["federation_id"]) if record["federation_id"] else None
        counts: dict[str, int] = {}
        for lic in licences:
            counts[lic["status"]] = counts.get(lic["status"], 0) + 1
        return render(
            request,
            "model.html",
            {
                "model": record,
                "licences": licences,
                "licence_total": licence_total,
                "status_counts": counts,
                "graph": lineage_layout(lineage, record["model"]),
                "watermarks": node.store.watermarks_for_model(record["model"]),
                "federation": federation,
                "now": now,
            },
        )

    @app.get("/models/{model}/audit", response_class=HTMLResponse, tags=["pages"], summary="Audit report (print)")
    def audit_page(request: Request, model: HashPath) -> Response:
        return render(request, "audit.html", {"report": audit_json(model)})

    @app.get("/federations/{federation_id}", response_class=HTMLResponse, tags=["pages"], summary="Federation page")
    def federation_page(request: Request, federation_id: IdPath) -> Response:
        federation = federation_or_404(federation_id)
        rounds, _ = node.store.rounds(federation_id, 100000, 0)
        documents = {r["round"]: r["metrics"]["document"] for r in rounds if r["metrics"] and r["metrics"]["verified"]}
        verified = sum(1 for r in rounds if r["metrics"] and r["metrics"]["verified"])
        mismatched = sum(1 for r in rounds if r["metrics"] and not r["metrics"]["verified"])
        return render(
            request,
            "federation.html",
            {
                "federation": federation,
                "rounds": rounds,
                "charts": chart_layout(documents, len(rounds)),
                "verified": verified,
                "mismatched": mismatched,
                "members": sorted(federation["members"], key=lambda m: -m["examples"]),
                "total_examples": sum(m["examples"] for m in federation["members"]) or 1,
            },
        )

    @app.get("/licenses/{license_id}", response_class=HTMLResponse, tags=["pages"], summary="Licence page")
    def licence_page(request: Request, license_id: IdPath) -> Response:
        now = node.now()
        record = node.store.license(license_id, now)
        if record is None:
            return render(
                request,
                "error.html",
                {"status": 404, "code": "unknown-licence", "message": f"No licence #{license_id} is indexed."},
                404,
            )
        chain = [record]
        parent = record["parent_id"]
        while parent and len(chain) < 8:
            parent_record = node.store.license(parent, now)
            if parent_record is None:
                break
            chain.append(parent_record)
            parent = parent_record["parent_id"]
        return render(
            request,
            "licence.html",
            {"licence": record, "chain": chain, "model": node.store.model(record["model"]), "now": now},
        )

    @app.get("/accounts/{account}", response_class=HTMLResponse, tags=["pages"], summary="Account page")
    def account_page(request: Request, account: AddressPath) -> Response:
        checksummed = to_checksum_address(account.lower())
        now = node.now()
        licences, _ = node.store.licenses_for_holder(checksummed, now, 500, 0)
        owned = [m for m in (node.store.model(h) for h in node.store.models_owned_by(checksummed)) if m]
        federations = [f for f in (node.store.federation(i) for i in node.store.federations_of(checksummed)) if f]
        return render(
            request,
            "account.html",
            {"account": checksummed, "licences": licences, "models": owned, "federations": federations},
        )
