"""Deploying provenet's four contracts and the deployment manifest that clients read.

Order and wiring: ``FederationLog``; ``ModelRegistry(licenseRegistry, federationLog)`` where the licence
registry's address is predicted from the deployer's next nonce; ``LicenseRegistry(modelRegistry)``,
whose constructor checks that the model registry points back to it; ``WatermarkRegistry(modelRegistry)``.
On a fresh devnet the deployer is the same account at nonce 0, so the addresses are always the same.

The manifest (``devnet/deployments/<chainId>.json``)::

    {"chain_id": 31337, "deployer": "0x…", "deploy_block": 1,
     "contracts": {"ModelRegistry": "0x…", …}, "abi_hashes": {"ModelRegistry": "0x…", …}}
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import rlp
from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3 import Web3

from client_sdk.abi import CONTRACT_NAMES, decode_contract_error, load_artifact
from client_sdk.errors import ProvenetError, ProvenetValueError
from client_sdk.transactions import TransactionSender

__all__ = ["Deployment", "DeploymentMismatch", "create_address", "deploy_contracts"]


class DeploymentMismatch(ProvenetError):
    """The deployment manifest does not match the chain or the packaged ABIs."""


@dataclass(frozen=True)
class Deployment:
    """Where provenet's contracts live on one chain."""

    chain_id: int
    contracts: dict[str, str]
    deploy_block: int = 0
    deployer: str = ""
    abi_hashes: dict[str, str] = field(default_factory=dict)

    def address(self, name: str) -> str:
        try:
            return self.contracts[name]
        except KeyError:
            raise DeploymentMismatch(f"the deployment has no {name}; redeploy with `provenet devnet deploy`") from None

    def to_json(self) -> dict:
        return {
            "chain_id": self.chain_id,
            "deployer": self.deployer,
            "deploy_block": self.deploy_block,
            "contracts": dict(self.contracts),
            "abi_hashes": dict(self.abi_hashes),
        }

    def save(self, path: Path | str) -> Path:
        """Write the manifest atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: Path | str) -> Deployment:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                chain_id=int(data["chain_id"]),
                contracts={k: to_checksum_address(v) for k, v in data["contracts"].items()},
                deploy_block=int(data.get("deploy_block", 0)),
                deployer=data.get("deployer", ""),
                abi_hashes=dict(data.get("abi_hashes", {})),
            )
        except FileNotFoundError:
            raise DeploymentMismatch(
                f"no deployment manifest at {path}; start a devnet with `provenet devnet up` or pass --deployment"
            ) from None
        except (ValueError, KeyError, TypeError) as error:
            raise ProvenetValueError(f"deployment manifest {path} is malformed: {error}") from error

    def check_abis(self) -> None:
        """Raise when the manifest was deployed from other ABIs than the packaged ones."""
        for name in CONTRACT_NAMES:
            recorded = self.abi_hashes.get(name)
            if recorded and recorded != load_artifact(name).abi_hash:
                raise DeploymentMismatch(
                    f"{name} at {self.contracts.get(name)} was deployed from another ABI than this SDK's; "
                    "upgrade the SDK or redeploy"
                )


def create_address(deployer: str, nonce: int) -> str:
    """The address a CREATE from ``deployer`` at ``nonce`` gets."""
    encoded = rlp.encode([bytes.fromhex(deployer.removeprefix("0x")), nonce])
    return to_checksum_address(keccak(encoded)[12:])


def _deploy(sender: TransactionSender, name: str, types: list[str], args: list) -> tuple[str, int]:
    artifact = load_artifact(name)
    data = bytes.fromhex(artifact.bytecode.removeprefix("0x")) + abi_encode(types, args)
    receipt = sender.send({"data": data}, error_decoder=decode_contract_error)
    return to_checksum_address(receipt["contractAddress"]), int(receipt["blockNumber"])


def deploy_contracts(w3: Web3, deployer: LocalAccount, *, sender: TransactionSender | None = None) -> Deployment:
    """Deploy and wire the four contracts from the packaged artifacts; returns the manifest."""
    sender = sender or TransactionSender(w3, deployer, error_decoder=decode_contract_error)
    chain_id = sender.chain_id
    federation_log, first_block = _deploy(sender, "FederationLog", [], [])
    # The model registry is deployed at nonce n, the licence registry right after it at n + 1.
    nonce = w3.eth.get_transaction_count(deployer.address, "pending")
    predicted = create_address(deployer.address, nonce + 1)
    model_registry, _ = _deploy(sender, "ModelRegistry", ["address", "address"], [predicted, federation_log])
    license_registry, _ = _deploy(sender, "LicenseRegistry", ["address"], [model_registry])
    if license_registry != predicted:
        raise DeploymentMismatch(
            f"LicenseRegistry landed at {license_registry}, not the predicted {predicted}: another transaction "
            "from the deployer interleaved; deploy again from an idle account"
        )
    watermark_registry, _ = _deploy(sender, "WatermarkRegistry", ["address"], [model_registry])
    contracts = {
        "ModelRegistry": model_registry,
        "LicenseRegistry": license_registry,
        "WatermarkRegistry": watermark_registry,
        "FederationLog": federation_log,
    }
    return Deployment(
        chain_id=chain_id,
        contracts=contracts,
        deploy_block=first_block,
        deployer=to_checksum_address(deployer.address),
        abi_hashes={name: load_artifact(name).abi_hash for name in CONTRACT_NAMES},
    )
