// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ProvenetTest} from "./utils/ProvenetTest.sol";
import {IWatermarkRegistry} from "../src/interfaces/IWatermarkRegistry.sol";

/// @title WatermarkRegistryTest
/// @notice Commit (model owner), reveal (opening checked), and ownership claims (committer, after reveal).
contract WatermarkRegistryTest is ProvenetTest {
    bytes32 internal constant DIGEST = keccak256("watermark trigger set");
    bytes32 internal constant SALT = keccak256("32 random bytes");
    bytes32 internal constant SUSPECT = keccak256("suspect.safetensors");
    bytes32 internal constant EVIDENCE = keccak256("evidence.json");
    string internal constant EVIDENCE_URI = "ipfs://bafy-evidence";

    bytes32 internal commitment;

    function setUp() public override {
        super.setUp();
        _register(owner, MODEL);
        commitment = watermarks.computeCommitment(owner, MODEL, DIGEST, SALT);
    }

    function test_commitment_bindsOwnerChainContractModelDigestAndSalt() public view {
        bytes32 expected = keccak256(
            abi.encode(
                keccak256(
                    "WatermarkCommitment(address owner,uint256 chainId,address registry,bytes32 model,"
                    "bytes32 watermarkDigest,bytes32 salt)"
                ),
                owner,
                block.chainid,
                address(watermarks),
                MODEL,
                DIGEST,
                SALT
            )
        );
        vm.assertEq(commitment, expected);
        vm.assertNotEq(watermarks.computeCommitment(mallory, MODEL, DIGEST, SALT), commitment);
    }

    function test_commitRevealClaim_recordsTimes() public {
        vm.expectEmit(address(watermarks));
        emit IWatermarkRegistry.WatermarkCommitted(commitment, MODEL, owner);
        vm.prank(owner);
        watermarks.commitWatermark(MODEL, commitment);
        IWatermarkRegistry.Commitment memory stored = watermarks.getCommitment(commitment);
        vm.assertEq(stored.model, MODEL);
        vm.assertEq(stored.owner, owner);
        vm.assertEq(stored.committedAt, START);
        vm.assertEq(stored.revealedAt, 0);

        vm.warp(START + 1 days);
        vm.expectEmit(address(watermarks));
        emit IWatermarkRegistry.WatermarkRevealed(commitment, MODEL, DIGEST, SALT);
        vm.prank(carol);
        watermarks.revealWatermark(commitment, DIGEST, SALT);
        stored = watermarks.getCommitment(commitment);
        vm.assertEq(stored.revealedAt, START + 1 days);
        vm.assertEq(stored.watermarkDigest, DIGEST);

        vm.warp(START + 2 days);
        vm.expectEmit(address(watermarks));
        emit IWatermarkRegistry.OwnershipClaimed(1, commitment, SUSPECT, MODEL, owner, EVIDENCE, EVIDENCE_URI);
        vm.prank(owner);
        uint256 claimId = watermarks.fileClaim(commitment, SUSPECT, EVIDENCE, EVIDENCE_URI);
        vm.assertEq(claimId, 1);
        vm.assertEq(watermarks.claimCount(), 1);
        IWatermarkRegistry.Claim memory claim = watermarks.getClaim(claimId);
        vm.assertEq(claim.commitment, commitment);
        vm.assertEq(claim.suspectHash, SUSPECT);
        vm.assertEq(claim.evidenceHash, EVIDENCE);
        vm.assertEq(claim.claimant, owner);
        vm.assertEq(claim.claimedAt, START + 2 days);
    }

    function test_commit_nonOwner_reverts() public {
        vm.expectRevert(
            abi.encodeWithSelector(IWatermarkRegistry.WatermarkRegistryNotModelOwner.selector, MODEL, mallory)
        );
        vm.prank(mallory);
        watermarks.commitWatermark(MODEL, commitment);
        bytes32 unknown = keccak256("unregistered");
        vm.expectRevert(
            abi.encodeWithSelector(IWatermarkRegistry.WatermarkRegistryNotModelOwner.selector, unknown, owner)
        );
        vm.prank(owner);
        watermarks.commitWatermark(unknown, commitment);
    }

    function test_commit_zeroOrTwice_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IWatermarkRegistry.WatermarkRegistryZeroCommitment.selector));
        vm.prank(owner);
        watermarks.commitWatermark(MODEL, bytes32(0));
        vm.prank(owner);
        watermarks.commitWatermark(MODEL, commitment);
        vm.expectRevert(
            abi.encodeWithSelector(IWatermarkRegistry.WatermarkRegistryAlreadyCommitted.selector, commitment)
        );
        vm.prank(owner);
        watermarks.commitWatermark(MODEL, commitment);
    }

    function test_reveal_mismatch_reverts() public {
        vm.prank(owner);
        watermarks.commitWatermark(MODEL, commitment);
        bytes32 wrongSalt = keccak256("guess");
        bytes32 computed = watermarks.computeCommitment(owner, MODEL, DIGEST, wrongSalt);
        vm.expectRevert(
            abi.encodeWithSelector(IWatermarkRegistry.WatermarkRegistryRevealMismatch.selector, commitment, computed)
        );
        watermarks.revealWatermark(commitment, DIGEST, wrongSalt);
        bytes32 otherDigest = keccak256("another watermark");
        computed = watermarks.computeCommitment(owner, MODEL, otherDigest, SALT);
        vm.expectRevert(
            abi.encodeWithSelector(IWatermarkRegistry.WatermarkRegistryRevealMismatch.selector, commitment, computed)
        );
        watermarks.revealWatermark(commitment, otherDigest, SALT);
    }

    function test_reveal_copiedCommitmentCannotBeOpenedByTheCopier() public {
        _register(mallory, SUSPECT);
        vm.prank(mallory);
        watermarks.commitWatermark(SUSPECT, commitment);
        bytes32 computed = watermarks.computeCommitment(mallory, SUSPECT, DIGEST, SALT);
        vm.expectRevert(
            abi.encodeWithSelector(IWatermarkRegistry.WatermarkRegistryRevealMismatch.selector, commitment, computed)
        );
        watermarks.revealWatermark(commitment, DIGEST, SALT);
    }

    function test_reveal_otherChain_mismatches() public {
        vm.prank(owner);
        watermarks.commitWatermark(MODEL, commitment);
        vm.chainId(block.chainid + 1);
        bytes32 computed = watermarks.computeCommitment(owner, MODEL, DIGEST, SALT);
        vm.expectRevert(
            abi.encodeWithSelector(IWatermarkRegistry.WatermarkRegistryRevealMismatch.selector, commitment, computed)
        );
        watermarks.revealWatermark(commitment, DIGEST, SALT);
    }

    function test_reveal_unknownOrTwice_reverts() public {
        vm.expectRevert(
            abi.encodeWithSelector(IWatermarkRegistry.WatermarkRegistryUnknownCommitment.selector, commitment)
        );
        watermarks.revealWatermark(commitment, DIGEST, SALT);
        vm.expectRevert(
            abi.encodeWithSelector(IWatermarkRegistry.WatermarkRegistryUnknownCommitment.selector, commitment)
        );
        watermarks.getCommitment(commitment);
        vm.prank(owner);
        watermarks.commitWatermark(MODEL, commitment);
        watermarks.revealWatermark(commitment, DIGEST, SALT);
        vm.expectRevert(
            abi.encodeWithSelector(IWatermarkRegistry.WatermarkRegistryAlreadyRevealed.selector, commitment)
        );
        watermarks.revealWatermark(commitment, DIGEST, SALT);
    }

    function test_claim_needsRevealAndCommitter() public {
        vm.prank(owner);
        watermarks.commitWatermark(MODEL, commitment);
        vm.expectRevert(abi.encodeWithSelector(IWatermarkRegistry.WatermarkRegistryNotRevealed.selector, commitment));
        vm.prank(owner);
        watermarks.fileClaim(commitment, SUSPECT, EVIDENCE, EVIDENCE_URI);
        watermarks.revealWatermark(commitment, DIGEST, SALT);
        vm.expectRevert(
            abi.encodeWithSelector(IWatermarkRegistry.WatermarkRegistryNotCommitter.selector, commitment, mallory)
        );
        vm.prank(mallory);
        watermarks.fileClaim(commitment, SUSPECT, EVIDENCE, EVIDENCE_URI);
        vm.expectRevert(abi.encodeWithSelector(IWatermarkRegistry.WatermarkRegistryUnknownCommitment.selector, SUSPECT));
        vm.prank(owner);
        watermarks.fileClaim(SUSPECT, SUSPECT, EVIDENCE, EVIDENCE_URI);
        vm.expectRevert(abi.encodeWithSelector(IWatermarkRegistry.WatermarkRegistryUnknownClaim.selector, 1));
        watermarks.getClaim(1);
    }

    /// @dev Any digest and salt open their own commitment, and no other (digest, salt) opens it.
    function testFuzz_reveal_opensOnlyWithItsPreimage(bytes32 digest, bytes32 salt, bytes32 otherSalt) public {
        vm.assume(salt != otherSalt);
        bytes32 value = watermarks.computeCommitment(owner, MODEL, digest, salt);
        vm.prank(owner);
        watermarks.commitWatermark(MODEL, value);
        bytes32 computed = watermarks.computeCommitment(owner, MODEL, digest, otherSalt);
        vm.expectRevert(
            abi.encodeWithSelector(IWatermarkRegistry.WatermarkRegistryRevealMismatch.selector, value, computed)
        );
        watermarks.revealWatermark(value, digest, otherSalt);
        watermarks.revealWatermark(value, digest, salt);
        vm.assertEq(watermarks.getCommitment(value).watermarkDigest, digest);
    }
}
