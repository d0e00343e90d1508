"""Run the federation on Flower's simulation engine (in-process, Ray) or deployment engine (real processes).

Usage::

    result = run_simulation(FederationConfig(num_partners=3, num_rounds=2))
    result = run_deployment(FederationConfig(num_partners=2, num_rounds=2), workdir="runs/demo")

The deployment engine starts, on free loopback ports and with ``FLWR_TELEMETRY_ENABLED=0``::

    flower-superlink --insecure --disable-runtime-dependency-installation --host 127.0.0.1 --port <L>
    flower-supernode --insecure --superlink 127.0.0.1:<L> --port <N_i> \\
        --node-config 'partner-id=<i> num-partners=<n>'                      # one per partner
    flwr run <workdir>/app provenet --format json --run-config '<overrides>'  # FLWR_HOME=<workdir>/flwr-home

The SuperLink and each SuperNode start a ``flower-superexec`` in a session of its own (which in turn
starts ``flwr-serverapp`` / ``flwr-clientapp``), so stopping the process groups we created is not
enough: :class:`FlowerProcesses` also stops every descendant's process group, then kills stragglers.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from flwr.simulation import run_simulation as flwr_run_simulation

import federation
from federation.attestation import AttestationSigner
from federation.client_app import make_client_app
from federation.config import FederationConfig
from federation.provenance import ProvenanceHook
from federation.results import RESULT_JSON, RunResult
from federation.server_app import make_server_app

CONNECTION_NAME = "provenet"
APP_NAME = "provenet-federation"
# The source tree that holds the `federation` package; Flower's app processes import it from here.
PACKAGE_ROOT = Path(federation.__file__).resolve().parent.parent
_STOP_GRACE_SECONDS = 10.0


class EngineError(RuntimeError):
    """A Flower engine could not start, a run failed, or it did not finish in time."""


def _flower_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["FLWR_TELEMETRY_ENABLED"] = "0"
    # Flower starts helpers by bare name (flower-superexec, flwr-serverapp): use this interpreter's.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    pythonpath = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = f"{PACKAGE_ROOT}{os.pathsep}{pythonpath}" if pythonpath else str(PACKAGE_ROOT)
    env.update(extra or {})
    return env


def run_simulation(
    config: FederationConfig,
    hook: ProvenanceHook | None = None,
    signer: AttestationSigner | None = None,
    backend_config: dict[str, Any] | None = None,
) -> RunResult:
    """Run the federation on Flower's simulation engine and return its result.

    Uses ``flwr.simulation.run_simulation`` (deprecated in 1.42 in favour of ``flwr run`` but still the
    in-process entry point): the ServerApp runs in a thread of this process, so the hook and the result
    need no serialisation; each ClientApp runs in a Ray actor (one CPU each, two CPUs in all by default).

    Parameters
    ----------
    config : FederationConfig
        Settings; ``num_partners`` virtual SuperNodes are created.
    hook : ProvenanceHook, optional
        Provenance hook, installed outermost.
    signer : AttestationSigner, optional
        Signs each partner's update (runs inside the Ray actors, so it must be picklable).
    backend_config : dict, optional
        Flower backend config; defaults to ``client_resources.num_cpus = 1`` and ``init_args.num_cpus = 2``.

    Returns
    -------
    RunResult
        Per-round metrics and the final arrays.
    """
    results: list[RunResult] = []
    os.environ["FLWR_TELEMETRY_ENABLED"] = "0"
    backend = backend_config or {
        "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
        "init_args": {"num_cpus": min(2, os.cpu_count() or 1), "include_dashboard": False},
    }
    flwr_run_simulation(
        server_app=make_server_app(config, hook=hook, on_result=results.append),
        client_app=make_client_app(signer),
        num_supernodes=config.num_partners,
        backend_config=backend,
    )
    if not results:
        raise EngineError("The simulation ended without a result; see the Flower log above for the ServerApp error.")
    if config.output_dir:
        results[0].write(config.output_dir)
    return results[0]


def free_loopback_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EngineError(f"{process.args!r} exited with {process.returncode}; see {log_path}.")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise EngineError(f"Nothing listens on 127.0.0.1:{port} after {timeout:.0f}s; see {log_path}.")


def _children_by_parent() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Field 4 (ppid) follows the parenthesised command name, which may itself contain spaces.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def _descendants(roots: list[int]) -> list[int]:
    children = _children_by_parent()
    found: list[int] = []
    stack = list(roots)
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class FlowerProcesses:
    """The SuperLink and SuperNodes of one deployment run, and everything they start.

    Use as a context manager: leaving the block stops every process, also on error.
    """

    workdir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    log_paths: list[Path] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        """Start ``argv`` in a new session (its own process group), logging to ``<workdir>/logs/<name>.log``."""
        log_path = self.workdir / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.processes.append(process)
        self.log_paths.append(log_path)
        return process

    def stop(self) -> None:
        """Stop every started process and all their descendants (SIGTERM, then SIGKILL after a grace period)."""
        pids = _descendants([p.pid for p in self.processes])
        groups = {os.getpgid(pid) for pid in pids if _alive(pid)}
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for group in groups:
                try:
                    os.killpg(group, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + _STOP_GRACE_SECONDS
            while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
                for process in self.processes:
                    process.poll()
                time.sleep(0.1)
            if not any(_alive(pid) for pid in pids):
                break
        for process in self.processes:
            try:
                process.wait(timeout=_STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()

    def all_pids(self) -> list[int]:
        """Return the live pids of the started processes and their descendants."""
        return [pid for pid in _descendants([p.pid for p in self.processes]) if _alive(pid)]

    def log_tail(self, lines: int = 30) -> str:
        """Return the last lines of every log, for error messages."""
        parts = []
        for path in self.log_paths:
            text = path.read_text(errors="replace").splitlines() if path.exists() else []
            parts.append(f"--- {path} ---\n" + "\n".join(text[-lines:]))
        return "\n".join(parts)

    def __enter__(self) -> FlowerProcesses:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _toml_value(value: bool | int | float | str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value)


def write_flower_app(app_dir: Path, config: FederationConfig) -> Path:
    """Write the Flower App directory (just a ``pyproject.toml``) that ``flwr run`` bundles into a FAB.

    The FAB names the components ``federation.server_app:app`` and ``federation.client_app:app``; their
    code comes from the installed provenet package, since the engine is started with
    ``--disable-runtime-dependency-installation``. The run config lists every
    :class:`FederationConfig` key with this run's value.
    """
    app_dir.mkdir(parents=True, exist_ok=True)
    run_config = "\n".join(f"{key} = {_toml_value(value)}" for key, value in config.to_run_config().items())
    (app_dir / "pyproject.toml").write_text(
        f"""[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "{APP_NAME}"
version = "0.1.0"
description = "provenet federated training; the code is the installed provenet package"
license = "Apache-2.0"
dependencies = []

[tool.flwr.app]
publisher = "provenet"

[tool.flwr.app.components]
serverapp = "federation.server_app:app"
clientapp = "federation.client_app:app"

[tool.flwr.app.config]
{run_config}
""",
        encoding="utf-8",
    )
    return app_dir


def _write_connection(flwr_home: Path, superlink_port: int) -> None:
    flwr_home.mkdir(parents=True, exist_ok=True)
    (flwr_home / "config.toml").write_text(
        f"""[superlink]
default = "{CONNECTION_NAME}"

[superlink.{CONNECTION_NAME}]
address = "127.0.0.1:{superlink_port}"
insecure = true
""",
        encoding="utf-8",
    )


def _flwr_cli(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60.0) -> dict[str, Any]:
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "flwr"), *args, "--format", "json"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    try:
        return dict(json.loads(completed.stdout))
    except json.JSONDecodeError as error:
        raise EngineError(
            f"`flwr {' '.join(args)}` exited with {completed.returncode} and no JSON:\n"
            f"{completed.stdout}\n{completed.stderr}"
        ) from error


def _run_log(run_id: str, env: dict[str, str], cwd: Path) -> str:
    """Return the ServerApp/ClientApp log of a run (where their tracebacks end up), or why there is none."""
    try:
        completed = subprocess.run(
            [str(Path(sys.executable).parent / "flwr"), "log", run_id, CONNECTION_NAME, "--show"],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "(flwr log timed out)"
    return (completed.stdout + completed.stderr)[-6000:]


def run_deployment(
    config: FederationConfig,
    workdir: str | Path,
    node_configs: list[Mapping[str, str | int]] | None = None,
    timeout: float = 300.0,
    on_started: Callable[[FlowerProcesses], None] | None = None,
) -> RunResult:
    """Run the federation on Flower's deployment engine with one SuperNode process per partner.

    Parameters
    ----------
    config : FederationConfig
        Settings; ``output_dir`` defaults to ``<workdir>/output``.
    workdir : str or pathlib.Path
        Holds the generated app, the ``FLWR_HOME``, the logs and the output.
    node_configs : list of mappings, optional
        Extra node config per partner (e.g. ``attestation-signer``, a keystore path); ``partner-id`` and
        ``num-partners`` are always set.
    timeout : float
        Seconds to wait for the run to finish.
    on_started : callable, optional
        Called with the running :class:`FlowerProcesses` once the run is submitted (tests use it).

    Returns
    -------
    RunResult
        As written by the ServerApp into the output directory.

    Raises
    ------
    EngineError
        If a process fails to start, the run fails, or it does not finish within ``timeout``. Every
        Flower process is stopped in all cases.
    """
    workdir = Path(workdir).resolve()
    output_dir = Path(config.output_dir or workdir / "output").resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / RESULT_JSON).unlink(missing_ok=True)
    run_config = FederationConfig(**{**config.__dict__, "output_dir": str(output_dir)})
    app_dir = write_flower_app(workdir / "app", run_config)
    superlink_port = free_loopback_port()
    flwr_home = workdir / "flwr-home"
    _write_connection(flwr_home, superlink_port)
    env = _flower_env({"FLWR_HOME": str(flwr_home)})
    bin_dir = Path(sys.executable).parent

    with FlowerProcesses(workdir) as processes:
        superlink = processes.start(
            "superlink",
            [
                str(bin_dir / "flower-superlink"),
                "--insecure",
                "--disable-runtime-dependency-installation",
                "--host",
                "127.0.0.1",
                "--port",
                str(superlink_port),
            ],
            env,
        )
        _wait_for_port(superlink_port, 60.0, superlink, processes.log_paths[-1])
        for partner_id in range(config.num_partners):
            node_config: dict[str, str | int] = {"partner-id": partner_id, "num-partners": config.num_partners}
            if node_configs:
                node_config.update(node_configs[partner_id])
            processes.start(
                f"supernode-{partner_id}",
                [
                    str(bin_dir / "flower-supernode"),
                    "--insecure",
                    "--superlink",
                    f"127.0.0.1:{superlink_port}",
                    "--port",
                    str(free_loopback_port()),
                    "--node-config",
                    " ".join(f"{k}={_toml_value(v)}" for k, v in node_config.items()),
                ],
                env,
            )
        submitted = _flwr_cli(["run", str(app_dir), CONNECTION_NAME], env, cwd=app_dir)
        if not submitted.get("success"):
            raise EngineError(f"flwr run failed: {submitted}\n{processes.log_tail()}")
        run_id = str(submitted["run-id"])
        if on_started is not None:
            on_started(processes)
        deadline = time.monotonic() + timeout
        status = "unknown"
        while time.monotonic() < deadline:
            listing = _flwr_cli(["ls", CONNECTION_NAME, "--run-id", run_id], env, cwd=app_dir)
            status = str(listing.get("runs", [{}])[0].get("status", "unknown"))
            if status.startswith("finished"):
                break
            time.sleep(2.0)
        if status != "finished:completed":
            raise EngineError(
                f"Run {run_id} ended with status {status!r} (timeout {timeout:.0f}s).\n"
                f"--- flwr log {run_id} ---\n{_run_log(run_id, env, app_dir)}\n{processes.log_tail()}"
            )
    return RunResult.read(output_dir)
