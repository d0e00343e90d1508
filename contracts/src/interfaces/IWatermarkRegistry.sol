// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title IWatermarkRegistry
/// @notice Commit-then-reveal watermark evidence, and ownership claims against suspect models.
/// @dev commitment = keccak256(abi.encode(COMMITMENT_TYPEHASH, owner, chainid, this, model, digest, salt)).
interface IWatermarkRegistry {
    /// @dev A stored commitment.
    struct Commitment {
        bytes32 model;
        address owner;
        uint64 committedAt;
        uint64 revealedAt;
        bytes32 watermarkDigest;
    }

    /// @dev A stored ownership claim.
    struct Claim {
        bytes32 commitment;
        bytes32 suspectHash;
        bytes32 evidenceHash;
        address claimant;
        uint64 claimedAt;
    }

    /// @dev Only the model's owner may commit a watermark for it.
    error WatermarkRegistryNotModelOwner(bytes32 model, address account);
    /// @dev The zero value cannot be a commitment.
    error WatermarkRegistryZeroCommitment();
    /// @dev This commitment is recorded already.
    error WatermarkRegistryAlreadyCommitted(bytes32 commitment);
    /// @dev No such commitment.
    error WatermarkRegistryUnknownCommitment(bytes32 commitment);
    /// @dev The commitment was revealed already.
    error WatermarkRegistryAlreadyRevealed(bytes32 commitment);
    /// @dev The revealed digest and salt do not open the commitment.
    error WatermarkRegistryRevealMismatch(bytes32 commitment, bytes32 computed);
    /// @dev Claims need the commitment revealed first.
    error WatermarkRegistryNotRevealed(bytes32 commitment);
    /// @dev Only the committer may file claims on its commitment.
    error WatermarkRegistryNotCommitter(bytes32 commitment, address account);
    /// @dev No such claim.
    error WatermarkRegistryUnknownClaim(uint256 claimId);

    /// @dev A watermark commitment was recorded.
    event WatermarkCommitted(bytes32 indexed commitment, bytes32 indexed model, address indexed owner);
    /// @dev The commitment was opened.
    event WatermarkRevealed(bytes32 indexed commitment, bytes32 indexed model, bytes32 watermarkDigest, bytes32 salt);
    /// @dev An ownership claim against a suspect model was filed.
    event OwnershipClaimed(
        uint256 indexed claimId,
        bytes32 indexed commitment,
        bytes32 indexed suspectHash,
        bytes32 model,
        address claimant,
        bytes32 evidenceHash,
        string evidenceURI
    );

    /// @notice Record a commitment to a watermark of `model` (caller: the model owner).
    function commitWatermark(bytes32 model, bytes32 commitment) external;

    /// @notice Open a commitment with its digest and salt.
    function revealWatermark(bytes32 commitment, bytes32 watermarkDigest, bytes32 salt) external;

    /// @notice File an ownership claim against a suspect model (caller: the committer; commitment revealed).
    function fileClaim(bytes32 commitment, bytes32 suspectHash, bytes32 evidenceHash, string calldata evidenceURI)
        external
        returns (uint256 claimId);

    /// @notice The commitment value for these inputs on this chain and contract.
    function computeCommitment(address owner, bytes32 model, bytes32 watermarkDigest, bytes32 salt)
        external
        view
        returns (bytes32);

    /// @notice A stored commitment (reverts when unknown).
    function getCommitment(bytes32 commitment) external view returns (Commitment memory);

    /// @notice A stored claim (reverts when unknown).
    function getClaim(uint256 claimId) external view returns (Claim memory);

    /// @notice Number of claims filed.
    function claimCount() external view returns (uint256);
}
