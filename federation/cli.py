"""``provenet federation | federate | verify lineage | watermark verify``: the federation's command line.

Mounted by the core CLI from the ``provenet.cli`` entry points. Accounts are keystore names (or paths or
addresses) as in the rest of the CLI; the devnet's demo accounts (``coordinator``, ``partner1..3``,
``owner``) are the defaults. Without ``--rpc-url`` the chain is the devnet recorded under
``$PROVENET_DEVNET_DIR`` (else ``./devnet``), with its deployment manifest.

::

    provenet federation create --member partner1 --member partner2 --min-signers 2
    provenet federation join 1 --account partner1
    provenet federate --partners 3 --rounds 5 --out runs/demo
    provenet federation status --out runs/demo
    provenet verify lineage runs/demo/release/model.safetensors
    provenet watermark verify runs/demo/release/model.safetensors --trigger-set runs/demo/release/secret/trigger
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from client_sdk import cli as core
from client_sdk.errors import ChainUnavailable, ProvenetError, ProvenetValueError

__all__ = ["federate_command", "federation_app", "verify_app", "watermark_verify_command"]

federation_app = typer.Typer(help="Create, join and inspect federations; the round outbox.", no_args_is_help=True)
verify_app = typer.Typer(help="Recompute a released model's provenance from the file and the chain.")

console = Console()

# The same options as the core CLI's commands, with the same defaults (the running devnet).
RpcUrl, DeploymentOpt, KeystoreDir, PasswordEnv, JsonOpt = (
    core.RpcUrl,
    core.DeploymentOpt,
    core.KeystoreDir,
    core.PasswordEnv,
    core.JsonOpt,
)


class FederationCommandError(ProvenetError):
    """A federation command cannot go on; the message says what to do."""


class LineageFailed(ProvenetError):
    """At least one lineage check failed."""


def _keystore_path(name: str, keystore_dir: Path | None) -> Path:
    from client_sdk.accounts import list_accounts

    if Path(name).is_file():
        return Path(name).resolve()
    folder = core._keystore_dir(keystore_dir)
    for info in list_accounts(folder):
        if name in (info.name, info.address):
            return info.path.resolve()
    raise ProvenetValueError(f"no keystore named {name!r} in {folder}; see `provenet account list`")


def _members(client: Any, federation_id: int) -> list[tuple[str, Any]]:
    from eth_utils import to_checksum_address

    logs = client.federations.contract.events.MemberInvited().get_logs(
        from_block=client.deployment.deploy_block, argument_filters={"federationId": federation_id}
    )
    addresses = sorted({to_checksum_address(entry["args"]["member"]) for entry in logs})
    return [(address, client.federations.member(federation_id, address)) for address in addresses]


def _print(data: Any) -> None:
    console.print_json(json.dumps(data, default=str))


# ---------------------------------------------------------------------------------------------
# provenet federation …
# ---------------------------------------------------------------------------------------------


@federation_app.command("create")
def create_command(
    member: Annotated[list[str], typer.Option("--member", "-m", help="Member: address or account name (repeat).")],
    min_signers: Annotated[int, typer.Option(help="Attestations needed to record a round.")] = 0,
    coordinator: Annotated[str, typer.Option(help="Coordinator account (signs).")] = "coordinator",
    seed: Annotated[int, typer.Option(help="Seed of the initial model, whose hash round 1 builds on.")] = 0,
    initial_hash: Annotated[str | None, typer.Option(help="Initial global hash instead of --seed's.")] = None,
    rpc_url: RpcUrl = None,
    deployment: DeploymentOpt = None,
    keystore_dir: KeystoreDir = None,
    password_env: PasswordEnv = "PROVENET_PASSWORD",
    as_json: JsonOpt = False,
) -> None:
    """Create a federation (the coordinator invites members, who then accept with `join`)."""
    from federation.config import FederationConfig
    from federation.release import initial_global_hash

    client = core._client(rpc_url, deployment)
    signer = core._signer(coordinator, password_env, keystore_dir)
    members = [core._address(m, keystore_dir) for m in member]
    start = core._bytes32(initial_hash, "initial hash") if initial_hash else None
    if start is None:
        start = bytes.fromhex(initial_global_hash(FederationConfig(seed=seed)))
    quorum = min_signers or len(members) // 2 + 1
    federation_id = client.federations.create(signer, members, quorum, initial_global_hash=start)
    data = {
        "federation_id": federation_id,
        "coordinator": signer.address,
        "members": members,
        "min_signers": quorum,
        "initial_global_hash": "0x" + start.hex(),
    }
    if as_json:
        _print(data)
    else:
        console.print(
            f"federation [bold]{federation_id}[/] created by {signer.address}: {len(members)} invited, "
            f"{quorum} signatures per round; each member runs `provenet federation join {federation_id}`"
        )


@federation_app.command("join")
def join_command(
    federation_id: int,
    account: Annotated[str, typer.Option("--account", "-a", help="Your (invited) account.")],
    rpc_url: RpcUrl = None,
    deployment: DeploymentOpt = None,
    keystore_dir: KeystoreDir = None,
    password_env: PasswordEnv = "PROVENET_PASSWORD",
) -> None:
    """Accept membership of a federation you were invited to, with your own key."""
    client = core._client(rpc_url, deployment)
    signer = core._signer(account, password_env, keystore_dir)
    client.federations.accept(signer, federation_id)
    console.print(f"{signer.address} is now an active member of federation {federation_id}")


@federation_app.command("show")
def show_command(
    federation_id: int,
    rpc_url: RpcUrl = None,
    deployment: DeploymentOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a federation: coordinator, members and their contributions, recorded rounds."""
    client = core._client(rpc_url, deployment)
    state = client.federations.get(federation_id)
    members = _members(client, federation_id)
    rounds = client.federations.round_records(federation_id)
    data = {
        "federation_id": federation_id,
        "coordinator": state.coordinator,
        "last_round": state.last_round,
        "last_global_hash": "0x" + state.last_global_hash.hex(),
        "min_signers": state.min_signers,
        "members": [
            {"address": a, "status": m.status.name.lower(), "rounds": m.rounds, "examples": m.examples}
            for a, m in members
        ],
        "rounds": [
            {
                "round": r["round"],
                "new_global_hash": "0x" + r["new_global_hash"].hex(),
                "attestations": len(r["attestations"]),
                "examples": r["examples"],
                "block": r["block_number"],
                "tx": r["tx_hash"],
            }
            for r in rounds
        ],
    }
    if as_json:
        _print(data)
        return
    console.print(
        f"federation {federation_id}: coordinator {state.coordinator}, round {state.last_round}, "
        f"{state.min_signers} signatures per round, head 0x{state.last_global_hash.hex()}"
    )
    table = Table("member", "status", "rounds", "examples")
    for entry in data["members"]:
        table.add_row(entry["address"], entry["status"], str(entry["rounds"]), str(entry["examples"]))
    console.print(table)
    rounds_table = Table("round", "new global hash", "attestations", "examples", "block")
    for entry in data["rounds"]:
        rounds_table.add_row(
            str(entry["round"]),
            entry["new_global_hash"][:18] + "…",
            str(entry["attestations"]),
            str(entry["examples"]),
            str(entry["block"]),
        )
    console.print(rounds_table)


