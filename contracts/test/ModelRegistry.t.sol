// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ProvenetTest} from "./utils/ProvenetTest.sol";
import {ModelRegistry} from "../src/ModelRegistry.sol";
import {LicenseRegistry} from "../src/LicenseRegistry.sol";
import {IModelRegistry} from "../src/interfaces/IModelRegistry.sol";
import {ILicenseRegistry} from "../src/interfaces/ILicenseRegistry.sol";
import {IFederationLog} from "../src/interfaces/IFederationLog.sol";

/// @title ModelRegistryTest
/// @notice Registration by weights hash, lineage with derivative licences, provenance pointers, two-step
/// ownership.
contract ModelRegistryTest is ProvenetTest {
    bytes32 internal constant CHILD = keccak256("child.safetensors");

    /*//////////////////////////////////////////////////////////////
                               DEPLOYMENT
    //////////////////////////////////////////////////////////////*/

    function test_deployment_pointsBothWays() public view {
        vm.assertEq(models.licenseRegistry(), address(licenses));
        vm.assertEq(models.federationLog(), address(federationLog));
        vm.assertEq(licenses.modelRegistry(), address(models));
    }

    function test_licenseRegistry_refusesARegistryThatDoesNotPointBack() public {
        ModelRegistry stray = new ModelRegistry(address(0xdead), address(federationLog));
        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryMisconfigured.selector, address(stray)));
        new LicenseRegistry(address(stray));
    }

    /*//////////////////////////////////////////////////////////////
                              REGISTRATION
    //////////////////////////////////////////////////////////////*/

    function test_register_storesRecordAndEmits() public {
        vm.expectEmit(address(models));
        emit IModelRegistry.ModelRegistered(MODEL, owner, META_HASH, META_URI, new bytes32[](0), 0, 0);
        _register(owner, MODEL);

        IModelRegistry.ModelRecord memory record = models.getModel(MODEL);
        vm.assertEq(record.owner, owner);
        vm.assertEq(record.registeredAt, START);
        vm.assertEq(record.index, 1);
        vm.assertEq(record.metadataHash, META_HASH);
        vm.assertEq(record.metadataURI, META_URI);
        vm.assertEq(record.parents.length, 0);
        vm.assertEq(record.federationId, 0);
        vm.assertEq(record.finalRound, 0);
        vm.assertTrue(models.isRegistered(MODEL));
        vm.assertEq(models.modelOwner(MODEL), owner);
        vm.assertEq(models.modelCount(), 1);
        vm.assertEq(models.modelAt(1), MODEL);
        (address recordedOwner, uint32 index) = models.modelOwnerAndIndex(MODEL);
        vm.assertEq(recordedOwner, owner);
        vm.assertEq(index, 1);
    }

    function test_register_zeroHash_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryZeroHash.selector));
        _register(owner, bytes32(0));
    }

    function test_register_firstRegistrationWins() public {
        _register(owner, MODEL);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryAlreadyRegistered.selector, MODEL, owner));
        _register(mallory, MODEL);
        vm.assertEq(models.modelOwner(MODEL), owner);
    }

    function test_unknownModel_viewsAndReverts() public {
        vm.assertFalse(models.isRegistered(MODEL));
        vm.assertEq(models.modelOwner(MODEL), address(0));
        vm.assertEq(models.modelAt(1), bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryUnknownModel.selector, MODEL));
        models.getModel(MODEL);
    }

    /*//////////////////////////////////////////////////////////////
                                LINEAGE
    //////////////////////////////////////////////////////////////*/

    function test_register_ownDerivative_needsNoLicence() public {
        _register(owner, MODEL);
        _registerDerivative(owner, CHILD, MODEL);
        vm.assertEq(models.getModel(CHILD).parents[0], MODEL);
    }

    function test_register_unknownParent_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryUnknownParent.selector, MODEL));
        _registerDerivative(owner, CHILD, MODEL);
    }

    function test_register_duplicateParent_reverts() public {
        _register(owner, MODEL);
        bytes32[] memory parents = new bytes32[](2);
        parents[0] = MODEL;
        parents[1] = MODEL;
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryDuplicateParent.selector, MODEL));
        vm.prank(owner);
        models.registerModel(CHILD, META_URI, META_HASH, parents, 0, 0);
    }

    function test_register_tooManyParents_reverts() public {
        uint256 max = models.MAX_PARENTS();
        bytes32[] memory parents = new bytes32[](max + 1);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryTooManyParents.selector, max + 1, max));
        vm.prank(owner);
        models.registerModel(CHILD, META_URI, META_HASH, parents, 0, 0);
    }

    function test_register_derivativeOfOthersModel_withoutLicence_reverts() public {
        _register(owner, MODEL);
        vm.expectRevert(_notLicensed(ILicenseRegistry.LicenseReason.NotLicensed));
        _registerDerivative(alice, CHILD, MODEL);
    }

    function test_register_derivative_inferenceOnlyLicence_reverts() public {
        _register(owner, MODEL);
        _issue(owner, alice, _terms(MODEL, INFERENCE | COMMERCIAL, 0, false, 0));
        vm.expectRevert(_notLicensed(ILicenseRegistry.LicenseReason.ScopeNotGranted));
        _registerDerivative(alice, CHILD, MODEL);
    }

    function test_register_derivative_withDerivativeLicence_succeeds() public {
        _register(owner, MODEL);
        _issue(owner, alice, _terms(MODEL, DERIVATIVE, 0, false, 0));
        bytes32[] memory parents = new bytes32[](1);
        parents[0] = MODEL;
        vm.expectEmit(address(models));
        emit IModelRegistry.ModelRegistered(CHILD, alice, META_HASH, META_URI, parents, 0, 0);
        _registerDerivative(alice, CHILD, MODEL);
        vm.assertEq(models.modelOwner(CHILD), alice);
    }

    function test_register_derivative_expiredLicence_reverts() public {
        _register(owner, MODEL);
        _issue(owner, alice, _terms(MODEL, DERIVATIVE, uint64(START + 1 days), false, 0));
        vm.warp(START + 1 days);
        vm.expectRevert(_notLicensed(ILicenseRegistry.LicenseReason.Expired));
        _registerDerivative(alice, CHILD, MODEL);
    }

    function test_register_derivative_suspendedOrRevokedLicence_reverts() public {
        _register(owner, MODEL);
        uint256 id = _issue(owner, alice, _terms(MODEL, DERIVATIVE, 0, false, 0));
        vm.prank(owner);
        licenses.suspendLicense(id, bytes32("incident"));
        vm.expectRevert(_notLicensed(ILicenseRegistry.LicenseReason.Suspended));
        _registerDerivative(alice, CHILD, MODEL);
        vm.prank(owner);
        licenses.revokeLicense(id, bytes32("breach"));
        vm.expectRevert(_notLicensed(ILicenseRegistry.LicenseReason.Revoked));
        _registerDerivative(alice, CHILD, MODEL);
    }

    function test_register_derivative_sublicenceWithRevokedParent_reverts() public {
        _register(owner, MODEL);
        uint256 root = _issue(owner, bob, _terms(MODEL, DERIVATIVE | REDISTRIBUTE, 0, false, 0));
        _issue(bob, alice, _terms(MODEL, DERIVATIVE, 0, false, root));
        vm.prank(owner);
        licenses.revokeLicense(root, bytes32("breach"));
        vm.expectRevert(_notLicensed(ILicenseRegistry.LicenseReason.ParentInvalid));
        _registerDerivative(alice, CHILD, MODEL);
    }

    /*//////////////////////////////////////////////////////////////
                               PROVENANCE
    //////////////////////////////////////////////////////////////*/

    function test_register_withProvenance_storesPointer() public {
        uint64 federationId = _federationWithRounds(2);
        vm.prank(coordinator);
        models.registerModel(MODEL, META_URI, META_HASH, new bytes32[](0), federationId, 2);
        IModelRegistry.ModelRecord memory record = models.getModel(MODEL);
        vm.assertEq(record.federationId, federationId);
        vm.assertEq(record.finalRound, 2);
    }

    function test_register_provenance_notCoordinator_reverts() public {
        uint64 federationId = _federationWithRounds(1);
        vm.expectRevert(
            abi.encodeWithSelector(IModelRegistry.ModelRegistryNotCoordinator.selector, federationId, mallory)
        );
        vm.prank(mallory);
        models.registerModel(MODEL, META_URI, META_HASH, new bytes32[](0), federationId, 1);
    }

    function test_register_provenance_roundNotRecorded_reverts() public {
        uint64 federationId = _federationWithRounds(1);
        vm.expectRevert(
            abi.encodeWithSelector(IModelRegistry.ModelRegistryRoundNotRecorded.selector, federationId, 2, 1)
        );
        vm.prank(coordinator);
        models.registerModel(MODEL, META_URI, META_HASH, new bytes32[](0), federationId, 2);
        vm.expectRevert(
            abi.encodeWithSelector(IModelRegistry.ModelRegistryRoundNotRecorded.selector, federationId, 0, 1)
        );
        vm.prank(coordinator);
        models.registerModel(MODEL, META_URI, META_HASH, new bytes32[](0), federationId, 0);
    }

    function test_register_provenance_roundWithoutFederation_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryRoundNotRecorded.selector, 0, 3, 0));
        vm.prank(owner);
        models.registerModel(MODEL, META_URI, META_HASH, new bytes32[](0), 0, 3);
    }

    function test_register_provenance_unknownFederation_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IFederationLog.FederationLogUnknownFederation.selector, 9));
        vm.prank(coordinator);
        models.registerModel(MODEL, META_URI, META_HASH, new bytes32[](0), 9, 1);
    }

    /*//////////////////////////////////////////////////////////////
                               OWNERSHIP
    //////////////////////////////////////////////////////////////*/

    function test_ownership_twoStepTransfer() public {
        _register(owner, MODEL);
        vm.expectEmit(address(models));
        emit IModelRegistry.ModelOwnershipTransferStarted(MODEL, owner, alice);
        vm.prank(owner);
        models.transferModelOwnership(MODEL, alice);
        vm.assertEq(models.pendingModelOwner(MODEL), alice);
        vm.assertEq(models.modelOwner(MODEL), owner, "owner changes only on acceptance");

        vm.expectEmit(address(models));
        emit IModelRegistry.ModelOwnershipTransferred(MODEL, owner, alice);
        vm.prank(alice);
        models.acceptModelOwnership(MODEL);
        vm.assertEq(models.modelOwner(MODEL), alice);
        vm.assertEq(models.pendingModelOwner(MODEL), address(0));

        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryNotOwner.selector, MODEL, owner));
        vm.prank(owner);
        models.transferModelOwnership(MODEL, owner);
    }

    function test_ownership_onlyOwnerStartsTransfer() public {
        _register(owner, MODEL);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryNotOwner.selector, MODEL, mallory));
        vm.prank(mallory);
        models.transferModelOwnership(MODEL, mallory);
    }

    function test_ownership_unknownModel_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryUnknownModel.selector, MODEL));
        vm.prank(owner);
        models.transferModelOwnership(MODEL, alice);
    }

    function test_ownership_onlyPendingOwnerAccepts() public {
        _register(owner, MODEL);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryNotPendingOwner.selector, MODEL, alice));
        vm.prank(alice);
        models.acceptModelOwnership(MODEL);

        vm.prank(owner);
        models.transferModelOwnership(MODEL, alice);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryNotPendingOwner.selector, MODEL, mallory));
        vm.prank(mallory);
        models.acceptModelOwnership(MODEL);
    }

    function test_ownership_transferToZeroCancels() public {
        _register(owner, MODEL);
        vm.prank(owner);
        models.transferModelOwnership(MODEL, alice);
        vm.prank(owner);
        models.transferModelOwnership(MODEL, address(0));
        vm.assertEq(models.pendingModelOwner(MODEL), address(0));
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryNotPendingOwner.selector, MODEL, alice));
        vm.prank(alice);
        models.acceptModelOwnership(MODEL);
    }

    function test_ownership_moveAuthorityOverLicences() public {
        _register(owner, MODEL);
        uint256 id = _issue(owner, bob, _terms(MODEL, INFERENCE, 0, false, 0));
        vm.prank(owner);
        models.transferModelOwnership(MODEL, alice);
        vm.prank(alice);
        models.acceptModelOwnership(MODEL);

        vm.expectRevert(abi.encodeWithSelector(ILicenseRegistry.LicenseRegistryNotAuthorized.selector, id, owner));
        vm.prank(owner);
        licenses.revokeLicense(id, bytes32(0));
        vm.prank(alice);
        licenses.revokeLicense(id, bytes32(0));
        (bool valid,) = _check(MODEL, owner, INFERENCE);
        vm.assertFalse(valid, "the previous owner keeps no rights");
        (valid,) = _check(MODEL, alice, ALL_SCOPES);
        vm.assertTrue(valid, "the new owner holds every right");
    }

    /*//////////////////////////////////////////////////////////////
                                  FUZZ
    //////////////////////////////////////////////////////////////*/

    function testFuzz_register_anyHashOnce(bytes32 model, address first, address second) public {
        vm.assume(model != bytes32(0) && first != address(0));
        vm.prank(first);
        models.registerModel(model, META_URI, META_HASH, new bytes32[](0), 0, 0);
        vm.assertEq(models.modelOwner(model), first);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryAlreadyRegistered.selector, model, first));
        vm.prank(second);
        models.registerModel(model, META_URI, META_HASH, new bytes32[](0), 0, 0);
    }

    function testFuzz_register_derivativeNeedsDerivativeScope(uint8 scope) public {
        scope = uint8(bound(scope, 1, ALL_SCOPES));
        _register(owner, MODEL);
        _issue(owner, alice, _terms(MODEL, scope, 0, false, 0));
        if (scope & DERIVATIVE == 0) {
            vm.expectRevert(_notLicensed(ILicenseRegistry.LicenseReason.ScopeNotGranted));
        }
        _registerDerivative(alice, CHILD, MODEL);
    }

    /*//////////////////////////////////////////////////////////////
                                HELPERS
    //////////////////////////////////////////////////////////////*/

    /// @dev The revert alice's derivative registration of MODEL gets for `reason`.
    function _notLicensed(ILicenseRegistry.LicenseReason reason) internal view returns (bytes memory) {
        return
            abi.encodeWithSelector(
                IModelRegistry.ModelRegistryDerivativeNotLicensed.selector, MODEL, alice, uint8(reason)
            );
    }

    /// @dev A one-member federation (alice) with `rounds` rounds recorded.
    function _federationWithRounds(uint64 rounds) internal returns (uint64 federationId) {
        address[] memory members = new address[](1);
        members[0] = alice;
        federationId = _federation(members, 1, bytes32(0));
        bytes32 previous = bytes32(0);
        for (uint64 round = 1; round <= rounds; ++round) {
            IFederationLog.Attestation[] memory attestations = new IFederationLog.Attestation[](1);
            attestations[0] = _attest(ALICE_KEY, federationId, round, previous, keccak256(abi.encode(round)), 10);
            bytes32 next = keccak256(abi.encode("global", round));
            vm.prank(coordinator);
            federationLog.recordRound(federationId, round, previous, next, bytes32(0), attestations);
            previous = next;
        }
    }
}
