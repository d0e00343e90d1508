"""``provenet node serve`` and ``provenet audit MODEL``: the node's commands, mounted by the core CLI."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from jinja2 import Environment, FileSystemLoader, select_autoescape

__all__ = ["audit_command", "node_app", "render_audit_html", "write_audit"]

HERE = Path(__file__).parent

node_app = typer.Typer(
    help="The provenance node: chain indexer, JSON API, pages and audit reports.", no_args_is_help=True
)


@node_app.callback()
def node_group() -> None:
    """The provenance node: chain indexer, JSON API, pages and audit reports."""


@node_app.command("serve")
def serve(
    rpc_url: Annotated[str, typer.Option("--rpc-url", help="The chain's JSON-RPC endpoint")] = "http://127.0.0.1:8545",
    deployment: Annotated[
        Path | None, typer.Option("--deployment", help="Deployment manifest (default: by chain id)")
    ] = None,
    db: Annotated[str, typer.Option("--db", help="Index database: a path or sqlite:///path.db")] = "provenet-node.db",
    host: Annotated[str, typer.Option("--host", help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on")] = 8000,
    confirmations: Annotated[int, typer.Option("--confirmations", min=0, help="Blocks to wait before indexing")] = 0,
    metrics: Annotated[
        Path | None, typer.Option("--metrics", help="Coordinator's round-metrics JSON, checked against the chain")
    ] = None,
    poll_interval: Annotated[float, typer.Option("--poll-interval", help="Seconds between chain polls")] = 1.0,
    public_rpc_url: Annotated[
        str | None, typer.Option("--public-rpc-url", help="RPC URL printed in audit commands")
    ] = None,
) -> None:
    """Index the chain and serve the API and pages until interrupted."""
    import uvicorn

    from node.app import create_app
    from node.settings import NodeSettings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = NodeSettings(
        rpc_url=rpc_url,
        deployment=deployment,
        db=db,
        confirmations=confirmations,
        metrics_file=metrics,
        poll_interval=poll_interval,
        public_rpc_url=public_rpc_url,
    )
    app = create_app(settings)
    typer.echo(f"provenet node on http://{host}:{port}/ (API docs at /docs), indexing {rpc_url}")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def render_audit_html(report: dict, indexed_block: int, chain_id: int) -> str:
    """The audit report as one self-contained HTML file (styles inlined, prints to PDF)."""
    from node.pages import install_filters

    env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=select_autoescape(["html"]))
    install_filters(env)
    return env.get_template("audit.html").render(
        report=report,
        indexed_block=indexed_block,
        indexed_time=0,
        chain_id=chain_id,
        inline_css=(HERE / "static" / "style.css").read_text(encoding="utf-8"),
    )


def write_audit(
    model: str,
    rpc_url: str,
    deployment: Path | str | None,
    out_dir: Path,
    db: str | None = None,
    metrics: Path | None = None,
) -> tuple[Path, Path, dict]:
    """Index the chain, build the report of ``model`` and write ``audit-<hash>.html`` and ``.json``."""
    from node.app import NodeState
    from node.audit import build_audit
    from node.settings import NodeSettings

    with tempfile.TemporaryDirectory(prefix="provenet-audit-") as scratch:
        settings = NodeSettings(
            rpc_url=rpc_url,
            deployment=deployment,
            db=db or str(Path(scratch) / "index.db"),
            metrics_file=metrics,
            index=False,
        )
        state = NodeState(settings)
        try:
            state.indexer.sync()
            model_hash = model.lower() if model.startswith("0x") else "0x" + model.lower()
            report = build_audit(
                state.store, state.client, model_hash, public_rpc_url=state.public_rpc_url, now=state.now()
            )
            html = render_audit_html(report, state.store.cursor()[0], state.deployment.chain_id)
        finally:
            state.stop()
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"audit-{model_hash[2:14]}"
    html_path, json_path = out_dir / f"{stem}.html", out_dir / f"{stem}.json"
    html_path.write_text(html, encoding="utf-8")
    json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return html_path, json_path, report


def audit_command(
    model: Annotated[str, typer.Argument(help="The model's weights hash (0x + 64 hex digits)")],
    rpc_url: Annotated[str, typer.Option("--rpc-url", help="The chain's JSON-RPC endpoint")] = "http://127.0.0.1:8545",
    deployment: Annotated[
        Path | None, typer.Option("--deployment", help="Deployment manifest (default: by chain id)")
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Where to write the HTML and JSON")] = Path("audit"),
    metrics: Annotated[
        Path | None, typer.Option("--metrics", help="Coordinator's round-metrics JSON, checked against the chain")
    ] = None,
) -> None:
    """Write the audit report of MODEL as HTML (prints to PDF) and JSON; exit 1 if a check fails."""
    import re

    if not re.fullmatch(r"(0x)?[0-9a-fA-F]{64}", model):
        typer.echo(f"error: {model!r} is not a weights hash; expected 0x followed by 64 hex digits", err=True)
        raise typer.Exit(2)
    try:
        html_path, json_path, report = write_audit(model, rpc_url, deployment, out_dir, metrics=metrics)
    except KeyError:
        typer.echo(f"error: model {model} is not registered on the chain at {rpc_url}", err=True)
        raise typer.Exit(1) from None
    summary = report["summary"]
    typer.echo(f"audit report: {html_path}\naudit data:   {json_path}")
    typer.echo(
        f"verdict: {summary['verdict']} ({summary['checks_passed']} checks passed, {summary['checks_failed']} failed)"
    )
    if summary["verdict"] != "pass":
        raise typer.Exit(1)
