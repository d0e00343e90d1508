"""The licence registry against a Python model of its rules, driven by a hypothesis state machine.

One Anvil per module; every example starts from the same snapshot (contracts deployed, one model
registered), restored with ``evm_revert`` (Anvil snapshots are single-use, so a new one is taken after each
revert). After every step ``check_many`` over all (account, scope) pairs must equal the model's answers, and
every expected revert must raise its named error and leave the chain unchanged.

Times live on a grid so that wall-clock drift between the model and the chain cannot flip an answer:
expiries are ``t0 + 1000 k + 500`` and time travel moves in whole thousands of seconds, so "now < expiry"
holds exactly when the chain's slot ``J = round((now - t0) / 1000)`` is at most ``k``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from client_sdk import contract_errors as errors
from client_sdk.client import ProvenetClient
from client_sdk.deploy import deploy_contracts
from client_sdk.devnet import DevnetProcess, start_anvil
from client_sdk.rpc import make_web3
from client_sdk.types import LicenseCheck, LicenseOffer, LicenseReason, LicenseState, LicenseTerms, Scope

T = TypeVar("T")

SLOT = 1000  # seconds per time slot
MAX_DEPTH = 4
ALL_SCOPES = list(range(16))  # 0 (no scope asked) and every combination of the four bits
MODEL = hashlib.sha256(b"state machine model").digest()


@dataclass
class Env:
    """The module's Anvil, deployment and snapshot."""

    devnet: DevnetProcess
    client: ProvenetClient
    accounts: list[LocalAccount]
    t0: int
    snapshot: str

    def reset(self) -> None:
        """Back to the snapshot; then a fresh snapshot, because Anvil's are single-use."""
        assert self.client.rpc.call("evm_revert", [self.snapshot]) is True
        self.snapshot = self.client.rpc.call("evm_snapshot", [])
        # The chain forgot the transactions sent since the snapshot: the cached nonces must go too.
        for account in self.accounts:
            self.client.sender(account).nonces.reset()


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    devnet = start_anvil()
    try:
        accounts = devnet.accounts(7)
        deployment = deploy_contracts(make_web3(devnet.rpc_url), accounts[0])
        client = ProvenetClient(devnet.rpc_url, deployment)
        client.models.register(accounts[0], MODEL)
        t0 = client.block_timestamp()
        yield Env(devnet, client, accounts, t0, client.rpc.call("evm_snapshot", []))
    finally:
        devnet.stop()


@dataclass
class Licence:
    """What the model remembers of one licence."""

    license_id: int
    holder: str
    scope: int
    expiry: int
    transferable: bool
    parent_id: int = 0
    depth: int = 0
    state: LicenseState = LicenseState.ACTIVE
    suspended_by_owner: bool = False


@dataclass
class OfferRecord:
    offer: LicenseOffer
    signature: bytes


Predicted = tuple[type[errors.GeneratedRevert], dict[str, Any]] | None


