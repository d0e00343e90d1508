"""``provenet``: the command line for devnets, accounts, models, licences, watermarks and the gate.

Every read takes ``--json``. Exit codes: 0 success; 1 a refusal or a failed check (the licence gate said
no, a transaction reverted); 2 bad input; 3 the chain is unreachable. Commands of the heavier components
(``federation``, ``federate``, ``verify``, ``node``, ``audit``, ``watermark verify``) come from the
``provenet.cli`` entry points and are imported only when used, so licence commands never import torch
or flwr.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from client_sdk.errors import ChainUnavailable, LicenseRefused, ProvenetError, ProvenetValueError

app = typer.Typer(help="provenet: licensing and provenance for federated ML models.", no_args_is_help=True)
devnet_app = typer.Typer(help="Start, stop and inspect the local devnet.", no_args_is_help=True)
account_app = typer.Typer(help="Keystore accounts (keys never printed).", no_args_is_help=True)
model_app = typer.Typer(help="Hash, register and inspect models.", no_args_is_help=True)
license_app = typer.Typer(help="Issue, offer, redeem, manage and check licences.", no_args_is_help=True)
watermark_app = typer.Typer(help="Watermark commitments, reveals and claims.", no_args_is_help=True)
app.add_typer(devnet_app, name="devnet")
app.add_typer(account_app, name="account")
app.add_typer(model_app, name="model")
app.add_typer(license_app, name="license")
app.add_typer(watermark_app, name="watermark")
CORE_GROUPS = {
    "devnet": devnet_app,
    "account": account_app,
    "model": model_app,
    "license": license_app,
    "watermark": watermark_app,
}

console = Console()
err = Console(stderr=True)

RpcUrl = Annotated[
    str | None,
    typer.Option("--rpc-url", envvar="PROVENET_RPC_URL", help="JSON-RPC endpoint (default: the running devnet's)."),
]
DeploymentOpt = Annotated[
    Path | None,
    typer.Option("--deployment", envvar="PROVENET_DEPLOYMENT", help="Deployment manifest (default: devnet's)."),
]
AccountOpt = Annotated[str, typer.Option("--account", "-a", help="Keystore name, path or address that signs.")]
PasswordEnv = Annotated[str, typer.Option("--password-env", help="Environment variable holding the keystore password.")]
KeystoreDir = Annotated[
    Path | None, typer.Option("--keystore-dir", envvar="PROVENET_KEYSTORE_DIR", help="Keystore directory.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
DEFAULT_RPC = "http://127.0.0.1:8545"


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def _devnet_root() -> Path:
    """``$PROVENET_DEVNET_DIR``, else ``./devnet`` when run from a checkout, else the package's checkout."""
    if os.environ.get("PROVENET_DEVNET_DIR"):
        return Path(os.environ["PROVENET_DEVNET_DIR"])
    local = Path.cwd() / "devnet"
    if (local / "package.json").exists():
        return local
    from client_sdk.devnet_lifecycle import DEVNET_ROOT

    return DEVNET_ROOT


def _keystore_dir(directory: Path | None) -> Path:
    if directory is not None:
        return directory
    if os.environ.get("PROVENET_KEYSTORE_DIR"):
        return Path(os.environ["PROVENET_KEYSTORE_DIR"])
    devnet_keys = _devnet_root() / "keystores"
    if devnet_keys.is_dir():
        return devnet_keys
    from client_sdk.accounts import keystore_dir

    return keystore_dir()


def _client(rpc_url: str | None, deployment: Path | None) -> Any:
    """The chain: ``--rpc-url`` / ``--deployment``, else the running devnet's (status file and manifest),
    else ``http://127.0.0.1:8545``."""
    from client_sdk.client import connect
    from client_sdk.devnet import read_status

    if rpc_url is None:
        root = _devnet_root()
        status = read_status(root / "run")
        if status is not None and status.running:
            rpc_url = status.rpc_url
            manifest = root / "deployments" / f"{status.chain_id}.json"
            if deployment is None and manifest.is_file():
                deployment = manifest
        else:
            rpc_url = DEFAULT_RPC
    return connect(rpc_url, deployment)


