"""Settings of one federated training run, as Flower run config and as the records sent to partners.

Usage::

    config = FederationConfig(num_partners=3, num_rounds=2, aggregation="fedtrimmedavg")
    config.to_run_config()                       # {"num-rounds": 2, ...} for `flwr run --run-config`
    FederationConfig.from_run_config(context.run_config)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Literal, get_args

from flwr.app import ConfigRecord, UserConfig

Aggregation = Literal["fedavg", "fedmedian", "fedtrimmedavg", "krum", "multikrum"]
DifferentialPrivacy = Literal["none", "server-fixed", "client-fixed", "server-adaptive"]


class FederationConfigError(ValueError):
    """A run setting is unknown or out of range."""


@dataclass(frozen=True)
class FederationConfig:
    """Every setting of a run; field ``foo_bar`` is run-config key ``foo-bar``.

    Attributes
    ----------
    num_partners : int
        Number of partners (SuperNodes); all of them train and evaluate every round.
    num_rounds : int
        Federated rounds.
    local_epochs : int
        Local epochs per round.
    lr : float
        Local SGD learning rate.
    batch_size : int
        Local batch size.
    partitioning : str
        ``"iid"`` or ``"dirichlet"`` (label skew).
    alpha : float
        Dirichlet concentration.
    seed : int
        Seed of the data split, the initial model and the local shuffling.
    aggregation : str
        ``"fedavg"``, ``"fedmedian"``, ``"fedtrimmedavg"``, ``"krum"`` or ``"multikrum"``.
    trim_beta : float
        Fraction cut from each tail by ``fedtrimmedavg``.
    num_malicious : int
        Byzantine partners assumed by ``krum`` / ``multikrum``.
    dp : str
        ``"none"``, ``"server-fixed"``, ``"client-fixed"`` or ``"server-adaptive"`` (Flower's central DP
        wrappers; ``client-fixed`` clips on the partner with Flower's ``fixedclipping_mod``).
    dp_noise_multiplier : float
        Gaussian noise multiplier.
    dp_clipping_norm : float
        Clipping norm (initial norm for the adaptive variant).
    watermark : bool
        Embed the server-side watermark into the global model after every aggregation.
    watermark_seed : int
        Secret seed of the trigger set.
    watermark_size : int
        Number of triggers.
    watermark_steps : int
        Fine-tuning steps per embedding.
    watermark_lr : float
        Fine-tuning learning rate.
    round_timeout : float
        Seconds to wait for partners' replies in a round.
    output_dir : str
        If not empty, the ServerApp writes ``run_result.json`` and ``global_model.safetensors`` here.
    provenance_hook : str
        If not empty, ``"module:factory"``; ``factory(context)`` returns the
        :class:`~federation.provenance.ProvenanceHook` that the ServerApp puts outermost
        (``"federation.chain:provenance_hook_factory"`` records rounds on chain).
    federation_id : int
        On-chain federation whose rounds partners attest and the coordinator records (0: none).
    chain_id : int
        Chain id of the EIP-712 attestation domain (partners sign for this chain only).
    federation_log : str
        Address of the FederationLog contract (the EIP-712 verifying contract).
    rpc_url : str
        JSON-RPC endpoint the coordinator records rounds through.
    deployment : str
        Path of the deployment manifest (``devnet/deployments/<chainId>.json``) on the coordinator.
    coordinator_keystore : str
        Keystore file of the coordinator's key (on the coordinator's machine).
    coordinator_password_env : str
        Name of the environment variable that holds that keystore's password (never the password).
    outbox : str
        SQLite file of the round outbox; defaults to ``<output-dir>/outbox.sqlite``.
    chain_wait : float
        Seconds the coordinator waits at the end of the run for the outbox to drain; rounds still
        pending then stay on disk and are sent by ``provenet federation send``.
    """

    num_partners: int = 3
    num_rounds: int = 3
    local_epochs: int = 2
    lr: float = 0.05
    batch_size: int = 16
    partitioning: str = "iid"
    alpha: float = 0.5
    seed: int = 0
    aggregation: str = "fedavg"
    trim_beta: float = 0.2
    num_malicious: int = 0
    dp: str = "none"
    dp_noise_multiplier: float = 0.1
    dp_clipping_norm: float = 10.0
    watermark: bool = False
    watermark_seed: int = 1234
    watermark_size: int = 100
    watermark_steps: int = 100
    watermark_lr: float = 0.05
    round_timeout: float = 600.0
    output_dir: str = ""
    provenance_hook: str = ""
    federation_id: int = 0
    chain_id: int = 0
    federation_log: str = ""
    rpc_url: str = ""
    deployment: str = ""
    coordinator_keystore: str = ""
    coordinator_password_env: str = "PROVENET_PASSWORD"
    outbox: str = ""
    chain_wait: float = 60.0

    def __post_init__(self) -> None:
        if self.num_partners < 1 or self.num_rounds < 1:
            raise FederationConfigError(
                f"num-partners and num-rounds must be at least 1, got {self.num_partners}, {self.num_rounds}."
            )
        if self.partitioning not in ("iid", "dirichlet"):
            raise FederationConfigError(f"partitioning must be 'iid' or 'dirichlet', got {self.partitioning!r}.")
        if self.aggregation not in get_args(Aggregation):
            raise FederationConfigError(
                f"aggregation must be one of {get_args(Aggregation)}, got {self.aggregation!r}."
            )
        if self.dp not in get_args(DifferentialPrivacy):
            raise FederationConfigError(f"dp must be one of {get_args(DifferentialPrivacy)}, got {self.dp!r}.")

    @classmethod
    def from_run_config(cls, run_config: UserConfig) -> FederationConfig:
        """Build from a Flower run config (kebab-case keys); missing keys keep their defaults.

        Unknown keys are rejected so that a typo in ``--run-config`` does not silently use a default.
        """
        known = {f.name: f for f in fields(cls)}
        values: dict[str, object] = {}
        for key, value in run_config.items():
            name = key.replace("-", "_")
            if name not in known:
                raise FederationConfigError(f"Unknown run-config key {key!r}; known keys: {sorted(known)}.")
            default = getattr(cls, name)
            if isinstance(default, bool) and isinstance(value, str):
                # bool("false") is True: parse the word instead.
                values[name] = value.strip().lower() in ("1", "true", "yes")
            else:
                # TOML gives an int for a float written as "1"; coerce to the field's type.
                values[name] = type(default)(value)
        return cls(**values)  # type: ignore[arg-type]

    def to_run_config(self) -> dict[str, bool | int | float | str]:
        """Return the run config (kebab-case keys) that reproduces this configuration."""
        return {key.replace("_", "-"): value for key, value in asdict(self).items()}

    def partner_train_config(self) -> ConfigRecord:
        """Return what every partner needs to know to train: data split and local optimisation."""
        return ConfigRecord(
            {
                "num-partners": self.num_partners,
                "partitioning": self.partitioning,
                "alpha": self.alpha,
                "seed": self.seed,
                "local-epochs": self.local_epochs,
                "lr": self.lr,
                "batch-size": self.batch_size,
            }
        )

    def partner_evaluate_config(self) -> ConfigRecord:
        """Return what every partner needs to know to evaluate on its local validation data."""
        return ConfigRecord(
            {
                "num-partners": self.num_partners,
                "partitioning": self.partitioning,
                "alpha": self.alpha,
                "seed": self.seed,
                "batch-size": self.batch_size,
            }
        )
