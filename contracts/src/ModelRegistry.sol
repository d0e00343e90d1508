// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {ILicenseRegistry} from "./interfaces/ILicenseRegistry.sol";
import {IFederationLog} from "./interfaces/IFederationLog.sol";

/// @title ModelRegistry
/// @notice Models keyed by weights hash, with owner (two-step transfer), metadata, lineage and provenance.
/// @dev The licence registry and the federation log are fixed at deployment (immutables). Because the
/// licence registry in turn points at this contract, the deployer predicts its address (CREATE nonce).
contract ModelRegistry is IModelRegistry {
    /*//////////////////////////////////////////////////////////////
                                CONSTANTS
    //////////////////////////////////////////////////////////////*/

    /// @dev Scope bit that a licence on a parent must grant to register a derivative.
    uint8 public constant SCOPE_DERIVATIVE = 2;
    /// @dev Bound on parents per model, so that registration stays bounded.
    uint256 public constant MAX_PARENTS = 16;

    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    /// @dev The licence registry consulted for derivative rights.
    ILicenseRegistry private immutable _licenses;
    /// @dev The federation log consulted for provenance pointers.
    IFederationLog private immutable _federations;
    /// @dev Registered models by weights hash.
    mapping(bytes32 model => ModelRecord) private _models;
    /// @dev Pending owners of two-step transfers.
    mapping(bytes32 model => address) private _pendingOwners;
    /// @dev Weights hashes by registration index (from 1).
    mapping(uint32 index => bytes32 model) private _modelsByIndex;
    /// @dev Number of registered models (the last index).
    uint32 private _modelCount;

    /// @param licenses_ The licence registry (deployed right after this contract).
    /// @param federations_ The federation log.
    constructor(address licenses_, address federations_) {
        _licenses = ILicenseRegistry(licenses_);
        _federations = IFederationLog(federations_);
    }

    /*//////////////////////////////////////////////////////////////
                               REGISTRATION
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IModelRegistry
    function registerModel(
        bytes32 model,
        string calldata metadataURI,
        bytes32 metadataHash,
        bytes32[] calldata parents,
        uint64 federationId,
        uint64 finalRound
    ) external {
        if (model == bytes32(0)) revert ModelRegistryZeroHash();
        address existing = _models[model].owner;
        if (existing != address(0)) revert ModelRegistryAlreadyRegistered(model, existing);
        if (parents.length > MAX_PARENTS) revert ModelRegistryTooManyParents(parents.length, MAX_PARENTS);
        for (uint256 i = 0; i < parents.length; ++i) {
            _checkParent(parents, i);
        }
        _checkProvenance(federationId, finalRound);

        uint32 index = ++_modelCount;
        _modelsByIndex[index] = model;
        ModelRecord storage record = _models[model];
        record.owner = msg.sender;
        record.registeredAt = uint64(block.timestamp);
        record.index = index;
        record.federationId = federationId;
        record.finalRound = finalRound;
        record.metadataHash = metadataHash;
        record.metadataURI = metadataURI;
        record.parents = parents;
        emit ModelRegistered(model, msg.sender, metadataHash, metadataURI, parents, federationId, finalRound);
    }

    /// @dev Parent `i` must be registered, listed once, and (if someone else's) licensed for derivatives.
    function _checkParent(bytes32[] calldata parents, uint256 i) private view {
        bytes32 parent = parents[i];
        address parentOwner = _models[parent].owner;
        if (parentOwner == address(0)) revert ModelRegistryUnknownParent(parent);
        for (uint256 j = 0; j < i; ++j) {
            if (parents[j] == parent) revert ModelRegistryDuplicateParent(parent);
        }
        if (parentOwner != msg.sender) {
            // The licence id is not needed: the reason says why no licence qualifies.
            // slither-disable-next-line unused-return
            (bool valid, ILicenseRegistry.LicenseReason reason,) =
                _licenses.checkLicense(parent, msg.sender, SCOPE_DERIVATIVE);
            if (!valid) revert ModelRegistryDerivativeNotLicensed(parent, msg.sender, uint8(reason));
        }
    }

    /// @dev No pointer (both 0), or the caller coordinates the federation and it has recorded `finalRound`.
    function _checkProvenance(uint64 federationId, uint64 finalRound) private view {
        if (federationId == 0) {
            // A round without a federation points at nothing: refuse it rather than record a dangling pointer.
            if (finalRound != 0) revert ModelRegistryRoundNotRecorded(0, finalRound, 0);
            return;
        }
        IFederationLog.Federation memory federation = _federations.getFederation(federationId);
        if (federation.coordinator != msg.sender) revert ModelRegistryNotCoordinator(federationId, msg.sender);
        if (finalRound == 0 || finalRound > federation.lastRound) {
            revert ModelRegistryRoundNotRecorded(federationId, finalRound, federation.lastRound);
        }
    }

    /*//////////////////////////////////////////////////////////////
                                OWNERSHIP
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IModelRegistry
    function transferModelOwnership(bytes32 model, address newOwner) external {
        address owner = _models[model].owner;
        if (owner == address(0)) revert ModelRegistryUnknownModel(model);
        if (owner != msg.sender) revert ModelRegistryNotOwner(model, msg.sender);
        _pendingOwners[model] = newOwner;
        emit ModelOwnershipTransferStarted(model, owner, newOwner);
    }

    /// @inheritdoc IModelRegistry
    function acceptModelOwnership(bytes32 model) external {
        address pending = _pendingOwners[model];
        if (pending == address(0) || pending != msg.sender) revert ModelRegistryNotPendingOwner(model, msg.sender);
        address previous = _models[model].owner;
        delete _pendingOwners[model];
        _models[model].owner = msg.sender;
        emit ModelOwnershipTransferred(model, previous, msg.sender);
    }

    /*//////////////////////////////////////////////////////////////
                                  VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IModelRegistry
    function modelOwner(bytes32 model) external view returns (address) {
        return _models[model].owner;
    }

    /// @inheritdoc IModelRegistry
    function modelOwnerAndIndex(bytes32 model) external view returns (address owner, uint32 index) {
        ModelRecord storage record = _models[model];
        return (record.owner, record.index);
    }

    /// @inheritdoc IModelRegistry
    function modelAt(uint32 index) external view returns (bytes32) {
        return _modelsByIndex[index];
    }

    /// @inheritdoc IModelRegistry
    function pendingModelOwner(bytes32 model) external view returns (address) {
        return _pendingOwners[model];
    }

    /// @inheritdoc IModelRegistry
    function isRegistered(bytes32 model) external view returns (bool) {
        return _models[model].owner != address(0);
    }

    /// @inheritdoc IModelRegistry
    function getModel(bytes32 model) external view returns (ModelRecord memory) {
        ModelRecord memory record = _models[model];
        if (record.owner == address(0)) revert ModelRegistryUnknownModel(model);
        return record;
    }

    /// @inheritdoc IModelRegistry
    function modelCount() external view returns (uint256) {
        return _modelCount;
    }

    /// @inheritdoc IModelRegistry
    function licenseRegistry() external view returns (address) {
        return address(_licenses);
    }

    /// @inheritdoc IModelRegistry
    function federationLog() external view returns (address) {
        return address(_federations);
    }
}
