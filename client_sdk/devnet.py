"""Local devnet processes (Anvil, Ganache): find, start, stop, and remember them across commands.

Process control only; contracts are deployed by :mod:`client_sdk.deploy`. A devnet runs on
127.0.0.1 in its own process group, so that stopping it also stops any wrapper process::

    with start_anvil(state_file="devnet/run/anvil-state.json") as devnet:
        w3 = make_web3(devnet.rpc_url)
        ...                                   # state is dumped to the file when the devnet stops

Persistence: Anvil is started with ``--state FILE`` (load the file if it exists, dump on exit; the
dump happens on SIGTERM and SIGINT, which :meth:`DevnetProcess.stop` sends first); Ganache with
``--database.dbPath DIR``. Starting again with the same file or directory resumes the chain.

A devnet meant to outlive its command records itself with :func:`write_status` in the run
directory (``devnet/run/`` of the repository, or ``$PROVENET_DEVNET_RUN_DIR``), where
:func:`read_status` and :func:`stop_from_status` find it again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from client_sdk.errors import ChainUnavailable, DevnetError, JsonRpcError, ToolNotFound
from client_sdk.rpc import RawRpc

__all__ = [
    "ANVIL_CHAIN_ID",
    "DEFAULT_MNEMONIC",
    "GANACHE_CHAIN_ID",
    "DevnetProcess",
    "DevnetStatus",
    "dev_accounts",
    "find_anvil",
    "find_ganache",
    "free_port",
    "read_status",
    "run_dir",
    "start_anvil",
    "start_ganache",
    "stop_from_status",
    "write_status",
]

log = logging.getLogger(__name__)

DEFAULT_MNEMONIC = "test test test test test test test test test test test junk"
"""The well-known development mnemonic (Anvil's and Hardhat's): its keys are public, devnet only."""
ANVIL_CHAIN_ID = 31337
GANACHE_CHAIN_ID = 1337
DEFAULT_BALANCE_ETH = 10_000
REPO_ROOT = Path(__file__).resolve().parents[1]
RUN_DIR_ENV = "PROVENET_DEVNET_RUN_DIR"
_STATUS_FILE = "devnet.json"


# ---------------------------------------------------------------------------------------------
# finding the tools
# ---------------------------------------------------------------------------------------------


def _node_modules() -> Path:
    return REPO_ROOT / "devnet" / "node_modules"


def _foundry_native(tool: str) -> Path | None:
    """The platform binary inside the npm package, so that signals reach the tool itself."""
    system = {"linux": "linux", "darwin": "darwin", "win32": "win32"}.get(sys.platform, sys.platform)
    machine = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    suffix = ".exe" if sys.platform == "win32" else ""
    candidate = _node_modules() / "@foundry-rs" / f"{tool}-{system}-{machine}" / "bin" / f"{tool}{suffix}"
    return candidate if candidate.is_file() and os.access(candidate, os.X_OK) else None


def _find(tool: str, env_var: str, in_repo: list[Path | None]) -> Path:
    from_env = os.environ.get(env_var)
    if from_env:
        path = Path(from_env).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise ToolNotFound(tool, env_var, [f"{env_var}={from_env} (not an executable file)"])
    for candidate in in_repo:
        if candidate is not None and candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    on_path = shutil.which(tool)
    if on_path:
        return Path(on_path)
    raise ToolNotFound(tool, env_var, [str(c) for c in in_repo if c is not None])


def find_anvil() -> Path:
    """``$ANVIL_BIN``, else the repository's pinned anvil (``devnet/node_modules``), else PATH."""
    return _find("anvil", "ANVIL_BIN", [_foundry_native("anvil"), _node_modules() / ".bin" / "anvil"])


