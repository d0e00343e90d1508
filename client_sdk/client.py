"""A connection to provenet's contracts on one chain, with typed wrappers for each contract.

::

    client = connect("http://127.0.0.1:8545", deployment="devnet/deployments/31337.json")
    client.models.register(owner, weights_hash, metadata_uri="ipfs://…")
    license_id = client.licenses.issue(owner, licensee.address, LicenseTerms(model=h, scope=Scope.INFERENCE))
    client.licenses.check(h, licensee.address, Scope.INFERENCE)   # LicenseCheck(valid=True, …)

Writes take the signing ``LocalAccount`` first; they sign locally, wait for the receipt and raise the
contract's typed error (``client_sdk.contract_errors``) on a revert. Reads raise typed errors too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import requests
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils import function_signature_to_4byte_selector, to_checksum_address
from web3 import Web3
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from client_sdk.abi import decode_contract_error, load_artifact
from client_sdk.deploy import Deployment
from client_sdk.errors import ChainUnavailable, ProvenetValueError
from client_sdk.rpc import DEFAULT_RPC_URL, DEFAULT_TIMEOUT, RawRpc, ensure_reachable, make_web3
from client_sdk.signing import sign_offer
from client_sdk.transactions import TransactionSender, decode_revert, revert_data_of
from client_sdk.types import (
    ZERO_HASH,
    Attestation,
    FederationState,
    LicenseCheck,
    LicenseOffer,
    LicenseReason,
    LicenseRecord,
    LicenseState,
    LicenseTerms,
    MemberState,
    MemberStatus,
    ModelRecord,
    Scope,
    WatermarkCommitment,
)

__all__ = ["ProvenetClient", "connect", "default_deployment_path", "to_hash32"]


def to_hash32(value: bytes | str) -> bytes:
    """A 32-byte hash from bytes or hex text (with or without 0x); a clear error otherwise."""
    if isinstance(value, bytes | bytearray):
        raw = bytes(value)
    else:
        try:
            raw = bytes.fromhex(str(value).strip().removeprefix("0x"))
        except ValueError:
            raise ProvenetValueError(f"{value!r} is not a hex hash; expected 64 hex digits") from None
    if len(raw) != 32:
        raise ProvenetValueError(f"a hash has 32 bytes (64 hex digits); got {len(raw)} bytes")
    return raw


def default_deployment_path(chain_id: int) -> Path:
    """``$PROVENET_DEPLOYMENTS/<chainId>.json``, else ``devnet/deployments/<chainId>.json`` under the
    current directory or its parents."""
    env = os.environ.get("PROVENET_DEPLOYMENTS")
    if env:
        return Path(env) / f"{chain_id}.json"
    here = Path.cwd()
    for folder in (here, *here.parents):
        candidate = folder / "devnet" / "deployments" / f"{chain_id}.json"
        if candidate.exists():
            return candidate
    return here / "devnet" / "deployments" / f"{chain_id}.json"


class _ContractClient:
    """Shared plumbing: a web3 contract object, typed reads and typed writes."""

    name = ""

    def __init__(self, client: ProvenetClient) -> None:
        self.client = client
        self.address = to_checksum_address(client.deployment.address(self.name))
        self.contract = client.w3.eth.contract(address=self.address, abi=load_artifact(self.name).abi)

    def _read(self, function: str, *args: Any) -> Any:
        try:
            return getattr(self.contract.functions, function)(*args).call()
        except ContractLogicError as error:
            decoded = decode_revert(revert_data_of(error), decode_contract_error)
            raise (decoded or error) from None
        except (requests.ConnectionError, requests.Timeout) as error:
            raise ChainUnavailable(self.client.rpc_url, type(error).__name__) from error

    def _write(self, account: LocalAccount, function: str, *args: Any, value: int = 0) -> Any:
        data = self.contract.encode_abi(function, list(args))
        return self.client.sender(account).send(
            {"to": self.address, "data": data, "value": value}, error_decoder=decode_contract_error
        )

    def _events(self, receipt: Any, event: str) -> list[Any]:
        return list(getattr(self.contract.events, event)().process_receipt(receipt, errors=DISCARD))


class ModelRegistryClient(_ContractClient):
    """The model registry: registration by weights hash, ownership, lineage."""

    name = "ModelRegistry"

    def register(
        self,
        owner: LocalAccount,
        weights_hash: bytes | str,
        *,
        metadata_uri: str = "",
        metadata_hash: bytes = ZERO_HASH,
        parents: Sequence[bytes | str] = (),
        federation_id: int = 0,
        final_round: int = 0,
    ) -> Any:
        """Register ``weights_hash`` for ``owner``; returns the receipt."""
        return self._write(
            owner,
            "registerModel",
            to_hash32(weights_hash),
            metadata_uri,
            metadata_hash,
            [to_hash32(p) for p in parents],
            federation_id,
            final_round,
        )

    def get(self, weights_hash: bytes | str) -> ModelRecord:
        """The record (raises ``ModelRegistryUnknownModel`` when not registered)."""
        h = to_hash32(weights_hash)
        owner, registered_at, index, federation_id, final_round, metadata_hash, uri, parents = self._read("getModel", h)
        return ModelRecord(
            weights_hash=h,
            owner=owner,
            registered_at=registered_at,
            federation_id=federation_id,
            final_round=final_round,
            metadata_hash=bytes(metadata_hash),
            metadata_uri=uri,
            parents=tuple(bytes(p) for p in parents),
            index=index,
        )

    def owner_of(self, weights_hash: bytes | str) -> str | None:
        """The owner, or ``None`` when the hash is not registered."""
        owner = self._read("modelOwner", to_hash32(weights_hash))
        return None if int(owner, 16) == 0 else owner

    def is_registered(self, weights_hash: bytes | str) -> bool:
        return bool(self._read("isRegistered", to_hash32(weights_hash)))

    def lineage(self, weights_hash: bytes | str, max_models: int = 256) -> list[ModelRecord]:
        """The model and all its ancestors, breadth first, each once."""
        seen: set[bytes] = set()
        queue = [to_hash32(weights_hash)]
        out: list[ModelRecord] = []
        while queue and len(out) < max_models:
            h = queue.pop(0)
            if h in seen:
                continue
            seen.add(h)
            record = self.get(h)
            out.append(record)
            queue.extend(record.parents)
        return out

    def transfer_ownership(self, owner: LocalAccount, weights_hash: bytes | str, new_owner: str) -> Any:
        return self._write(owner, "transferModelOwnership", to_hash32(weights_hash), to_checksum_address(new_owner))

    def accept_ownership(self, new_owner: LocalAccount, weights_hash: bytes | str) -> Any:
        return self._write(new_owner, "acceptModelOwnership", to_hash32(weights_hash))


_CHECK_SELECTOR = function_signature_to_4byte_selector("checkLicense(bytes32,address,uint8)")


class LicenseRegistryClient(_ContractClient):
    """Licences: issue, offers, life cycle, and the (fast) licence check."""

    name = "LicenseRegistry"

    def issue(self, issuer: LocalAccount, to: str, terms: LicenseTerms) -> int:
        """Issue a licence (root: model owner; sublicence: parent's holder); returns its id."""
        receipt = self._write(issuer, "issueLicense", to_checksum_address(to), terms.as_tuple())
        return int(self._events(receipt, "LicenseIssued")[0]["args"]["licenseId"])

    def sign_offer(self, owner: LocalAccount, offer: LicenseOffer) -> bytes:
        """The owner's EIP-712 signature of ``offer`` for this registry and chain."""
        return sign_offer(owner, offer, self.client.chain_id, self.address)

    def redeem(self, licensee: LocalAccount, offer: LicenseOffer, signature: bytes) -> int:
        """Redeem a signed offer, paying its price; returns the new licence id."""
        receipt = self._write(licensee, "redeemOffer", offer.as_tuple(), signature, value=offer.price)
        return int(self._events(receipt, "LicenseIssued")[0]["args"]["licenseId"])

    def cancel_offer(self, owner: LocalAccount, nonce: int) -> Any:
        return self._write(owner, "cancelOffer", nonce)

    def renew(self, authority: LocalAccount, license_id: int, new_expiry: int) -> Any:
        return self._write(authority, "renewLicense", license_id, new_expiry)

    def suspend(self, authority: LocalAccount, license_id: int, reason_hash: bytes = ZERO_HASH) -> Any:
        return self._write(authority, "suspendLicense", license_id, reason_hash)

    def reinstate(self, authority: LocalAccount, license_id: int) -> Any:
        return self._write(authority, "reinstateLicense", license_id)

    def revoke(self, authority: LocalAccount, license_id: int, reason_hash: bytes = ZERO_HASH) -> Any:
        return self._write(authority, "revokeLicense", license_id, reason_hash)

    def transfer(self, holder: LocalAccount, license_id: int, to: str) -> Any:
        return self._write(holder, "safeTransferFrom", holder.address, to_checksum_address(to), license_id)

    def use(self, holder: LocalAccount, license_id: int) -> Any:
        """Make ``license_id`` the licence ``checkLicense`` considers for its holder and model."""
        return self._write(holder, "useLicense", license_id)

    def withdraw_proceeds(self, owner: LocalAccount) -> Any:
        return self._write(owner, "withdrawProceeds")

    def offer_nonce_used(self, signer: str, nonce: int) -> bool:
        return bool(self._read("offerNonceUsed", to_checksum_address(signer), nonce))

    def get(self, license_id: int) -> LicenseRecord:
        """The stored licence and its holder (raises ``LicenseRegistryUnknownLicense``)."""
        model, expiry, issued_at, parent_id, scope, state, depth, transferable = self._read("licenseOf", license_id)
        holder = self._read("ownerOf", license_id)
        return LicenseRecord(
            license_id=license_id,
            model=bytes(model),
            holder=holder,
            scope=Scope(scope),
            expiry=expiry,
            issued_at=issued_at,
            parent_id=parent_id,
            state=LicenseState(state),
            depth=depth,
            transferable=transferable,
        )

    def held(self, model: bytes | str, account: str) -> int:
        """The licence id ``account`` uses for ``model`` (0: none)."""
        return int(self._read("heldLicense", to_hash32(model), to_checksum_address(account)))

    def total_issued(self) -> int:
        return int(self._read("totalIssued"))

    def check_calldata(self, model: bytes | str, account: str, scope: Scope | int) -> str:
        """Hex calldata of ``checkLicense`` (what ``cast call`` or a raw ``eth_call`` sends)."""
        args = abi_encode(["bytes32", "address", "uint8"], [to_hash32(model), to_checksum_address(account), int(scope)])
        return "0x" + (_CHECK_SELECTOR + args).hex()

    def check(self, model: bytes | str, account: str, scope: Scope | int, block: str = "latest") -> LicenseCheck:
        """``checkLicense`` through the raw JSON-RPC fast path (one ``eth_call``, no web3 middleware)."""
        result = self.client.rpc.call(
            "eth_call", [{"to": self.address, "data": self.check_calldata(model, account, scope)}, block]
        )
        return _decode_check(result)

    def check_many(
        self, queries: Iterable[tuple[str, bytes | str, Scope | int]], block: str = "latest", chunk: int = 500
    ) -> list[LicenseCheck]:
        """Check many ``(account, model, scope)`` at once, as JSON-RPC batches of ``chunk`` calls."""
        calls = [
            ("eth_call", [{"to": self.address, "data": self.check_calldata(model, account, scope)}, block])
            for account, model, scope in queries
        ]
        out: list[LicenseCheck] = []
        for start in range(0, len(calls), chunk):
            out.extend(_decode_check(result) for result in self.client.rpc.batch(calls[start : start + chunk]))
        return out


def _decode_check(result: str) -> LicenseCheck:
    valid, reason, license_id = abi_decode(["bool", "uint8", "uint256"], bytes.fromhex(result.removeprefix("0x")))
    return LicenseCheck(valid=bool(valid), reason=LicenseReason(reason), license_id=int(license_id))


class WatermarkRegistryClient(_ContractClient):
    """Watermark commitments, reveals and ownership claims."""

    name = "WatermarkRegistry"

    def compute_commitment(self, owner: str, model: bytes | str, digest: bytes, salt: bytes) -> bytes:
        """The commitment for these inputs on this chain and registry (computed by the contract)."""
        return bytes(self._read("computeCommitment", to_checksum_address(owner), to_hash32(model), digest, salt))

    def commit(self, owner: LocalAccount, model: bytes | str, commitment: bytes) -> Any:
        return self._write(owner, "commitWatermark", to_hash32(model), commitment)

    def reveal(self, sender: LocalAccount, commitment: bytes, digest: bytes, salt: bytes) -> Any:
        return self._write(sender, "revealWatermark", commitment, digest, salt)

    def claim(
        self, owner: LocalAccount, commitment: bytes, suspect_hash: bytes, evidence_hash: bytes, evidence_uri: str
    ) -> int:
        """File an ownership claim; returns its id."""
        receipt = self._write(owner, "fileClaim", commitment, suspect_hash, evidence_hash, evidence_uri)
        return int(self._events(receipt, "OwnershipClaimed")[0]["args"]["claimId"])

    def get(self, commitment: bytes) -> WatermarkCommitment:
        model, owner, committed_at, revealed_at, digest = self._read("getCommitment", commitment)
        return WatermarkCommitment(
            commitment=bytes(commitment),
            model=bytes(model),
            owner=owner,
            committed_at=committed_at,
            revealed_at=revealed_at,
            watermark_digest=bytes(digest),
        )


class FederationLogClient(_ContractClient):
    """Federations, membership and the round log."""

    name = "FederationLog"

    def create(
        self,
        coordinator: LocalAccount,
        members: Sequence[str],
        min_signers: int,
        *,
        metadata_hash: bytes = ZERO_HASH,
        initial_global_hash: bytes = ZERO_HASH,
    ) -> int:
        """Create a federation (members are invited); returns its id."""
        receipt = self._write(
            coordinator,
            "createFederation",
            metadata_hash,
            initial_global_hash,
            [to_checksum_address(m) for m in members],
            min_signers,
        )
        return int(self._events(receipt, "FederationCreated")[0]["args"]["federationId"])

    def accept(self, member: LocalAccount, federation_id: int) -> Any:
        return self._write(member, "acceptMembership", federation_id)

    def propose_member(self, coordinator: LocalAccount, federation_id: int, member: str) -> Any:
        return self._write(coordinator, "proposeMember", federation_id, to_checksum_address(member))

    def remove_member(self, coordinator: LocalAccount, federation_id: int, member: str) -> Any:
        return self._write(coordinator, "removeMember", federation_id, to_checksum_address(member))

    def leave(self, member: LocalAccount, federation_id: int) -> Any:
        return self._write(member, "leaveFederation", federation_id)

    def set_min_signers(self, coordinator: LocalAccount, federation_id: int, min_signers: int) -> Any:
        return self._write(coordinator, "setMinSigners", federation_id, min_signers)

    def record_round(
        self,
        coordinator: LocalAccount,
        federation_id: int,
        round: int,
        previous_global_hash: bytes,
        new_global_hash: bytes,
        metrics_hash: bytes,
        attestations: Sequence[Attestation],
    ) -> Any:
        """Record a round; attestations are sorted by signer here, as the contract requires."""
        ordered = sorted(attestations, key=lambda a: int(a.signer, 16))
        return self._write(
            coordinator,
            "recordRound",
            federation_id,
            round,
            previous_global_hash,
            new_global_hash,
            metrics_hash,
            [a.as_tuple() for a in ordered],
        )

    def get(self, federation_id: int) -> FederationState:
        coordinator, last_round, min_signers, member_count, last_hash = self._read("getFederation", federation_id)
        return FederationState(
            federation_id=federation_id,
            coordinator=coordinator,
            last_round=last_round,
            min_signers=min_signers,
            member_count=member_count,
            last_global_hash=bytes(last_hash),
        )

    def member(self, federation_id: int, account: str) -> MemberState:
        status, rounds, examples = self._read("getMember", federation_id, to_checksum_address(account))
        return MemberState(status=MemberStatus(status), rounds=rounds, examples=examples)

    def round_records(self, federation_id: int, from_block: int | None = None) -> list[dict]:
        """The ``RoundRecorded`` events of a federation, in order, as plain dicts."""
        start = self.client.deployment.deploy_block if from_block is None else from_block
        logs = self.contract.events.RoundRecorded().get_logs(
            from_block=start, argument_filters={"federationId": federation_id}
        )
        return [
            _round_record(federation_id, log) for log in sorted(logs, key=lambda x: (x["blockNumber"], x["logIndex"]))
        ]


def _round_record(federation_id: int, log: Any) -> dict:
    args = log["args"]
    attestations = [
        Attestation(
            signer=to_checksum_address(item["signer"]),
            federation_id=federation_id,
            round=int(args["round"]),
            previous_global_hash=bytes(args["previousGlobalHash"]),
            update_hash=bytes(item["updateHash"]),
            num_examples=int(item["numExamples"]),
            r=bytes(item["r"]),
            vs=bytes(item["vs"]),
        )
        for item in args["attestations"]
    ]
    return {
        "round": int(args["round"]),
        "previous_global_hash": bytes(args["previousGlobalHash"]),
        "new_global_hash": bytes(args["newGlobalHash"]),
        "metrics_hash": bytes(args["metricsHash"]),
        "examples": int(args["examples"]),
        "attestations": attestations,
        "tx_hash": "0x" + bytes(log["transactionHash"]).hex(),
        "block_number": int(log["blockNumber"]),
    }


class ProvenetClient:
    """A connection to one chain and provenet's deployment on it.

    Attributes
    ----------
    w3, rpc:
        The web3 connection and the raw JSON-RPC fast path, on the same URL.
    models, licenses, watermarks, federations:
        Typed wrappers of the four contracts.
    """

    def __init__(self, rpc_url: str, deployment: Deployment, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.rpc_url = rpc_url
        self.w3: Web3 = make_web3(rpc_url, timeout)
        self.rpc = RawRpc(rpc_url, timeout)
        self.deployment = deployment
        self.chain_id = deployment.chain_id
        self._senders: dict[str, TransactionSender] = {}

    def sender(self, account: LocalAccount) -> TransactionSender:
        """The transaction sender of ``account`` (one per account, sharing its nonce manager)."""
        key = to_checksum_address(account.address)
        if key not in self._senders:
            self._senders[key] = TransactionSender(self.w3, account, self.chain_id, error_decoder=decode_contract_error)
        return self._senders[key]

    @cached_property
    def models(self) -> ModelRegistryClient:
        return ModelRegistryClient(self)

    @cached_property
    def licenses(self) -> LicenseRegistryClient:
        return LicenseRegistryClient(self)

    @cached_property
    def watermarks(self) -> WatermarkRegistryClient:
        return WatermarkRegistryClient(self)

    @cached_property
    def federations(self) -> FederationLogClient:
        return FederationLogClient(self)

    def block_timestamp(self, block: str | int = "latest") -> int:
        return int(
            self.rpc.call("eth_getBlockByNumber", [block if isinstance(block, str) else hex(block), False])[
                "timestamp"
            ],
            16,
        )


def connect(
    rpc_url: str = DEFAULT_RPC_URL,
    deployment: Deployment | Path | str | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> ProvenetClient:
    """Connect to provenet on ``rpc_url``.

    ``deployment`` is a :class:`Deployment`, a manifest path, or ``None`` to use
    :func:`default_deployment_path` for the chain's id. Raises ``ChainUnavailable`` when nothing answers
    and ``DeploymentMismatch`` when the manifest is for another chain or other ABIs.
    """
    from client_sdk.deploy import DeploymentMismatch

    w3 = make_web3(rpc_url, timeout)
    chain_id = ensure_reachable(w3, rpc_url)
    if deployment is None:
        deployment = default_deployment_path(chain_id)
    if not isinstance(deployment, Deployment):
        deployment = Deployment.load(deployment)
    if deployment.chain_id != chain_id:
        raise DeploymentMismatch(
            f"the deployment is for chain {deployment.chain_id} but {rpc_url} is chain {chain_id}; "
            "pass the manifest for this chain"
        )
    deployment.check_abis()
    client = ProvenetClient(rpc_url, deployment, timeout=timeout)
    codes = client.rpc.batch([("eth_getCode", [address, "latest"]) for address in deployment.contracts.values()])
    missing = [name for name, code in zip(deployment.contracts, codes, strict=True) if code in (None, "0x", "0x0")]
    if missing:
        raise DeploymentMismatch(
            f"no contract at the manifest's address for {', '.join(missing)} on {rpc_url} (chain {chain_id}): the "
            "manifest is from another chain with the same id (a restarted devnet?); redeploy or pass the right one"
        )
    return client
