"""The coordinator's Flower ServerApp: builds the strategy stack, runs the rounds, reports the result.

Strategy stack, outermost first (each optional layer only when configured)::

    ProvenanceStrategy(hook)            sees every reply unmodified; reports each round
      ServerWatermarkStrategy           embeds the watermark into each aggregate
        PartnerMetricsStrategy          records each partner's metrics
          DifferentialPrivacy*          Flower's central DP wrappers
            FedAvg | FedMedian | FedTrimmedAvg | Krum | MultiKrum

Usage::

    app = make_server_app(config, hook=my_hook, on_result=results.append)   # in-process engines
    # module attribute ``app`` reads FederationConfig from the run config (deployment engine)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import torch
from flwr.app import ArrayRecord, Context, MetricRecord
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import (
    DifferentialPrivacyClientSideFixedClipping,
    DifferentialPrivacyServerSideAdaptiveClipping,
    DifferentialPrivacyServerSideFixedClipping,
    FedAvg,
    FedMedian,
    FedTrimmedAvg,
    Krum,
    MultiKrum,
    Strategy,
)

from federation.attestation import import_factory
from federation.config import FederationConfig
from federation.provenance import ProvenanceHook, ProvenanceStrategy
from federation.results import RoundResult, RunResult
from federation.task import (
    DigitsCNN,
    arrays_to_model,
    evaluate,
    load_coordinator_set,
    load_test_set,
    make_loader,
    model_to_arrays,
    new_model,
)
from federation.watermark import generate_trigger_set
from federation.wrapping import PartnerMetricsStrategy, ServerWatermarkStrategy

HookFactory = Callable[[Context], ProvenanceHook]


def _aggregator(config: FederationConfig) -> FedAvg:
    # Every partner trains and evaluates every round: the provenance log expects all members.
    n = config.num_partners
    if config.aggregation == "fedavg":
        return FedAvg(min_train_nodes=n, min_evaluate_nodes=n, min_available_nodes=n)
    if config.aggregation == "fedmedian":
        return FedMedian(min_train_nodes=n, min_evaluate_nodes=n, min_available_nodes=n)
    if config.aggregation == "fedtrimmedavg":
        return FedTrimmedAvg(min_train_nodes=n, min_evaluate_nodes=n, min_available_nodes=n, beta=config.trim_beta)
    if config.aggregation == "krum":
        return Krum(
            min_train_nodes=n, min_evaluate_nodes=n, min_available_nodes=n, num_malicious_nodes=config.num_malicious
        )
    return MultiKrum(
        min_train_nodes=n,
        min_evaluate_nodes=n,
        min_available_nodes=n,
        num_malicious_nodes=config.num_malicious,
        num_nodes_to_select=max(1, n - config.num_malicious),
    )


def _with_dp(strategy: Strategy, config: FederationConfig) -> Strategy:
    n = config.num_partners
    if config.dp == "server-fixed":
        return DifferentialPrivacyServerSideFixedClipping(
            strategy, config.dp_noise_multiplier, config.dp_clipping_norm, n
        )
    if config.dp == "client-fixed":
        # The ClientApp's clipping_when_requested_mod does the clipping on each partner.
        return DifferentialPrivacyClientSideFixedClipping(
            strategy, config.dp_noise_multiplier, config.dp_clipping_norm, n
        )
    if config.dp == "server-adaptive":
        return DifferentialPrivacyServerSideAdaptiveClipping(
            strategy, config.dp_noise_multiplier, n, initial_clipping_norm=config.dp_clipping_norm
        )
    return strategy


def build_strategy(
    config: FederationConfig, hook: ProvenanceHook | None = None
) -> tuple[Strategy, PartnerMetricsStrategy, ProvenanceStrategy | None]:
    """Return the strategy stack for ``config``.

    Returns
    -------
    tuple
        ``(outermost, metrics_recorder, provenance)``; ``provenance`` is ``None`` without a hook.
    """
    recorder = PartnerMetricsStrategy(_with_dp(_aggregator(config), config))
    strategy: Strategy = recorder
    if config.watermark:
        strategy = ServerWatermarkStrategy(
            strategy,
            generate_trigger_set(config.watermark_seed, config.watermark_size),
            steps=config.watermark_steps,
            lr=config.watermark_lr,
            clean_data=load_coordinator_set(config.seed),
        )
    provenance = None
    if hook is not None:
        provenance = ProvenanceStrategy(strategy, hook)
        strategy = provenance
    return strategy, recorder, provenance


def _metric_dict(record: MetricRecord | None) -> dict[str, float]:
    if record is None:
        return {}
    return {key: float(cast(float, value)) for key, value in record.items() if isinstance(value, (int, float))}


def run_federation(grid: Grid, config: FederationConfig, hook: ProvenanceHook | None = None) -> RunResult:
    """Run every round of ``config`` on ``grid`` and return the result.

    Parameters
    ----------
    grid : Grid
        The Grid handed to the ServerApp by the engine.
    config : FederationConfig
        The run's settings.
    hook : ProvenanceHook, optional
        Installed outermost through :class:`~federation.provenance.ProvenanceStrategy`.

    Returns
    -------
    RunResult
        Per-round aggregated, per-partner and central metrics, global hashes and the final arrays.
    """
    strategy, recorder, provenance = build_strategy(config, hook)
    test_loader = make_loader(load_test_set(config.seed), batch_size=512, seed=None)
    global_hashes: dict[int, str] = {}

    def central_evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        global_hashes[server_round] = arrays.object_id
        stats = evaluate(arrays_to_model(arrays, DigitsCNN()), test_loader)
        return MetricRecord({"test-loss": stats.loss, "test-accuracy": stats.accuracy})

    torch.set_num_threads(1)
    initial_arrays = model_to_arrays(new_model(config.seed))
    try:
        result = strategy.start(
            grid=grid,
            initial_arrays=initial_arrays,
            num_rounds=config.num_rounds,
            timeout=config.round_timeout,
            train_config=config.partner_train_config(),
            evaluate_config=config.partner_evaluate_config(),
            evaluate_fn=central_evaluate,
        )
    finally:
        if hook is not None:
            hook.on_run_finished()
    rounds = []
    for server_round in range(1, config.num_rounds + 1):
        partners = recorder.partners.get(server_round, {})
        excluded = provenance.excluded.get(server_round, []) if provenance else []
        rounds.append(
            RoundResult(
                server_round=server_round,
                global_hash=global_hashes.get(server_round, ""),
                train=_metric_dict(result.train_metrics_clientapp.get(server_round)),
                evaluate=_metric_dict(result.evaluate_metrics_clientapp.get(server_round)),
                central=_metric_dict(result.evaluate_metrics_serverapp.get(server_round)),
                partners={pid: {"train": p.train, "evaluate": p.evaluate} for pid, p in sorted(partners.items())},
                excluded=[{"node_id": e.node_id, "reason": e.reason} for e in excluded],
            )
        )
    final_arrays = result.arrays if len(result.arrays) else initial_arrays
    return RunResult(
        config=config.to_run_config(),
        initial_hash=global_hashes[0],
        initial_central=_metric_dict(result.evaluate_metrics_serverapp.get(0)),
        rounds=rounds,
        final_arrays=final_arrays,
    )


def make_server_app(
    config: FederationConfig | None = None,
    hook: ProvenanceHook | HookFactory | None = None,
    on_result: Callable[[RunResult], None] | None = None,
) -> ServerApp:
    """Return the coordinator ServerApp.

    Parameters
    ----------
    config : FederationConfig, optional
        Fixed settings; if omitted they are read from the run config (``flwr run --run-config``).
    hook : ProvenanceHook or callable, optional
        A hook, or a factory ``(Context) -> ProvenanceHook``; if omitted, the run config's
        ``provenance-hook`` (``"module:factory"``) is used when set.
    on_result : callable, optional
        Receives the :class:`RunResult` (in-process engines); with ``output-dir`` set the result is
        also written there (``run_result.json``, ``global_model.safetensors``).

    Returns
    -------
    ServerApp
        The app, with its ``@main`` registered.
    """
    server_app = ServerApp()

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        run_config = config or FederationConfig.from_run_config(context.run_config)
        run_hook: ProvenanceHook | None
        if isinstance(hook, ProvenanceHook) or hook is None:
            run_hook = hook
        else:
            run_hook = hook(context)
        if run_hook is None and run_config.provenance_hook:
            run_hook = cast(HookFactory, import_factory(run_config.provenance_hook))(context)
        outcome = run_federation(grid, run_config, run_hook)
        if run_config.output_dir:
            outcome.write(run_config.output_dir)
        if on_result is not None:
            on_result(outcome)

    return server_app


app = make_server_app()