def find_ganache() -> Path:
    """``$GANACHE_BIN``, else the repository's pinned ganache (``devnet/node_modules``), else PATH."""
    return _find("ganache", "GANACHE_BIN", [_node_modules() / ".bin" / "ganache"])


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@lru_cache(maxsize=8)
def _derive_accounts(mnemonic: str, count: int) -> tuple[LocalAccount, ...]:
    Account.enable_unaudited_hdwallet_features()
    return tuple(Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{index}") for index in range(count))


def dev_accounts(count: int = 10, mnemonic: str = DEFAULT_MNEMONIC) -> list[LocalAccount]:
    """The funded accounts a devnet creates from ``mnemonic`` (BIP-44 path m/44'/60'/0'/0/i)."""
    return list(_derive_accounts(mnemonic, count))


# ---------------------------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------------------------


@dataclass
class DevnetProcess:
    """A running local chain. Stop it with :meth:`stop` or by leaving its ``with`` block."""

    kind: str
    process: subprocess.Popen[bytes]
    host: str
    port: int
    chain_id: int
    mnemonic: str
    accounts_count: int
    state_path: Path | None
    log_path: Path
    command: list[str] = field(default_factory=list)
    state_dumped: bool | None = None
    """After :meth:`stop` of an Anvil with a state file: whether the file was written on exit."""

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def accounts(self, count: int | None = None) -> list[LocalAccount]:
        """The devnet's funded accounts (their keys are public: devnet only)."""
        return dev_accounts(count or self.accounts_count, self.mnemonic)

    def is_running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the whole process group: SIGTERM, then SIGKILL after ``timeout``. Idempotent."""
        if self.process.returncode is not None and not _group_alive(self.process.pid):
            return
        before = time.time_ns()
        killed = _terminate_group(self.process.pid, timeout, self.process)
        if self.kind == "anvil" and self.state_path is not None:
            try:
                self.state_dumped = self.state_path.stat().st_mtime_ns >= before - 1_000_000_000
            except FileNotFoundError:
                self.state_dumped = False
            if not self.state_dumped:
                log.warning(
                    "anvil did not write its state to %s on exit%s", self.state_path, " (killed)" if killed else ""
                )

    def __enter__(self) -> DevnetProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _terminate_group(pgid: int, timeout: float, process: subprocess.Popen[bytes] | None = None) -> bool:
    """SIGTERM the group, wait, SIGKILL what remains. Returns whether SIGKILL was needed."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None:
            process.poll()
        else:
            # Started by this same process (a demo, a test) but known only by pid: reap it, or the
            # zombie would look alive until the timeout.
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pgid, os.WNOHANG)
        if (process is None or process.returncode is not None) and not _group_alive(pgid):
            return False
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    if process is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
    return True


def _launch(
    kind: str,
    command_for_port: Any,
    port: int | None,
    chain_id: int,
    mnemonic: str,
    accounts: int,
    state_path: Path | None,
    log_path: Path | None,
    startup_timeout: float,
) -> DevnetProcess:
    attempts = 1 if port is not None else 3
    last_error: DevnetError | None = None
    for _ in range(attempts):
        chosen = port if port is not None else free_port()
        command = [str(part) for part in command_for_port(chosen)]
        if log_path is None:
            handle, name = tempfile.mkstemp(prefix=f"provenet-{kind}-", suffix=".log")
            os.close(handle)
            path = Path(name)
        else:
            path = Path(log_path)
            path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as log_file:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, detached from our terminal
            )
        devnet = DevnetProcess(
            kind=kind,
            process=process,
            host="127.0.0.1",
            port=chosen,
            chain_id=chain_id,
            mnemonic=mnemonic,
            accounts_count=accounts,
            state_path=state_path,
            log_path=path,
            command=command,
        )
        try:
            _wait_ready(devnet, startup_timeout)
            return devnet
        except DevnetError as error:
            devnet.stop(timeout=5)
            last_error = error
            if "address already in use" not in devnet.log_tail().lower():
                break
    assert last_error is not None
    raise last_error


