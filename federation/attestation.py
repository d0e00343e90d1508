"""What a partner claims about its update, and the ClientApp mod that attaches a signed claim to it.

A partner's train reply carries, next to Flower's ``"arrays"`` and ``"metrics"`` records:

- ``"partner"``: ``ConfigRecord({"partner-id": int})``, who the partner says it is;
- ``"attestation"``: a ``ConfigRecord`` of ``bytes`` fields returned by an injected
  :data:`AttestationSigner`, only when a signer is configured.

The mod is the outermost one on the ClientApp, so it hashes exactly the arrays that leave the partner
(after Flower's ``fixedclipping_mod``, if client-side DP is on). The server recomputes the same
:class:`UpdateClaim` from what it sent and what it received (:func:`claim_from_reply`), so a hook can
check a signature against numbers the partner could not choose.

Usage::

    def sign(claim: UpdateClaim, context: Context) -> ConfigRecord:
        return ConfigRecord({"signature": my_key.sign(claim.to_bytes())})

    app = make_client_app(signer=sign)         # or node config  attestation-signer="pkg.mod:factory"
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, cast

from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType
from flwr.clientapp.typing import ClientAppCallable, Mod

ARRAYS_KEY = "arrays"
METRICS_KEY = "metrics"
CONFIG_KEY = "config"
PARTNER_RECORD_KEY = "partner"
ATTESTATION_RECORD_KEY = "attestation"
NUM_EXAMPLES_KEY = "num-examples"
# Node-config key naming a "module:factory" whose factory(context) returns the signer; this is how a
# SuperNode (a separate process that cannot receive Python objects) gets its signer.
SIGNER_FACTORY_NODE_CONFIG_KEY = "attestation-signer"


class AttestationError(ValueError):
    """A reply lacks what is needed to state or check a claim about it."""


@dataclass(frozen=True)
class UpdateClaim:
    """A partner's statement about one training update.

    Attributes
    ----------
    run_id : int
        Flower run id.
    server_round : int
        Round the update belongs to (from the server's ``"server-round"`` config).
    partner_id : int
        The partner's zero-based index in the federation.
    prev_global_hash : str
        ``ArrayRecord.object_id`` of the global arrays the partner received (64 hex chars).
    update_hash : str
        ``ArrayRecord.object_id`` of the arrays the partner returned.
    num_examples : int
        Training examples used (the FedAvg weight).
    """

    run_id: int
    server_round: int
    partner_id: int
    prev_global_hash: str
    update_hash: str
    num_examples: int

    def to_bytes(self) -> bytes:
        """Return the claim as compact UTF-8 JSON with sorted keys (what a test signer signs)."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode("utf-8")


AttestationSigner = Callable[[UpdateClaim, Context], ConfigRecord]
"""Turns a claim into the ``"attestation"`` record (``bytes`` fields, e.g. an EIP-712 signature)."""

SignerFactory = Callable[[Context], AttestationSigner]


def single_arrays(message: Message) -> ArrayRecord:
    """Return the one ArrayRecord of a message, or raise :class:`AttestationError`."""
    records = list(message.content.array_records.values())
    if len(records) != 1:
        raise AttestationError(f"Expected exactly one ArrayRecord in the message, found {len(records)}.")
    return records[0]


def reply_partner_id(reply: Message) -> int | None:
    """Return the partner id a reply states in its ``"partner"`` record, if any."""
    record = reply.content.config_records.get(PARTNER_RECORD_KEY)
    if record is None or "partner-id" not in record:
        return None
    return int(cast(int, record["partner-id"]))


def reply_num_examples(reply: Message) -> int:
    """Return the ``num-examples`` weight of a train reply's single MetricRecord."""
    metrics = list(reply.content.metric_records.values())
    if len(metrics) != 1 or NUM_EXAMPLES_KEY not in metrics[0]:
        raise AttestationError(f"Expected one MetricRecord with {NUM_EXAMPLES_KEY!r} in the reply.")
    return int(cast(int, metrics[0][NUM_EXAMPLES_KEY]))


def reply_attestation(reply: Message) -> ConfigRecord | None:
    """Return the ``"attestation"`` record of a reply, if it carries one."""
    return reply.content.config_records.get(ATTESTATION_RECORD_KEY)


def claim_from_reply(reply: Message, server_round: int, prev_global_hash: str) -> UpdateClaim:
    """Recompute, on the server, the claim a partner should have signed for ``reply``.

    Parameters
    ----------
    reply : Message
        A train reply, before any strategy wrapper has modified its arrays.
    server_round : int
        The round the server is aggregating.
    prev_global_hash : str
        ``object_id`` of the arrays the server sent in that round.

    Returns
    -------
    UpdateClaim
        The claim; ``partner_id`` is -1 when the reply states none.
    """
    partner_id = reply_partner_id(reply)
    return UpdateClaim(
        run_id=int(reply.metadata.run_id),
        server_round=server_round,
        partner_id=-1 if partner_id is None else partner_id,
        prev_global_hash=prev_global_hash,
        update_hash=single_arrays(reply).object_id,
        num_examples=reply_num_examples(reply),
    )


def import_factory(spec: str) -> Callable[[Context], Any]:
    """Import ``"package.module:factory"`` (a signer or provenance-hook factory) and return it.

    Configuration of separate processes (node config, run config) can only name code, not pass it.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise AttestationError(f"A factory must be named as 'package.module:factory', got {spec!r}.")
    return cast(Callable[[Context], Any], getattr(importlib.import_module(module_name), attribute))


def attestation_mod(signer: AttestationSigner | None = None) -> Mod:
    """Return a ClientApp mod that adds the ``"attestation"`` record to train replies.

    Parameters
    ----------
    signer : AttestationSigner, optional
        Used if given; otherwise the node config's ``attestation-signer`` factory is loaded once per
        process; with neither, replies go out without an attestation.

    Returns
    -------
    Mod
        Place it first in ``ClientApp(mods=[...])`` so that it sees the final outgoing arrays.
    """
    resolved: dict[str, AttestationSigner | None] = {}

    def _signer_for(context: Context) -> AttestationSigner | None:
        if signer is not None:
            return signer
        spec = str(context.node_config.get(SIGNER_FACTORY_NODE_CONFIG_KEY, ""))
        if spec not in resolved:
            resolved[spec] = cast(SignerFactory, import_factory(spec))(context) if spec else None
        return resolved[spec]

    def mod(message: Message, context: Context, call_next: ClientAppCallable) -> Message:
        if message.metadata.message_type.split(".")[0] != MessageType.TRAIN:
            return call_next(message, context)
        sign = _signer_for(context)
        prev_global_hash = single_arrays(message).object_id
        config = message.content.config_records.get(CONFIG_KEY, ConfigRecord())
        reply = call_next(message, context)
        if sign is None or reply.has_error():
            return reply
        partner_id = reply_partner_id(reply)
        claim = UpdateClaim(
            run_id=int(context.run_id),
            server_round=int(cast(int, config.get("server-round", 0))),
            partner_id=-1 if partner_id is None else partner_id,
            prev_global_hash=prev_global_hash,
            update_hash=single_arrays(reply).object_id,
            num_examples=reply_num_examples(reply),
        )
        reply.content[ATTESTATION_RECORD_KEY] = sign(claim, context)
        return reply

    return mod
