"""The node's settings: which chain and deployment, where the index lives, how it follows the chain."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["NodeSettings"]


@dataclass(frozen=True)
class NodeSettings:
    """Settings of one node.

    Attributes
    ----------
    rpc_url:
        The chain's JSON-RPC endpoint (the indexer and live checks use it).
    deployment:
        The deployment manifest (``devnet/deployments/<chainId>.json``); ``None`` looks it up by chain id.
    db:
        The index database: a file path or ``sqlite:///path.db``.
    confirmations:
        Blocks to wait on top of a block before indexing it.
    poll_interval:
        Seconds between the indexer's polls of the chain.
    chunk_size:
        Blocks per ``eth_getLogs`` request during a backfill.
    metrics_file:
        A coordinator's round-metrics JSON (see :mod:`node.metrics`), checked against the chain.
    public_rpc_url:
        The RPC URL printed in the audit report's commands (defaults to ``rpc_url``).
    ready_max_lag:
        ``/ready`` answers 503 when the index is more blocks behind the confirmed head than this.
    index:
        Run the background indexer (tests may drive it by hand).
    """

    rpc_url: str = "http://127.0.0.1:8545"
    deployment: Path | str | None = None
    db: str = "provenet-node.db"
    confirmations: int = 0
    poll_interval: float = 1.0
    chunk_size: int = 2000
    metrics_file: Path | str | None = None
    public_rpc_url: str | None = None
    ready_max_lag: int = 5
    index: bool = True
