"""The partner's Flower ClientApp: local training and evaluation on its own share of the digits data.

Each SuperNode says who it is in its node config: ``partner-id`` and ``num-partners`` (the simulation
engine's ``partition-id`` / ``num-partitions`` are accepted too). Everything else (data split, local
optimisation) comes from the server's ``"config"`` record, so the app behaves the same under every
engine. Replies carry ``"arrays"``, ``"metrics"``, ``"partner"`` and, with a signer, ``"attestation"``
(see :mod:`federation.attestation`).

Usage::

    app = make_client_app(signer=my_signer)      # module attribute ``app`` has no injected signer
"""

from __future__ import annotations

from functools import lru_cache
from typing import cast

import torch
from flwr.app import ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.clientapp.mod import fixedclipping_mod
from flwr.clientapp.typing import ClientAppCallable
from flwr.supercore.differential_privacy import KEY_CLIPPING_NORM

from federation.attestation import (
    ARRAYS_KEY,
    CONFIG_KEY,
    METRICS_KEY,
    NUM_EXAMPLES_KEY,
    PARTNER_RECORD_KEY,
    AttestationSigner,
    attestation_mod,
)
from federation.task import (
    DigitsCNN,
    Partitioning,
    PartnerData,
    arrays_to_model,
    evaluate,
    load_partition,
    make_loader,
    model_to_arrays,
    train,
)


class PartnerIdentityError(KeyError):
    """The SuperNode's node config does not say which partner it is."""


def partner_identity(context: Context) -> tuple[int, int]:
    """Return ``(partner_id, num_partners)`` from the node config.

    Raises
    ------
    PartnerIdentityError
        If neither ``partner-id``/``num-partners`` nor ``partition-id``/``num-partitions`` is set.
    """
    node_config = context.node_config
    for id_key, count_key in (("partner-id", "num-partners"), ("partition-id", "num-partitions")):
        if id_key in node_config and count_key in node_config:
            return int(cast(int, node_config[id_key])), int(cast(int, node_config[count_key]))
    raise PartnerIdentityError(
        f"Node config {dict(node_config)} names no partner; start the SuperNode with "
        "--node-config 'partner-id=<i> num-partners=<n>'."
    )


@lru_cache(maxsize=8)
def _cached_partition(partner_id: int, num_partners: int, partitioning: str, alpha: float, seed: int) -> PartnerData:
    # A simulation actor serves many rounds (and possibly several partners): split once per setting.
    return load_partition(partner_id, num_partners, cast(Partitioning, partitioning), alpha, seed)


def _partner_data(context: Context, config: ConfigRecord) -> tuple[int, PartnerData]:
    partner_id, num_partners = partner_identity(context)
    if "num-partners" in config and int(cast(int, config["num-partners"])) != num_partners:
        raise PartnerIdentityError(
            f"This SuperNode is configured for {num_partners} partners but the run has "
            f"{config['num-partners']!r}; fix the node config num-partners."
        )
    data = _cached_partition(
        partner_id,
        num_partners,
        str(config["partitioning"]),
        float(cast(float, config["alpha"])),
        int(cast(int, config["seed"])),
    )
    return partner_id, data


def _reply(message: Message, partner_id: int, metrics: MetricRecord, model: torch.nn.Module | None) -> Message:
    content = RecordDict({METRICS_KEY: metrics, PARTNER_RECORD_KEY: ConfigRecord({"partner-id": partner_id})})
    if model is not None:
        content[ARRAYS_KEY] = model_to_arrays(model)
    return Message(content=content, reply_to=message)


def handle_train(message: Message, context: Context) -> Message:
    """Train the received global model on this partner's data and return the update."""
    # Simulation packs several actors onto few cores; one thread each avoids oversubscription.
    torch.set_num_threads(1)
    config = message.content.config_records[CONFIG_KEY]
    partner_id, data = _partner_data(context, config)
    server_round = int(cast(int, config.get("server-round", 0)))
    seed = int(cast(int, config["seed"]))
    model = arrays_to_model(message.content.array_records[ARRAYS_KEY], DigitsCNN())
    loader = make_loader(
        data.train,
        batch_size=int(cast(int, config["batch-size"])),
        seed=seed * 1_000_003 + server_round * 101 + partner_id,
    )
    stats = train(model, loader, epochs=int(cast(int, config["local-epochs"])), lr=float(cast(float, config["lr"])))
    metrics = MetricRecord(
        {"train-loss": stats.loss, "train-accuracy": stats.accuracy, NUM_EXAMPLES_KEY: stats.num_examples}
    )
    return _reply(message, partner_id, metrics, model)


def handle_evaluate(message: Message, context: Context) -> Message:
    """Evaluate the received global model on this partner's local validation data."""
    torch.set_num_threads(1)
    config = message.content.config_records[CONFIG_KEY]
    partner_id, data = _partner_data(context, config)
    model = arrays_to_model(message.content.array_records[ARRAYS_KEY], DigitsCNN())
    stats = evaluate(model, make_loader(data.validation, batch_size=256, seed=None))
    metrics = MetricRecord(
        {"eval-loss": stats.loss, "eval-accuracy": stats.accuracy, NUM_EXAMPLES_KEY: stats.num_examples}
    )
    return _reply(message, partner_id, metrics, model=None)


def clipping_when_requested_mod(message: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """Apply Flower's ``fixedclipping_mod`` only when the server sent a clipping norm.

    ``fixedclipping_mod`` answers with an error when the norm is missing, so it cannot be installed
    unconditionally on an app that also serves runs without client-side DP.
    """
    config = message.content.config_records.get(CONFIG_KEY)
    if config is not None and KEY_CLIPPING_NORM in config:
        return fixedclipping_mod(message, context, call_next)
    return call_next(message, context)


def make_client_app(signer: AttestationSigner | None = None) -> ClientApp:
    """Return the partner ClientApp.

    Parameters
    ----------
    signer : AttestationSigner, optional
        Signs each train update's claim; without it the node config ``attestation-signer`` factory is
        used if set, else replies carry no attestation.

    Returns
    -------
    ClientApp
        With ``@train`` and ``@evaluate`` registered; the attestation mod is outermost so it signs the
        arrays exactly as they leave (after client-side clipping).
    """
    client_app = ClientApp(mods=[attestation_mod(signer), clipping_when_requested_mod])
    client_app.train()(handle_train)
    client_app.evaluate()(handle_evaluate)
    return client_app


app = make_client_app()