def _signer(name: str, password_env: str, directory: Path | None) -> Any:
    from client_sdk.accounts import load_account

    folder = _keystore_dir(directory)
    password = None
    if not os.environ.get(password_env) and folder.resolve() == (_devnet_root() / "keystores").resolve():
        # The devnet's demo keystores use the documented devnet password (they guard devnet ether only).
        from client_sdk.devnet_lifecycle import demo_password

        password = demo_password()
    return load_account(name, password=password, password_env=password_env, directory=folder)


def _address(name_or_address: str, directory: Path | None) -> str:
    """An address given directly, or a keystore account's address (no password needed)."""
    from eth_utils import is_address, to_checksum_address

    if is_address(name_or_address):
        return to_checksum_address(name_or_address)
    from client_sdk.accounts import list_accounts

    for info in list_accounts(_keystore_dir(directory)):
        if info.name == name_or_address:
            return info.address
    raise ProvenetValueError(
        f"{name_or_address!r} is neither an address nor an account in {_keystore_dir(directory)}; "
        "see `provenet account list`"
    )


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def _when(timestamp: int) -> str:
    if timestamp == 0:
        return "never (perpetual)"
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _parse_time(text: str | None) -> int:
    """``0``/``never``, unix seconds, ``+30d``/``+12h``/``+90m``/``+45s`` from now, or an ISO date."""
    if text is None or text in ("0", "never", "perpetual"):
        return 0
    if text.isascii() and text.isdecimal():
        return int(text)
    if text.startswith("+") and text[-1] in "smhd" and text[1:-1].isascii() and text[1:-1].isdecimal():
        factor = {"s": 1, "m": 60, "h": 3600, "d": 86400}[text[-1]]
        return int(time.time()) + int(text[1:-1]) * factor
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ProvenetValueError(f"cannot read time {text!r}: use unix seconds, +30d, +12h or 2027-01-31") from None
    return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp())


def _bytes32(text: str | None, name: str) -> bytes:
    from client_sdk.client import to_hash32

    if text is None:
        return b"\x00" * 32
    try:
        return to_hash32(text)
    except ProvenetValueError as error:
        raise ProvenetValueError(f"{name}: {error}") from None


def _model_ref(text: str) -> bytes:
    """A model given as its weights hash, or as a path to its weights (hashed here)."""
    if Path(text).exists():
        from client_sdk.hashing import weights_hash

        return weights_hash(text)
    return _bytes32(text, "model")


def _emit(data: Any, as_json: bool, render: Any = None) -> None:
    if as_json or render is None:
        console.print_json(json.dumps(data, default=str))
    else:
        render(data)


def _exit_for(error: BaseException) -> int:
    if isinstance(error, ChainUnavailable):
        return 3
    if isinstance(error, ValueError | FileNotFoundError):
        return 2
    return 1


# ---------------------------------------------------------------------------------------------
# devnet
# ---------------------------------------------------------------------------------------------


