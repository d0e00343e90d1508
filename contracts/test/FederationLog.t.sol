// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ProvenetTest} from "./utils/ProvenetTest.sol";
import {IFederationLog} from "../src/interfaces/IFederationLog.sol";

/// @title FederationLogTest
/// @notice Membership (two-step), the minimum of signers, and recordRound's checks: order, hash chain,
/// signers (distinct, sorted, current members, enough of them) and EIP-712 signatures.
contract FederationLogTest is ProvenetTest {
    bytes32 internal constant META = keccak256("federation.toml");
    bytes32 internal constant GENESIS = keccak256("initial arrays");
    bytes32 internal constant METRICS = keccak256("metrics.json");

    /// @dev Member keys sorted by address, and their addresses.
    uint256[] internal keys;
    address[] internal members;
    uint64 internal federationId;

    function setUp() public override {
        super.setUp();
        uint256[] memory unsorted = new uint256[](3);
        unsorted[0] = ALICE_KEY;
        unsorted[1] = BOB_KEY;
        unsorted[2] = CAROL_KEY;
        keys = _sortedKeys(unsorted);
        for (uint256 i = 0; i < keys.length; ++i) {
            members.push(vm.addr(keys[i]));
        }
        federationId = _federation(members, 2, GENESIS);
    }

    /*//////////////////////////////////////////////////////////////
                               MEMBERSHIP
    //////////////////////////////////////////////////////////////*/

    function test_create_invitesAndEmits() public {
        vm.expectEmit(address(federationLog));
        emit IFederationLog.FederationCreated(2, coordinator, META, GENESIS, 2);
        vm.expectEmit(address(federationLog));
        emit IFederationLog.MemberInvited(2, members[0]);
        vm.prank(coordinator);
        uint64 id = federationLog.createFederation(META, GENESIS, members, 2);

        vm.assertEq(id, 2);
        vm.assertEq(federationLog.federationCount(), 2);
        IFederationLog.Federation memory federation = federationLog.getFederation(id);
        vm.assertEq(federation.coordinator, coordinator);
        vm.assertEq(federation.lastRound, 0);
        vm.assertEq(federation.minSigners, 2);
        vm.assertEq(federation.memberCount, 0, "invited members do not count until they accept");
        vm.assertEq(federation.lastGlobalHash, GENESIS);
        vm.assertTrue(federationLog.getMember(id, members[1]).status == IFederationLog.MemberStatus.Invited);
    }

    function test_create_invalidMinSigners_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IFederationLog.FederationLogInvalidMinSigners.selector, 0, 3));
        vm.prank(coordinator);
        federationLog.createFederation(META, GENESIS, members, 0);
        vm.expectRevert(abi.encodeWithSelector(IFederationLog.FederationLogInvalidMinSigners.selector, 4, 3));
        vm.prank(coordinator);
        federationLog.createFederation(META, GENESIS, members, 4);
    }

    function test_create_invalidMember_reverts() public {
        address[] memory twice = new address[](2);
        twice[0] = alice;
        twice[1] = alice;
        vm.expectRevert(abi.encodeWithSelector(IFederationLog.FederationLogInvalidMember.selector, alice));
        vm.prank(coordinator);
        federationLog.createFederation(META, GENESIS, twice, 1);
        address[] memory zero = new address[](1);
        vm.expectRevert(abi.encodeWithSelector(IFederationLog.FederationLogInvalidMember.selector, address(0)));
        vm.prank(coordinator);
        federationLog.createFederation(META, GENESIS, zero, 1);
    }

    function test_accept_joinsOnce() public {
        vm.prank(coordinator);
        uint64 id = federationLog.createFederation(META, GENESIS, members, 1);
        vm.expectEmit(address(federationLog));
        emit IFederationLog.MemberJoined(id, members[0]);
        vm.prank(members[0]);
        federationLog.acceptMembership(id);
        vm.assertEq(federationLog.getFederation(id).memberCount, 1);
        vm.assertTrue(federationLog.getMember(id, members[0]).status == IFederationLog.MemberStatus.Active);

        vm.expectRevert(abi.encodeWithSelector(IFederationLog.FederationLogNotInvited.selector, id, members[0]));
        vm.prank(members[0]);
        federationLog.acceptMembership(id);
        vm.expectRevert(abi.encodeWithSelector(IFederationLog.FederationLogNotInvited.selector, id, mallory));
        vm.prank(mallory);
        federationLog.acceptMembership(id);
    }

    function test_unknownFederation_reverts() public {
        bytes memory unknown = abi.encodeWithSelector(IFederationLog.FederationLogUnknownFederation.selector, 77);
        vm.expectRevert(unknown);
        vm.prank(alice);
        federationLog.acceptMembership(77);
        vm.expectRevert(unknown);
        federationLog.getFederation(77);
        vm.expectRevert(unknown);
        vm.prank(alice);
        federationLog.leaveFederation(77);
        vm.expectRevert(unknown);
        vm.prank(coordinator);
        federationLog.recordRound(77, 1, GENESIS, keccak256("g1"), METRICS, new IFederationLog.Attestation[](0));
    }

    function test_propose_invitesAndTheInviteeAccepts() public {
        vm.expectEmit(address(federationLog));
        emit IFederationLog.MemberInvited(federationId, mallory);
        vm.prank(coordinator);
        federationLog.proposeMember(federationId, mallory);
        vm.assertTrue(federationLog.getMember(federationId, mallory).status == IFederationLog.MemberStatus.Invited);
        vm.prank(mallory);
        federationLog.acceptMembership(federationId);
        vm.assertEq(federationLog.getFederation(federationId).memberCount, 4);
    }

    function test_propose_errors() public {
        vm.expectRevert(
            abi.encodeWithSelector(IFederationLog.FederationLogNotCoordinator.selector, federationId, alice)
        );
        vm.prank(alice);
        federationLog.proposeMember(federationId, mallory);
        vm.expectRevert(
            abi.encodeWithSelector(IFederationLog.FederationLogAlreadyMember.selector, federationId, members[0])
        );
        vm.prank(coordinator);
        federationLog.proposeMember(federationId, members[0]);
        vm.prank(coordinator);
        federationLog.proposeMember(federationId, mallory);
        vm.expectRevert(
            abi.encodeWithSelector(IFederationLog.FederationLogAlreadyMember.selector, federationId, mallory)
        );
        vm.prank(coordinator);
        federationLog.proposeMember(federationId, mallory);
        vm.expectRevert(abi.encodeWithSelector(IFederationLog.FederationLogInvalidMember.selector, address(0)));
        vm.prank(coordinator);
        federationLog.proposeMember(federationId, address(0));
    }

    function test_remove_activeMemberAndInvitation() public {
        vm.expectEmit(address(federationLog));
        emit IFederationLog.MemberRemoved(federationId, members[0], coordinator);
        vm.prank(coordinator);
        federationLog.removeMember(federationId, members[0]);
        vm.assertEq(federationLog.getFederation(federationId).memberCount, 2);
        vm.assertTrue(federationLog.getMember(federationId, members[0]).status == IFederationLog.MemberStatus.Removed);

        vm.prank(coordinator);
        federationLog.proposeMember(federationId, mallory);
        vm.prank(coordinator);
        federationLog.removeMember(federationId, mallory);
        vm.assertEq(federationLog.getFederation(federationId).memberCount, 2, "an invitation never counted");
        vm.expectRevert(abi.encodeWithSelector(IFederationLog.FederationLogNotInvited.selector, federationId, mallory));
        vm.prank(mallory);
        federationLog.acceptMembership(federationId);

        vm.expectRevert(
            abi.encodeWithSelector(IFederationLog.FederationLogNotMember.selector, federationId, members[0])
        );
        vm.prank(coordinator);
        federationLog.removeMember(federationId, members[0]);
        vm.expectRevert(
            abi.encodeWithSelector(IFederationLog.FederationLogNotCoordinator.selector, federationId, members[1])
        );
        vm.prank(members[1]);
        federationLog.removeMember(federationId, members[2]);
    }

    function test_leave_byTheMember() public {
        vm.expectEmit(address(federationLog));
        emit IFederationLog.MemberRemoved(federationId, members[1], members[1]);
        vm.prank(members[1]);
        federationLog.leaveFederation(federationId);
        vm.assertEq(federationLog.getFederation(federationId).memberCount, 2);
        vm.expectRevert(
            abi.encodeWithSelector(IFederationLog.FederationLogNotMember.selector, federationId, members[1])
        );
        vm.prank(members[1]);
        federationLog.leaveFederation(federationId);
        vm.expectRevert(abi.encodeWithSelector(IFederationLog.FederationLogNotMember.selector, federationId, mallory));
        vm.prank(mallory);
        federationLog.leaveFederation(federationId);
    }

    function test_removedMember_canBeInvitedBackAndKeepsCounters() public {
        _recordRound(1, GENESIS, keccak256("g1"), _all());
        vm.prank(coordinator);
        federationLog.removeMember(federationId, members[0]);
        vm.prank(coordinator);
        federationLog.proposeMember(federationId, members[0]);
        vm.prank(members[0]);
        federationLog.acceptMembership(federationId);
        IFederationLog.Member memory member = federationLog.getMember(federationId, members[0]);
        vm.assertTrue(member.status == IFederationLog.MemberStatus.Active);
        vm.assertEq(member.rounds, 1);
    }

    function test_setMinSigners() public {
        vm.expectEmit(address(federationLog));
        emit IFederationLog.MinSignersChanged(federationId, 3);
        vm.prank(coordinator);
        federationLog.setMinSigners(federationId, 3);
        vm.assertEq(federationLog.getFederation(federationId).minSigners, 3);
        vm.expectRevert(abi.encodeWithSelector(IFederationLog.FederationLogInvalidMinSigners.selector, 0, 3));
        vm.prank(coordinator);
        federationLog.setMinSigners(federationId, 0);
        vm.expectRevert(
            abi.encodeWithSelector(IFederationLog.FederationLogNotCoordinator.selector, federationId, alice)
        );
        vm.prank(alice);
        federationLog.setMinSigners(federationId, 1);
    }

    /*//////////////////////////////////////////////////////////////
                                 ROUNDS
    //////////////////////////////////////////////////////////////*/

    function test_recordRound_updatesHeadCountersAndEmits() public {
        bytes32 g1 = keccak256("g1");
        IFederationLog.Attestation[] memory attestations = _attestations(_all(), 1, GENESIS);
        vm.expectEmit(address(federationLog));
        emit IFederationLog.RoundRecorded(federationId, 1, GENESIS, g1, METRICS, 100 + 101 + 102, attestations);
        vm.prank(coordinator);
        federationLog.recordRound(federationId, 1, GENESIS, g1, METRICS, attestations);

        IFederationLog.Federation memory federation = federationLog.getFederation(federationId);
        vm.assertEq(federation.lastRound, 1);
        vm.assertEq(federation.lastGlobalHash, g1);

        bytes32 g2 = keccak256("g2");
        _recordRound(2, g1, g2, _pick(0, 2));
        for (uint256 i = 0; i < 3; ++i) {
            IFederationLog.Member memory member = federationLog.getMember(federationId, members[i]);
            uint256 expectedRounds = i == 1 ? 1 : 2;
            vm.assertEq(member.rounds, expectedRounds, "rounds attested");
            vm.assertEq(member.examples, expectedRounds * (100 + i), "examples attested");
        }
        vm.assertEq(federationLog.getFederation(federationId).lastGlobalHash, g2);
    }

    function test_recordRound_notCoordinator_reverts() public {
        IFederationLog.Attestation[] memory attestations = _attestations(_all(), 1, GENESIS);
        vm.expectRevert(
            abi.encodeWithSelector(IFederationLog.FederationLogNotCoordinator.selector, federationId, members[0])
        );
        vm.prank(members[0]);
        federationLog.recordRound(federationId, 1, GENESIS, keccak256("g1"), METRICS, attestations);
    }

    function test_recordRound_wrongRound_reverts() public {
        _expectRoundRevert(
            0,
            GENESIS,
            _all(),
            abi.encodeWithSelector(IFederationLog.FederationLogUnexpectedRound.selector, federationId, 1, 0)
        );
        _expectRoundRevert(
            2,
            GENESIS,
            _all(),
            abi.encodeWithSelector(IFederationLog.FederationLogUnexpectedRound.selector, federationId, 1, 2)
        );
    }

    function test_recordRound_gapAndRepeat_revert() public {
        bytes32 g1 = keccak256("g1");
        _recordRound(1, GENESIS, g1, _all());
        _expectRoundRevert(
            1,
            g1,
            _all(),
            abi.encodeWithSelector(IFederationLog.FederationLogUnexpectedRound.selector, federationId, 2, 1)
        );
        _expectRoundRevert(
            3,
            g1,
            _all(),
            abi.encodeWithSelector(IFederationLog.FederationLogUnexpectedRound.selector, federationId, 2, 3)
        );
    }

    function test_recordRound_brokenHashChain_reverts() public {
        bytes32 g1 = keccak256("g1");
        _recordRound(1, GENESIS, g1, _all());
        bytes32 fork = keccak256("fork");
        _expectRoundRevert(
            2,
            fork,
            _all(),
            abi.encodeWithSelector(IFederationLog.FederationLogBrokenHashChain.selector, federationId, g1, fork)
        );
    }

    function test_recordRound_zeroNewHash_reverts() public {
        IFederationLog.Attestation[] memory attestations = _attestations(_all(), 1, GENESIS);
        vm.expectRevert(abi.encodeWithSelector(IFederationLog.FederationLogZeroHash.selector));
        vm.prank(coordinator);
        federationLog.recordRound(federationId, 1, GENESIS, bytes32(0), METRICS, attestations);
    }

    function test_recordRound_notEnoughSigners_reverts() public {
        _expectRoundRevert(
            1, GENESIS, _one(1), abi.encodeWithSelector(IFederationLog.FederationLogNotEnoughSigners.selector, 1, 2)
        );
    }

    function test_recordRound_duplicateSigner_reverts() public {
        IFederationLog.Attestation[] memory attestations = _attestations(_pick(0, 0), 1, GENESIS);
        vm.expectRevert(abi.encodeWithSelector(IFederationLog.FederationLogDuplicateSigner.selector, members[0]));
        vm.prank(coordinator);
        federationLog.recordRound(federationId, 1, GENESIS, keccak256("g1"), METRICS, attestations);
    }

    function test_recordRound_unsortedSigners_reverts() public {
        IFederationLog.Attestation[] memory attestations = _attestations(_pick(2, 0), 1, GENESIS);
        vm.expectRevert(
            abi.encodeWithSelector(IFederationLog.FederationLogSignersNotSorted.selector, members[2], members[0])
        );
        vm.prank(coordinator);
        federationLog.recordRound(federationId, 1, GENESIS, keccak256("g1"), METRICS, attestations);
    }

    function test_recordRound_nonMemberSigner_reverts() public {
        IFederationLog.Attestation[] memory attestations = new IFederationLog.Attestation[](2);
        attestations[0] = _attest(keys[0], federationId, 1, GENESIS, keccak256("u0"), 100);
        attestations[1] = _attest(MALLORY_KEY, federationId, 1, GENESIS, keccak256("u9"), 100);
        attestations = _sorted(attestations);
        vm.expectRevert(abi.encodeWithSelector(IFederationLog.FederationLogNotMember.selector, federationId, mallory));
        vm.prank(coordinator);
        federationLog.recordRound(federationId, 1, GENESIS, keccak256("g1"), METRICS, attestations);
    }

    function test_recordRound_invitedButNotAcceptedSigner_reverts() public {
        vm.prank(coordinator);
        federationLog.proposeMember(federationId, mallory);
        IFederationLog.Attestation[] memory attestations = new IFederationLog.Attestation[](2);
        attestations[0] = _attest(keys[0], federationId, 1, GENESIS, keccak256("u0"), 100);
        attestations[1] = _attest(MALLORY_KEY, federationId, 1, GENESIS, keccak256("u9"), 100);
        attestations = _sorted(attestations);
        vm.expectRevert(abi.encodeWithSelector(IFederationLog.FederationLogNotMember.selector, federationId, mallory));
        vm.prank(coordinator);
        federationLog.recordRound(federationId, 1, GENESIS, keccak256("g1"), METRICS, attestations);
    }

    function test_recordRound_removedMemberSigner_reverts() public {
        vm.prank(members[2]);
        federationLog.leaveFederation(federationId);
        _expectRoundRevert(
            1,
            GENESIS,
            _all(),
            abi.encodeWithSelector(IFederationLog.FederationLogNotMember.selector, federationId, members[2])
        );
    }

    function test_recordRound_forgedSignature_reverts() public {
        IFederationLog.Attestation[] memory attestations = _attestations(_pick(0, 1), 1, GENESIS);
        bytes32 digest = federationLog.attestationDigest(
            federationId, 1, GENESIS, attestations[1].updateHash, attestations[1].numExamples
        );
        (attestations[1].r, attestations[1].vs) = vm.signCompact(MALLORY_KEY, digest);
        vm.expectRevert(abi.encodeWithSelector(IFederationLog.FederationLogInvalidSignature.selector, members[1]));
        vm.prank(coordinator);
        federationLog.recordRound(federationId, 1, GENESIS, keccak256("g1"), METRICS, attestations);
    }

    function test_recordRound_tamperedExamples_reverts() public {
        IFederationLog.Attestation[] memory attestations = _attestations(_pick(0, 1), 1, GENESIS);
        attestations[0].numExamples = 1_000_000;
        vm.expectRevert(abi.encodeWithSelector(IFederationLog.FederationLogInvalidSignature.selector, members[0]));
        vm.prank(coordinator);
        federationLog.recordRound(federationId, 1, GENESIS, keccak256("g1"), METRICS, attestations);
    }

    function test_recordRound_malformedSignature_reverts() public {
        IFederationLog.Attestation[] memory attestations = _attestations(_pick(0, 1), 1, GENESIS);
        attestations[0].r = bytes32(0);
        vm.expectRevert(abi.encodeWithSelector(IFederationLog.FederationLogInvalidSignature.selector, members[0]));
        vm.prank(coordinator);
        federationLog.recordRound(federationId, 1, GENESIS, keccak256("g1"), METRICS, attestations);
    }

    function test_recordRound_crossRoundReplay_reverts() public {
        bytes32 g1 = keccak256("g1");
        IFederationLog.Attestation[] memory round1 = _attestations(_all(), 1, GENESIS);
        vm.prank(coordinator);
        federationLog.recordRound(federationId, 1, GENESIS, g1, METRICS, round1);
        vm.expectRevert(abi.encodeWithSelector(IFederationLog.FederationLogInvalidSignature.selector, members[0]));
        vm.prank(coordinator);
        federationLog.recordRound(federationId, 2, g1, keccak256("g2"), METRICS, round1);
    }

    function test_recordRound_crossFederationReplay_reverts() public {
        uint64 other = _federation(members, 2, GENESIS);
        IFederationLog.Attestation[] memory attestations = _attestations(_all(), 1, GENESIS);
        vm.expectRevert(abi.encodeWithSelector(IFederationLog.FederationLogInvalidSignature.selector, members[0]));
        vm.prank(coordinator);
        federationLog.recordRound(other, 1, GENESIS, keccak256("g1"), METRICS, attestations);
    }

    function test_recordRound_otherChain_reverts() public {
        IFederationLog.Attestation[] memory attestations = _attestations(_all(), 1, GENESIS);
        vm.chainId(block.chainid + 1);
        vm.expectRevert(abi.encodeWithSelector(IFederationLog.FederationLogInvalidSignature.selector, members[0]));
        vm.prank(coordinator);
        federationLog.recordRound(federationId, 1, GENESIS, keccak256("g1"), METRICS, attestations);
    }

    function test_attestationDigest_isEip712OverTheDocumentedType() public view {
        bytes32 typeHash = keccak256(
            "RoundAttestation(uint64 federationId,uint64 round,bytes32 previousGlobalHash,bytes32 updateHash,"
            "uint64 numExamples)"
        );
        vm.assertEq(federationLog.ATTESTATION_TYPEHASH(), typeHash);
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("provenet FederationLog"),
                keccak256("1"),
                block.chainid,
                address(federationLog)
            )
        );
        bytes32 structHash = keccak256(abi.encode(typeHash, uint64(5), uint64(7), GENESIS, keccak256("u"), uint64(42)));
        vm.assertEq(
            federationLog.attestationDigest(5, 7, GENESIS, keccak256("u"), 42),
            keccak256(abi.encodePacked("\x19\x01", domain, structHash))
        );
    }

    /*//////////////////////////////////////////////////////////////
                                  FUZZ
    //////////////////////////////////////////////////////////////*/

    /// @dev A correctly signed attestation from any key that is not a member is refused as a non-member.
    function testFuzz_randomKey_isNotAMember(uint256 key) public {
        key = bound(key, 1, SECP256K1_ORDER - 1);
        address signer = vm.addr(key);
        vm.assume(signer != members[0] && signer != members[1] && signer != members[2]);
        vm.prank(coordinator);
        federationLog.setMinSigners(federationId, 1);
        IFederationLog.Attestation[] memory attestations = new IFederationLog.Attestation[](1);
        attestations[0] = _attest(key, federationId, 1, GENESIS, keccak256("u"), 1);
        vm.expectRevert(abi.encodeWithSelector(IFederationLog.FederationLogNotMember.selector, federationId, signer));
        vm.prank(coordinator);
        federationLog.recordRound(federationId, 1, GENESIS, keccak256("g1"), METRICS, attestations);
    }

    /// @dev Any key other than the member's own, or arbitrary (r, vs), fails as an invalid signature.
    function testFuzz_signatureNotByTheMember_reverts(uint256 key, bytes32 r, bytes32 vs, bool useKey) public {
        IFederationLog.Attestation[] memory attestations = _attestations(_pick(0, 1), 1, GENESIS);
        if (useKey) {
            key = bound(key, 1, SECP256K1_ORDER - 1);
            vm.assume(key != keys[1]);
            bytes32 digest = federationLog.attestationDigest(
                federationId, 1, GENESIS, attestations[1].updateHash, attestations[1].numExamples
            );
            (r, vs) = vm.signCompact(key, digest);
        }
        attestations[1].r = r;
        attestations[1].vs = vs;
        vm.expectRevert(abi.encodeWithSelector(IFederationLog.FederationLogInvalidSignature.selector, members[1]));
        vm.prank(coordinator);
        federationLog.recordRound(federationId, 1, GENESIS, keccak256("g1"), METRICS, attestations);
    }

    /// @dev Only lastRound + 1 is accepted.
    function testFuzz_onlyTheNextRound(uint64 round) public {
        _recordRound(1, GENESIS, keccak256("g1"), _all());
        vm.assume(round != 2);
        _expectRoundRevert(
            round,
            keccak256("g1"),
            _all(),
            abi.encodeWithSelector(IFederationLog.FederationLogUnexpectedRound.selector, federationId, 2, round)
        );
    }

    /// @dev Counters add up the attested examples exactly.
    function testFuzz_countersAddUp(uint64[3] memory first, uint64[3] memory second) public {
        bytes32 g1 = keccak256("g1");
        _recordRoundWith(1, GENESIS, g1, first);
        _recordRoundWith(2, g1, keccak256("g2"), second);
        for (uint256 i = 0; i < 3; ++i) {
            IFederationLog.Member memory member = federationLog.getMember(federationId, members[i]);
            vm.assertEq(member.rounds, 2);
            vm.assertEq(member.examples, uint256(first[i]) + second[i]);
        }
    }

    /*//////////////////////////////////////////////////////////////
                                HELPERS
    //////////////////////////////////////////////////////////////*/

    /// @dev The order of secp256k1's group.
    uint256 internal constant SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    /// @dev Member indexes 0, 1, 2.
    function _all() internal pure returns (uint256[] memory picked) {
        picked = new uint256[](3);
        picked[1] = 1;
        picked[2] = 2;
    }

    /// @dev Member index `a` alone.
    function _one(uint256 a) internal pure returns (uint256[] memory picked) {
        picked = new uint256[](1);
        picked[0] = a;
    }

    /// @dev Member indexes (a, b), in that order.
    function _pick(uint256 a, uint256 b) internal pure returns (uint256[] memory picked) {
        picked = new uint256[](2);
        picked[0] = a;
        picked[1] = b;
    }

    /// @dev Attestations by the picked members (in the given order), member i attesting 100 + i examples.
    function _attestations(uint256[] memory picked, uint64 round, bytes32 previous)
        internal
        view
        returns (IFederationLog.Attestation[] memory attestations)
    {
        attestations = new IFederationLog.Attestation[](picked.length);
        for (uint256 i = 0; i < picked.length; ++i) {
            uint256 m = picked[i];
            attestations[i] =
                _attest(keys[m], federationId, round, previous, keccak256(abi.encode(round, m)), uint64(100 + m));
        }
    }

    /// @dev Record `round` with the picked members' attestations.
    function _recordRound(uint64 round, bytes32 previous, bytes32 next, uint256[] memory picked) internal {
        IFederationLog.Attestation[] memory attestations = _attestations(picked, round, previous);
        vm.prank(coordinator);
        federationLog.recordRound(federationId, round, previous, next, METRICS, attestations);
    }

    /// @dev Record `round` with all three members attesting the given numbers of examples.
    function _recordRoundWith(uint64 round, bytes32 previous, bytes32 next, uint64[3] memory examples) internal {
        IFederationLog.Attestation[] memory attestations = new IFederationLog.Attestation[](3);
        for (uint256 i = 0; i < 3; ++i) {
            attestations[i] =
                _attest(keys[i], federationId, round, previous, keccak256(abi.encode(round, i)), examples[i]);
        }
        vm.prank(coordinator);
        federationLog.recordRound(federationId, round, previous, next, METRICS, attestations);
    }

    /// @dev recordRound(round, previous) with the picked members' attestations reverts with `expected`.
    function _expectRoundRevert(uint64 round, bytes32 previous, uint256[] memory picked, bytes memory expected)
        internal
    {
        IFederationLog.Attestation[] memory attestations = _attestations(picked, round, previous);
        vm.expectRevert(expected);
        vm.prank(coordinator);
        federationLog.recordRound(federationId, round, previous, keccak256("next"), METRICS, attestations);
    }
}