def _outbox_location(out: Path | None, outbox: Path | None) -> Path:
    path = outbox or (out / "outbox.sqlite" if out else None)
    if path is None:
        raise ProvenetValueError("name the run's folder with --out or the outbox file with --outbox")
    if not path.is_file():
        raise ProvenetValueError(f"no outbox at {path}; it is created by `provenet federate --out DIR`")
    return path


def _outbox_federations(path: Path) -> list[int]:
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return [row[0] for row in db.execute("SELECT DISTINCT federation_id FROM rounds ORDER BY federation_id")]


@federation_app.command("status")
def status_command(
    out: Annotated[Path | None, typer.Option("--out", help="The run folder of `provenet federate`.")] = None,
    outbox: Annotated[Path | None, typer.Option("--outbox", help="The outbox file.")] = None,
    rpc_url: RpcUrl = None,
    deployment: DeploymentOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the outbox (pending and recorded rounds) next to the chain's head."""
    from federation.outbox import read_outbox_rows

    path = _outbox_location(out, outbox)
    data: dict[str, Any] = {"outbox": str(path), "federations": []}
    for federation_id in _outbox_federations(path):
        rows = read_outbox_rows(path, federation_id)
        head: int | str
        try:
            head = core._client(rpc_url, deployment).federations.get(federation_id).last_round
        except ChainUnavailable as error:
            head = f"unreachable ({error})"
        data["federations"].append(
            {
                "federation_id": federation_id,
                "chain_head_round": head,
                "pending": [r.round for r in rows if r.state == "pending"],
                "rounds": [asdict(r) for r in rows],
            }
        )
    if as_json:
        _print(data)
        return
    for entry in data["federations"]:
        console.print(
            f"federation {entry['federation_id']}: chain head at round {entry['chain_head_round']}; "
            f"{len(entry['pending'])} round(s) pending in {path}"
        )
        table = Table("round", "state", "attestations", "attempts", "block", "tx / last error")
        for row in entry["rounds"]:
            style = "green" if row["state"] == "recorded" else "yellow"
            table.add_row(
                str(row["round"]),
                f"[{style}]{row['state']}[/]",
                str(row["attestations"]),
                str(row["attempts"]),
                str(row["block_number"] or ""),
                row["tx_hash"] or (row["last_error"] or "")[:60],
            )
        console.print(table)


@federation_app.command("send")
def send_command(
    out: Annotated[Path | None, typer.Option("--out", help="The run folder of `provenet federate`.")] = None,
    outbox: Annotated[Path | None, typer.Option("--outbox", help="The outbox file.")] = None,
    coordinator: Annotated[str, typer.Option(help="Coordinator account (signs).")] = "coordinator",
    rpc_url: RpcUrl = None,
    deployment: DeploymentOpt = None,
    keystore_dir: KeystoreDir = None,
    password_env: PasswordEnv = "PROVENET_PASSWORD",
) -> None:
    """Send the rounds still pending in an outbox (after the chain or the coordinator was down)."""
    from federation.outbox import RoundOutbox

    path = _outbox_location(out, outbox)
    client = core._client(rpc_url, deployment)
    signer = core._signer(coordinator, password_env, keystore_dir)
    for federation_id in _outbox_federations(path):
        box = RoundOutbox(path, client, signer, federation_id)
        try:
            remaining = box.drain()
        finally:
            box.close()
        console.print(f"federation {federation_id}: {remaining} round(s) still pending")


@federation_app.command("release")
def release_command(
    out: Annotated[Path, typer.Option("--out", help="The run folder of `provenet federate`.")],
    coordinator: Annotated[str, typer.Option(help="Coordinator account (registers).")] = "coordinator",
    owner: Annotated[str | None, typer.Option(help="Account that will own the model.")] = "owner",
    rpc_url: RpcUrl = None,
    deployment: DeploymentOpt = None,
    keystore_dir: KeystoreDir = None,
    password_env: PasswordEnv = "PROVENET_PASSWORD",
    as_json: JsonOpt = False,
) -> None:
    """Release a finished run whose rounds are all on chain (when `federate` could not, e.g. chain down)."""
    from federation.config import FederationConfig
    from federation.results import RunResult

    result = RunResult.read(out / "run")
    config = FederationConfig.from_run_config(result.config)
    client = core._client(rpc_url, deployment)
    partners = [a for a, _ in _members(client, config.federation_id)]
    release = _release(
        client,
        core._signer(coordinator, password_env, keystore_dir),
        result,
        config,
        out,
        partners,
        core._signer(owner, password_env, keystore_dir) if owner else None,
    )
    _show_release(release, as_json)


def _release(client: Any, coordinator: Any, result: Any, config: Any, out: Path, partners: list[str], owner: Any):
    from federation.release import release_model

    return release_model(
        client,
        coordinator,
        result,
        config.federation_id,
        out / "release",
        config=config,
        partners=partners,
        owner=owner,
    )


def _show_release(release: Any, as_json: bool) -> None:
    if as_json:
        _print(asdict(release))
        return
    console.print(f"model        {release.model_path}")
    console.print(f"weights hash {release.weights_hash} (registered, owner {release.owner})")
    console.print(f"provenance   federation {release.federation_id}, final round {release.final_round}")
    console.print(f"metadata     {release.metadata_uri} ({release.metadata_hash})")
    if release.watermark_commitment:
        console.print(f"watermark    commitment {release.watermark_commitment}; trigger set and salt kept secret in")
        console.print(f"             {Path(release.salt_path).parent} (mode 0700/0600)")


# ---------------------------------------------------------------------------------------------
# provenet federate
# ---------------------------------------------------------------------------------------------


def federate_command(
    out: Annotated[Path, typer.Option("--out", help="Run folder: outbox, round metrics, run result, release.")],
    partners: Annotated[int, typer.Option("--partners", help="Number of partners.")] = 3,
    rounds: Annotated[int, typer.Option("--rounds", help="Federated rounds.")] = 5,
    engine: Annotated[str, typer.Option(help="simulation (Ray, in-process) or deployment (SuperLink+SuperNodes).")] = (
        "simulation"
    ),
    partitioning: Annotated[str, typer.Option(help="iid or dirichlet.")] = "iid",
    alpha: Annotated[float, typer.Option(help="Dirichlet concentration.")] = 0.5,
    dp: Annotated[str, typer.Option(help="none, server-fixed, client-fixed or server-adaptive.")] = "none",
    dp_noise_multiplier: Annotated[float, typer.Option(help="DP noise multiplier.")] = 0.1,
    dp_clipping_norm: Annotated[float, typer.Option(help="DP clipping norm.")] = 10.0,
    aggregator: Annotated[str, typer.Option(help="fedavg, fedmedian, fedtrimmedavg, krum or multikrum.")] = "fedavg",
    watermark: Annotated[bool, typer.Option("--watermark/--no-watermark", help="Server-side watermark.")] = True,
    seed: Annotated[int, typer.Option(help="Seed of the split, the initial model and local shuffling.")] = 0,
    local_epochs: Annotated[int, typer.Option(help="Local epochs per round.")] = 2,
    federation_id: Annotated[
        int | None, typer.Option(help="An existing federation (created and joined, no round yet).")
    ] = None,
    min_signers: Annotated[int, typer.Option(help="Signatures per round for a new federation (0: majority).")] = 0,
    coordinator: Annotated[str, typer.Option(help="Coordinator account.")] = "coordinator",
    partner: Annotated[
        list[str] | None, typer.Option("--partner", help="Partner accounts in order (default partner1..N).")
    ] = None,
    owner: Annotated[str | None, typer.Option(help="Account that will own the released model ('' for none).")] = (
        "owner"
    ),
    chain_wait: Annotated[float, typer.Option(help="Seconds to wait at the end for rounds to reach the chain.")] = 60.0,
    rpc_url: RpcUrl = None,
    deployment: DeploymentOpt = None,
    keystore_dir: KeystoreDir = None,
    password_env: PasswordEnv = "PROVENET_PASSWORD",
    as_json: JsonOpt = False,
) -> None:
    """Train a model with N partners, record every round on chain, then release and register it."""
    from federation.config import FederationConfig, FederationConfigError

    if engine not in ("simulation", "deployment"):
        raise ProvenetValueError(f"--engine must be simulation or deployment, got {engine!r}")
    names = partner or [f"partner{i}" for i in range(1, partners + 1)]
    if len(names) != partners:
        raise ProvenetValueError(f"--partners {partners} but {len(names)} --partner account(s) given")
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    client = core._client(rpc_url, deployment)
    demo_keystores = core._keystore_dir(keystore_dir).resolve() == (core._devnet_root() / "keystores").resolve()
    if demo_keystores and not os.environ.get(password_env):
        # The devnet's demo keystores use the documented devnet password; partners' SuperNodes read it
        # from this variable too (deployment engine).
        from client_sdk.devnet_lifecycle import demo_password

        os.environ[password_env] = demo_password()
    coordinator_account = core._signer(coordinator, password_env, keystore_dir)
    partner_accounts = [core._signer(name, password_env, keystore_dir) for name in names]
    owner_account = core._signer(owner, password_env, keystore_dir) if owner else None
    try:
        config = FederationConfig(
            num_partners=partners,
            num_rounds=rounds,
            local_epochs=local_epochs,
            partitioning=partitioning,
            alpha=alpha,
            seed=seed,
            aggregation=aggregator,
            dp=dp,
            dp_noise_multiplier=dp_noise_multiplier,
            dp_clipping_norm=dp_clipping_norm,
            watermark=watermark,
            chain_wait=chain_wait,
            output_dir=str(out / "run"),
        )
    except FederationConfigError as error:
        raise ProvenetValueError(str(error)) from None

    federation_id = _federation_for(client, config, coordinator_account, partner_accounts, federation_id, min_signers)
    config = replace(
        config,
        federation_id=federation_id,
        chain_id=client.chain_id,
        federation_log=client.federations.address,
        rpc_url=client.rpc_url,
    )
    if not as_json:
        console.print(
            f"federation {federation_id}: {partners} partners, {rounds} rounds on the {engine} engine; "
            f"rounds go to chain {client.chain_id} through {out / 'outbox.sqlite'}"
        )
    result = _train(
        client, config, engine, out, coordinator_account, partner_accounts, names, password_env, keystore_dir
    )
    from federation.outbox import read_outbox_rows

    pending = [r.round for r in read_outbox_rows(out / "outbox.sqlite", federation_id) if r.state == "pending"]
    if pending:
        raise FederationCommandError(
            f"training finished but round(s) {pending} are not on chain yet (the chain did not answer within "
            f"{chain_wait:.0f} s); they are kept in {out / 'outbox.sqlite'}. When the chain is back run "
            f"`provenet federation send --out {out}` then `provenet federation release --out {out}`"
        )
    release = _release(
        client, coordinator_account, result, config, out, [p.address for p in partner_accounts], owner_account
    )
    if as_json:
        _print({"federation_id": federation_id, "final_hash": result.final_hash, "release": asdict(release)})
        return
    table = Table("round", "global hash", "partners", "test accuracy", "excluded")
    for entry in result.rounds:
        table.add_row(
            str(entry.server_round),
            entry.global_hash[:16] + "…",
            str(len([p for p in entry.partners.values() if p["train"]])),
            f"{entry.central.get('test-accuracy', float('nan')):.3f}",
            "; ".join(e["reason"] for e in entry.excluded),
        )
    console.print(table)
    console.print(f"every round of federation {federation_id} is on chain")
    _show_release(release, as_json=False)


def _federation_for(
    client: Any, config: Any, coordinator: Any, partners: list[Any], federation_id: int | None, min_signers: int
) -> int:
    """A new federation with the partners as active members, or a check of the given one."""
    from client_sdk.types import MemberStatus
    from federation.release import initial_global_hash

    start = bytes.fromhex(initial_global_hash(config))
    if federation_id is None:
        quorum = min_signers or len(partners) // 2 + 1
        federation_id = client.federations.create(
            coordinator, [p.address for p in partners], quorum, initial_global_hash=start
        )
        for account in partners:
            client.federations.accept(account, federation_id)
        return int(federation_id)
    state = client.federations.get(federation_id)
    if state.coordinator != coordinator.address:
        raise FederationCommandError(
            f"federation {federation_id} is coordinated by {state.coordinator}, not {coordinator.address}"
        )
    if state.last_round != 0:
        raise FederationCommandError(
            f"federation {federation_id} already has {state.last_round} round(s); a new run starts a new "
            "federation (omit --federation-id)"
        )
    if state.last_global_hash not in (start, b"\0" * 32):
        raise FederationCommandError(
            f"federation {federation_id} starts from 0x{state.last_global_hash.hex()}, but seed {config.seed} gives "
            f"the initial model 0x{start.hex()}; pass the seed the federation was created for"
        )
    inactive = [
        p.address for p in partners if client.federations.member(federation_id, p.address).status != MemberStatus.ACTIVE
    ]
    if inactive:
        raise FederationCommandError(
            f"{', '.join(inactive)} have not joined federation {federation_id}; each runs "
            f"`provenet federation join {federation_id} --account <name>`"
        )
    return int(federation_id)


def _train(
    client: Any,
    config: Any,
    engine: str,
    out: Path,
    coordinator: Any,
    partners: list[Any],
    names: list[str],
    password_env: str,
    keystore_dir: Path | None,
) -> Any:
    from federation.chain import ChainProvenanceHook, ChainTarget, EIP712AttestationSigner
    from federation.engines import run_deployment, run_simulation

    if engine == "simulation":
        hook = ChainProvenanceHook(
            client,
            coordinator,
            config.federation_id,
            out / "outbox.sqlite",
            metrics_dir=out / "run" / "round-metrics",
            drain_timeout=config.chain_wait,
        )
        # One process plays every partner: the signer holds each partner's key (simulation only; on
        # the deployment engine each SuperNode reads its own keystore).
        signer = EIP712AttestationSigner(
            {i: bytes(p.key) for i, p in enumerate(partners)},
            ChainTarget(client.chain_id, client.federations.address, config.federation_id),
        )
        return run_simulation(config, hook=hook, signer=signer)
    manifest = client.deployment.save(out / "deployment.json")
    run_config = replace(
        config,
        provenance_hook="federation.chain:provenance_hook_factory",
        deployment=str(manifest),
        coordinator_keystore=str(_keystore_path(coordinator.address, keystore_dir)),
        coordinator_password_env=password_env,
        outbox=str(out / "outbox.sqlite"),
    )
    node_configs: list[Mapping[str, str | int]] = [
        {
            "attestation-signer": "federation.chain:keystore_signer_factory",
            "keystore": str(_keystore_path(name, keystore_dir)),
            "password-env": password_env,
        }
        for name in names
    ]
    return run_deployment(run_config, out / "deployment", node_configs=node_configs)


# ---------------------------------------------------------------------------------------------
# provenet verify lineage, provenet watermark verify
# ---------------------------------------------------------------------------------------------


@verify_app.command("lineage")
def lineage_command(
    model_file: Annotated[Path, typer.Argument(help="The released .safetensors file.")],
    rpc_url: RpcUrl = None,
    deployment: DeploymentOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a model file against the chain: registered hash, final global hash, hash chain, attestations."""
    from federation.release import verify_lineage

    if not model_file.is_file():
        raise ProvenetValueError(f"{model_file} is not a file")
    report = verify_lineage(model_file, core._client(rpc_url, deployment))
    if as_json:
        _print(report.to_json())
    else:
        console.print(f"{report.model_file}: SHA-256 {report.weights_hash}")
        for check in report.checks:
            mark = "[bold green]PASS[/]" if check.passed else "[bold red]FAIL[/]"
            console.print(f"{mark} {check.name:<18} {check.detail}")
    if not report.passed:
        failed = ", ".join(c.name for c in report.checks if not c.passed)
        raise LineageFailed(f"lineage of {model_file} does not verify: {failed}")


def watermark_verify_command(
    model_file: Annotated[Path, typer.Argument(help="A .safetensors model (DigitsCNN).")],
    trigger_set: Annotated[Path, typer.Option("--trigger-set", help="The trigger set (path without suffix).")],
    as_json: JsonOpt = False,
) -> None:
    """Trigger-set accuracy of a model and the one-sided binomial p-value against chance (1/10)."""
    from federation.watermark import CHANCE_LEVEL, load_trigger_set, verify

    if not model_file.is_file():
        raise ProvenetValueError(f"{model_file} is not a file")
    triggers = load_trigger_set(trigger_set)
    outcome = verify(model_file, triggers)
    data = {
        "model_file": str(model_file),
        "triggers": len(triggers),
        "trigger_accuracy": outcome.accuracy,
        "chance": CHANCE_LEVEL,
        "p_value": outcome.p_value,
    }
    if as_json:
        _print(data)
        return
    console.print(
        f"{model_file}: {round(outcome.accuracy * len(triggers))}/{len(triggers)} triggers "
        f"(accuracy {outcome.accuracy:.3f}, chance {CHANCE_LEVEL:.2f}); "
        f"one-sided binomial p-value {outcome.p_value:.3e}"
    )