def _wait_ready(devnet: DevnetProcess, timeout: float) -> None:
    rpc = RawRpc(devnet.rpc_url, timeout=2.0)
    deadline = time.monotonic() + timeout
    try:
        while True:
            if devnet.process.poll() is not None:
                raise DevnetError(
                    f"{devnet.kind} exited with code {devnet.process.returncode} during startup."
                    f" Command: {' '.join(devnet.command)}\nLast log lines ({devnet.log_path}):\n"
                    f"{devnet.log_tail()}"
                )
            try:
                answered = int(rpc.call("eth_chainId", []), 16)
            except (ChainUnavailable, JsonRpcError):
                answered = None
            if answered is not None:
                if answered != devnet.chain_id:
                    raise DevnetError(
                        f"{devnet.kind} at {devnet.rpc_url} answers chain id {answered}, expected"
                        f" {devnet.chain_id}; is another chain already listening on port {devnet.port}?"
                    )
                return
            if time.monotonic() >= deadline:
                raise DevnetError(
                    f"{devnet.kind} did not answer eth_chainId at {devnet.rpc_url} within {timeout:g} s."
                    f"\nLast log lines ({devnet.log_path}):\n{devnet.log_tail()}"
                )
            time.sleep(0.05)
    finally:
        rpc.close()


def start_anvil(
    port: int | None = None,
    state_file: str | os.PathLike[str] | None = None,
    chain_id: int = ANVIL_CHAIN_ID,
    block_time: float | None = None,
    accounts: int = 10,
    mnemonic: str = DEFAULT_MNEMONIC,
    *,
    balance_eth: int = DEFAULT_BALANCE_ETH,
    state_interval: int | None = None,
    log_path: str | os.PathLike[str] | None = None,
    startup_timeout: float = 30.0,
    extra_args: list[str] | None = None,
) -> DevnetProcess:
    """Start Anvil on 127.0.0.1 and wait until it answers ``eth_chainId``.

    Parameters
    ----------
    port:
        TCP port; a free one when ``None``.
    state_file:
        Persist the chain in this JSON file: loaded at start if it exists, written on exit
        (``anvil --state``), and every ``state_interval`` seconds if given (crash safety).
    block_time:
        Seconds between blocks (interval mining); ``None`` mines each transaction at once.
    """
    binary = find_anvil()
    state_path = Path(state_file).absolute() if state_file is not None else None
    if state_path is not None:
        state_path.parent.mkdir(parents=True, exist_ok=True)

    def command(chosen: int) -> list[Any]:
        args: list[Any] = [binary, "--host", "127.0.0.1", "--port", chosen, "--chain-id", chain_id]
        args += ["--accounts", accounts, "--mnemonic", mnemonic, "--balance", balance_eth]
        if block_time is not None:
            args += ["--block-time", block_time]
        if state_path is not None:
            args += ["--state", state_path]
            if state_interval is not None:
                args += ["--state-interval", state_interval]
        return args + list(extra_args or [])

    return _launch(
        "anvil",
        command,
        port,
        chain_id,
        mnemonic,
        accounts,
        state_path,
        Path(log_path) if log_path else None,
        startup_timeout,
    )


