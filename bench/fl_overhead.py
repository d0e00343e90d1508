"""Wall-time overhead of on-chain provenance on a federated run, against a real Anvil this script starts.

The same simulation (3 partners, 5 rounds, seed 0, Flower's simulation engine) runs with provenance off
(no hook, no signer) and on (every partner signs an EIP-712 attestation per round, the coordinator
verifies each signature and membership, writes the canonical metrics JSON and records every round through
the durable outbox, waiting at the end until all rounds are on chain). Runs alternate off/on ``REPEATS``
times and the fastest of each is compared, which keeps Ray's start-up jitter out of the ratio.

Prints one JSON object on its last line: ``ratio`` (on / off wall time; target <= 1.10), ``on_seconds``,
``off_seconds`` and every individual time.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path

from client_sdk.client import ProvenetClient
from client_sdk.deploy import deploy_contracts
from client_sdk.devnet import dev_accounts, start_anvil
from client_sdk.rpc import make_web3
from federation.chain import ChainProvenanceHook, ChainTarget, EIP712AttestationSigner, hash32
from federation.config import FederationConfig
from federation.engines import run_simulation
from federation.release import initial_global_hash

TARGET_RATIO = 1.10
REPEATS = 3
CONFIG = FederationConfig(num_partners=3, num_rounds=5, seed=0)


def main() -> dict[str, object]:
    os.environ["FLWR_TELEMETRY_ENABLED"] = "0"
    logging.getLogger("flwr").setLevel(logging.WARNING)
    times: dict[str, list[float]] = {"off": [], "on": []}
    final_hashes: dict[str, set[str]] = {"off": set(), "on": set()}
    with tempfile.TemporaryDirectory(prefix="provenet-fl-overhead-") as tmp, start_anvil() as devnet:
        coordinator, *partners = dev_accounts(4)
        client = ProvenetClient(devnet.rpc_url, deploy_contracts(make_web3(devnet.rpc_url), coordinator))
        for repeat in range(REPEATS):
            for mode in ("off", "on"):
                hook = signer = None
                if mode == "on":
                    # Federation set-up is a one-off before training; it is not part of the measured run.
                    federation_id = client.federations.create(
                        coordinator,
                        [p.address for p in partners],
                        3,
                        initial_global_hash=hash32(initial_global_hash(CONFIG)),
                    )
                    for partner in partners:
                        client.federations.accept(partner, federation_id)
                start = time.perf_counter()
                if mode == "on":
                    hook = ChainProvenanceHook(
                        client, coordinator, federation_id, Path(tmp) / f"outbox-{repeat}.sqlite", drain_timeout=60
                    )
                    signer = EIP712AttestationSigner(
                        {i: bytes(p.key) for i, p in enumerate(partners)},
                        ChainTarget(client.chain_id, client.federations.address, federation_id),
                    )
                result = run_simulation(CONFIG, hook=hook, signer=signer)
                elapsed = time.perf_counter() - start
                if hook is not None:
                    assert hook.drained, "not every round reached the chain"
                    assert client.federations.get(federation_id).last_round == CONFIG.num_rounds
                times[mode].append(elapsed)
                final_hashes[mode].add(result.final_hash)
    off, on = min(times["off"]), min(times["on"])
    return {
        "ratio": round(on / off, 4),
        "on_seconds": round(on, 3),
        "off_seconds": round(off, 3),
        "on_runs": [round(t, 3) for t in times["on"]],
        "off_runs": [round(t, 3) for t in times["off"]],
        "partners": CONFIG.num_partners,
        "rounds": CONFIG.num_rounds,
        # Replies reach FedAvg in completion order, so float sums (and the final hash) may differ by run.
        "distinct_final_hashes": {mode: len(hashes) for mode, hashes in final_hashes.items()},
        "target_ratio": TARGET_RATIO,
        "meets_target": on / off <= TARGET_RATIO,
    }


if __name__ == "__main__":
    print(json.dumps(main()))
