// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {TestBase} from "./TestBase.sol";
import {FederationLog} from "../../src/FederationLog.sol";
import {ModelRegistry} from "../../src/ModelRegistry.sol";
import {LicenseRegistry} from "../../src/LicenseRegistry.sol";
import {WatermarkRegistry} from "../../src/WatermarkRegistry.sol";
import {IFederationLog} from "../../src/interfaces/IFederationLog.sol";
import {ILicenseRegistry} from "../../src/interfaces/ILicenseRegistry.sol";

/// @title ProvenetTest
/// @notice The four contracts deployed as the real deployment does, named actors with known keys, and
/// helpers for models, licences, offers and round attestations.
/// @dev Deployment order: FederationLog, ModelRegistry(predicted LicenseRegistry, FederationLog),
/// LicenseRegistry(ModelRegistry) (whose constructor checks the back-pointer), WatermarkRegistry(ModelRegistry).
abstract contract ProvenetTest is TestBase {
    /*//////////////////////////////////////////////////////////////
                               CONSTANTS
    //////////////////////////////////////////////////////////////*/

    /// @dev Scope bits, as in LicenseRegistry.
    uint8 internal constant INFERENCE = 1;
    uint8 internal constant DERIVATIVE = 2;
    uint8 internal constant REDISTRIBUTE = 4;
    uint8 internal constant COMMERCIAL = 8;
    uint8 internal constant ALL_SCOPES = 15;

    /// @dev A fixed start time, far from 0 so that "in the past" is expressible.
    uint256 internal constant START = 1_700_000_000;

    /// @dev Private keys of the named actors (devnet-style test keys, never used elsewhere).
    uint256 internal constant OWNER_KEY = 0xA11CE0;
    uint256 internal constant ALICE_KEY = 0xA11CE1;
    uint256 internal constant BOB_KEY = 0xB0B;
    uint256 internal constant CAROL_KEY = 0xCA201;
    uint256 internal constant MALLORY_KEY = 0xBAD;
    uint256 internal constant COORDINATOR_KEY = 0xC00D;

    /// @dev The model most tests license.
    bytes32 internal constant MODEL = keccak256("model.safetensors");
    /// @dev Metadata of test models.
    bytes32 internal constant META_HASH = keccak256("metadata.json");
    string internal constant META_URI = "ipfs://bafy-metadata";
    /// @dev Legal text of test licences.
    bytes32 internal constant LEGAL_HASH = keccak256("licence.txt");
    string internal constant LEGAL_URI = "ipfs://bafy-licence";

    /*//////////////////////////////////////////////////////////////
                                 STATE
    //////////////////////////////////////////////////////////////*/

    FederationLog internal federationLog;
    ModelRegistry internal models;
    LicenseRegistry internal licenses;
    WatermarkRegistry internal watermarks;

    address internal owner;
    address internal alice;
    address internal bob;
    address internal carol;
    address internal mallory;
    address internal coordinator;

    /// @dev Deploy at START with the named actors.
    function setUp() public virtual {
        vm.warp(START);
        owner = _actor(OWNER_KEY, "owner");
        alice = _actor(ALICE_KEY, "alice");
        bob = _actor(BOB_KEY, "bob");
        carol = _actor(CAROL_KEY, "carol");
        mallory = _actor(MALLORY_KEY, "mallory");
        coordinator = _actor(COORDINATOR_KEY, "coordinator");
        _deploy();
    }

    /// @dev The real deployment sequence, with the licence registry's address predicted from our nonce.
    function _deploy() internal {
        federationLog = new FederationLog();
        address predicted = vm.computeCreateAddress(address(this), vm.getNonce(address(this)) + 1);
        models = new ModelRegistry(predicted, address(federationLog));
        licenses = new LicenseRegistry(address(models));
        vm.assertEq(address(licenses), predicted, "licence registry not at the predicted address");
        watermarks = new WatermarkRegistry(address(models));
        vm.label(address(federationLog), "FederationLog");
        vm.label(address(models), "ModelRegistry");
        vm.label(address(licenses), "LicenseRegistry");
        vm.label(address(watermarks), "WatermarkRegistry");
    }

    /// @dev The address of `key`, labelled.
    function _actor(uint256 key, string memory name) internal returns (address account) {
        account = vm.addr(key);
        vm.label(account, name);
    }

    /*//////////////////////////////////////////////////////////////
                           MODELS AND LICENCES
    //////////////////////////////////////////////////////////////*/

    /// @dev Register `model` as `who`, without parents or provenance.
    function _register(address who, bytes32 model) internal {
        vm.prank(who);
        models.registerModel(model, META_URI, META_HASH, new bytes32[](0), 0, 0);
    }

    /// @dev Register `model` as `who` with one parent.
    function _registerDerivative(address who, bytes32 model, bytes32 parent) internal {
        bytes32[] memory parents = new bytes32[](1);
        parents[0] = parent;
        vm.prank(who);
        models.registerModel(model, META_URI, META_HASH, parents, 0, 0);
    }

    /// @dev Licence terms with the test legal text.
    function _terms(bytes32 model, uint8 scope, uint64 expiry, bool transferable, uint256 parentId)
        internal
        pure
        returns (ILicenseRegistry.LicenseTerms memory)
    {
        return ILicenseRegistry.LicenseTerms({
            model: model,
            scope: scope,
            expiry: expiry,
            transferable: transferable,
            parentId: parentId,
            legalHash: LEGAL_HASH,
            legalURI: LEGAL_URI
        });
    }

    /// @dev Issue as `issuer` to `to`.
    function _issue(address issuer, address to, ILicenseRegistry.LicenseTerms memory terms)
        internal
        returns (uint256 licenseId)
    {
        vm.prank(issuer);
        licenseId = licenses.issueLicense(to, terms);
    }

    /// @dev An offer for MODEL with the test legal text.
    function _offer(address licensee, uint8 scope, uint64 expiry, uint256 price, uint256 nonce, uint256 deadline)
        internal
        pure
        returns (ILicenseRegistry.LicenseOffer memory)
    {
        return ILicenseRegistry.LicenseOffer({
            model: MODEL,
            licensee: licensee,
            scope: scope,
            expiry: expiry,
            transferable: false,
            legalHash: LEGAL_HASH,
            legalURI: LEGAL_URI,
            price: price,
            nonce: nonce,
            deadline: deadline
        });
    }

    /// @dev A 65-byte (r, s, v) signature of the offer's EIP-712 digest.
    function _signOffer(uint256 key, ILicenseRegistry.LicenseOffer memory offer) internal view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, licenses.hashOffer(offer));
        return abi.encodePacked(r, s, v);
    }

    /// @dev Whether `account` may use `model` for `scope`, and why not.
    function _check(bytes32 model, address account, uint8 scope)
        internal
        view
        returns (bool valid, ILicenseRegistry.LicenseReason reason)
    {
        (valid, reason,) = licenses.checkLicense(model, account, scope);
    }

    /*//////////////////////////////////////////////////////////////
                               FEDERATION
    //////////////////////////////////////////////////////////////*/

    /// @dev A federation coordinated by `coordinator` whose listed members have all accepted.
    function _federation(address[] memory members, uint16 minSigners, bytes32 initialHash)
        internal
        returns (uint64 federationId)
    {
        vm.prank(coordinator);
        federationId = federationLog.createFederation(keccak256("federation"), initialHash, members, minSigners);
        for (uint256 i = 0; i < members.length; ++i) {
            vm.prank(members[i]);
            federationLog.acceptMembership(federationId);
        }
    }

    /// @dev A member's attestation, signed compactly (EIP-2098) over the contract's own digest.
    function _attest(
        uint256 key,
        uint64 federationId,
        uint64 round,
        bytes32 previousHash,
        bytes32 updateHash,
        uint64 examples
    ) internal view returns (IFederationLog.Attestation memory attestation) {
        bytes32 digest = federationLog.attestationDigest(federationId, round, previousHash, updateHash, examples);
        (bytes32 r, bytes32 vs) = vm.signCompact(key, digest);
        attestation = IFederationLog.Attestation({
            signer: vm.addr(key), updateHash: updateHash, numExamples: examples, r: r, vs: vs
        });
    }

    /// @dev Sort attestations by signer, ascending, as recordRound requires (insertion sort; tiny arrays).
    function _sorted(IFederationLog.Attestation[] memory attestations)
        internal
        pure
        returns (IFederationLog.Attestation[] memory)
    {
        for (uint256 i = 1; i < attestations.length; ++i) {
            IFederationLog.Attestation memory item = attestations[i];
            uint256 j = i;
            while (j > 0 && attestations[j - 1].signer > item.signer) {
                attestations[j] = attestations[j - 1];
                --j;
            }
            attestations[j] = item;
        }
        return attestations;
    }

    /// @dev Sort keys by their addresses, ascending.
    function _sortedKeys(uint256[] memory keys) internal pure returns (uint256[] memory) {
        for (uint256 i = 1; i < keys.length; ++i) {
            uint256 item = keys[i];
            uint256 j = i;
            while (j > 0 && vm.addr(keys[j - 1]) > vm.addr(item)) {
                keys[j] = keys[j - 1];
                --j;
            }
            keys[j] = item;
        }
        return keys;
    }
}
