// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ProvenetTest} from "./utils/ProvenetTest.sol";
import {ILicenseRegistry} from "../src/interfaces/ILicenseRegistry.sol";
import {LicenseRegistry} from "../src/LicenseRegistry.sol";
import {ModelRegistry} from "../src/ModelRegistry.sol";

/// @dev A model owner that is a contract: it approves offers through ERC-1271 and refuses ETH, so that
/// withdrawing its proceeds fails.
contract ContractOwner {
    /// @dev ERC-1271's magic value.
    bytes4 internal constant MAGIC = 0x1626ba7e;

    /// @dev The one digest this wallet approves.
    bytes32 public approvedDigest;

    /// @dev Register a model from this contract.
    function register(ModelRegistry models, bytes32 model) external {
        models.registerModel(model, "", bytes32(0), new bytes32[](0), 0, 0);
    }

    /// @dev Approve `digest` (an offer's EIP-712 hash) as if signed.
    function approve(bytes32 digest) external {
        approvedDigest = digest;
    }

    /// @dev Withdraw offer proceeds (which this contract then refuses).
    function withdraw(LicenseRegistry licenses) external {
        licenses.withdrawProceeds();
    }

    /// @dev ERC-1271: valid for the approved digest only.
    function isValidSignature(bytes32 digest, bytes calldata) external view returns (bytes4) {
        return digest == approvedDigest ? MAGIC : bytes4(0xffffffff);
    }

    /// @dev Refuse ETH.
    receive() external payable {
        revert("no ETH");
    }
}

