// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IWatermarkRegistry} from "./interfaces/IWatermarkRegistry.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";

/// @title WatermarkRegistry
/// @notice Commit-then-reveal watermark evidence for registered models, and ownership claims.
/// @dev The commitment binds owner, chain id and this contract, so it cannot be replayed elsewhere or
/// claimed by someone who copies it from the mempool.
contract WatermarkRegistry is IWatermarkRegistry {
    /// @dev Domain tag of the commitment preimage.
    bytes32 public constant COMMITMENT_TYPEHASH = keccak256(
        "WatermarkCommitment(address owner,uint256 chainId,address registry,bytes32 model,bytes32 watermarkDigest,bytes32 salt)"
    );

    /// @dev The model registry that says who owns each model.
    IModelRegistry private immutable _models;
    /// @dev Commitments by value.
    mapping(bytes32 commitment => Commitment) private _commitments;
    /// @dev Claims by id (from 1).
    mapping(uint256 claimId => Claim) private _claims;
    /// @dev Number of claims filed.
    uint256 private _claimCount;

    /// @param models_ The model registry.
    constructor(address models_) {
        _models = IModelRegistry(models_);
    }

    /// @inheritdoc IWatermarkRegistry
    function commitWatermark(bytes32 model, bytes32 commitment) external {
        if (commitment == bytes32(0)) revert WatermarkRegistryZeroCommitment();
        if (_models.modelOwner(model) != msg.sender) revert WatermarkRegistryNotModelOwner(model, msg.sender);
        if (_commitments[commitment].owner != address(0)) revert WatermarkRegistryAlreadyCommitted(commitment);
        _commitments[commitment] = Commitment({
            model: model,
            owner: msg.sender,
            committedAt: uint64(block.timestamp),
            revealedAt: 0,
            watermarkDigest: bytes32(0)
        });
        emit WatermarkCommitted(commitment, model, msg.sender);
    }

    /// @inheritdoc IWatermarkRegistry
    function revealWatermark(bytes32 commitment, bytes32 watermarkDigest, bytes32 salt) external {
        Commitment storage stored = _requireCommitment(commitment);
        if (stored.revealedAt != 0) revert WatermarkRegistryAlreadyRevealed(commitment);
        bytes32 computed = _commitment(stored.owner, stored.model, watermarkDigest, salt);
        if (computed != commitment) revert WatermarkRegistryRevealMismatch(commitment, computed);
        stored.revealedAt = uint64(block.timestamp);
        stored.watermarkDigest = watermarkDigest;
        emit WatermarkRevealed(commitment, stored.model, watermarkDigest, salt);
    }

    /// @inheritdoc IWatermarkRegistry
    function fileClaim(bytes32 commitment, bytes32 suspectHash, bytes32 evidenceHash, string calldata evidenceURI)
        external
        returns (uint256 claimId)
    {
        Commitment storage stored = _requireCommitment(commitment);
        if (stored.owner != msg.sender) revert WatermarkRegistryNotCommitter(commitment, msg.sender);
        if (stored.revealedAt == 0) revert WatermarkRegistryNotRevealed(commitment);
        claimId = ++_claimCount;
        _claims[claimId] = Claim({
            commitment: commitment,
            suspectHash: suspectHash,
            evidenceHash: evidenceHash,
            claimant: msg.sender,
            claimedAt: uint64(block.timestamp)
        });
        emit OwnershipClaimed(claimId, commitment, suspectHash, stored.model, msg.sender, evidenceHash, evidenceURI);
    }

    /// @inheritdoc IWatermarkRegistry
    function computeCommitment(address owner, bytes32 model, bytes32 watermarkDigest, bytes32 salt)
        external
        view
        returns (bytes32)
    {
        return _commitment(owner, model, watermarkDigest, salt);
    }

    /// @inheritdoc IWatermarkRegistry
    function getCommitment(bytes32 commitment) external view returns (Commitment memory) {
        return _requireCommitment(commitment);
    }

    /// @inheritdoc IWatermarkRegistry
    function getClaim(uint256 claimId) external view returns (Claim memory claim) {
        claim = _claims[claimId];
        if (claim.claimant == address(0)) revert WatermarkRegistryUnknownClaim(claimId);
    }

    /// @inheritdoc IWatermarkRegistry
    function claimCount() external view returns (uint256) {
        return _claimCount;
    }

    /// @dev The stored commitment, or a revert naming it.
    function _requireCommitment(bytes32 commitment) private view returns (Commitment storage stored) {
        stored = _commitments[commitment];
        if (stored.owner == address(0)) revert WatermarkRegistryUnknownCommitment(commitment);
    }

    /// @dev The commitment preimage hash.
    function _commitment(address owner, bytes32 model, bytes32 watermarkDigest, bytes32 salt)
        private
        view
        returns (bytes32)
    {
        return keccak256(
            abi.encode(COMMITMENT_TYPEHASH, owner, block.chainid, address(this), model, watermarkDigest, salt)
        );
    }
}
