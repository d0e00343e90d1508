"""Licence-check latency: the SDK's fast path against its floor, a raw JSON-RPC ``eth_call``, on one Anvil.

The script starts its own Anvil, deploys, registers a model, issues licences (roots and sublicences),
then measures in the same run, interleaved call by call so that drift in the machine's load hits every
contender alike:

- ``sdk``: ``client.licenses.check(model, account, scope)`` (encode, one ``eth_call``, decode);
- ``raw``: the same calldata as a hand-built JSON-RPC ``eth_call`` posted with a plain, reused
  ``requests.Session`` (JSON encode, POST, JSON decode: the least any Python client can do);
- ``web3``: a plain ``Web3(HTTPProvider)`` ``contract.functions.checkLicense(...).call()``, for reference;
- ``check_licenses`` (the SDK's batch API) over 1,000 (account, model, scope) triples.

Prints one JSON object on its last line: medians in microseconds, ``single_ratio`` = sdk / raw (target
<= 1.3), ``web3_ratio`` = web3 / raw, and ``batch_ms_per_check`` (target <= 0.1). Anvil is stopped on exit.

    python bench/license_check.py [--iterations 3000]
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import statistics
import time
from collections.abc import Callable

import requests
from eth_account.signers.local import LocalAccount
from web3 import Web3

from client_sdk.abi import load_artifact
from client_sdk.client import ProvenetClient
from client_sdk.deploy import deploy_contracts
from client_sdk.devnet import dev_accounts, start_anvil
from client_sdk.gate import check_licenses
from client_sdk.rpc import make_web3
from client_sdk.types import LicenseReason, LicenseTerms, Scope

TARGETS = {"single_ratio": 1.3, "batch_ms_per_check": 0.1}
BATCH_SIZE = 1000


def set_up(client: ProvenetClient, owner: LocalAccount, holders: list[LocalAccount]) -> list[bytes]:
    """Four models; each holder gets a root licence on each, and a sublicence chain on the first."""
    models = [hashlib.sha256(f"bench model {i}".encode()).digest() for i in range(4)]
    for model in models:
        client.models.register(owner, model)
        for holder in holders[:4]:
            client.licenses.issue(
                owner, holder.address, LicenseTerms(model=model, scope=Scope.INFERENCE | Scope.REDISTRIBUTE)
            )
    parent = client.licenses.held(models[0], holders[0].address)
    chain = [holders[0], *holders[4:7]]
    for holder, child in itertools.pairwise(chain):
        terms = LicenseTerms(model=models[0], scope=Scope.INFERENCE | Scope.REDISTRIBUTE, parent_id=parent)
        parent = client.licenses.issue(holder, child.address, terms)
    return models


def median_us(samples: list[int]) -> float:
    return statistics.median(samples) / 1000


def measure(rpc_url: str, iterations: int, warmup: int = 200) -> dict[str, float | int | bool]:
    owner, *holders = dev_accounts(8)
    deployment = deploy_contracts(make_web3(rpc_url), owner)
    client = ProvenetClient(rpc_url, deployment)
    models = set_up(client, owner, holders)

    # The single check: the deepest sublicence, so the contract walks three parents.
    model, account, scope = models[0], holders[6].address, Scope.INFERENCE
    registry = deployment.address("LicenseRegistry")
    calldata = client.licenses.check_calldata(model, account, scope)

    session = requests.Session()
    session.headers["Content-Type"] = "application/json"

    def raw() -> str:
        payload = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_call",
            "params": [{"to": registry, "data": calldata}, "latest"],
        }
        return session.post(rpc_url, data=json.dumps(payload), timeout=10).json()["result"]

    def sdk() -> object:
        return client.licenses.check(model, account, scope)

    plain = Web3(Web3.HTTPProvider(rpc_url)).eth.contract(
        address=Web3.to_checksum_address(registry), abi=load_artifact("LicenseRegistry").abi
    )
    web3_call = plain.functions.checkLicense(model, account, int(scope))

    def web3() -> tuple[bool, int, int]:
        return tuple(web3_call.call())

    answer = client.licenses.check(model, account, scope)
    assert answer.valid and answer.reason == LicenseReason.NONE, answer
    assert raw() == client.rpc.call("eth_call", [{"to": registry, "data": calldata}, "latest"])
    assert web3() == (True, 0, answer.license_id)

    contenders: dict[str, Callable[[], object]] = {"raw": raw, "sdk": sdk, "web3": web3}
    samples: dict[str, list[int]] = {name: [] for name in contenders}
    order = list(contenders)
    for i in range(warmup + iterations):
        # Rotate who goes first, so no contender always runs right after another's response.
        for name in order[i % 3 :] + order[: i % 3]:
            start = time.perf_counter_ns()
            contenders[name]()
            elapsed = time.perf_counter_ns() - start
            if i >= warmup:
                samples[name].append(elapsed)

    holders_and_strangers = [h.address for h in holders] + ["0x" + f"{i:040x}" for i in range(1, 30)]
    pairs = [
        (holders_and_strangers[i % len(holders_and_strangers)], models[i % len(models)], 1 + i % 15)
        for i in range(BATCH_SIZE)
    ]
    check_licenses(client, pairs)  # warm-up
    batch_runs: list[int] = []
    for _ in range(15):
        start = time.perf_counter_ns()
        answers = check_licenses(client, pairs)
        batch_runs.append(time.perf_counter_ns() - start)
    assert len(answers) == BATCH_SIZE
    assert answers[:20] == [client.licenses.check(m, a, s) for a, m, s in pairs[:20]]

    raw_us, sdk_us, web3_us = (median_us(samples[name]) for name in ("raw", "sdk", "web3"))
    batch_ms_per_check = statistics.median(batch_runs) / 1e6 / BATCH_SIZE
    result: dict[str, float | int | bool] = {
        "iterations": iterations,
        "raw_eth_call_us": round(raw_us, 1),
        "sdk_check_us": round(sdk_us, 1),
        "web3_call_us": round(web3_us, 1),
        "single_ratio": round(sdk_us / raw_us, 3),
        "web3_ratio": round(web3_us / raw_us, 3),
        "batch_checks": BATCH_SIZE,
        "batch_ms": round(statistics.median(batch_runs) / 1e6, 2),
        "batch_ms_per_check": round(batch_ms_per_check, 4),
    }
    result["single_ratio_ok"] = result["single_ratio"] <= TARGETS["single_ratio"]
    result["batch_ms_per_check_ok"] = result["batch_ms_per_check"] <= TARGETS["batch_ms_per_check"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=3000)
    args = parser.parse_args()
    devnet = start_anvil()
    try:
        result = measure(devnet.rpc_url, args.iterations)
    finally:
        devnet.stop()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