@dataclass
class RegistryModel:
    """The contract's licence rules for one model, in Python."""

    owner: str
    licences: dict[int, Licence] = field(default_factory=dict)
    held: dict[str, int] = field(default_factory=dict)
    used_nonces: set[int] = field(default_factory=set)

    def expired(self, licence: Licence, now: int) -> bool:
        return licence.expiry != 0 and now >= licence.expiry

    def evaluate(self, license_id: int, scope: int, now: int) -> LicenseReason:
        licence = self.licences[license_id]
        if licence.state == LicenseState.REVOKED:
            return LicenseReason.REVOKED
        if licence.state == LicenseState.SUSPENDED:
            return LicenseReason.SUSPENDED
        if self.expired(licence, now):
            return LicenseReason.EXPIRED
        if licence.scope & scope != scope:
            return LicenseReason.SCOPE_NOT_GRANTED
        parent_id = licence.parent_id
        while parent_id:
            parent = self.licences[parent_id]
            if parent.state != LicenseState.ACTIVE or self.expired(parent, now):
                return LicenseReason.PARENT_INVALID
            parent_id = parent.parent_id
        return LicenseReason.NONE

    def check(self, account: str, scope: int, now: int) -> LicenseCheck:
        if account == self.owner:
            return LicenseCheck(True, LicenseReason.NONE, 0)
        license_id = self.held.get(account, 0)
        if license_id == 0:
            return LicenseCheck(False, LicenseReason.NOT_LICENSED, 0)
        reason = self.evaluate(license_id, scope, now)
        return LicenseCheck(reason == LicenseReason.NONE, reason, license_id)

    def predict_issue(
        self, caller: str, scope: int, expiry: int, parent_id: int, now: int, transferable: bool = False
    ) -> Predicted:
        """The revert ``issueLicense`` must raise, in the contract's order of checks (None: success)."""
        if scope == 0 or scope & ~0xF:
            return errors.LicenseRegistryInvalidScope, {"scope": scope}
        if expiry != 0 and (expiry <= now or expiry >= 2**40):
            return errors.LicenseRegistryInvalidExpiry, {"expiry": expiry}
        if parent_id == 0:
            if caller != self.owner:
                return errors.LicenseRegistryNotModelOwner, {"model": "0x" + MODEL.hex(), "account": caller}
            return None
        parent = self.licences[parent_id]
        if parent.holder != caller:
            return errors.LicenseRegistryNotParentHolder, {"parent_id": parent_id, "account": caller}
        reason = self.evaluate(parent_id, 0, now)
        if reason != LicenseReason.NONE:
            return errors.LicenseRegistryParentInvalid, {"parent_id": parent_id, "reason": int(reason)}
        if not parent.scope & Scope.REDISTRIBUTE:
            return errors.LicenseRegistryParentNotRedistributable, {"parent_id": parent_id}
        if scope & parent.scope != scope:
            return errors.LicenseRegistryScopeExceedsParent, {"scope": scope, "parent_scope": parent.scope}
        if parent.expiry != 0 and (expiry == 0 or expiry > parent.expiry):
            return errors.LicenseRegistryExpiryExceedsParent, {"expiry": expiry, "parent_expiry": parent.expiry}
        if transferable and not parent.transferable:
            return errors.LicenseRegistryTransferableExceedsParent, {"parent_id": parent_id}
        if parent.depth >= MAX_DEPTH:
            return errors.LicenseRegistryTooDeep, {"depth": parent.depth}
        return None

    def authority_error(self, license_id: int, caller: str) -> Predicted:
        licence = self.licences[license_id]
        if caller == self.owner:
            return None
        if licence.parent_id and self.licences[licence.parent_id].holder == caller:
            return None
        return errors.LicenseRegistryNotAuthorized, {"license_id": license_id, "account": caller}

    def receive(self, licence: Licence, to: str, now: int) -> None:
        """An incoming licence is used only when the holder has none in use, or an invalid one."""
        previous = licence.holder
        if previous and self.held.get(previous) == licence.license_id:
            del self.held[previous]
        licence.holder = to
        current = self.held.get(to, 0)
        if current == 0 or self.evaluate(current, 0, now) != LicenseReason.NONE:
            self.held[to] = licence.license_id


scopes = st.integers(min_value=1, max_value=15)