@devnet_app.command("up")
def devnet_up_command(
    engine: Annotated[str, typer.Option(help="anvil or ganache")] = "anvil",
    port: Annotated[int, typer.Option(help="Loopback port.")] = 8545,
    fresh: Annotated[bool, typer.Option("--fresh", help="Start from an empty chain.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Start the devnet (state persists across down/up), deploy, create and fund the demo accounts."""
    from client_sdk.devnet_lifecycle import devnet_up

    info = devnet_up(engine=engine, port=port, fresh=fresh, root=_devnet_root())
    data = {
        "engine": info.status.kind,
        "rpc_url": info.status.rpc_url,
        "chain_id": info.status.chain_id,
        "pid": info.status.pid,
        "state": info.status.state_path,
        "deployment": str(info.deployment_path),
        "deployed_now": info.deployed_now,
        "contracts": info.deployment.contracts,
        "accounts": {a.name: a.address for a in info.accounts},
    }

    def render(d: dict) -> None:
        console.print(f"[bold green]devnet up[/]: {d['engine']} at {d['rpc_url']} (chain {d['chain_id']})")
        console.print(
            f"state file: {d['state']}   deployment: {d['deployment']}"
            f" ({'deployed now' if d['deployed_now'] else 'existing contracts'})"
        )
        table = Table("contract", "address")
        for name, address in d["contracts"].items():
            table.add_row(name, address)
        console.print(table)
        accounts = Table("demo account", "address")
        for name, address in d["accounts"].items():
            accounts.add_row(name, address)
        console.print(accounts)

    _emit(data, as_json, render)


@devnet_app.command("down")
def devnet_down_command() -> None:
    """Stop the devnet; its state file keeps everything for the next `up`."""
    from client_sdk.devnet_lifecycle import devnet_down

    if devnet_down(_devnet_root()):
        console.print("devnet stopped; state kept for the next `provenet devnet up`")
    else:
        console.print("no devnet was running")


@devnet_app.command("status")
def devnet_status_command(as_json: JsonOpt = False) -> None:
    """Say what runs where."""
    from dataclasses import asdict

    from client_sdk.devnet_lifecycle import devnet_status

    status = devnet_status(_devnet_root())
    data = asdict(status) if status else {"running": False}

    def render(d: dict) -> None:
        if not d.get("running"):
            console.print("no devnet running (start one with `provenet devnet up`)")
        else:
            console.print(
                f"{d['kind']} running at {d['rpc_url']} (chain {d['chain_id']}, pid {d['pid']}),"
                f" state in {d['state_path']}, log {d['log_path']}"
            )

    _emit(data, as_json, render)
    if not data.get("running"):
        raise typer.Exit(1)


@devnet_app.command("deploy")
def devnet_deploy_command(
    rpc_url: RpcUrl = None,
    keystore: Annotated[Path, typer.Option("--keystore", help="Keystore file of the deployer.")] = Path(
        "deployer.json"
    ),
    password_env: PasswordEnv = "PROVENET_PASSWORD",
    out: Annotated[Path | None, typer.Option(help="Manifest path (default devnet/deployments/<id>.json).")] = None,
) -> None:
    """Deploy the four contracts to any EVM endpoint with a keystore account."""
    from client_sdk.accounts import load_account
    from client_sdk.deploy import deploy_contracts
    from client_sdk.rpc import ensure_reachable, make_web3

    rpc_url = rpc_url or DEFAULT_RPC
    w3 = make_web3(rpc_url)
    chain_id = ensure_reachable(w3, rpc_url)
    deployer = load_account(keystore, password_env=password_env)
    deployment = deploy_contracts(w3, deployer)
    path = deployment.save(out or _devnet_root() / "deployments" / f"{chain_id}.json")
    console.print(f"deployed to chain {chain_id}; manifest {path}")
    for name, address in deployment.contracts.items():
        console.print(f"  {name}: {address}")


# ---------------------------------------------------------------------------------------------
# accounts
# ---------------------------------------------------------------------------------------------


def _password(password_env: str, confirm: bool) -> str:
    if os.environ.get(password_env):
        return os.environ[password_env]
    if not sys.stdin.isatty():
        raise ProvenetValueError(f"no password: set {password_env} or run in a terminal to be prompted")
    return typer.prompt("password", hide_input=True, confirmation_prompt=confirm)


@account_app.command("new")
def account_new(name: str, keystore_dir: KeystoreDir = None, password_env: PasswordEnv = "PROVENET_PASSWORD") -> None:
    """Create a new account as an encrypted keystore file."""
    from client_sdk.accounts import create_account

    info = create_account(name, _password(password_env, True), _keystore_dir(keystore_dir))
    console.print(f"created {info.name}: {info.address} ({info.path})")


@account_app.command("import")
def account_import(
    name: str,
    private_key_env: Annotated[str, typer.Option(help="Environment variable holding the private key.")],
    keystore_dir: KeystoreDir = None,
    password_env: PasswordEnv = "PROVENET_PASSWORD",
) -> None:
    """Import a private key (read from an environment variable, never from the command line)."""
    from client_sdk.accounts import import_account

    key = os.environ.get(private_key_env)
    if not key:
        raise ProvenetValueError(f"{private_key_env} is not set")
    info = import_account(name, key, _password(password_env, True), _keystore_dir(keystore_dir))
    console.print(f"imported {info.name}: {info.address} ({info.path})")


@account_app.command("list")
def account_list(keystore_dir: KeystoreDir = None, as_json: JsonOpt = False) -> None:
    """List the keystore accounts."""
    from client_sdk.accounts import list_accounts

    accounts = [
        {"name": a.name, "address": a.address, "path": str(a.path)} for a in list_accounts(_keystore_dir(keystore_dir))
    ]

    def render(rows: list) -> None:
        table = Table("name", "address", "file")
        for row in rows:
            table.add_row(row["name"], row["address"], row["path"])
        console.print(table)

    _emit(accounts, as_json, render)


# ---------------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------------


@model_app.command("hash")
def model_hash(path: Path, as_json: JsonOpt = False) -> None:
    """SHA-256 weights hash of a .safetensors file (as `sha256sum`), or the manifest hash of a directory."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    from client_sdk.hashing import weights_hash

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err,
        transient=True,
        disable=as_json,
    ) as progress:
        task = progress.add_task(f"hashing {path.name}", total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        digest = weights_hash(path, update)
    _emit({"path": str(path), "weights_hash": _hex(digest)}, as_json, lambda d: console.print(d["weights_hash"]))


@model_app.command("register")
def model_register(
    model: Annotated[str, typer.Argument(help="Weights file/directory, or its hash.")],
    account: AccountOpt,
    metadata_uri: Annotated[str, typer.Option(help="Where the model card lives.")] = "",
    metadata_hash: Annotated[str | None, typer.Option(help="SHA-256 of the model card.")] = None,
    parent: Annotated[list[str] | None, typer.Option(help="Parent model hash (repeatable).")] = None,
    federation_id: Annotated[int, typer.Option(help="Federation that trained it (provenance).")] = 0,
    final_round: Annotated[int, typer.Option(help="Its final recorded round.")] = 0,
    rpc_url: RpcUrl = None,
    deployment: DeploymentOpt = None,
    keystore_dir: KeystoreDir = None,
    password_env: PasswordEnv = "PROVENET_PASSWORD",
) -> None:
    """Register a model under its weights hash (the first registration wins)."""
    client = _client(rpc_url, deployment)
    weights = _model_ref(model)
    receipt = client.models.register(
        _signer(account, password_env, keystore_dir),
        weights,
        metadata_uri=metadata_uri,
        metadata_hash=_bytes32(metadata_hash, "metadata hash"),
        parents=[_bytes32(p, "parent") for p in parent or []],
        federation_id=federation_id,
        final_round=final_round,
    )
    console.print(
        f"registered {_hex(weights)} in block {receipt['blockNumber']} (tx {_hex(receipt['transactionHash'])})"
    )


def _model_json(record: Any) -> dict:
    return {
        "weights_hash": _hex(record.weights_hash),
        "owner": record.owner,
        "registered_at": record.registered_at,
        "registered": _when(record.registered_at),
        "metadata_uri": record.metadata_uri,
        "metadata_hash": _hex(record.metadata_hash),
        "parents": [_hex(p) for p in record.parents],
        "federation_id": record.federation_id,
        "final_round": record.final_round,
    }


@model_app.command("show")
def model_show(model: str, rpc_url: RpcUrl = None, deployment: DeploymentOpt = None, as_json: JsonOpt = False) -> None:
    """Show a registered model."""
    data = _model_json(_client(rpc_url, deployment).models.get(_model_ref(model)))

    def render(d: dict) -> None:
        table = Table(show_header=False)
        for key, value in d.items():
            table.add_row(key, ", ".join(value) if isinstance(value, list) else str(value))
        console.print(table)

    _emit(data, as_json, render)


@model_app.command("lineage")
def model_lineage(
    model: str, rpc_url: RpcUrl = None, deployment: DeploymentOpt = None, as_json: JsonOpt = False
) -> None:
    """Show a model and all its ancestors."""
    data = [_model_json(r) for r in _client(rpc_url, deployment).models.lineage(_model_ref(model))]

    def render(rows: list) -> None:
        table = Table("model", "owner", "parents", "registered")
        for row in rows:
            table.add_row(row["weights_hash"], row["owner"], "\n".join(row["parents"]) or "-", row["registered"])
        console.print(table)

    _emit(data, as_json, render)


# ---------------------------------------------------------------------------------------------
# licences
# ---------------------------------------------------------------------------------------------


def _legal(legal_file: Path | None, legal_hash: str | None) -> bytes:
    if legal_file is not None:
        from client_sdk.hashing import sha256_file

        return sha256_file(legal_file)
    return _bytes32(legal_hash, "legal hash")


@license_app.command("issue")
def license_issue(
    model: str,
    to: Annotated[str, typer.Option(help="Licensee address or account name.")],
    scope: Annotated[str, typer.Option(help="inference,derivative,redistribute,commercial (comma-separated).")],
    account: AccountOpt,
    expires: Annotated[str | None, typer.Option(help="never, unix time, +30d or an ISO date.")] = None,
    transferable: Annotated[bool, typer.Option("--transferable")] = False,
    parent: Annotated[int, typer.Option(help="Parent licence id, to sublicense.")] = 0,
    legal_file: Annotated[Path | None, typer.Option(help="The legal text (hashed).")] = None,
    legal_hash: Annotated[str | None, typer.Option(help="SHA-256 of the legal text.")] = None,
    legal_uri: Annotated[str, typer.Option(help="Where the legal text lives.")] = "",
    rpc_url: RpcUrl = None,
    deployment: DeploymentOpt = None,
    keystore_dir: KeystoreDir = None,
    password_env: PasswordEnv = "PROVENET_PASSWORD",
    as_json: JsonOpt = False,
) -> None:
    """Issue a licence (model owner) or a sublicence (holder of a REDISTRIBUTE licence)."""
    from client_sdk.types import LicenseTerms, Scope

    client = _client(rpc_url, deployment)
    terms = LicenseTerms(
        model=_model_ref(model),
        scope=Scope.parse(scope),
        expiry=_parse_time(expires),
        transferable=transferable,
        parent_id=parent,
        legal_hash=_legal(legal_file, legal_hash),
        legal_uri=legal_uri,
    )
    license_id = client.licenses.issue(_signer(account, password_env, keystore_dir), _address(to, keystore_dir), terms)
    _emit({"license_id": license_id}, as_json, lambda d: console.print(f"issued licence #{d['license_id']}"))


@license_app.command("offer")
def license_offer(
    model: str,
    scope: Annotated[str, typer.Option(help="Scopes offered.")],
    account: AccountOpt,
    out: Annotated[Path, typer.Option(help="Where to write the signed offer (JSON).")],
    licensee: Annotated[str | None, typer.Option(help="Only this address may redeem (default: anyone).")] = None,
    price_wei: Annotated[int, typer.Option(help="Price in wei.")] = 0,
    nonce: Annotated[int | None, typer.Option(help="Offer nonce (default: current time in ns).")] = None,
    valid_for: Annotated[str, typer.Option(help="Offer deadline, e.g. +7d.")] = "+7d",
    expires: Annotated[str | None, typer.Option(help="Licence expiry once redeemed.")] = None,
    transferable: Annotated[bool, typer.Option("--transferable")] = False,
    legal_file: Annotated[Path | None, typer.Option()] = None,
    legal_hash: Annotated[str | None, typer.Option()] = None,
    legal_uri: Annotated[str, typer.Option()] = "",
    rpc_url: RpcUrl = None,
    deployment: DeploymentOpt = None,
    keystore_dir: KeystoreDir = None,
    password_env: PasswordEnv = "PROVENET_PASSWORD",
) -> None:
    """Sign an EIP-712 licence offer (model owner) and write it to a file for the licensee."""
    from client_sdk.types import LicenseOffer, Scope

    client = _client(rpc_url, deployment)
    offer = LicenseOffer(
        model=_model_ref(model),
        scope=Scope.parse(scope),
        nonce=nonce or time.time_ns(),
        deadline=_parse_time(valid_for),
        expiry=_parse_time(expires),
        transferable=transferable,
        legal_hash=_legal(legal_file, legal_hash),
        legal_uri=legal_uri,
        price=price_wei,
        licensee=_address(licensee, keystore_dir) if licensee else None,
    )
    signature = client.licenses.sign_offer(_signer(account, password_env, keystore_dir), offer)
    out.write_text(
        json.dumps(
            {
                "offer": offer.to_json(),
                "signature": _hex(signature),
                "chain_id": client.chain_id,
                "license_registry": client.licenses.address,
            },
            indent=2,
        )
    )
    console.print(f"signed offer written to {out} (nonce {offer.nonce}, deadline {_when(offer.deadline)})")


@license_app.command("redeem")
def license_redeem(
    offer_file: Path,
    account: AccountOpt,
    rpc_url: RpcUrl = None,
    deployment: DeploymentOpt = None,
    keystore_dir: KeystoreDir = None,
    password_env: PasswordEnv = "PROVENET_PASSWORD",
    as_json: JsonOpt = False,
) -> None:
    """Redeem a signed offer, paying its price."""
    from client_sdk.types import LicenseOffer

    try:
        data = json.loads(offer_file.read_text())
        offer = LicenseOffer.from_json(data["offer"])
        signature = bytes.fromhex(data["signature"].removeprefix("0x"))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ProvenetValueError(
            f"{offer_file} is not a signed offer written by `provenet license offer`: {error}"
        ) from None
    client = _client(rpc_url, deployment)
    license_id = client.licenses.redeem(_signer(account, password_env, keystore_dir), offer, signature)
    _emit({"license_id": license_id}, as_json, lambda d: console.print(f"redeemed: licence #{d['license_id']}"))


def _manage(action: str) -> Any:
    def command(
        license_id: int,
        account: AccountOpt,
        expires: Annotated[str | None, typer.Option(help="New expiry (renew only).")] = None,
        reason: Annotated[str | None, typer.Option(help="Hash of the reason (suspend/revoke).")] = None,
        rpc_url: RpcUrl = None,
        deployment: DeploymentOpt = None,
        keystore_dir: KeystoreDir = None,
        password_env: PasswordEnv = "PROVENET_PASSWORD",
    ) -> None:
        client = _client(rpc_url, deployment)
        signer = _signer(account, password_env, keystore_dir)
        if action == "renew":
            if expires is None:
                raise ProvenetValueError("renew needs --expires")
            client.licenses.renew(signer, license_id, _parse_time(expires))
        elif action == "suspend":
            client.licenses.suspend(signer, license_id, _bytes32(reason, "reason"))
        elif action == "reinstate":
            client.licenses.reinstate(signer, license_id)
        else:
            client.licenses.revoke(signer, license_id, _bytes32(reason, "reason"))
        console.print(f"licence #{license_id}: {action} done")

    command.__doc__ = {
        "renew": "Extend a licence's expiry.",
        "suspend": "Suspend a licence (incident response).",
        "reinstate": "Reinstate a suspended licence.",
        "revoke": "Revoke a licence, finally (its sublicences become invalid).",
    }[action]
    return command


for _action in ("renew", "suspend", "reinstate", "revoke"):
    license_app.command(_action)(_manage(_action))


@license_app.command("use")
def license_use(
    license_id: int,
    account: AccountOpt,
    rpc_url: RpcUrl = None,
    deployment: DeploymentOpt = None,
    keystore_dir: KeystoreDir = None,
    password_env: PasswordEnv = "PROVENET_PASSWORD",
) -> None:
    """Choose which of your licences counts for its model (a new licence does not replace a valid one)."""
    client = _client(rpc_url, deployment)
    client.licenses.use(_signer(account, password_env, keystore_dir), license_id)
    console.print(f"licence #{license_id} is now the one checked for its model")


@license_app.command("check")
def license_check(
    model: str,
    holder: Annotated[str, typer.Argument(help="Address or account name.")],
    scope: Annotated[str, typer.Option(help="Scopes to check.")] = "inference",
    rpc_url: RpcUrl = None,
    deployment: DeploymentOpt = None,
    keystore_dir: KeystoreDir = None,
    as_json: JsonOpt = False,
) -> None:
    """Check whether an account may use a model for a scope (exit 1 when not)."""
    from client_sdk.types import Scope

    client = _client(rpc_url, deployment)
    check = client.licenses.check(_model_ref(model), _address(holder, keystore_dir), Scope.parse(scope))
    data = {"valid": check.valid, "reason": check.reason.name.lower(), "license_id": check.license_id}
    _emit(
        data,
        as_json,
        lambda d: console.print(
            f"[bold {'green' if d['valid'] else 'red'}]{'valid' if d['valid'] else 'not valid'}[/]"
            f" (reason: {d['reason']}, licence #{d['license_id']})"
        ),
    )
    if not check.valid:
        raise typer.Exit(1)


@license_app.command("list")
def license_list(
    model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
    holder: Annotated[str | None, typer.Option(help="Only this holder.")] = None,
    rpc_url: RpcUrl = None,
    deployment: DeploymentOpt = None,
    keystore_dir: KeystoreDir = None,
    as_json: JsonOpt = False,
) -> None:
    """List licences with their current holder, state and expiry."""
    client = _client(rpc_url, deployment)
    wanted_model = _model_ref(model) if model else None
    wanted_holder = _address(holder, keystore_dir) if holder else None
    now = client.block_timestamp()
    rows = []
    for license_id in range(1, client.licenses.total_issued() + 1):
        record = client.licenses.get(license_id)
        if (wanted_model and record.model != wanted_model) or (wanted_holder and record.holder != wanted_holder):
            continue
        state = record.state.name.lower()
        if state == "active" and record.expiry and now >= record.expiry:
            state = "expired"
        rows.append(
            {
                "license_id": license_id,
                "model": _hex(record.model),
                "holder": record.holder,
                "scope": record.scope.names(),
                "state": state,
                "expiry": record.expiry,
                "parent_id": record.parent_id,
                "transferable": record.transferable,
            }
        )

    def render(items: list) -> None:
        table = Table("id", "model", "holder", "scope", "state", "expires", "parent")
        for r in items:
            table.add_row(
                str(r["license_id"]),
                r["model"][:18] + "…",
                r["holder"],
                ",".join(r["scope"]),
                r["state"],
                _when(r["expiry"]),
                str(r["parent_id"] or "-"),
            )
        console.print(table)

    _emit(rows, as_json, render)


# ---------------------------------------------------------------------------------------------
# watermarks
# ---------------------------------------------------------------------------------------------


@watermark_app.command("commit")
def watermark_commit(
    model: str,
    digest: Annotated[str, typer.Option(help="The watermark digest (hex).")],
    account: AccountOpt,
    salt_file: Annotated[Path, typer.Option(help="Where the secret salt is kept (created if missing).")],
    rpc_url: RpcUrl = None,
    deployment: DeploymentOpt = None,
    keystore_dir: KeystoreDir = None,
    password_env: PasswordEnv = "PROVENET_PASSWORD",
) -> None:
    """Commit to a watermark of a model you own; keep the salt file secret until you reveal."""
    client = _client(rpc_url, deployment)
    signer = _signer(account, password_env, keystore_dir)
    if salt_file.exists():
        salt = bytes.fromhex(salt_file.read_text().strip().removeprefix("0x"))
    else:
        salt = os.urandom(32)
        salt_file.write_text(_hex(salt) + "\n")
        salt_file.chmod(0o600)
    weights, wm_digest = _model_ref(model), _bytes32(digest, "digest")
    commitment = client.watermarks.compute_commitment(signer.address, weights, wm_digest, salt)
    client.watermarks.commit(signer, weights, commitment)
    console.print(f"committed {_hex(commitment)} for model {_hex(weights)}; salt kept in {salt_file}")


@watermark_app.command("reveal")
def watermark_reveal(
    commitment: str,
    digest: Annotated[str, typer.Option(help="The watermark digest (hex).")],
    salt_file: Annotated[Path, typer.Option(help="The salt file written at commit.")],
    account: AccountOpt,
    rpc_url: RpcUrl = None,
    deployment: DeploymentOpt = None,
    keystore_dir: KeystoreDir = None,
    password_env: PasswordEnv = "PROVENET_PASSWORD",
) -> None:
    """Open a commitment with its digest and salt."""
    client = _client(rpc_url, deployment)
    salt = bytes.fromhex(salt_file.read_text().strip().removeprefix("0x"))
    client.watermarks.reveal(
        _signer(account, password_env, keystore_dir),
        _bytes32(commitment, "commitment"),
        _bytes32(digest, "digest"),
        salt,
    )
    console.print(f"revealed {commitment}")


@watermark_app.command("claim")
def watermark_claim(
    commitment: str,
    suspect: Annotated[str, typer.Option(help="Suspect model: weights file or hash.")],
    evidence_file: Annotated[Path, typer.Option(help="Evidence (e.g. the verification report), hashed.")],
    evidence_uri: Annotated[str, typer.Option(help="Where the evidence is published.")],
    account: AccountOpt,
    rpc_url: RpcUrl = None,
    deployment: DeploymentOpt = None,
    keystore_dir: KeystoreDir = None,
    password_env: PasswordEnv = "PROVENET_PASSWORD",
) -> None:
    """File an ownership claim against a suspect model (commitment revealed first)."""
    from client_sdk.hashing import sha256_file

    client = _client(rpc_url, deployment)
    claim_id = client.watermarks.claim(
        _signer(account, password_env, keystore_dir),
        _bytes32(commitment, "commitment"),
        _model_ref(suspect),
        sha256_file(evidence_file),
        evidence_uri,
    )
    console.print(f"claim #{claim_id} filed")


# ---------------------------------------------------------------------------------------------
# the gate
# ---------------------------------------------------------------------------------------------


@app.command("load")
def load_command(
    path: Annotated[Path, typer.Argument(help="Weights: a .safetensors file or a directory of shards.")],
    account: Annotated[str, typer.Option("--account", "-a", help="Address or account name whose licence counts.")],
    scope: Annotated[str, typer.Option(help="Use asked for.")] = "inference",
    model: Annotated[str | None, typer.Option(help="The registered weights hash you expect.")] = None,
    rpc_url: RpcUrl = None,
    deployment: DeploymentOpt = None,
    keystore_dir: KeystoreDir = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the licence gate on weights, as a check: exit 0 when they may be loaded, 1 with the reason when not."""
    from client_sdk.gate import verify_access

    client = _client(rpc_url, deployment)
    decision = verify_access(
        client, path, _address(account, keystore_dir), scope, _bytes32(model, "model") if model else None
    )
    data = {
        "allowed": True,
        "weights_hash": _hex(decision.weights_hash),
        "owner": decision.owner,
        "account": decision.account,
        "scope": decision.scope.names(),
        "license_id": decision.license_id,
    }
    _emit(
        data,
        as_json,
        lambda d: console.print(
            f"[bold green]allowed[/]: {d['account']} may use {d['weights_hash']} for {','.join(d['scope'])}"
            f" (licence #{d['license_id']}{' (owner)' if d['license_id'] == 0 else ''})"
        ),
    )


# ---------------------------------------------------------------------------------------------
# plugins and entry point
# ---------------------------------------------------------------------------------------------


def _mount_plugins(only: str | None) -> None:
    """Mount the components' commands: a Typer app as a group, a function as a command.

    A name ``group.command`` adds a command to a core group (``watermark.verify``).
    """
    for ep in entry_points(group="provenet.cli"):
        top = ep.name.split(".")[0]
        if only is not None and top != only:
            continue
        try:
            target = ep.load()
        except ImportError as error:
            missing = error.name or str(error)

            def unavailable(_missing: str = missing, _name: str = ep.name) -> None:
                raise ProvenetError(
                    f"`provenet {_name}` needs an extra that is not installed ({_missing}); "
                    "install provenet[federation] or provenet[node]"
                )

            target = unavailable
        if "." in ep.name:
            group, name = ep.name.split(".", 1)
            CORE_GROUPS[group].command(name)(target)
        elif isinstance(target, typer.Typer):
            app.add_typer(target, name=ep.name)
        else:
            app.command(ep.name)(target)


def main() -> None:
    """Console entry point: run the CLI, turning provenet's errors into messages and exit codes."""
    first = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None)
    core = {"devnet", "account", "model", "license", "load"}
    if first not in core:
        # Only the group asked for is imported (watermark verify needs torch; plain watermark does not).
        wanted = None if first is None else first
        if first == "watermark":
            wanted = "watermark" if "verify" in sys.argv[1:] else "__none__"
        _mount_plugins(wanted)
    try:
        code = app(standalone_mode=False)
    except LicenseRefused as error:
        err.print(f"[bold red]refused[/]: {error}")
        sys.exit(1)
    except ProvenetError as error:
        err.print(f"[bold red]error[/]: {error}")
        sys.exit(_exit_for(error))
    except (ValueError, FileNotFoundError, IsADirectoryError) as error:
        # Bad input that reached a library before our checks: a message, not a traceback.
        err.print(f"[bold red]error[/]: {error}")
        sys.exit(2)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(1)
    except Exception as error:  # click's usage errors and anything unexpected
        import click

        if isinstance(error, click.ClickException):
            error.show()
            sys.exit(error.exit_code)
        raise
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
