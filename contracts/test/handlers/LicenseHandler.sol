// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Cheats} from "../utils/TestBase.sol";
import {LicenseRegistry} from "../../src/LicenseRegistry.sol";
import {ILicenseRegistry} from "../../src/interfaces/ILicenseRegistry.sol";

/// @title LicenseHandler
/// @notice Drives licences of one model through issuing, sublicensing, suspension, reinstatement,
/// revocation, renewal, transfers and time, and remembers every licence ever revoked.
contract LicenseHandler is Cheats {
    LicenseRegistry public immutable licenses;
    bytes32 public immutable model;
    address public immutable modelOwner;

    /// @dev Licensees the handler uses.
    address[3] internal _holders;
    /// @dev Licences revoked at some point (ghost).
    mapping(uint256 licenseId => bool) public ghostRevoked;
    /// @dev Number of revocations performed.
    uint256 public revocations;
    /// @dev Number of sublicences issued.
    uint256 public sublicences;

    constructor(LicenseRegistry licenses_, bytes32 model_, address modelOwner_, address[3] memory holders) {
        licenses = licenses_;
        model = model_;
        modelOwner = modelOwner_;
        _holders = holders;
    }

    /*//////////////////////////////////////////////////////////////
                                 ACTIONS
    //////////////////////////////////////////////////////////////*/

    /// @dev The model owner issues a root licence.
    function issueRoot(uint256 holderSeed, uint8 scope, uint32 lifetime, bool transferable) external {
        ILicenseRegistry.LicenseTerms memory terms = _terms(scope, lifetime, transferable, 0);
        vm.prank(modelOwner);
        licenses.issueLicense(_holder(holderSeed), terms);
    }

    /// @dev The holder of an existing licence sublicenses it (fails unless the rules allow it).
    function issueSublicence(uint256 parentSeed, uint256 holderSeed, uint8 scope, uint32 lifetime) external {
        uint256 parentId = _existing(parentSeed);
        if (parentId == 0) return;
        ILicenseRegistry.License memory parent = licenses.licenseOf(parentId);
        // Mostly ask within the parent's terms so that sublicences do get issued; sometimes ask beyond.
        if (scope % 4 != 0) scope = parent.scope & scope;
        ILicenseRegistry.LicenseTerms memory terms = _terms(scope, lifetime, false, parentId);
        if (lifetime % 4 != 0 && parent.expiry != 0) {
            terms.expiry = uint64(bound(lifetime, block.timestamp + 1, parent.expiry));
        }
        vm.prank(licenses.ownerOf(parentId));
        licenses.issueLicense(_holder(holderSeed), terms);
        ++sublicences;
    }

    /// @dev The model owner suspends a licence.
    function suspend(uint256 seed) external {
        uint256 id = _existing(seed);
        vm.prank(modelOwner);
        licenses.suspendLicense(id, keccak256("incident"));
    }

    /// @dev The model owner reinstates a licence (reverts unless suspended).
    function reinstate(uint256 seed) external {
        uint256 id = _existing(seed);
        vm.prank(modelOwner);
        licenses.reinstateLicense(id);
    }

    /// @dev The model owner or the parent's holder revokes a licence.
    function revoke(uint256 seed, bool byParentHolder) external {
        uint256 id = _existing(seed);
        ILicenseRegistry.License memory license = licenses.licenseOf(id);
        address by = byParentHolder && license.parentId != 0 ? licenses.ownerOf(license.parentId) : modelOwner;
        vm.prank(by);
        licenses.revokeLicense(id, keccak256("breach"));
        ghostRevoked[id] = true;
        ++revocations;
    }

    /// @dev The model owner renews a licence to a new expiry (0: perpetual).
    function renew(uint256 seed, uint32 extension) external {
        uint256 id = _existing(seed);
        uint64 newExpiry = extension % 5 == 0 ? 0 : uint64(block.timestamp + extension);
        vm.prank(modelOwner);
        licenses.renewLicense(id, newExpiry);
    }

    /// @dev A holder transfers a licence (reverts unless transferable and not revoked).
    function transfer(uint256 seed, uint256 holderSeed) external {
        uint256 id = _existing(seed);
        address from = licenses.ownerOf(id);
        vm.prank(from);
        licenses.transferFrom(from, _holder(holderSeed), id);
    }

    /// @dev Let time pass, up to about 100 days a step.
    function warp(uint32 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 0, 100 days));
    }

    /*//////////////////////////////////////////////////////////////
                                 HELPERS
    //////////////////////////////////////////////////////////////*/

    /// @dev A licensee by seed.
    function _holder(uint256 seed) internal view returns (address) {
        return _holders[seed % 3];
    }

    /// @dev An issued licence id by seed, or 0 when none exists yet.
    function _existing(uint256 seed) internal view returns (uint256) {
        uint256 total = licenses.totalIssued();
        return total == 0 ? 0 : bound(seed, 1, total);
    }

    /// @dev Terms with a scope in 1..15 and an expiry 0 (one time in four) or up to ~136 years ahead.
    function _terms(uint8 scope, uint32 lifetime, bool transferable, uint256 parentId)
        internal
        view
        returns (ILicenseRegistry.LicenseTerms memory)
    {
        return ILicenseRegistry.LicenseTerms({
            model: model,
            scope: uint8(bound(scope, 1, 15)),
            expiry: lifetime % 4 == 0 ? 0 : uint64(block.timestamp + bound(lifetime, 1, type(uint32).max)),
            transferable: transferable,
            parentId: parentId,
            legalHash: keccak256("licence.txt"),
            legalURI: "ipfs://licence"
        });
    }
}
