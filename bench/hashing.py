"""Benchmark provenet's weights hashing against a plain ``hashlib.sha256`` read loop.

Run ``python bench/hashing.py``. It writes a 1 GiB ``.safetensors`` file and an 8-shard 2 GiB model
into a temporary directory (deleted afterwards), hashes each with both methods in the same run
(alternating, best of ``--repeat``, files already in the page cache) and prints one JSON object on
its last line:

- ``single_file_ratio``: our ``sha256_file`` throughput / hashlib read-loop throughput on the 1 GiB file;
- ``sharded_speedup``: single-thread hashlib time over all shards / our parallel ``model_manifest`` time;
- raw seconds of each measurement.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import struct
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from client_sdk.hashing import model_manifest, sha256_file  # noqa: E402

GIB = 1 << 30
_CHUNK = 64 << 20


def write_safetensors(path: Path, size: int) -> None:
    """Write a valid safetensors file of about ``size`` bytes holding one uint8 tensor."""
    payload = size - 256
    header = json.dumps({"weight": {"dtype": "U8", "shape": [payload], "data_offsets": [0, payload]}})
    header_bytes = header.encode().ljust(256 - 8, b" ")
    block = os.urandom(_CHUNK)
    with open(path, "wb") as stream:
        stream.write(struct.pack("<Q", len(header_bytes)))
        stream.write(header_bytes)
        remaining = payload
        while remaining:
            count = min(remaining, _CHUNK)
            stream.write(block[:count])
            remaining -= count


def hashlib_read_loop(path: Path, chunk: int = 1 << 20) -> bytes:
    """The baseline: what one would write by hand with hashlib."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while data := stream.read(chunk):
            digest.update(data)
    return digest.digest()


def timed(function, *args):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--single-gib", type=float, default=1.0)
    parser.add_argument("--sharded-gib", type=float, default=2.0)
    parser.add_argument("--shards", type=int, default=8)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="provenet-bench-") as workdir:
        work = Path(workdir)
        single = work / "model.safetensors"
        write_safetensors(single, int(options.single_gib * GIB))
        model = work / "sharded"
        model.mkdir()
        shard_size = int(options.sharded_gib * GIB) // options.shards
        shards = [
            model / f"model-{i + 1:05d}-of-{options.shards:05d}.safetensors" for i in range(options.shards)
        ]
        for shard in shards:
            write_safetensors(shard, shard_size)

        # Warm the page cache so both methods read from memory.
        hashlib_read_loop(single)
        for shard in shards:
            hashlib_read_loop(shard)

        ours_single, base_single, ours_sharded, base_sharded = [], [], [], []
        for _ in range(options.repeat):
            seconds, base_digest = timed(hashlib_read_loop, single)
            base_single.append(seconds)
            seconds, our_digest = timed(sha256_file, single)
            ours_single.append(seconds)
            assert our_digest == base_digest

            start = time.perf_counter()
            base_digests = {s.name: hashlib_read_loop(s) for s in shards}
            base_sharded.append(time.perf_counter() - start)
            seconds, manifest = timed(model_manifest, model)
            ours_sharded.append(seconds)
            assert {e.path: e.sha256 for e in manifest.entries} == base_digests

        size = single.stat().st_size
        result = {
            "single_file_ratio": round(min(base_single) / min(ours_single), 3),
            "sharded_speedup": round(min(base_sharded) / min(ours_sharded), 3),
            "single_file_bytes": size,
            "single_file_hashlib_seconds": round(min(base_single), 4),
            "single_file_ours_seconds": round(min(ours_single), 4),
            "single_file_ours_mib_per_s": round(size / min(ours_single) / (1 << 20), 1),
            "sharded_bytes": shard_size * options.shards,
            "shards": options.shards,
            "sharded_hashlib_single_thread_seconds": round(min(base_sharded), 4),
            "sharded_ours_parallel_seconds": round(min(ours_sharded), 4),
            "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "repeat": options.repeat,
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
