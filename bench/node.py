"""Benchmark: the node's licence check and model page against the SDK's direct ``client.licenses.check``.

Starts Anvil, deploys, builds the node scenario (:mod:`node.scenario`), starts the node (uvicorn in a
subprocess on a free loopback port), then times a bounded number of sequential requests from one loopback
client over a keep-alive connection. Prints one JSON object on its last line::

    {"requests": 400, "sdk_check_p50_ms": ..., "node_check_p50_ms": ..., "check_p50_ratio": ..., ...}

Target: ``check_p50_ratio`` (node p50 / SDK direct p50) <= 1.5. Everything it starts is stopped.

    python bench/node.py [--requests 400]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

# Run as ``python bench/node.py``, this file's folder comes first on sys.path and its name would shadow the
# ``node`` package it measures.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from client_sdk.client import ProvenetClient  # noqa: E402
from client_sdk.deploy import deploy_contracts  # noqa: E402
from client_sdk.devnet import free_port, start_anvil  # noqa: E402
from client_sdk.rpc import make_web3  # noqa: E402
from client_sdk.types import Scope  # noqa: E402
from node.scenario import build_scenario  # noqa: E402


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _summary(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(samples) * 1000, 3),
        "p95_ms": round(_percentile(samples, 0.95) * 1000, 3),
    }


def _time(call, count: int, warmup: int = 30) -> list[float]:  # type: ignore[no-untyped-def]
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def _start_node(rpc_url: str, deployment: Path, db: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    code = (
        "import uvicorn, sys; from node.app import create_app; from node.settings import NodeSettings;"
        "app = create_app(NodeSettings(rpc_url=sys.argv[1], deployment=sys.argv[2], db=sys.argv[3],"
        " poll_interval=0.5));"
        "uvicorn.run(app, host='127.0.0.1', port=int(sys.argv[4]), log_level='warning', access_log=False)"
    )
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-c", code, rpc_url, str(deployment), str(db), str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="timed requests per measurement")
    args = parser.parse_args()
    devnet = start_anvil()
    node = None
    try:
        with tempfile.TemporaryDirectory(prefix="provenet-bench-node-") as scratch:
            accounts = devnet.accounts(10)
            deployment = deploy_contracts(make_web3(devnet.rpc_url), accounts[0])
            deployment_path = deployment.save(Path(scratch) / "deployment.json")
            client = ProvenetClient(devnet.rpc_url, deployment)
            scenario = build_scenario(client, accounts)
            head = int(client.rpc.call("eth_blockNumber"), 16)
            port = free_port()
            node = _start_node(
                devnet.rpc_url, deployment_path, Path(scratch) / "node.db", port, Path(scratch) / "node.log"
            )
            base = f"http://127.0.0.1:{port}"
            session = requests.Session()
            deadline = time.monotonic() + 60
            while True:
                try:
                    health = session.get(base + "/health", timeout=2).json()
                    if health["indexed_block"] >= head:
                        break
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline or node.poll() is not None:
                    raise RuntimeError(
                        "the node did not start or catch up: " + (Path(scratch) / "node.log").read_text()
                    )
                time.sleep(0.2)

            holder = scenario.holders["valid"]
            check_url = f"{base}/api/check?model={scenario.model}&account={holder}&scope={int(Scope.INFERENCE)}"
            expected = client.licenses.check(scenario.model, holder, Scope.INFERENCE)
            answer = session.get(check_url, timeout=5).json()
            assert answer["valid"] == expected.valid and answer["license_id"] == expected.license_id, answer

            # interleave the two check measurements in blocks so drift (CPU frequency, GC) hits both alike
            sdk: list[float] = []
            via_node: list[float] = []
            block = max(1, args.requests // 10)
            for _ in range(10):
                sdk += _time(lambda: client.licenses.check(scenario.model, holder, Scope.INFERENCE), block, warmup=5)
                via_node += _time(lambda: session.get(check_url, timeout=5).content, block, warmup=5)
            page = _time(
                lambda: session.get(f"{base}/models/{scenario.model}", timeout=5).content,
                max(20, args.requests // 4),
                warmup=5,
            )
            sdk_s, node_s, page_s = _summary(sdk), _summary(via_node), _summary(page)
            result = {
                "requests": len(sdk),
                "sdk_check_p50_ms": sdk_s["p50_ms"],
                "sdk_check_p95_ms": sdk_s["p95_ms"],
                "node_check_p50_ms": node_s["p50_ms"],
                "node_check_p95_ms": node_s["p95_ms"],
                "model_page_p50_ms": page_s["p50_ms"],
                "model_page_p95_ms": page_s["p95_ms"],
                "model_page_requests": len(page),
                "check_p50_ratio": round(node_s["p50_ms"] / sdk_s["p50_ms"], 3),
                "check_p95_ratio": round(node_s["p95_ms"] / sdk_s["p95_ms"], 3),
                "model_page_p50_ratio": round(page_s["p50_ms"] / sdk_s["p50_ms"], 3),
                "target_check_p50_ratio": 1.5,
            }
    finally:
        if node is not None:
            _stop(node)
        devnet.stop()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