/// @title LicenseRegistryTest
/// @notice Issuing, offers, life cycle, sublicences, transfers and `checkLicense` reason codes.
contract LicenseRegistryTest is ProvenetTest {
    bytes32 internal constant OTHER_MODEL = keccak256("other.safetensors");
    bytes32 internal constant REASON = keccak256("incident-report");
    uint64 internal constant IN_30_DAYS = uint64(START + 30 days);
    uint64 internal constant IN_60_DAYS = uint64(START + 60 days);

    function setUp() public override {
        super.setUp();
        _register(owner, MODEL);
    }

    /*//////////////////////////////////////////////////////////////
                             DIRECT ISSUING
    //////////////////////////////////////////////////////////////*/

    function test_issue_rootLicence_recordsAndEmits() public {
        vm.expectEmit(address(licenses));
        emit ILicenseRegistry.LicenseIssued(
            1, MODEL, alice, owner, INFERENCE | COMMERCIAL, IN_30_DAYS, true, 0, LEGAL_HASH, LEGAL_URI
        );
        uint256 id = _issue(owner, alice, _terms(MODEL, INFERENCE | COMMERCIAL, IN_30_DAYS, true, 0));

        vm.assertEq(id, 1);
        vm.assertEq(licenses.ownerOf(id), alice);
        vm.assertEq(licenses.totalIssued(), 1);
        vm.assertEq(licenses.heldLicense(MODEL, alice), id);
        ILicenseRegistry.License memory license = licenses.licenseOf(id);
        vm.assertEq(license.model, MODEL);
        vm.assertEq(license.scope, INFERENCE | COMMERCIAL);
        vm.assertEq(license.expiry, IN_30_DAYS);
        vm.assertEq(license.issuedAt, START);
        vm.assertEq(license.parentId, 0);
        vm.assertEq(license.depth, 0);
        vm.assertTrue(license.transferable);
        vm.assertTrue(license.state == ILicenseRegistry.LicenseState.Active);

        (bool valid, ILicenseRegistry.LicenseReason reason, uint256 used) =
            licenses.checkLicense(MODEL, alice, INFERENCE | COMMERCIAL);
        vm.assertTrue(valid);
        vm.assertTrue(reason == ILicenseRegistry.LicenseReason.None);
        vm.assertEq(used, id);
    }

    function test_issue_unknownModel_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryUnknownModel.selector, OTHER_MODEL));
        _issue(owner, alice, _terms(OTHER_MODEL, INFERENCE, 0, false, 0));
    }

    function test_issue_notModelOwner_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryNotModelOwner.selector, MODEL, mallory));
        _issue(mallory, mallory, _terms(MODEL, INFERENCE, 0, false, 0));
    }

    function test_issue_invalidScope_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryInvalidScope.selector, 0));
        _issue(owner, alice, _terms(MODEL, 0, 0, false, 0));
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryInvalidScope.selector, 16));
        _issue(owner, alice, _terms(MODEL, 16, 0, false, 0));
    }

    function test_issue_invalidExpiry_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryInvalidExpiry.selector, uint64(START)));
        _issue(owner, alice, _terms(MODEL, INFERENCE, uint64(START), false, 0));
        uint64 tooFar = uint64(type(uint40).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryInvalidExpiry.selector, tooFar));
        _issue(owner, alice, _terms(MODEL, INFERENCE, tooFar, false, 0));
    }

    function test_unknownLicence_views() public {
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryUnknownLicense.selector, 7));
        licenses.licenseOf(7);
        vm.assertEq(licenses.heldLicense(OTHER_MODEL, alice), 0);
        vm.assertTrue(licenses.supportsInterface(0x80ac58cd), "ERC-721");
    }

    /*//////////////////////////////////////////////////////////////
                                 OFFERS
    //////////////////////////////////////////////////////////////*/

    function test_offer_licenseeRedeemsPayingThePrice() public {
        ILicenseRegistry.LicenseOffer memory offer = _offer(alice, INFERENCE, IN_30_DAYS, 1 ether, 1, START + 1 days);
        bytes memory signature = _signOffer(OWNER_KEY, offer);
        vm.deal(alice, 2 ether);

        vm.expectEmit(address(licenses));
        emit ILicenseRegistry.LicenseIssued(
            1, MODEL, alice, owner, INFERENCE, IN_30_DAYS, false, 0, LEGAL_HASH, LEGAL_URI
        );
        vm.expectEmit(address(licenses));
        emit ILicenseRegistry.OfferRedeemed(1, owner, 1, 1 ether);
        vm.prank(alice);
        uint256 id = licenses.redeemOffer{value: 1 ether}(offer, signature);

        vm.assertEq(licenses.ownerOf(id), alice);
        vm.assertTrue(licenses.offerNonceUsed(owner, 1));
        vm.assertEq(licenses.proceedsOf(owner), 1 ether);
        vm.assertEq(address(licenses).balance, 1 ether);
        (bool valid,) = _check(MODEL, alice, INFERENCE);
        vm.assertTrue(valid);

        vm.expectEmit(address(licenses));
        emit ILicenseRegistry.ProceedsWithdrawn(owner, 1 ether);
        vm.prank(owner);
        licenses.withdrawProceeds();
        vm.assertEq(owner.balance, 1 ether);
        vm.assertEq(licenses.proceedsOf(owner), 0);
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryNothingToWithdraw.selector, owner));
        vm.prank(owner);
        licenses.withdrawProceeds();
    }

    function test_offer_openOffer_anyoneRedeemsOnce() public {
        ILicenseRegistry.LicenseOffer memory offer = _offer(address(0), INFERENCE, 0, 0, 2, START + 1 days);
        bytes memory signature = _signOffer(OWNER_KEY, offer);
        vm.prank(carol);
        uint256 id = licenses.redeemOffer(offer, signature);
        vm.assertEq(licenses.ownerOf(id), carol);

        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryOfferUsed.selector, owner, 2));
        vm.prank(bob);
        licenses.redeemOffer(offer, signature);
    }

    function test_offer_redeemedTwice_reverts() public {
        ILicenseRegistry.LicenseOffer memory offer = _offer(alice, INFERENCE, 0, 0, 3, START + 1 days);
        bytes memory signature = _signOffer(OWNER_KEY, offer);
        vm.prank(alice);
        licenses.redeemOffer(offer, signature);
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryOfferUsed.selector, owner, 3));
        vm.prank(alice);
        licenses.redeemOffer(offer, signature);
    }

    function test_offer_forNamedLicensee_refusesOthers() public {
        ILicenseRegistry.LicenseOffer memory offer = _offer(alice, INFERENCE, 0, 0, 4, START + 1 days);
        bytes memory signature = _signOffer(OWNER_KEY, offer);
        vm.expectRevert(
            abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryOfferNotForSender.selector, alice, mallory)
        );
        vm.prank(mallory);
        licenses.redeemOffer(offer, signature);
    }

    function test_offer_wrongPayment_reverts() public {
        ILicenseRegistry.LicenseOffer memory offer = _offer(alice, INFERENCE, 0, 1 ether, 5, START + 1 days);
        bytes memory signature = _signOffer(OWNER_KEY, offer);
        vm.deal(alice, 2 ether);
        vm.expectRevert(
            abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryWrongPayment.selector, 1 ether, 0.5 ether)
        );
        vm.prank(alice);
        licenses.redeemOffer{value: 0.5 ether}(offer, signature);
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryWrongPayment.selector, 1 ether, 2 ether));
        vm.prank(alice);
        licenses.redeemOffer{value: 2 ether}(offer, signature);
    }

    function test_offer_expiredDeadline_reverts() public {
        ILicenseRegistry.LicenseOffer memory offer = _offer(alice, INFERENCE, 0, 0, 6, START + 1 days);
        bytes memory signature = _signOffer(OWNER_KEY, offer);
        vm.warp(START + 1 days + 1);
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryOfferExpired.selector, START + 1 days));
        vm.prank(alice);
        licenses.redeemOffer(offer, signature);
    }

    function test_offer_forgedSignature_reverts() public {
        ILicenseRegistry.LicenseOffer memory offer = _offer(mallory, ALL_SCOPES, 0, 0, 7, START + 1 days);
        bytes memory signature = _signOffer(MALLORY_KEY, offer);
        vm.expectRevert(
            abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryInvalidOfferSigner.selector, mallory, owner)
        );
        vm.prank(mallory);
        licenses.redeemOffer(offer, signature);
    }

    function test_offer_tamperedTerms_reverts() public {
        ILicenseRegistry.LicenseOffer memory offer = _offer(alice, INFERENCE, 0, 1 ether, 8, START + 1 days);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(OWNER_KEY, licenses.hashOffer(offer));
        offer.price = 0;
        offer.scope = ALL_SCOPES;
        address recovered = ecrecover(licenses.hashOffer(offer), v, r, s);
        vm.expectRevert(
            abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryInvalidOfferSigner.selector, recovered, owner)
        );
        vm.prank(alice);
        licenses.redeemOffer(offer, abi.encodePacked(r, s, v));
    }

    function test_offer_malformedSignature_reportsZeroSigner() public {
        ILicenseRegistry.LicenseOffer memory offer = _offer(alice, INFERENCE, 0, 0, 9, START + 1 days);
        vm.expectRevert(
            abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryInvalidOfferSigner.selector, address(0), owner)
        );
        vm.prank(alice);
        licenses.redeemOffer(offer, hex"1234");
    }

    function test_offer_cancelled_cannotBeRedeemed() public {
        ILicenseRegistry.LicenseOffer memory offer = _offer(alice, INFERENCE, 0, 0, 10, START + 1 days);
        bytes memory signature = _signOffer(OWNER_KEY, offer);
        vm.expectEmit(address(licenses));
        emit ILicenseRegistry.OfferCancelled(owner, 10);
        vm.prank(owner);
        licenses.cancelOffer(10);
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryOfferUsed.selector, owner, 10));
        vm.prank(alice);
        licenses.redeemOffer(offer, signature);
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryOfferUsed.selector, owner, 10));
        vm.prank(owner);
        licenses.cancelOffer(10);
    }

    function test_offer_unknownModel_reverts() public {
        ILicenseRegistry.LicenseOffer memory offer = _offer(alice, INFERENCE, 0, 0, 11, START + 1 days);
        offer.model = OTHER_MODEL;
        bytes memory signature = _signOffer(OWNER_KEY, offer);
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryUnknownModel.selector, OTHER_MODEL));
        vm.prank(alice);
        licenses.redeemOffer(offer, signature);
    }

    function test_offer_invalidTerms_revert() public {
        ILicenseRegistry.LicenseOffer memory offer = _offer(alice, 0, 0, 0, 12, START + 1 days);
        bytes memory signature = _signOffer(OWNER_KEY, offer);
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryInvalidScope.selector, 0));
        vm.prank(alice);
        licenses.redeemOffer(offer, signature);
    }

    function test_offer_voidAfterOwnershipTransfer() public {
        ILicenseRegistry.LicenseOffer memory offer = _offer(alice, INFERENCE, 0, 0, 13, START + 1 days);
        bytes memory signature = _signOffer(OWNER_KEY, offer);
        vm.prank(owner);
        models.transferModelOwnership(MODEL, bob);
        vm.prank(bob);
        models.acceptModelOwnership(MODEL);
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryInvalidOfferSigner.selector, owner, bob));
        vm.prank(alice);
        licenses.redeemOffer(offer, signature);
    }

    function test_offer_contractOwner_erc1271_andRefusedWithdrawal() public {
        ContractOwner wallet = new ContractOwner();
        wallet.register(models, OTHER_MODEL);
        ILicenseRegistry.LicenseOffer memory offer = _offer(alice, INFERENCE, 0, 1 ether, 1, START + 1 days);
        offer.model = OTHER_MODEL;
        wallet.approve(licenses.hashOffer(offer));
        vm.deal(alice, 1 ether);
        vm.prank(alice);
        licenses.redeemOffer{value: 1 ether}(offer, "");
        vm.assertEq(licenses.proceedsOf(address(wallet)), 1 ether);

        vm.expectRevert(
            abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryWithdrawFailed.selector, address(wallet), 1 ether)
        );
        wallet.withdraw(licenses);
        vm.assertEq(licenses.proceedsOf(address(wallet)), 1 ether, "proceeds stay on failure");
    }

    function test_offer_hashIsEip712OverTheDocumentedType() public view {
        ILicenseRegistry.LicenseOffer memory offer = _offer(alice, INFERENCE, IN_30_DAYS, 3, 14, START + 1 days);
        bytes32 typeHash = keccak256(
            "LicenseOffer(bytes32 model,address licensee,uint8 scope,uint64 expiry,bool transferable,"
            "bytes32 legalHash,string legalURI,uint256 price,uint256 nonce,uint256 deadline)"
        );
        vm.assertEq(licenses.OFFER_TYPEHASH(), typeHash);
        bytes32 structHash = keccak256(
            abi.encode(
                typeHash,
                offer.model,
                offer.licensee,
                offer.scope,
                offer.expiry,
                offer.transferable,
                offer.legalHash,
                keccak256(bytes(offer.legalURI)),
                offer.price,
                offer.nonce,
                offer.deadline
            )
        );
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("provenet LicenseRegistry"),
                keccak256("1"),
                block.chainid,
                address(licenses)
            )
        );
        vm.assertEq(licenses.hashOffer(offer), keccak256(abi.encodePacked("\x19\x01", domain, structHash)));
    }

    /*//////////////////////////////////////////////////////////////
                               LIFE CYCLE
    //////////////////////////////////////////////////////////////*/

    function test_renew_extendsExpiry() public {
        uint256 id = _issue(owner, alice, _terms(MODEL, INFERENCE, IN_30_DAYS, false, 0));
        vm.warp(IN_30_DAYS);
        _expectReason(alice, INFERENCE, ILicenseRegistry.LicenseReason.Expired);

        vm.expectEmit(address(licenses));
        emit ILicenseRegistry.LicenseRenewed(id, IN_30_DAYS, IN_60_DAYS, owner);
        vm.prank(owner);
        licenses.renewLicense(id, IN_60_DAYS);
        vm.assertEq(licenses.licenseOf(id).expiry, IN_60_DAYS);
        _expectReason(alice, INFERENCE, ILicenseRegistry.LicenseReason.None);

        vm.prank(owner);
        licenses.renewLicense(id, 0);
        vm.assertEq(licenses.licenseOf(id).expiry, 0, "renewed to perpetual");
    }

    function test_renew_invalidExpiry_reverts() public {
        uint256 id = _issue(owner, alice, _terms(MODEL, INFERENCE, IN_60_DAYS, false, 0));
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryInvalidExpiry.selector, IN_30_DAYS));
        vm.prank(owner);
        licenses.renewLicense(id, IN_30_DAYS);
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryInvalidExpiry.selector, IN_60_DAYS));
        vm.prank(owner);
        licenses.renewLicense(id, IN_60_DAYS);

        uint256 perpetual = _issue(owner, bob, _terms(MODEL, INFERENCE, 0, false, 0));
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryInvalidExpiry.selector, IN_60_DAYS));
        vm.prank(owner);
        licenses.renewLicense(perpetual, IN_60_DAYS);
    }

    function test_renew_expiredLicence_needsAFutureExpiry() public {
        uint256 id = _issue(owner, alice, _terms(MODEL, INFERENCE, IN_30_DAYS, false, 0));
        vm.warp(IN_60_DAYS);
        uint64 stillPast = IN_60_DAYS - 1;
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryInvalidExpiry.selector, stillPast));
        vm.prank(owner);
        licenses.renewLicense(id, stillPast);
    }

    function test_renew_onlyAuthority_andNotRevoked() public {
        uint256 id = _issue(owner, alice, _terms(MODEL, INFERENCE, IN_30_DAYS, false, 0));
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryNotAuthorized.selector, id, alice));
        vm.prank(alice);
        licenses.renewLicense(id, IN_60_DAYS);
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryUnknownLicense.selector, 99));
        vm.prank(owner);
        licenses.renewLicense(99, IN_60_DAYS);
        vm.prank(owner);
        licenses.revokeLicense(id, REASON);
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryLicenseRevoked.selector, id));
        vm.prank(owner);
        licenses.renewLicense(id, IN_60_DAYS);
    }

    function test_suspendAndReinstate() public {
        uint256 id = _issue(owner, alice, _terms(MODEL, INFERENCE, 0, false, 0));
        vm.expectEmit(address(licenses));
        emit ILicenseRegistry.LicenseSuspended(id, owner, REASON);
        vm.prank(owner);
        licenses.suspendLicense(id, REASON);
        _expectReason(alice, INFERENCE, ILicenseRegistry.LicenseReason.Suspended);
        vm.expectRevert(
            abi.encodeWithSelector(
                ILicenseRegistry.LicenseRegistryWrongState.selector, id, ILicenseRegistry.LicenseState.Suspended
            )
        );
        vm.prank(owner);
        licenses.suspendLicense(id, REASON);

        vm.expectEmit(address(licenses));
        emit ILicenseRegistry.LicenseReinstated(id, owner);
        vm.prank(owner);
        licenses.reinstateLicense(id);
        _expectReason(alice, INFERENCE, ILicenseRegistry.LicenseReason.None);
        vm.expectRevert(
            abi.encodeWithSelector(
                ILicenseRegistry.LicenseRegistryWrongState.selector, id, ILicenseRegistry.LicenseState.Active
            )
        );
        vm.prank(owner);
        licenses.reinstateLicense(id);
    }

    function test_suspend_byStranger_reverts() public {
        uint256 id = _issue(owner, alice, _terms(MODEL, INFERENCE, 0, false, 0));
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryNotAuthorized.selector, id, mallory));
        vm.prank(mallory);
        licenses.suspendLicense(id, REASON);
    }

    function test_revoke_isFinal() public {
        uint256 id = _issue(owner, alice, _terms(MODEL, INFERENCE, 0, true, 0));
        vm.expectEmit(address(licenses));
        emit ILicenseRegistry.LicenseRevoked(id, owner, REASON);
        vm.prank(owner);
        licenses.revokeLicense(id, REASON);
        _expectReason(alice, INFERENCE, ILicenseRegistry.LicenseReason.Revoked);

        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryLicenseRevoked.selector, id));
        vm.prank(owner);
        licenses.revokeLicense(id, REASON);
        bytes memory wrongState = abi.encodeWithSelector(
            ILicenseRegistry.LicenseRegistryWrongState.selector, id, ILicenseRegistry.LicenseState.Revoked
        );
        vm.expectRevert(wrongState);
        vm.prank(owner);
        licenses.suspendLicense(id, REASON);
        vm.expectRevert(wrongState);
        vm.prank(owner);
        licenses.reinstateLicense(id);
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryLicenseRevoked.selector, id));
        vm.prank(alice);
        licenses.transferFrom(alice, bob, id);
        _expectReason(alice, INFERENCE, ILicenseRegistry.LicenseReason.Revoked);
    }

    /*//////////////////////////////////////////////////////////////
                              SUBLICENCES
    //////////////////////////////////////////////////////////////*/

    function test_sublicence_issuedByRedistributor() public {
        uint256 root = _issue(owner, alice, _terms(MODEL, INFERENCE | REDISTRIBUTE, IN_60_DAYS, false, 0));
        vm.expectEmit(address(licenses));
        emit ILicenseRegistry.LicenseIssued(
            2, MODEL, bob, alice, INFERENCE, IN_30_DAYS, false, root, LEGAL_HASH, LEGAL_URI
        );
        uint256 sub = _issue(alice, bob, _terms(MODEL, INFERENCE, IN_30_DAYS, false, root));
        ILicenseRegistry.License memory license = licenses.licenseOf(sub);
        vm.assertEq(license.parentId, root);
        vm.assertEq(license.depth, 1);
        _expectReason(bob, INFERENCE, ILicenseRegistry.LicenseReason.None);
    }

    function test_sublicence_unknownParent_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryUnknownLicense.selector, 42));
        _issue(alice, bob, _terms(MODEL, INFERENCE, 0, false, 42));
    }

    function test_sublicence_notParentHolder_reverts() public {
        uint256 root = _issue(owner, alice, _terms(MODEL, INFERENCE | REDISTRIBUTE, 0, false, 0));
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryNotParentHolder.selector, root, mallory));
        _issue(mallory, mallory, _terms(MODEL, INFERENCE, 0, false, root));
    }

    function test_sublicence_otherModel_reverts() public {
        _register(alice, OTHER_MODEL);
        uint256 root = _issue(owner, alice, _terms(MODEL, INFERENCE | REDISTRIBUTE, 0, false, 0));
        vm.expectRevert(
            abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryModelMismatch.selector, OTHER_MODEL, MODEL)
        );
        _issue(alice, bob, _terms(OTHER_MODEL, INFERENCE, 0, false, root));
    }

    function test_sublicence_needsRedistribute() public {
        uint256 root = _issue(owner, alice, _terms(MODEL, INFERENCE | DERIVATIVE, 0, false, 0));
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryParentNotRedistributable.selector, root));
        _issue(alice, bob, _terms(MODEL, INFERENCE, 0, false, root));
    }

    function test_sublicence_invalidParent_reverts() public {
        uint256 root = _issue(owner, alice, _terms(MODEL, INFERENCE | REDISTRIBUTE, IN_30_DAYS, false, 0));
        vm.prank(owner);
        licenses.suspendLicense(root, REASON);
        vm.expectRevert(
            abi.encodeWithSelector(
                ILicenseRegistry.LicenseRegistryParentInvalid.selector, root, ILicenseRegistry.LicenseReason.Suspended
            )
        );
        _issue(alice, bob, _terms(MODEL, INFERENCE, IN_30_DAYS, false, root));

        vm.prank(owner);
        licenses.reinstateLicense(root);
        vm.warp(IN_30_DAYS);
        vm.expectRevert(
            abi.encodeWithSelector(
                ILicenseRegistry.LicenseRegistryParentInvalid.selector, root, ILicenseRegistry.LicenseReason.Expired
            )
        );
        _issue(alice, bob, _terms(MODEL, INFERENCE, IN_60_DAYS, false, root));
    }

    function test_sublicence_scopeBeyondParent_reverts() public {
        uint256 root = _issue(owner, alice, _terms(MODEL, INFERENCE | REDISTRIBUTE, 0, false, 0));
        vm.expectRevert(
            abi.encodeWithSelector(
                ILicenseRegistry.LicenseRegistryScopeExceedsParent.selector,
                INFERENCE | COMMERCIAL,
                INFERENCE | REDISTRIBUTE
            )
        );
        _issue(alice, bob, _terms(MODEL, INFERENCE | COMMERCIAL, 0, false, root));
    }

    function test_sublicence_expiryBeyondParent_reverts() public {
        uint256 root = _issue(owner, alice, _terms(MODEL, INFERENCE | REDISTRIBUTE, IN_30_DAYS, false, 0));
        vm.expectRevert(
            abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryExpiryExceedsParent.selector, IN_60_DAYS, IN_30_DAYS)
        );
        _issue(alice, bob, _terms(MODEL, INFERENCE, IN_60_DAYS, false, root));
        vm.expectRevert(
            abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryExpiryExceedsParent.selector, 0, IN_30_DAYS)
        );
        _issue(alice, bob, _terms(MODEL, INFERENCE, 0, false, root));
    }

    function test_sublicence_renewBeyondParent_reverts() public {
        uint256 root = _issue(owner, alice, _terms(MODEL, INFERENCE | REDISTRIBUTE, IN_60_DAYS, false, 0));
        uint256 sub = _issue(alice, bob, _terms(MODEL, INFERENCE, IN_30_DAYS, false, root));
        uint64 later = IN_60_DAYS + 1;
        vm.expectRevert(
            abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryExpiryExceedsParent.selector, later, IN_60_DAYS)
        );
        vm.prank(alice);
        licenses.renewLicense(sub, later);
        vm.expectRevert(
            abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryExpiryExceedsParent.selector, 0, IN_60_DAYS)
        );
        vm.prank(owner);
        licenses.renewLicense(sub, 0);
        vm.prank(alice);
        licenses.renewLicense(sub, IN_60_DAYS);
        vm.assertEq(licenses.licenseOf(sub).expiry, IN_60_DAYS);
    }

    function test_sublicence_depthIsBounded() public {
        uint8 scope = INFERENCE | REDISTRIBUTE;
        uint256 parent = _issue(owner, alice, _terms(MODEL, scope, 0, false, 0));
        uint256 maxDepth = licenses.MAX_DEPTH();
        for (uint256 depth = 1; depth <= maxDepth; ++depth) {
            parent = _issue(alice, alice, _terms(MODEL, scope, 0, false, parent));
            vm.assertEq(licenses.licenseOf(parent).depth, depth);
        }
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryTooDeep.selector, maxDepth));
        _issue(alice, alice, _terms(MODEL, scope, 0, false, parent));
    }

    function test_revoke_cascadesToSublicences() public {
        uint256 root = _issue(owner, alice, _terms(MODEL, INFERENCE | REDISTRIBUTE, 0, false, 0));
        uint256 sub = _issue(alice, bob, _terms(MODEL, INFERENCE | REDISTRIBUTE, 0, false, root));
        uint256 subsub = _issue(bob, carol, _terms(MODEL, INFERENCE, 0, false, sub));
        _expectReason(carol, INFERENCE, ILicenseRegistry.LicenseReason.None);

        vm.prank(owner);
        licenses.revokeLicense(root, REASON);
        _expectReason(alice, INFERENCE, ILicenseRegistry.LicenseReason.Revoked);
        _expectReason(bob, INFERENCE, ILicenseRegistry.LicenseReason.ParentInvalid);
        _expectReason(carol, INFERENCE, ILicenseRegistry.LicenseReason.ParentInvalid);
        (bool valid, ILicenseRegistry.LicenseReason reason) = licenses.checkLicenseById(subsub, carol, INFERENCE);
        vm.assertFalse(valid);
        vm.assertTrue(reason == ILicenseRegistry.LicenseReason.ParentInvalid);
        vm.assertTrue(licenses.licenseOf(sub).state == ILicenseRegistry.LicenseState.Active, "no loop wrote it");
    }

    function test_suspendedParent_suspendsSublicencesUntilReinstated() public {
        uint256 root = _issue(owner, alice, _terms(MODEL, INFERENCE | REDISTRIBUTE, 0, false, 0));
        _issue(alice, bob, _terms(MODEL, INFERENCE, 0, false, root));
        vm.prank(owner);
        licenses.suspendLicense(root, REASON);
        _expectReason(bob, INFERENCE, ILicenseRegistry.LicenseReason.ParentInvalid);
        vm.prank(owner);
        licenses.reinstateLicense(root);
        _expectReason(bob, INFERENCE, ILicenseRegistry.LicenseReason.None);
    }

    function test_sublicence_authority_parentHolderAndModelOwner() public {
        uint256 root = _issue(owner, alice, _terms(MODEL, INFERENCE | REDISTRIBUTE, 0, false, 0));
        uint256 sub = _issue(alice, bob, _terms(MODEL, INFERENCE, 0, false, root));
        vm.prank(alice);
        licenses.suspendLicense(sub, REASON);
        vm.prank(owner);
        licenses.reinstateLicense(sub);
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryNotAuthorized.selector, sub, bob));
        vm.prank(bob);
        licenses.revokeLicense(sub, REASON);
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryNotAuthorized.selector, root, alice));
        vm.prank(alice);
        licenses.revokeLicense(root, REASON);
        vm.prank(alice);
        licenses.revokeLicense(sub, REASON);
        _expectReason(bob, INFERENCE, ILicenseRegistry.LicenseReason.Revoked);
    }

    /*//////////////////////////////////////////////////////////////
                               TRANSFERS
    //////////////////////////////////////////////////////////////*/

    function test_transfer_nonTransferable_reverts() public {
        uint256 id = _issue(owner, alice, _terms(MODEL, INFERENCE, 0, false, 0));
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryNotTransferable.selector, id));
        vm.prank(alice);
        licenses.transferFrom(alice, bob, id);
        vm.assertEq(licenses.ownerOf(id), alice);
    }

    function test_transfer_transferable_movesRights() public {
        uint256 id = _issue(owner, alice, _terms(MODEL, INFERENCE | COMMERCIAL, 0, true, 0));
        vm.prank(alice);
        licenses.transferFrom(alice, bob, id);
        vm.assertEq(licenses.ownerOf(id), bob);
        vm.assertEq(licenses.heldLicense(MODEL, bob), id);
        vm.assertEq(licenses.heldLicense(MODEL, alice), 0);
        _expectReason(alice, INFERENCE, ILicenseRegistry.LicenseReason.NotLicensed);
        (bool valid, ILicenseRegistry.LicenseReason reason, uint256 used) =
            licenses.checkLicense(MODEL, bob, INFERENCE | COMMERCIAL);
        vm.assertTrue(valid);
        vm.assertTrue(reason == ILicenseRegistry.LicenseReason.None);
        vm.assertEq(used, id);
        (valid,) = licenses.checkLicenseById(id, alice, INFERENCE);
        vm.assertFalse(valid);
    }

    function test_transfer_sublicenceAuthorityFollowsTheParent() public {
        uint256 root = _issue(owner, alice, _terms(MODEL, INFERENCE | REDISTRIBUTE, 0, true, 0));
        uint256 sub = _issue(alice, carol, _terms(MODEL, INFERENCE, 0, false, root));
        vm.prank(alice);
        licenses.safeTransferFrom(alice, bob, root);
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryNotAuthorized.selector, sub, alice));
        vm.prank(alice);
        licenses.suspendLicense(sub, REASON);
        vm.prank(bob);
        licenses.suspendLicense(sub, REASON);
    }

    /*//////////////////////////////////////////////////////////////
                             REASON CODES
    //////////////////////////////////////////////////////////////*/

    function test_checkLicense_reasonCodes() public {
        _expectReason(owner, ALL_SCOPES, ILicenseRegistry.LicenseReason.None);
        _expectReason(alice, INFERENCE, ILicenseRegistry.LicenseReason.NotLicensed);
        (bool valid, ILicenseRegistry.LicenseReason reason, uint256 used) =
            licenses.checkLicense(OTHER_MODEL, alice, INFERENCE);
        vm.assertFalse(valid);
        vm.assertTrue(reason == ILicenseRegistry.LicenseReason.NotLicensed);
        vm.assertEq(used, 0);
        (valid, reason, used) = licenses.checkLicense(MODEL, owner, ALL_SCOPES);
        vm.assertEq(used, 0, "the owner needs no licence");

        _issue(owner, alice, _terms(MODEL, INFERENCE, IN_30_DAYS, false, 0));
        _expectReason(alice, INFERENCE, ILicenseRegistry.LicenseReason.None);
        _expectReason(alice, INFERENCE | COMMERCIAL, ILicenseRegistry.LicenseReason.ScopeNotGranted);
        _expectReason(alice, 0, ILicenseRegistry.LicenseReason.None);
        vm.warp(IN_30_DAYS - 1);
        _expectReason(alice, INFERENCE, ILicenseRegistry.LicenseReason.None);
        vm.warp(IN_30_DAYS);
        _expectReason(alice, INFERENCE, ILicenseRegistry.LicenseReason.Expired);
    }

    function test_checkLicenseById_needsTheHolder() public {
        uint256 id = _issue(owner, alice, _terms(MODEL, INFERENCE, 0, false, 0));
        (bool valid, ILicenseRegistry.LicenseReason reason) = licenses.checkLicenseById(id, alice, INFERENCE);
        vm.assertTrue(valid);
        (valid, reason) = licenses.checkLicenseById(id, bob, INFERENCE);
        vm.assertFalse(valid);
        vm.assertTrue(reason == ILicenseRegistry.LicenseReason.NotLicensed);
        (valid, reason) = licenses.checkLicenseById(99, address(0), INFERENCE);
        vm.assertFalse(valid);
        vm.assertTrue(reason == ILicenseRegistry.LicenseReason.NotLicensed);
    }

    /*//////////////////////////////////////////////////////////////
                                  FUZZ
    //////////////////////////////////////////////////////////////*/

    /// @dev Any (scope, expiry): rejected with the named error, or stored exactly and granting its subsets.
    function testFuzz_issue_terms(uint8 scope, uint64 expiry, bool nearExpiry) public {
        if (nearExpiry) expiry = uint64(bound(expiry, 0, START + 3650 days));
        bytes memory expected = "";
        if (scope == 0 || scope > ALL_SCOPES) {
            expected = abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryInvalidScope.selector, scope);
        } else if (expiry != 0 && (expiry <= START || expiry > type(uint40).max)) {
            expected = abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryInvalidExpiry.selector, expiry);
        }
        if (expected.length != 0) {
            vm.expectRevert(expected);
            _issue(owner, alice, _terms(MODEL, scope, expiry, false, 0));
            return;
        }
        uint256 id = _issue(owner, alice, _terms(MODEL, scope, expiry, false, 0));
        ILicenseRegistry.License memory license = licenses.licenseOf(id);
        vm.assertEq(license.scope, scope);
        vm.assertEq(license.expiry, expiry);
        for (uint8 wanted = 1; wanted <= ALL_SCOPES; ++wanted) {
            (bool valid, ILicenseRegistry.LicenseReason reason) = _check(MODEL, alice, wanted);
            vm.assertEq(valid, wanted & scope == wanted);
            if (!valid) vm.assertTrue(reason == ILicenseRegistry.LicenseReason.ScopeNotGranted);
        }
    }

    /// @dev A sublicence is refused with the named error, or never has more scope or a later expiry.
    function testFuzz_sublicence_neverExceedsParent(
        uint8 parentScope,
        uint64 parentExpiry,
        uint8 childScope,
        uint64 childExpiry
    ) public {
        parentScope = uint8(bound(parentScope, 1, ALL_SCOPES));
        childScope = uint8(bound(childScope, 1, ALL_SCOPES));
        parentExpiry = _maybePerpetual(parentExpiry);
        childExpiry = _maybePerpetual(childExpiry);
        uint256 root = _issue(owner, alice, _terms(MODEL, parentScope, parentExpiry, false, 0));

        bytes memory expected = "";
        if (parentScope & REDISTRIBUTE == 0) {
            expected = abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryParentNotRedistributable.selector, root);
        } else if (childScope & parentScope != childScope) {
            expected = abi.encodeWithSelector(
                ILicenseRegistry.LicenseRegistryScopeExceedsParent.selector, childScope, parentScope
            );
        } else if (parentExpiry != 0 && (childExpiry == 0 || childExpiry > parentExpiry)) {
            expected = abi.encodeWithSelector(
                ILicenseRegistry.LicenseRegistryExpiryExceedsParent.selector, childExpiry, parentExpiry
            );
        }
        if (expected.length != 0) {
            vm.expectRevert(expected);
            _issue(alice, bob, _terms(MODEL, childScope, childExpiry, false, root));
            return;
        }
        uint256 sub = _issue(alice, bob, _terms(MODEL, childScope, childExpiry, false, root));
        ILicenseRegistry.License memory child = licenses.licenseOf(sub);
        vm.assertEq(child.scope & parentScope, child.scope, "scope within the parent's");
        if (parentExpiry != 0) {
            vm.assertTrue(child.expiry != 0 && child.expiry <= parentExpiry, "expiry within the parent's");
        }
    }

    /// @dev Validity flips to Expired exactly at the expiry, for a licence and its sublicence alike.
    function testFuzz_timeTravel_expiry(uint64 lifetime, uint64 elapsed) public {
        lifetime = uint64(bound(lifetime, 1, 3650 days));
        elapsed = uint64(bound(elapsed, 0, 2 * 3650 days));
        uint64 expiry = uint64(START) + lifetime;
        uint256 root = _issue(owner, alice, _terms(MODEL, INFERENCE | REDISTRIBUTE, expiry, false, 0));
        _issue(alice, bob, _terms(MODEL, INFERENCE, expiry, false, root));
        vm.warp(START + elapsed);
        ILicenseRegistry.LicenseReason expected =
            elapsed < lifetime ? ILicenseRegistry.LicenseReason.None : ILicenseRegistry.LicenseReason.Expired;
        _expectReason(alice, INFERENCE, expected);
        _expectReason(bob, INFERENCE, expected);
    }

    /// @dev No key other than the model owner's can sign an offer that redeems.
    function testFuzz_offer_randomKeyIsRejected(uint256 key) public {
        key = bound(key, 1, SECP256K1_ORDER - 1);
        vm.assume(key != OWNER_KEY);
        ILicenseRegistry.LicenseOffer memory offer = _offer(alice, ALL_SCOPES, 0, 0, key, START + 1 days);
        bytes memory signature = _signOffer(key, offer);
        vm.expectRevert(
            abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryInvalidOfferSigner.selector, vm.addr(key), owner)
        );
        vm.prank(alice);
        licenses.redeemOffer(offer, signature);
    }

    /// @dev A revoked licence stays invalid whatever time it is and whatever the owner tries.
    function testFuzz_revoked_neverValidAgain(uint64 elapsed, uint64 newExpiry) public {
        uint256 id = _issue(owner, alice, _terms(MODEL, INFERENCE, IN_30_DAYS, false, 0));
        vm.prank(owner);
        licenses.revokeLicense(id, REASON);
        vm.warp(START + bound(elapsed, 0, 3650 days));
        vm.prank(owner);
        (bool ok,) = address(licenses).call(abi.encodeCall(licenses.renewLicense, (id, newExpiry)));
        vm.assertFalse(ok, "renewing a revoked licence fails");
        vm.prank(owner);
        (ok,) = address(licenses).call(abi.encodeCall(licenses.reinstateLicense, (id)));
        vm.assertFalse(ok, "reinstating a revoked licence fails");
        _expectReason(alice, INFERENCE, ILicenseRegistry.LicenseReason.Revoked);
    }

    /*//////////////////////////////////////////////////////////////
                                HELPERS
    //////////////////////////////////////////////////////////////*/

    /// @dev The order of secp256k1's group.
    uint256 internal constant SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    /// @dev 0 (perpetual) one time in four, else an expiry within ten years.
    function _maybePerpetual(uint64 seed) internal pure returns (uint64) {
        if (seed % 4 == 0) return 0;
        return uint64(bound(seed, START + 1, START + 3650 days));
    }

    /// @dev `checkLicense` on MODEL answers `expected` (valid exactly when None).
    function _expectReason(address account, uint8 scope, ILicenseRegistry.LicenseReason expected) internal view {
        (bool valid, ILicenseRegistry.LicenseReason reason) = _check(MODEL, account, scope);
        vm.assertEq(uint256(uint8(reason)), uint256(uint8(expected)), "reason code");
        vm.assertEq(valid, expected == ILicenseRegistry.LicenseReason.None, "validity");
    }

    /*//////////////////////////////////////////////////////////////
                   REVIEW FINDINGS: LICENCE IN USE, SUSPENSION, TRANSFERABILITY
    //////////////////////////////////////////////////////////////*/

    function test_inUse_aSublicencePushedOntoAValidHolderDoesNotDisplaceIt() public {
        uint256 good = _issue(owner, alice, _terms(MODEL, ALL_SCOPES, 0, false, 0));
        uint256 mallorys = _issue(owner, mallory, _terms(MODEL, INFERENCE | REDISTRIBUTE, 0, false, 0));
        uint256 junk = _issue(mallory, alice, _terms(MODEL, INFERENCE, 0, false, mallorys));
        vm.prank(mallory);
        licenses.revokeLicense(junk, REASON);

        vm.assertEq(licenses.heldLicense(MODEL, alice), good);
        _expectReason(alice, COMMERCIAL, ILicenseRegistry.LicenseReason.None);
    }

    function test_inUse_aTransferredLicenceReplacesOnlyAnInvalidOne() public {
        uint256 expiring = _issue(owner, alice, _terms(MODEL, INFERENCE, IN_30_DAYS, false, 0));
        uint256 gift = _issue(owner, bob, _terms(MODEL, INFERENCE | COMMERCIAL, 0, true, 0));
        vm.prank(bob);
        licenses.transferFrom(bob, alice, gift);
        vm.assertEq(licenses.heldLicense(MODEL, alice), expiring, "a valid licence in use stays in use");

        vm.warp(IN_30_DAYS + 1);
        uint256 renewal = _issue(owner, alice, _terms(MODEL, INFERENCE, IN_60_DAYS, false, 0));
        vm.assertEq(licenses.heldLicense(MODEL, alice), renewal, "an expired licence in use is replaced");
    }

    function test_useLicense_holderChoosesAndEmits() public {
        uint256 first = _issue(owner, alice, _terms(MODEL, INFERENCE, 0, false, 0));
        uint256 upgrade = _issue(owner, alice, _terms(MODEL, INFERENCE | COMMERCIAL, 0, false, 0));
        vm.assertEq(licenses.heldLicense(MODEL, alice), first);
        _expectReason(alice, COMMERCIAL, ILicenseRegistry.LicenseReason.ScopeNotGranted);

        vm.expectEmit(address(licenses));
        emit ILicenseRegistry.LicenseInUse(alice, upgrade, true);
        vm.prank(alice);
        licenses.useLicense(upgrade);
        _expectReason(alice, COMMERCIAL, ILicenseRegistry.LicenseReason.None);
    }

    function test_useLicense_revertsForANonHolder() public {
        uint256 id = _issue(owner, alice, _terms(MODEL, INFERENCE, 0, false, 0));
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryNotHolder.selector, id, mallory));
        vm.prank(mallory);
        licenses.useLicense(id);
    }

    function test_reinstate_anOwnerSuspensionIsLiftedByTheOwnerOnly() public {
        uint256 parent = _issue(owner, mallory, _terms(MODEL, INFERENCE | REDISTRIBUTE, 0, false, 0));
        uint256 child = _issue(mallory, bob, _terms(MODEL, INFERENCE, 0, false, parent));
        vm.prank(owner);
        licenses.suspendLicense(child, REASON);

        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryNotAuthorized.selector, child, mallory));
        vm.prank(mallory);
        licenses.reinstateLicense(child);

        vm.prank(owner);
        licenses.reinstateLicense(child);
        _expectReason(bob, INFERENCE, ILicenseRegistry.LicenseReason.None);
        // The sublicensor's own suspension stays its own to lift.
        vm.prank(mallory);
        licenses.suspendLicense(child, REASON);
        vm.prank(mallory);
        licenses.reinstateLicense(child);
        _expectReason(bob, INFERENCE, ILicenseRegistry.LicenseReason.None);
    }

    function test_sublicense_cannotBeTransferableUnderANonTransferableParent() public {
        uint256 parent = _issue(owner, alice, _terms(MODEL, ALL_SCOPES, 0, false, 0));
        ILicenseRegistry.LicenseTerms memory terms = _terms(MODEL, ALL_SCOPES, 0, true, parent);
        vm.expectRevert(
            abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryTransferableExceedsParent.selector, parent)
        );
        vm.prank(alice);
        licenses.issueLicense(alice, terms);
    }
}
