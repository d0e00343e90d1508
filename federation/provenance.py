"""The provenance wrapper: the outermost strategy, which vets every partner reply and reports each round.

``ProvenanceStrategy`` sits outside differential privacy, robust aggregation and the watermark step.
Per round it

1. remembers ``object_id`` of the global arrays it sends (the previous global hash);
2. for each train reply, recomputes the partner's :class:`~federation.attestation.UpdateClaim` before
   any inner wrapper can touch the arrays (server-side DP clipping rewrites them in place), and asks
   the hook :meth:`ProvenanceHook.verify_reply`; a reason excludes the reply from aggregation;
3. delegates aggregation of the accepted replies to the wrapped strategy;
4. hands the hook the previous and new global hashes, the aggregated metrics and the accepted updates
   in :meth:`ProvenanceHook.on_round_aggregated` (where an outbox records the round on chain).

Usage::

    class Outbox(ProvenanceHook):
        def verify_reply(self, reply, claim): ...          # None = accept, str = exclusion reason
        def on_round_aggregated(self, server_round, prev_global_hash, new_global_hash,
                                metrics, accepted_replies): ...

    strategy = ProvenanceStrategy(DifferentialPrivacyServerSideFixedClipping(FedAvg(), ...), Outbox())
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from logging import INFO, WARNING

from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy
from flwr.supercore import log

from federation.attestation import AttestationError, UpdateClaim, claim_from_reply, reply_attestation
from federation.wrapping import DelegatingStrategy


@dataclass(frozen=True)
class AcceptedUpdate:
    """A train reply that passed verification and went into aggregation.

    Attributes
    ----------
    node_id : int
        Flower node id of the SuperNode that sent it.
    claim : UpdateClaim
        The claim as recomputed by the server from the unmodified reply.
    attestation : ConfigRecord or None
        The partner's ``"attestation"`` record, if it sent one.
    metrics : dict[str, float | int]
        The reply's train metrics (loss, accuracy, ``num-examples``).
    """

    node_id: int
    claim: UpdateClaim
    attestation: ConfigRecord | None
    metrics: dict[str, float | int]


@dataclass(frozen=True)
class ExcludedReply:
    """A train reply left out of aggregation, with the reason."""

    node_id: int
    reason: str


class ProvenanceHook(ABC):
    """What the provenance wrapper calls; the chain outbox implements it."""

    @abstractmethod
    def verify_reply(self, reply: Message, claim: UpdateClaim) -> str | None:
        """Check one train reply before aggregation.

        Parameters
        ----------
        reply : Message
            The reply as received (its ``"attestation"`` record, if any, is in ``reply.content``).
        claim : UpdateClaim
            What the server computed the partner should have attested: round, previous global hash,
            update hash, number of examples, stated partner id.

        Returns
        -------
        str or None
            ``None`` to accept; otherwise a human-readable reason to exclude the reply.
        """

    @abstractmethod
    def on_round_aggregated(
        self,
        server_round: int,
        prev_global_hash: str,
        new_global_hash: str,
        metrics: MetricRecord | None,
        accepted_replies: Sequence[AcceptedUpdate],
    ) -> None:
        """Receive a completed aggregation (called once per round that produced new global arrays).

        Parameters
        ----------
        server_round : int
            The round, from 1.
        prev_global_hash : str
            ``object_id`` of the global arrays sent to partners in this round.
        new_global_hash : str
            ``object_id`` of the aggregated arrays after every inner wrapper (DP noise, watermark).
        metrics : MetricRecord or None
            Aggregated train metrics.
        accepted_replies : Sequence[AcceptedUpdate]
            The updates that were aggregated, in the order received.
        """

    def on_reply_excluded(self, server_round: int, reply: Message, reason: str) -> None:
        """Be told that a reply was excluded (error reply, malformed reply or :meth:`verify_reply`).

        Optional: the default ignores it, since exclusions are also kept in
        :attr:`ProvenanceStrategy.excluded`.
        """
        return None

    def on_round_not_aggregated(self, server_round: int, reason: str) -> None:
        """Be told that a round produced no new global model (no acceptable reply, or no aggregate).

        Optional: the default ignores it (Flower trains on from the unchanged model). A hook that logs rounds
        in a sequence that cannot skip a number, like the on-chain log, raises here to stop the run.
        """
        return None

    def on_run_finished(self) -> None:
        """Be told that the run is over, normally or not (a chain outbox drains and stops here).

        Optional: the default does nothing.
        """
        return None


class ProvenanceStrategy(DelegatingStrategy):
    """Outermost strategy wrapper that vets replies and reports rounds to a :class:`ProvenanceHook`.

    Parameters
    ----------
    strategy : Strategy
        The wrapped strategy (FedAvg, a robust aggregator, DP or watermark wrappers around them).
    hook : ProvenanceHook
        Receives every reply for verification and every aggregated round.
    """

    def __init__(self, strategy: Strategy, hook: ProvenanceHook) -> None:
        super().__init__(strategy)
        self.hook = hook
        self._sent_hashes: dict[int, str] = {}
        self.excluded: dict[int, list[ExcludedReply]] = {}

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """Record the hash of the global arrays of this round, then delegate."""
        self._sent_hashes[server_round] = arrays.object_id
        return self.strategy.configure_train(server_round, arrays, config, grid)

    def _exclude(self, server_round: int, reply: Message, reason: str) -> None:
        log(
            WARNING,
            "provenance: round %s excludes reply from node %s: %s",
            server_round,
            reply.metadata.src_node_id,
            reason,
        )
        self.excluded.setdefault(server_round, []).append(
            ExcludedReply(node_id=int(reply.metadata.src_node_id), reason=reason)
        )
        self.hook.on_reply_excluded(server_round, reply, reason)

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Vet replies, aggregate the accepted ones with the wrapped strategy, report the round."""
        prev_global_hash = self._sent_hashes.pop(server_round)
        accepted_messages: list[Message] = []
        accepted: list[AcceptedUpdate] = []
        for reply in replies:
            if reply.has_error():
                self._exclude(server_round, reply, f"error reply: {reply.error.reason}")
                continue
            try:
                claim = claim_from_reply(reply, server_round, prev_global_hash)
            except AttestationError as error:
                self._exclude(server_round, reply, f"malformed reply: {error}")
                continue
            reason = self.hook.verify_reply(reply, claim)
            if reason is not None:
                self._exclude(server_round, reply, reason)
                continue
            reply_metrics = next(iter(reply.content.metric_records.values()))
            accepted_messages.append(reply)
            accepted.append(
                AcceptedUpdate(
                    node_id=int(reply.metadata.src_node_id),
                    claim=claim,
                    attestation=reply_attestation(reply),
                    metrics={k: v for k, v in reply_metrics.items() if isinstance(v, (int, float))},
                )
            )
        if not accepted_messages:
            log(WARNING, "provenance: round %s has no acceptable reply; the global model is unchanged.", server_round)
            self.hook.on_round_not_aggregated(server_round, "no acceptable reply")
            return None, None
        arrays, metrics = self.strategy.aggregate_train(server_round, accepted_messages)
        if arrays is None:
            log(WARNING, "provenance: round %s produced no aggregate; nothing is reported.", server_round)
            self.hook.on_round_not_aggregated(server_round, "the strategy produced no aggregate")
            return None, metrics
        new_global_hash = arrays.object_id
        log(
            INFO,
            "provenance: round %s %s -> %s from %s updates",
            server_round,
            prev_global_hash[:12],
            new_global_hash[:12],
            len(accepted),
        )
        self.hook.on_round_aggregated(server_round, prev_global_hash, new_global_hash, metrics, accepted)
        return arrays, metrics
