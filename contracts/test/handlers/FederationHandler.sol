// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Cheats} from "../utils/TestBase.sol";
import {FederationLog} from "../../src/FederationLog.sol";
import {IFederationLog} from "../../src/interfaces/IFederationLog.sol";

/// @title FederationHandler
/// @notice Drives one federation through valid rounds, invalid round attempts of every kind, membership
/// changes and time, and keeps ghost copies of what the chain should hold.
contract FederationHandler is Cheats {
    /// @dev Kinds of invalid attempt, each with the error it must revert with.
    uint256 internal constant INVALID_KINDS = 11;

    FederationLog public immutable log;
    uint64 public immutable federationId;
    address public immutable coordinator;

    /// @dev Member keys, all but the last sorted by address; the last key is only ever invited, never accepted.
    uint256[] internal _keys;
    /// @dev A key that is never a member.
    uint256 internal constant OUTSIDER_KEY = 0x0B5E;

    /// @dev Ghost head of the chain.
    bytes32 public ghostLastHash;
    uint64 public ghostLastRound;
    /// @dev Ghost counters per member address.
    mapping(address member => uint256) public ghostRounds;
    mapping(address member => uint256) public ghostExamples;
    /// @dev Attestations of the last recorded round, for replay attempts.
    IFederationLog.Attestation[] internal _lastAttestations;
    /// @dev Invalid attempts that did not revert with their named error (must stay 0).
    uint256 public unexpectedOutcomes;
    /// @dev How many invalid attempts were made and how many rounds were recorded (for the summary).
    uint256 public invalidAttempts;

    constructor(FederationLog log_, address coordinator_, uint256[] memory keys, bytes32 genesis) {
        log = log_;
        coordinator = coordinator_;
        _keys = keys;
        address[] memory invited = new address[](keys.length);
        for (uint256 i = 0; i < keys.length; ++i) {
            invited[i] = vm.addr(keys[i]);
        }
        vm.prank(coordinator_);
        federationId = log_.createFederation(keccak256("invariant federation"), genesis, invited, 1);
        // All but the last key accept.
        for (uint256 i = 0; i + 1 < keys.length; ++i) {
            vm.prank(invited[i]);
            log_.acceptMembership(federationId);
        }
        ghostLastHash = genesis;
    }

    /// @dev Member addresses (every key's).
    function memberCount() external view returns (uint256) {
        return _keys.length;
    }

    /// @dev The address of key `i`.
    function memberAt(uint256 i) external view returns (address) {
        return vm.addr(_keys[i]);
    }

    /*//////////////////////////////////////////////////////////////
                                 ACTIONS
    //////////////////////////////////////////////////////////////*/

    /// @dev Record the next round with a valid, sorted set of active members' attestations.
    function recordValidRound(uint256 signerMask, uint64 examplesSeed, bytes32 newHash) external {
        if (newHash == bytes32(0)) newHash = keccak256(abi.encode(ghostLastRound, "global"));
        uint64 round = ghostLastRound + 1;
        IFederationLog.Attestation[] memory attestations = _activeAttestations(signerMask, round, examplesSeed);
        if (attestations.length < log.getFederation(federationId).minSigners) return;
        vm.prank(coordinator);
        log.recordRound(federationId, round, ghostLastHash, newHash, bytes32(0), attestations);

        delete _lastAttestations;
        for (uint256 i = 0; i < attestations.length; ++i) {
            ghostRounds[attestations[i].signer] += 1;
            ghostExamples[attestations[i].signer] += attestations[i].numExamples;
            _lastAttestations.push(attestations[i]);
        }
        ghostLastRound = round;
        ghostLastHash = newHash;
    }

    /// @dev Attempt an invalid round of one kind; it must revert with that kind's error.
    function recordInvalidRound(uint256 kind, uint256 signerMask, uint64 examplesSeed) external {
        kind = bound(kind, 0, INVALID_KINDS - 1);
        ++invalidAttempts;
        uint64 round = ghostLastRound + 1;
        bytes32 previous = ghostLastHash;
        bytes32 next = keccak256(abi.encode(round, "invalid"));
        address caller = coordinator;
        IFederationLog.Attestation[] memory attestations = _activeAttestations(signerMask | 1, round, examplesSeed);
        bytes memory expected;

        if (kind == 0) {
            // a repeated (or, at the start, zero) round
            round = ghostLastRound;
            expected = abi.encodeWithSelector(
                IFederationLog.FederationLogUnexpectedRound.selector, federationId, ghostLastRound + 1, round
            );
        } else if (kind == 1) {
            round = ghostLastRound + 2;
            expected = abi.encodeWithSelector(
                IFederationLog.FederationLogUnexpectedRound.selector, federationId, ghostLastRound + 1, round
            );
        } else if (kind == 2) {
            previous = keccak256(abi.encode(previous, "fork"));
            expected = abi.encodeWithSelector(
                IFederationLog.FederationLogBrokenHashChain.selector, federationId, ghostLastHash, previous
            );
        } else if (kind == 3) {
            caller = vm.addr(_keys[0]);
            expected = abi.encodeWithSelector(IFederationLog.FederationLogNotCoordinator.selector, federationId, caller);
        } else if (kind == 4) {
            next = bytes32(0);
            expected = abi.encodeWithSelector(IFederationLog.FederationLogZeroHash.selector);
        } else if (kind == 5) {
            attestations = _pair(attestations[0], attestations[0]);
            expected =
                abi.encodeWithSelector(IFederationLog.FederationLogDuplicateSigner.selector, attestations[0].signer);
        } else if (kind == 6) {
            IFederationLog.Attestation memory outsider = _sign(OUTSIDER_KEY, round, previous, keccak256("outsider"), 1);
            attestations = _sortedPair(attestations[0], outsider);
            expected =
                abi.encodeWithSelector(IFederationLog.FederationLogNotMember.selector, federationId, outsider.signer);
        } else if (kind == 7) {
            // the invited-but-never-accepted key
            IFederationLog.Attestation memory invited =
                _sign(_keys[_keys.length - 1], round, previous, keccak256("invited"), 1);
            attestations = _sortedPair(attestations[0], invited);
            expected =
                abi.encodeWithSelector(IFederationLog.FederationLogNotMember.selector, federationId, invited.signer);
        } else if (kind == 8) {
            // forged: an outsider signs in an active member's name
            bytes32 digest = log.attestationDigest(
                federationId, round, previous, attestations[0].updateHash, attestations[0].numExamples
            );
            (attestations[0].r, attestations[0].vs) = vm.signCompact(OUTSIDER_KEY, digest);
            expected =
                abi.encodeWithSelector(IFederationLog.FederationLogInvalidSignature.selector, attestations[0].signer);
        } else if (kind == 9) {
            // cross-round replay of the last recorded round's attestations
            if (_lastAttestations.length == 0) return;
            attestations = _lastAttestations;
            expected =
                abi.encodeWithSelector(IFederationLog.FederationLogInvalidSignature.selector, attestations[0].signer);
        } else {
            uint16 minSigners = log.getFederation(federationId).minSigners;
            attestations = new IFederationLog.Attestation[](0);
            expected = abi.encodeWithSelector(IFederationLog.FederationLogNotEnoughSigners.selector, 0, minSigners);
        }
        if (attestations.length == 0 && kind != INVALID_KINDS - 1) return;

        vm.prank(caller);
        try log.recordRound(federationId, round, previous, next, bytes32(0), attestations) {
            ++unexpectedOutcomes;
        } catch (bytes memory reason) {
            if (keccak256(reason) != keccak256(expected)) ++unexpectedOutcomes;
        }
    }

    /// @dev Remove an active member or bring a removed one back (never the invited-only key).
    function toggleMember(uint256 index) external {
        index = bound(index, 0, _keys.length - 2);
        address member = vm.addr(_keys[index]);
        IFederationLog.MemberStatus status = log.getMember(federationId, member).status;
        if (status == IFederationLog.MemberStatus.Active) {
            // Keep at least one active member so that rounds stay possible.
            if (log.getFederation(federationId).memberCount == 1) return;
            vm.prank(coordinator);
            log.removeMember(federationId, member);
        } else if (status == IFederationLog.MemberStatus.Removed) {
            vm.prank(coordinator);
            log.proposeMember(federationId, member);
            vm.prank(member);
            log.acceptMembership(federationId);
        }
    }

    /// @dev Let time pass (attestations carry no deadline; time must not matter).
    function warp(uint32 seconds_) external {
        vm.warp(block.timestamp + seconds_);
    }

    /*//////////////////////////////////////////////////////////////
                                 HELPERS
    //////////////////////////////////////////////////////////////*/

    /// @dev Attestations, sorted, by the active members picked by `mask` (all active ones if none picked).
    function _activeAttestations(uint256 mask, uint64 round, uint64 examplesSeed)
        internal
        view
        returns (IFederationLog.Attestation[] memory attestations)
    {
        uint256 n = _keys.length - 1;
        bool[] memory picked = new bool[](n);
        uint256 count = 0;
        for (uint256 pass = 0; pass < 2 && count == 0; ++pass) {
            for (uint256 i = 0; i < n; ++i) {
                bool active =
                    log.getMember(federationId, vm.addr(_keys[i])).status == IFederationLog.MemberStatus.Active;
                if (active && (pass == 1 || (mask >> i) & 1 == 1)) {
                    picked[i] = true;
                    ++count;
                }
            }
        }
        attestations = new IFederationLog.Attestation[](count);
        uint256 j = 0;
        for (uint256 i = 0; i < n; ++i) {
            if (!picked[i]) continue;
            uint64 examples = uint64(uint256(keccak256(abi.encode(examplesSeed, i))) % 1_000_000);
            attestations[j++] = _sign(_keys[i], round, ghostLastHash, keccak256(abi.encode(round, i)), examples);
        }
    }

    /// @dev One attestation signed with `key`.
    function _sign(uint256 key, uint64 round, bytes32 previous, bytes32 updateHash, uint64 examples)
        internal
        view
        returns (IFederationLog.Attestation memory attestation)
    {
        bytes32 digest = log.attestationDigest(federationId, round, previous, updateHash, examples);
        (bytes32 r, bytes32 vs) = vm.signCompact(key, digest);
        attestation = IFederationLog.Attestation({
            signer: vm.addr(key), updateHash: updateHash, numExamples: examples, r: r, vs: vs
        });
    }

    /// @dev (a, b) in that order.
    function _pair(IFederationLog.Attestation memory a, IFederationLog.Attestation memory b)
        internal
        pure
        returns (IFederationLog.Attestation[] memory pair)
    {
        pair = new IFederationLog.Attestation[](2);
        pair[0] = a;
        pair[1] = b;
    }

    /// @dev (a, b) sorted by signer.
    function _sortedPair(IFederationLog.Attestation memory a, IFederationLog.Attestation memory b)
        internal
        pure
        returns (IFederationLog.Attestation[] memory)
    {
        return a.signer < b.signer ? _pair(a, b) : _pair(b, a);
    }
}
