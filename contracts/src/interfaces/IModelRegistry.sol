// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title IModelRegistry
/// @notice Registry of models keyed by their weights hash (SHA-256 of the `.safetensors` bytes, or of the
/// canonical manifest for a multi-file model). The first registration of a hash wins: priority evidence.
interface IModelRegistry {
    /*//////////////////////////////////////////////////////////////
                                 TYPES
    //////////////////////////////////////////////////////////////*/

    /// @dev A registered model as stored.
    struct ModelRecord {
        address owner;
        uint64 registeredAt;
        uint32 index;
        uint64 federationId;
        uint64 finalRound;
        bytes32 metadataHash;
        string metadataURI;
        bytes32[] parents;
    }

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @dev The zero hash is not a weights hash.
    error ModelRegistryZeroHash();
    /// @dev The hash is registered already (first registration wins).
    error ModelRegistryAlreadyRegistered(bytes32 model, address owner);
    /// @dev The model is not registered.
    error ModelRegistryUnknownModel(bytes32 model);
    /// @dev A parent model is not registered.
    error ModelRegistryUnknownParent(bytes32 parent);
    /// @dev A parent is listed twice.
    error ModelRegistryDuplicateParent(bytes32 parent);
    /// @dev Too many parents for one registration.
    error ModelRegistryTooManyParents(uint256 count, uint256 max);
    /// @dev The caller holds no valid licence granting DERIVATIVE on a parent owned by someone else.
    error ModelRegistryDerivativeNotLicensed(bytes32 parent, address account, uint8 reason);
    /// @dev `account` is not the model's owner.
    error ModelRegistryNotOwner(bytes32 model, address account);
    /// @dev `account` is not the pending owner of the model.
    error ModelRegistryNotPendingOwner(bytes32 model, address account);
    /// @dev The provenance pointer names a federation the caller does not coordinate.
    error ModelRegistryNotCoordinator(uint64 federationId, address account);
    /// @dev The provenance pointer names a round the federation has not recorded.
    error ModelRegistryRoundNotRecorded(uint64 federationId, uint64 round, uint64 lastRound);

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    /// @dev A model was registered.
    event ModelRegistered(
        bytes32 indexed model,
        address indexed owner,
        bytes32 metadataHash,
        string metadataURI,
        bytes32[] parents,
        uint64 federationId,
        uint64 finalRound
    );
    /// @dev The owner started a two-step transfer to `pendingOwner` (0 cancels).
    event ModelOwnershipTransferStarted(bytes32 indexed model, address indexed owner, address indexed pendingOwner);
    /// @dev The pending owner accepted the model.
    event ModelOwnershipTransferred(bytes32 indexed model, address indexed previousOwner, address indexed newOwner);

    /*//////////////////////////////////////////////////////////////
                               FUNCTIONS
    //////////////////////////////////////////////////////////////*/

    /// @notice Register a model under its weights hash, with lineage and an optional provenance pointer.
    /// @param parents Registered parent models; for each parent owned by someone else the caller needs a
    /// valid licence granting DERIVATIVE.
    /// @param federationId 0, or the federation that trained this model (caller must be its coordinator).
    /// @param finalRound With a federation: a round the federation has recorded; without one: 0.
    function registerModel(
        bytes32 model,
        string calldata metadataURI,
        bytes32 metadataHash,
        bytes32[] calldata parents,
        uint64 federationId,
        uint64 finalRound
    ) external;

    /// @notice Start a two-step ownership transfer of `model` (0 cancels a pending one).
    function transferModelOwnership(bytes32 model, address newOwner) external;

    /// @notice Accept a pending ownership transfer.
    function acceptModelOwnership(bytes32 model) external;

    /// @notice The model's current owner, or 0 when it is not registered.
    function modelOwner(bytes32 model) external view returns (address);

    /// @notice The model's owner and registration index (from 1), both 0 when it is not registered.
    /// @dev Licences refer to models by index, which keeps a licence in one storage slot.
    function modelOwnerAndIndex(bytes32 model) external view returns (address owner, uint32 index);

    /// @notice The weights hash registered under `index` (0 for an unknown index).
    function modelAt(uint32 index) external view returns (bytes32);

    /// @notice The pending owner of a two-step transfer, or 0.
    function pendingModelOwner(bytes32 model) external view returns (address);

    /// @notice Whether the hash is registered.
    function isRegistered(bytes32 model) external view returns (bool);

    /// @notice The full record (reverts for an unknown model).
    function getModel(bytes32 model) external view returns (ModelRecord memory);

    /// @notice Number of models registered.
    function modelCount() external view returns (uint256);

    /// @notice The licence registry consulted for derivatives.
    function licenseRegistry() external view returns (address);

    /// @notice The federation log consulted for provenance pointers.
    function federationLog() external view returns (address);
}
