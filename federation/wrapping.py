"""Strategy wrappers of the ServerApp: the delegating base, per-partner metrics and the watermark step.

Flower 1.42 strategies compose by wrapping (``DifferentialPrivacy*`` take an inner strategy). The
ServerApp stacks them, outermost first::

    ProvenanceStrategy -> ServerWatermarkStrategy -> PartnerMetricsStrategy -> DP wrapper -> aggregator
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from logging import INFO

from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy
from flwr.supercore import log
from torch.utils.data import TensorDataset

from federation.attestation import reply_partner_id
from federation.task import DigitsCNN, arrays_to_model, model_to_arrays
from federation.watermark import TriggerSet, embed, verify


class DelegatingStrategy(Strategy):
    """A strategy that forwards every call to ``self.strategy``; subclasses override what they change.

    Parameters
    ----------
    strategy : Strategy
        The wrapped strategy.
    """

    def __init__(self, strategy: Strategy) -> None:
        self.strategy = strategy

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """Delegate."""
        return self.strategy.configure_train(server_round, arrays, config, grid)

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Delegate."""
        return self.strategy.aggregate_train(server_round, replies)

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """Delegate."""
        return self.strategy.configure_evaluate(server_round, arrays, config, grid)

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        """Delegate."""
        return self.strategy.aggregate_evaluate(server_round, replies)

    def summary(self) -> None:
        """Log this wrapper's name, then the wrapped strategy's summary."""
        log(INFO, "\t├──> %s", type(self).__name__)
        self.strategy.summary()


@dataclass
class PartnerRoundMetrics:
    """Metrics one partner reported in one round (train and evaluate phases)."""

    partner_id: int
    node_id: int
    train: dict[str, float] = field(default_factory=dict)
    evaluate: dict[str, float] = field(default_factory=dict)


def _metric_values(reply: Message) -> dict[str, float]:
    values: dict[str, float] = {}
    for record in reply.content.metric_records.values():
        for key, value in record.items():
            if isinstance(value, (int, float)):
                values[key] = float(value)
    return values


def _partner_order(reply: Message) -> tuple[int, int]:
    partner_id = None if reply.has_error() else reply_partner_id(reply)
    return (partner_id if partner_id is not None else 1 << 62, int(reply.metadata.src_node_id))


class PartnerMetricsStrategy(DelegatingStrategy):
    """Records each partner's reported train and evaluate metrics per round.

    ``partners[round][partner_id]`` holds a :class:`PartnerRoundMetrics`; partners that state no id
    are keyed by ``-node_id`` so that they still show up.
    """

    def __init__(self, strategy: Strategy) -> None:
        super().__init__(strategy)
        self.partners: dict[int, dict[int, PartnerRoundMetrics]] = {}

    def _entry(self, server_round: int, reply: Message) -> PartnerRoundMetrics:
        node_id = int(reply.metadata.src_node_id)
        partner_id = reply_partner_id(reply)
        key = -node_id if partner_id is None else partner_id
        by_partner = self.partners.setdefault(server_round, {})
        return by_partner.setdefault(key, PartnerRoundMetrics(partner_id=key, node_id=node_id))

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Record the metrics of every reply with content, then delegate them in partner order.

        Replies arrive in completion order; floating-point sums depend on the order of their terms, so
        aggregating in a fixed order makes the same run give the same global hash every time.
        """
        replies = sorted(replies, key=_partner_order)
        for reply in replies:
            if not reply.has_error():
                self._entry(server_round, reply).train = _metric_values(reply)
        return self.strategy.aggregate_train(server_round, replies)

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        """Record the metrics of every reply with content, then delegate."""
        replies = list(replies)
        for reply in replies:
            if not reply.has_error():
                self._entry(server_round, reply).evaluate = _metric_values(reply)
        return self.strategy.aggregate_evaluate(server_round, replies)


class ServerWatermarkStrategy(DelegatingStrategy):
    """Embeds the server-side watermark into every aggregated global model.

    Parameters
    ----------
    strategy : Strategy
        The wrapped strategy.
    trigger_set : TriggerSet
        The coordinator's secret triggers.
    steps, lr : int, float
        Fine-tuning settings of :func:`federation.watermark.embed`.
    clean_data : TensorDataset
        The coordinator's own clean examples, mixed in to keep accuracy.
    """

    def __init__(
        self, strategy: Strategy, trigger_set: TriggerSet, steps: int, lr: float, clean_data: TensorDataset
    ) -> None:
        super().__init__(strategy)
        self.trigger_set = trigger_set
        self.steps = steps
        self.lr = lr
        self.clean_data = clean_data

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Aggregate with the wrapped strategy, then watermark the result and report trigger accuracy."""
        arrays, metrics = self.strategy.aggregate_train(server_round, replies)
        if arrays is None:
            return arrays, metrics
        model = arrays_to_model(arrays, DigitsCNN())
        embed(model, self.trigger_set, steps=self.steps, lr=self.lr, clean_data=self.clean_data, seed=server_round)
        accuracy, p_value = verify(model, self.trigger_set)
        log(INFO, "watermark: round %s trigger accuracy %.3f (p=%.2e)", server_round, accuracy, p_value)
        metrics = MetricRecord() if metrics is None else metrics
        metrics["watermark-accuracy"] = accuracy
        return model_to_arrays(model), metrics
