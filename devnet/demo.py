"""`make demo`: the provenet story on a local devnet, told step by step.

Starts its own Anvil (a fresh chain on a free loopback port, state in a temporary folder, so your own
devnet is untouched) and deploys the contracts. Then

- the federation story: the coordinator creates a federation of three partners, who join with their own
  keys; Flower trains the digits model (simulation engine), every partner signs an attestation of its
  update each round and every round is recorded on chain through the outbox; the final model is
  exported, registered with its provenance pointer, handed to the owner, its watermark committed, and
  its lineage and watermark verified;
- the licence story on that model: the owner issues a licence and signs an offer; licensees load the
  weights through the gate; an unlicensed account, tampered weights, an expired and a revoked licence
  are refused.

The devnet is stopped at the end, also on failure.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from client_sdk.accounts import load_account
from client_sdk.client import ProvenetClient
from client_sdk.devnet_lifecycle import devnet_down, devnet_up
from client_sdk.errors import LicenseRefused
from client_sdk.gate import load_licensed
from client_sdk.hashing import weights_hash
from client_sdk.types import LicenseOffer, LicenseTerms, Scope

console = Console()
OUTPUT_DIR = Path(__file__).resolve().parent.parent / "demo-output"


def step(title: str, text: str = "") -> None:
    console.print()
    console.rule(f"[bold]{title}")
    if text:
        console.print(text)


def refused(what: str, action) -> None:
    """Run ``action`` and show the typed refusal it must raise."""
    try:
        action()
    except LicenseRefused as error:
        console.print(f"[bold red]REFUSED[/] {what}: [italic]{type(error).__name__}[/]\n  {error}")
        return
    raise SystemExit(f"demo failed: {what} was not refused")


def federation_story(client: ProvenetClient, keystores: Path, work: Path) -> Path:
    """Federate three partners, record every round, release the model; return the released file."""
    import logging
    import os

    from client_sdk.devnet_lifecycle import demo_password
    from federation.chain import ChainProvenanceHook, ChainTarget, EIP712AttestationSigner, hash32
    from federation.config import FederationConfig
    from federation.engines import run_simulation
    from federation.release import initial_global_hash, release_model, verify_lineage
    from federation.watermark import load_trigger_set, verify

    os.environ["FLWR_TELEMETRY_ENABLED"] = "0"
    logging.getLogger("flwr").setLevel(logging.WARNING)

    def account(name: str):
        return load_account(name, password=demo_password(), directory=keystores)

    coordinator, owner = account("coordinator"), account("owner")
    partners = [account(f"partner{i}") for i in (1, 2, 3)]
    config = FederationConfig(num_partners=3, num_rounds=3, watermark=True, seed=0)

    step(
        "F1. The coordinator creates a federation; each partner joins with its own key",
        "round 1 must build on the initial model's hash; every round needs 2 of the 3 partners' signatures",
    )
    federation_id = client.federations.create(
        coordinator, [p.address for p in partners], 2, initial_global_hash=hash32(initial_global_hash(config))
    )
    for partner in partners:
        client.federations.accept(partner, federation_id)
        console.print(f"{partner.address} joined federation {federation_id}")

    step(
        "F2. Flower trains the digits CNN: 3 partners, 3 rounds (simulation engine)",
        "each partner signs an EIP-712 attestation of its update; the coordinator checks every signature and "
        "membership, watermarks the aggregate, and records the round on chain through a durable outbox",
    )
    hook = ChainProvenanceHook(client, coordinator, federation_id, work / "run" / "outbox.sqlite")
    signer = EIP712AttestationSigner(
        {i: bytes(p.key) for i, p in enumerate(partners)},
        ChainTarget(client.chain_id, client.federations.address, federation_id),
    )
    result = run_simulation(config, hook=hook, signer=signer)
    table = Table("round", "new global hash (on chain)", "attestations", "examples", "test accuracy", "block")
    for record, outcome in zip(client.federations.round_records(federation_id), result.rounds, strict=True):
        table.add_row(
            str(record["round"]),
            "0x" + record["new_global_hash"].hex()[:20] + "…",
            str(len(record["attestations"])),
            str(record["examples"]),
            f"{outcome.central['test-accuracy']:.3f}",
            str(record["block_number"]),
        )
    console.print(table)

    step(
        "F3. Release: export, register with its provenance pointer, hand to the owner, commit the watermark",
    )
    release = release_model(
        client,
        coordinator,
        result,
        federation_id,
        work / "release",
        config=config,
        partners=[p.address for p in partners],
        owner=owner,
    )
    console.print(
        f"{Path(release.model_path).name}: SHA-256 {release.weights_hash}\n"
        f"registered for federation {release.federation_id}, final round {release.final_round}; owner {release.owner}\n"
        f"watermark commitment {release.watermark_commitment} (trigger set and salt stay secret)"
    )

    step("F4. Anyone recomputes the lineage from the file and the chain (`provenet verify lineage`)")
    for check in verify_lineage(release.model_path, client).checks:
        mark = "[bold green]PASS[/]" if check.passed else "[bold red]FAIL[/]"
        console.print(f"{mark} {check.name:<18} {check.detail}")
    outcome = verify(release.model_path, load_trigger_set(release.trigger_set_path))
    console.print(
        f"watermark: trigger-set accuracy {outcome.accuracy:.2f} against chance 0.10, "
        f"one-sided binomial p-value {outcome.p_value:.1e} (`provenet watermark verify`)"
    )
    return Path(release.model_path)


def licence_story(client: ProvenetClient, keystores: Path, work: Path, weights: Path) -> None:
    from client_sdk.devnet_lifecycle import demo_password

    def account(name: str):
        return load_account(name, password=demo_password(), directory=keystores)

    owner, licensee1, licensee2, stranger = (account(n) for n in ("owner", "licensee1", "licensee2", "partner3"))
    model = weights_hash(weights)

    step(
        "1. The owner holds the federation's registered model",
        f"weights file {weights.name}: SHA-256 {model.hex()}\n(anyone can recompute it with `sha256sum`)",
    )
    record = client.models.get(model)
    console.print(f"owner {record.owner}; provenance: federation {record.federation_id}, round {record.final_round}")
    if record.owner != owner.address:
        raise SystemExit(f"demo failed: the model is owned by {record.owner}, not by the owner account")

    step("2. The owner issues a licence to licensee1", "scope: inference, valid 30 days, not transferable")
    now = client.block_timestamp()
    lic1 = client.licenses.issue(
        owner,
        licensee1.address,
        LicenseTerms(
            model=model,
            scope=Scope.INFERENCE,
            expiry=now + 30 * 86400,
            legal_uri="ipfs://provenet-demo/licence-inference.txt",
        ),
    )
    console.print(f"licence #{lic1} → {licensee1.address}")

    step(
        "3. The owner signs an offer; licensee2 redeems it and pays",
        "EIP-712 offer: inference + commercial, 0.01 ETH, for licensee2 only, valid 1 day",
    )
    offer = LicenseOffer(
        model=model,
        scope=Scope.INFERENCE | Scope.COMMERCIAL,
        nonce=1,
        deadline=now + 86400,
        price=10**16,
        licensee=licensee2.address,
    )
    signature = client.licenses.sign_offer(owner, offer)
    lic2 = client.licenses.redeem(licensee2, offer, signature)
    console.print(f"licence #{lic2} → {licensee2.address} (0.01 ETH held for the owner)")

    step("4. Licensees load the weights through the gate")
    for who, scope in ((licensee1, Scope.INFERENCE), (licensee2, Scope.INFERENCE | Scope.COMMERCIAL)):
        tensors = load_licensed(model, weights, who.address, scope, client=client)
        console.print(
            f"[bold green]LOADED[/] for {who.address} ({','.join(scope.names())}):"
            f" {len(tensors)} tensors, {sum(t.numel() for t in tensors.values())} parameters"
        )

    step("5. What the gate refuses")
    refused(
        "an account with no licence",
        lambda: load_licensed(model, weights, stranger.address, "inference", client=client),
    )
    refused(
        "licensee1 asking for commercial use",
        lambda: load_licensed(model, weights, licensee1.address, "commercial", client=client),
    )
    tampered = work / "tampered.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    tampered.write_bytes(bytes(data))
    refused(
        "tampered weights (one bit flipped)",
        lambda: load_licensed(model, tampered, licensee1.address, "inference", client=client),
    )
    refused(
        "tampered weights, looked up by their own hash",
        lambda: load_licensed(None, tampered, licensee1.address, "inference", client=client),
    )
    client.rpc.call("evm_increaseTime", [31 * 86400])
    client.rpc.call("evm_mine", [])
    refused(
        "licensee1 after 31 days (expired)",
        lambda: load_licensed(model, weights, licensee1.address, "inference", client=client),
    )
    client.licenses.revoke(owner, lic2)
    refused(
        "licensee2 after the owner revoked the licence",
        lambda: load_licensed(model, weights, licensee2.address, "inference", client=client),
    )

    table = Table("licence", "holder", "scope", "state now")
    for license_id in (lic1, lic2):
        record = client.licenses.get(license_id)
        check = client.licenses.check(model, record.holder, record.scope)
        table.add_row(f"#{license_id}", record.holder, ",".join(record.scope.names()), check.reason.name.lower())
    console.print(table)


def node_story(rpc_url: str, deployment_path: Path, weights: Path, work: Path) -> None:
    """Write the audit report, start the node, print where to look; stop it when the reader is done."""
    import json
    import os
    import subprocess
    import time
    import urllib.request

    from client_sdk.devnet import free_port
    from node.cli import write_audit

    step(
        "N1. The provenance node indexes the chain and writes the audit report",
        "every statement carries its transaction, block and time, and a command a third party can run",
    )
    rounds = [json.loads(p.read_text()) for p in sorted((work / "run" / "round-metrics").glob("round-*.json"))]
    metrics = work / "node-metrics.json"
    metrics.write_text(json.dumps({"federation_id": rounds[0]["federation_id"], "rounds": rounds}))
    model = "0x" + weights_hash(weights).hex()
    out_dir = OUTPUT_DIR
    html_path, json_path, report = write_audit(model, rpc_url, deployment_path, out_dir, metrics=metrics)
    summary = report["summary"]
    console.print(f"audit report written: {html_path}\n                      {json_path}")
    console.print(
        f"verdict: [bold {'green' if summary['verdict'] == 'pass' else 'red'}]{summary['verdict']}[/]"
        f" ({summary['checks_passed']} checks passed, {summary['checks_failed']} failed)"
    )
    if summary["verdict"] != "pass":
        raise SystemExit("demo failed: the audit report does not hold")

    port = free_port()
    command = [
        sys.executable,
        "-m",
        "client_sdk.cli",
        "node",
        "serve",
        "--rpc-url",
        rpc_url,
        "--deployment",
        str(deployment_path),
        "--db",
        str(work / "node.db"),
        "--port",
        str(port),
        "--metrics",
        str(metrics),
    ]
    node = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/ready", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or node.poll() is not None:
                raise SystemExit("demo failed: the node did not become ready")
            time.sleep(0.3)
        console.print(f"node ready: {base}/")
        console.print(f"[bold]audit report of the federation's model: {base}/models/{model}/audit[/]")
        console.print(f"model page: {base}/models/{model}    federation page: {base}/federations/1")
        if sys.stdin.isatty() and not os.environ.get("CI"):
            console.input("\n[dim]the node and the devnet stay up until you press Enter… [/]")
    finally:
        node.terminate()
        try:
            node.wait(timeout=15)
        except subprocess.TimeoutExpired:
            node.kill()
        console.print("node stopped.")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="provenet-demo-") as tmp:
        root, work = Path(tmp) / "devnet", Path(tmp) / "work"
        work.mkdir()
        console.print(
            Panel.fit(
                "provenet demo: a federation trains a model with every round on chain, then licences gate it,"
                " on a local Anvil devnet",
                style="bold blue",
            )
        )
        try:
            from client_sdk.devnet import free_port

            info = devnet_up(engine="anvil", port=free_port(), fresh=True, root=root)
            console.print(
                f"devnet: {info.status.rpc_url} (chain {info.status.chain_id});"
                f" contracts deployed from the committed artifacts"
            )
            client = ProvenetClient(info.status.rpc_url, info.deployment)
            weights = federation_story(client, root / "keystores", work)
            licence_story(client, root / "keystores", work, weights)
            node_story(info.status.rpc_url, info.deployment_path, weights, work)
        finally:
            devnet_down(root)
            console.print("\ndevnet stopped.")
    console.print(Panel.fit("demo complete", style="bold green"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
