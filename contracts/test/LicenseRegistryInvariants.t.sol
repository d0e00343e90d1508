// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ProvenetTest} from "./utils/ProvenetTest.sol";
import {LicenseHandler} from "./handlers/LicenseHandler.sol";
import {ILicenseRegistry} from "../src/interfaces/ILicenseRegistry.sol";

/// @title LicenseRegistryInvariants
/// @notice Under any sequence of issuing, sublicensing, suspending, reinstating, revoking, renewing,
/// transferring and time travel: a revoked licence never becomes valid again, and no sublicence is valid
/// when its parent is not, or has more scope or a later expiry than its parent.
contract LicenseRegistryInvariants is ProvenetTest {
    LicenseHandler internal handler;

    function setUp() public override {
        super.setUp();
        _register(owner, MODEL);
        handler = new LicenseHandler(licenses, MODEL, owner, [alice, bob, carol]);
        targetContract(address(handler));
        bytes4[] memory selectors = new bytes4[](10);
        selectors[0] = LicenseHandler.issueRoot.selector;
        selectors[1] = LicenseHandler.issueSublicence.selector;
        selectors[2] = LicenseHandler.issueSublicence.selector;
        selectors[3] = LicenseHandler.issueSublicence.selector;
        selectors[4] = LicenseHandler.suspend.selector;
        selectors[5] = LicenseHandler.reinstate.selector;
        selectors[6] = LicenseHandler.revoke.selector;
        selectors[7] = LicenseHandler.renew.selector;
        selectors[8] = LicenseHandler.transfer.selector;
        selectors[9] = LicenseHandler.warp.selector;
        targetSelector(address(handler), selectors);
    }

    /// @dev Every licence ever revoked is still revoked and answers Revoked, for any scope.
    function invariant_revokedNeverValidAgain() public view {
        uint256 total = licenses.totalIssued();
        for (uint256 id = 1; id <= total; ++id) {
            if (!handler.ghostRevoked(id)) continue;
            vm.assertTrue(licenses.licenseOf(id).state == ILicenseRegistry.LicenseState.Revoked, "still revoked");
            (bool valid, ILicenseRegistry.LicenseReason reason) = licenses.checkLicenseById(id, licenses.ownerOf(id), 0);
            vm.assertFalse(valid, "a revoked licence is never valid");
            vm.assertTrue(reason == ILicenseRegistry.LicenseReason.Revoked, "reason Revoked");
        }
    }

    /// @dev A valid sublicence has a valid parent; a sublicence never exceeds its parent's scope or expiry.
    function invariant_sublicenceNeverBeyondParent() public view {
        uint256 total = licenses.totalIssued();
        for (uint256 id = 1; id <= total; ++id) {
            ILicenseRegistry.License memory child = licenses.licenseOf(id);
            if (child.parentId == 0) continue;
            ILicenseRegistry.License memory parent = licenses.licenseOf(child.parentId);
            vm.assertEq(child.scope & parent.scope, child.scope, "scope within the parent's");
            vm.assertEq(child.depth, parent.depth + 1, "one level below the parent");
            if (parent.expiry != 0) {
                vm.assertTrue(child.expiry != 0, "no perpetual sublicence of an expiring parent");
                vm.assertLe(child.expiry, parent.expiry, "expiry within the parent's");
            }
            (bool childValid,) = licenses.checkLicenseById(id, licenses.ownerOf(id), 0);
            if (childValid) {
                (bool parentValid,) = licenses.checkLicenseById(child.parentId, licenses.ownerOf(child.parentId), 0);
                vm.assertTrue(parentValid, "a valid sublicence has a valid parent");
            }
        }
    }

    /// @dev checkLicense agrees with checkLicenseById for the licence it reports.
    function invariant_checkLicenseAgreesWithTheLicenceItUses() public view {
        address[3] memory accounts = [alice, bob, carol];
        for (uint256 i = 0; i < accounts.length; ++i) {
            (bool valid, ILicenseRegistry.LicenseReason reason, uint256 id) =
                licenses.checkLicense(MODEL, accounts[i], INFERENCE);
            if (id == 0) {
                vm.assertTrue(reason == ILicenseRegistry.LicenseReason.NotLicensed);
                continue;
            }
            vm.assertEq(licenses.ownerOf(id), accounts[i], "the licence used is held by the account");
            (bool byIdValid, ILicenseRegistry.LicenseReason byIdReason) =
                licenses.checkLicenseById(id, accounts[i], INFERENCE);
            vm.assertEq(valid, byIdValid);
            vm.assertEq(uint256(uint8(reason)), uint256(uint8(byIdReason)));
        }
    }
}