def start_ganache(
    port: int | None = None,
    db_path: str | os.PathLike[str] | None = None,
    chain_id: int = GANACHE_CHAIN_ID,
    block_time: float | None = None,
    accounts: int = 10,
    mnemonic: str = DEFAULT_MNEMONIC,
    *,
    balance_eth: int = DEFAULT_BALANCE_ETH,
    hardfork: str = "shanghai",
    log_path: str | os.PathLike[str] | None = None,
    startup_timeout: float = 60.0,
    extra_args: list[str] | None = None,
) -> DevnetProcess:
    """Start Ganache 7 on 127.0.0.1 and wait until it answers ``eth_chainId``.

    ``db_path`` is a directory holding the chain database (``--database.dbPath``); starting again
    with the same directory resumes the chain.
    """
    binary = find_ganache()
    state_path = Path(db_path).absolute() if db_path is not None else None
    if state_path is not None:
        state_path.mkdir(parents=True, exist_ok=True)

    def command(chosen: int) -> list[Any]:
        args: list[Any] = [binary, "--server.host", "127.0.0.1", "--server.port", chosen]
        args += ["--chain.chainId", chain_id, "--chain.networkId", chain_id, "--chain.hardfork", hardfork]
        args += ["--wallet.mnemonic", mnemonic, "--wallet.totalAccounts", accounts]
        args += ["--wallet.defaultBalance", balance_eth]
        if block_time is not None:
            args += ["--miner.blockTime", block_time]
        if state_path is not None:
            args += ["--database.dbPath", state_path]
        return args + list(extra_args or [])

    return _launch(
        "ganache",
        command,
        port,
        chain_id,
        mnemonic,
        accounts,
        state_path,
        Path(log_path) if log_path else None,
        startup_timeout,
    )


# ---------------------------------------------------------------------------------------------
# the status file
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DevnetStatus:
    """What :func:`write_status` records about a devnet that outlives its command."""

    kind: str
    pid: int
    rpc_url: str
    chain_id: int
    state_path: str | None
    log_path: str
    started_at: float
    command: list[str]
    running: bool = False
    """Filled in by :func:`read_status`: whether the process is still alive."""


def run_dir(directory: str | os.PathLike[str] | None = None) -> Path:
    """The run directory: argument, else ``$PROVENET_DEVNET_RUN_DIR``, else ``<repo>/devnet/run``."""
    if directory is not None:
        return Path(directory)
    from_env = os.environ.get(RUN_DIR_ENV)
    return Path(from_env) if from_env else REPO_ROOT / "devnet" / "run"


def write_status(devnet: DevnetProcess, directory: str | os.PathLike[str] | None = None) -> Path:
    """Record a running devnet in the run directory (atomically) and return the file."""
    root = run_dir(directory)
    root.mkdir(parents=True, exist_ok=True)
    status = DevnetStatus(
        kind=devnet.kind,
        pid=devnet.pid,
        rpc_url=devnet.rpc_url,
        chain_id=devnet.chain_id,
        state_path=str(devnet.state_path) if devnet.state_path else None,
        log_path=str(devnet.log_path),
        started_at=time.time(),
        command=devnet.command,
    )
    record = asdict(status)
    record.pop("running")
    target = root / _STATUS_FILE
    temporary = target.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(temporary, target)
    return target


def read_status(directory: str | os.PathLike[str] | None = None) -> DevnetStatus | None:
    """The recorded devnet, with ``running`` telling whether its process still exists; else None."""
    target = run_dir(directory) / _STATUS_FILE
    try:
        record = json.loads(target.read_text())
        status = DevnetStatus(**record)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as error:
        raise DevnetError(f"devnet status file {target} is unreadable ({error}); delete it") from None
    return DevnetStatus(**{**asdict(status), "running": _is_our_process(status)})


def stop_from_status(directory: str | os.PathLike[str] | None = None, timeout: float = 15.0) -> bool:
    """Stop the recorded devnet and remove its status file. Returns whether a process was stopped."""
    status = read_status(directory)
    if status is None:
        return False
    stopped = False
    if status.running:
        _terminate_group(status.pid, timeout)
        stopped = True
    with contextlib.suppress(FileNotFoundError):
        (run_dir(directory) / _STATUS_FILE).unlink()
    return stopped


def _is_our_process(status: DevnetStatus) -> bool:
    """Alive, and (where /proc exists) still the recorded command: pids are reused."""
    if not _group_alive(status.pid):
        return False
    cmdline = Path(f"/proc/{status.pid}/cmdline")
    if cmdline.exists():
        try:
            return status.kind in cmdline.read_bytes().decode(errors="replace")
        except OSError:
            return False
    return True
