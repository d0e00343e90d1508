"""``load_licensed`` of a 200 MB model against its floor, measured side by side on a real Anvil.

The floor is what any gate must do: ``hashlib.sha256`` over the file, one raw ``eth_call`` (a reused HTTP
connection), and a plain ``safetensors.torch.load_file``. Runs alternate (ours, floor) so that the page
cache and the machine's state are the same for both; medians over the repetitions. Prints one JSON object
on its last line: ``ratio`` (ours / floor; target <= 1.15), the floor's split (``floor_hash_s``,
``floor_chain_s``, ``floor_load_s``) and our total.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import tempfile
import time
from pathlib import Path

import requests
import torch
from safetensors.torch import load_file, save_file

from client_sdk.client import ProvenetClient
from client_sdk.deploy import deploy_contracts
from client_sdk.devnet import start_anvil
from client_sdk.gate import load_licensed
from client_sdk.hashing import sha256_file
from client_sdk.rpc import make_web3
from client_sdk.types import LicenseTerms, Scope

MODEL_BYTES = 200 * 1024 * 1024
REPEAT = 7


def make_model(path: Path) -> None:
    generator = torch.Generator().manual_seed(0)
    per_tensor = 4 * 1024 * 1024  # 16 MiB of float32 each
    tensors = {
        f"layer{i}.weight": torch.randn(per_tensor, generator=generator) for i in range(MODEL_BYTES // (4 * per_tensor))
    }
    save_file(tensors, str(path))


def floor_once(path: Path, rpc_url: str, session: requests.Session, call: dict) -> tuple[float, float, float]:
    t0 = time.perf_counter()
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    t1 = time.perf_counter()
    reply = session.post(rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [call, "latest"]})
    reply.json()["result"]
    t2 = time.perf_counter()
    tensors = load_file(str(path))
    t3 = time.perf_counter()
    assert tensors
    return t1 - t0, t2 - t1, t3 - t2


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="provenet-bench-load-") as tmp, start_anvil() as anvil:
        path = Path(tmp) / "model.safetensors"
        make_model(path)
        owner, licensee = anvil.accounts(2)
        deployment = deploy_contracts(make_web3(anvil.rpc_url), owner)
        client = ProvenetClient(anvil.rpc_url, deployment)
        model = sha256_file(path)
        client.models.register(owner, model, metadata_uri="bench")
        client.licenses.issue(owner, licensee.address, LicenseTerms(model=model, scope=Scope.INFERENCE))
        call = {"to": client.licenses.address, "data": client.licenses.check_calldata(model, licensee.address, 1)}
        session = requests.Session()
        ours, floor, split = [], [], []
        for _ in range(REPEAT + 1):  # the first round warms the page cache and connections
            t0 = time.perf_counter()
            tensors = load_licensed(model, path, licensee.address, Scope.INFERENCE, client=client)
            ours.append(time.perf_counter() - t0)
            del tensors
            parts = floor_once(path, anvil.rpc_url, session, call)
            split.append(parts)
            floor.append(sum(parts))
        ours, floor, split = ours[1:], floor[1:], split[1:]
    ours_s, floor_s = statistics.median(ours), statistics.median(floor)
    result = {
        "model_bytes": MODEL_BYTES,
        "repeat": REPEAT,
        "ours_s": round(ours_s, 4),
        "floor_s": round(floor_s, 4),
        "floor_hash_s": round(statistics.median(p[0] for p in split), 4),
        "floor_chain_s": round(statistics.median(p[1] for p in split), 5),
        "floor_load_s": round(statistics.median(p[2] for p in split), 4),
        "ratio": round(ours_s / floor_s, 3),
        "target_ratio": 1.15,
    }
    result["within_target"] = result["ratio"] <= 1.15
    print(json.dumps(result))


if __name__ == "__main__":
    main()