class LicenseMachine(RuleBasedStateMachine):
    """Drives the registry and its model side by side; see the module docstring."""

    env: Env  # set by the test before the machine runs

    def __init__(self) -> None:
        super().__init__()
        self.env.reset()
        self.client = self.env.client
        self.owner = self.env.accounts[0]
        # The owner may hold licences too; accounts[5] and [6] never receive one unless by transfer.
        self.recipients = self.env.accounts[:5]
        self.callers = self.env.accounts[:7]
        self.model = RegistryModel(owner=self.owner.address)
        self.offers: list[OfferRecord] = []
        self.slot = 0
        self.next_nonce = 1
        self.sync_slot()

    # -- time ----------------------------------------------------------------------------------

    def now(self) -> int:
        return self.client.block_timestamp()

    def expiry_at(self, slot: int) -> int:
        return self.env.t0 + SLOT * slot + SLOT // 2

    def sync_slot(self) -> None:
        offset = self.now() - self.env.t0
        self.slot = round(offset / SLOT)
        # Far from a boundary, or the grid's promise (module docstring) would not hold.
        assert abs(offset - SLOT * self.slot) < SLOT // 2 - 100, offset

    def expiry_choice(self, data: st.DataObject, low: int = -1, high: int = 5) -> int:
        """0 (perpetual) or a grid expiry from ``low`` slots to ``high`` slots from now (past ones revert)."""
        choice = data.draw(st.one_of(st.just(None), st.integers(min_value=low, max_value=high)))
        return 0 if choice is None else self.expiry_at(self.slot + choice)

    # -- running a transaction against the prediction -----------------------------------------

    def expect(self, predicted: Predicted, action: Callable[[], T]) -> tuple[bool, T | None]:
        """Run ``action``; it must succeed (``(True, result)``) or raise exactly the predicted revert."""
        if predicted is None:
            return True, action()
        error_class, args = predicted
        block = int(self.client.rpc.call("eth_blockNumber", []), 16)
        with pytest.raises(errors.GeneratedRevert) as caught:
            action()
        assert type(caught.value) is error_class, caught.value
        assert caught.value.args == args
        assert int(self.client.rpc.call("eth_blockNumber", []), 16) == block, "a reverted call changed the chain"
        return False, None

    def pick_licence(self, data: st.DataObject, preferred: Callable[[Licence], bool] | None = None) -> Licence:
        """Any licence; with ``preferred``, mostly one it accepts (so that rules mostly succeed)."""
        ids = sorted(self.model.licences)
        # Hypothesis favours small draws, so the rare branch is the largest value.
        if preferred is not None and data.draw(st.integers(min_value=0, max_value=3), label="any licence") < 3:
            ids = [i for i in ids if preferred(self.model.licences[i])] or ids
        return self.model.licences[data.draw(st.sampled_from(ids), label="licence")]

    def authority(self, data: st.DataObject, licence: Licence) -> LocalAccount:
        """Mostly the model owner; sometimes the parent's holder, sometimes anyone."""
        candidates = [self.owner]
        if licence.parent_id:
            parent_holder = self.model.licences[licence.parent_id].holder
            candidates.append(self.account(parent_holder))
        anyone = data.draw(st.integers(min_value=0, max_value=4), label="anyone") == 4
        return data.draw(st.sampled_from(self.callers if anyone else candidates), label="authority")

    def account(self, address: str) -> LocalAccount:
        return next(a for a in self.callers if a.address == address)

    def issue_and_record(
        self, issuer: LocalAccount, to: LocalAccount, scope: int, expiry: int, transferable: bool, parent_id: int
    ) -> None:
        predicted = self.model.predict_issue(issuer.address, scope, expiry, parent_id, self.now(), transferable)
        terms = LicenseTerms(
            model=MODEL, scope=Scope(scope), expiry=expiry, transferable=transferable, parent_id=parent_id
        )
        issued, license_id = self.expect(predicted, lambda: self.client.licenses.issue(issuer, to.address, terms))
        if not issued:
            return
        assert license_id == len(self.model.licences) + 1
        depth = self.model.licences[parent_id].depth + 1 if parent_id else 0
        licence = Licence(license_id, "", scope, expiry, transferable, parent_id, depth)
        self.model.licences[license_id] = licence
        self.model.receive(licence, to.address, self.now())

    # -- rules ---------------------------------------------------------------------------------

    @initialize(data=st.data(), scope=scopes, transferable=st.booleans())
    def redistributor(self, data: st.DataObject, scope: int, transferable: bool) -> None:
        """Every example starts with a root licence that may sublicense, expiring soon or never, and one
        sublicence of it (so that the parent's fate shows in its child's check)."""
        holder, licensee = data.draw(st.permutations(self.recipients[1:]), label="accounts")[:2]
        expiry = self.expiry_choice(data, low=0, high=2)
        scope |= Scope.REDISTRIBUTE
        self.issue_and_record(self.owner, holder, scope, expiry, transferable, 0)
        sub_scope = data.draw(st.integers(min_value=1, max_value=15), label="sub scope") & scope or scope
        self.issue_and_record(holder, licensee, sub_scope, expiry, data.draw(st.booleans()), 1)

    @rule(data=st.data(), scope=scopes, transferable=st.booleans())
    def issue(self, data: st.DataObject, scope: int, transferable: bool) -> None:
        to = data.draw(st.sampled_from(self.recipients), label="to")
        self.issue_and_record(self.owner, to, scope, self.expiry_choice(data), transferable, 0)

    @precondition(lambda self: self.model.licences)
    @rule(data=st.data(), scope=scopes, within_parent=st.booleans(), transferable=st.booleans())
    def sublicense(self, data: st.DataObject, scope: int, within_parent: bool, transferable: bool) -> None:
        now = self.now()
        parent = self.pick_licence(
            data,
            lambda lic: (
                bool(lic.scope & Scope.REDISTRIBUTE)
                and lic.depth < MAX_DEPTH
                and self.model.evaluate(lic.license_id, 0, now) == LicenseReason.NONE
            ),
        )
        holder = self.account(parent.holder)
        to = data.draw(st.sampled_from(self.recipients), label="to")
        if within_parent:
            scope = scope & parent.scope or parent.scope
            if parent.expiry == 0:
                expiry = self.expiry_choice(data, low=0)
            else:
                parent_slot = (parent.expiry - self.env.t0) // SLOT
                expiry = self.expiry_at(data.draw(st.integers(self.slot, max(self.slot, parent_slot))))
        else:
            expiry = self.expiry_choice(data)
        self.issue_and_record(holder, to, scope, expiry, transferable, parent.license_id)

    @rule(
        data=st.data(),
        scope=scopes,
        transferable=st.booleans(),
        price=st.integers(min_value=0, max_value=10**6),
        addressed=st.booleans(),
        deadline_passed=st.integers(min_value=0, max_value=4).map(lambda n: n == 4),
    )
    def offer_and_redeem(
        self, data: st.DataObject, scope: int, transferable: bool, price: int, addressed: bool, deadline_passed: bool
    ) -> None:
        redeemer = data.draw(st.sampled_from(self.recipients[1:]), label="redeemer")
        licensee = data.draw(st.sampled_from(self.recipients[1:]), label="licensee") if addressed else None
        expiry = self.expiry_choice(data, low=0)
        offer = LicenseOffer(
            model=MODEL,
            scope=Scope(scope),
            nonce=self.next_nonce,
            deadline=self.expiry_at(self.slot - 1 if deadline_passed else self.slot),
            expiry=expiry,
            transferable=transferable,
            price=price,
            licensee=licensee.address if licensee else None,
        )
        self.next_nonce += 1
        signature = self.client.licenses.sign_offer(self.owner, offer)
        self.redeem_offer(redeemer, OfferRecord(offer, signature))

    @precondition(lambda self: self.offers)
    @rule(data=st.data())
    def redeem_again(self, data: st.DataObject) -> None:
        record = data.draw(st.sampled_from(self.offers), label="offer")
        self.redeem_offer(data.draw(st.sampled_from(self.recipients[1:]), label="redeemer"), record)

    def redeem_offer(self, redeemer: LocalAccount, record: OfferRecord) -> None:
        offer = record.offer
        predicted: Predicted = None
        if self.now() >= offer.deadline:
            predicted = errors.LicenseRegistryOfferExpired, {"deadline": offer.deadline}
        elif offer.licensee is not None and offer.licensee != redeemer.address:
            predicted = (
                errors.LicenseRegistryOfferNotForSender,
                {"licensee": offer.licensee, "sender": redeemer.address},
            )
        elif offer.nonce in self.model.used_nonces:
            predicted = errors.LicenseRegistryOfferUsed, {"signer": self.owner.address, "nonce": offer.nonce}
        redeemed, license_id = self.expect(
            predicted, lambda: self.client.licenses.redeem(redeemer, offer, record.signature)
        )
        if not redeemed:
            return
        assert license_id == len(self.model.licences) + 1
        self.model.used_nonces.add(offer.nonce)
        self.offers.append(record)
        licence = Licence(license_id, "", int(offer.scope), offer.expiry, offer.transferable)
        self.model.licences[license_id] = licence
        self.model.receive(licence, redeemer.address, self.now())

    @precondition(lambda self: self.model.licences)
    @rule(data=st.data())
    def renew(self, data: st.DataObject) -> None:
        licence = self.pick_licence(data, lambda lic: lic.expiry != 0 and lic.state != LicenseState.REVOKED)
        caller = self.authority(data, licence)
        new_expiry = self.expiry_choice(data, low=-1, high=8)
        now = self.now()
        predicted = self.model.authority_error(licence.license_id, caller.address)
        if predicted is None and licence.state == LicenseState.REVOKED:
            predicted = errors.LicenseRegistryLicenseRevoked, {"license_id": licence.license_id}
        if predicted is None and (
            licence.expiry == 0 or new_expiry != 0 and (new_expiry <= licence.expiry or new_expiry <= now)
        ):
            predicted = errors.LicenseRegistryInvalidExpiry, {"expiry": new_expiry}
        if predicted is None and licence.parent_id:
            parent_expiry = self.model.licences[licence.parent_id].expiry
            if parent_expiry != 0 and (new_expiry == 0 or new_expiry > parent_expiry):
                predicted = (
                    errors.LicenseRegistryExpiryExceedsParent,
                    {
                        "expiry": new_expiry,
                        "parent_expiry": parent_expiry,
                    },
                )
        if self.expect(predicted, lambda: self.client.licenses.renew(caller, licence.license_id, new_expiry))[0]:
            licence.expiry = new_expiry

    def change_state(self, data: st.DataObject, action: str, allowed: set[LicenseState], new: LicenseState) -> None:
        licence = self.pick_licence(data, lambda lic: lic.state in allowed)
        caller = self.authority(data, licence)
        predicted = self.model.authority_error(licence.license_id, caller.address)
        if predicted is None and licence.state not in allowed:
            if action == "revoke":
                predicted = errors.LicenseRegistryLicenseRevoked, {"license_id": licence.license_id}
            else:
                predicted = (
                    errors.LicenseRegistryWrongState,
                    {
                        "license_id": licence.license_id,
                        "state": int(licence.state),
                    },
                )
        by_owner = caller.address == self.model.owner
        if predicted is None and action == "reinstate" and licence.suspended_by_owner and not by_owner:
            # A suspension by the model owner is lifted by the model owner only.
            predicted = (
                errors.LicenseRegistryNotAuthorized,
                {"license_id": licence.license_id, "account": caller.address},
            )
        wrapper = getattr(self.client.licenses, action)
        if self.expect(predicted, lambda: wrapper(caller, licence.license_id))[0]:
            licence.state = new
            licence.suspended_by_owner = action == "suspend" and by_owner

    @precondition(lambda self: self.model.licences)
    @rule(data=st.data())
    def suspend(self, data: st.DataObject) -> None:
        self.change_state(data, "suspend", {LicenseState.ACTIVE}, LicenseState.SUSPENDED)

    @precondition(lambda self: self.model.licences)
    @rule(data=st.data())
    def reinstate(self, data: st.DataObject) -> None:
        self.change_state(data, "reinstate", {LicenseState.SUSPENDED}, LicenseState.ACTIVE)

    @precondition(lambda self: self.model.licences)
    @rule(data=st.data())
    def revoke(self, data: st.DataObject) -> None:
        self.change_state(data, "revoke", {LicenseState.ACTIVE, LicenseState.SUSPENDED}, LicenseState.REVOKED)

    @precondition(lambda self: self.model.licences)
    @rule(data=st.data())
    def transfer(self, data: st.DataObject) -> None:
        licence = self.pick_licence(data, lambda lic: lic.transferable and lic.state != LicenseState.REVOKED)
        holder = self.account(licence.holder)
        to = data.draw(st.sampled_from(self.callers), label="to")
        predicted: Predicted = None
        if not licence.transferable:
            predicted = errors.LicenseRegistryNotTransferable, {"license_id": licence.license_id}
        elif licence.state == LicenseState.REVOKED:
            predicted = errors.LicenseRegistryLicenseRevoked, {"license_id": licence.license_id}
        if self.expect(predicted, lambda: self.client.licenses.transfer(holder, licence.license_id, to.address))[0]:
            self.model.receive(licence, to.address, self.now())

    @rule(slots=st.sampled_from([1, 2, 5]))
    def time_travel(self, slots: int) -> None:
        self.client.rpc.call("evm_increaseTime", [slots * SLOT])
        self.client.rpc.call("evm_mine", [])
        before = self.slot
        self.sync_slot()
        assert self.slot == before + slots

    # -- the comparison ------------------------------------------------------------------------

    @invariant()
    def chain_matches_model(self) -> None:
        now = self.now()
        assert abs(now - self.env.t0 - SLOT * self.slot) < SLOT // 2 - 100
        pairs = [(account.address, MODEL, scope) for account in self.callers for scope in ALL_SCOPES]
        actual = self.client.licenses.check_many(pairs)
        expected = [self.model.check(account, scope, now) for account, _, scope in pairs]
        mismatches = [
            (account[:10], scope, got, want)
            for (account, _, scope), got, want in zip(pairs, actual, expected, strict=True)
            if got != want
        ]
        assert not mismatches, mismatches
        assert self.client.licenses.total_issued() == len(self.model.licences)


def test_licence_registry_matches_model(env: Env) -> None:
    LicenseMachine.env = env
    run_state_machine_as_test(
        LicenseMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
