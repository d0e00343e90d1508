// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title IFederationLog
/// @notice The log of federated training rounds: members attest to their updates with EIP-712 signatures,
/// the coordinator records each round once, in order, as a hash chain of global model hashes.
/// @dev Storage per round is constant: a head (last round, last global hash) and per-member counters.
/// Round details and attestations are in events. An attestation is bound to (federation, round), which
/// acts as its nonce: rounds are recorded once, so an attestation cannot be replayed.
interface IFederationLog {
    /// @dev Membership state of an address in a federation.
    enum MemberStatus {
        None,
        Invited,
        Active,
        Removed
    }

    /// @dev A federation's head (one storage slot) plus its last global hash.
    struct Federation {
        address coordinator;
        uint64 lastRound;
        uint16 minSigners;
        uint16 memberCount;
        bytes32 lastGlobalHash;
    }

    /// @dev A member's state and contribution counters (one storage slot).
    struct Member {
        MemberStatus status;
        uint64 rounds;
        uint128 examples;
    }

    /// @dev A member's signed statement about its update in one round. The signature is EIP-2098 (r, vs).
    /// It has no deadline: (federation, round, previous global hash) is its nonce, a slot of the hash chain
    /// that is filled once, so it can never be replayed, and a chain outage cannot void it.
    struct Attestation {
        address signer;
        bytes32 updateHash;
        uint64 numExamples;
        bytes32 r;
        bytes32 vs;
    }

    /// @dev No such federation.
    error FederationLogUnknownFederation(uint64 federationId);
    /// @dev Only the coordinator may do this.
    error FederationLogNotCoordinator(uint64 federationId, address account);
    /// @dev minSigners is 0 or larger than the member list.
    error FederationLogInvalidMinSigners(uint16 minSigners, uint256 members);
    /// @dev An address is listed twice, or is the zero address.
    error FederationLogInvalidMember(address member);
    /// @dev The address has no pending invitation.
    error FederationLogNotInvited(uint64 federationId, address account);
    /// @dev The address is not a current member.
    error FederationLogNotMember(uint64 federationId, address account);
    /// @dev The address is a member or invited already.
    error FederationLogAlreadyMember(uint64 federationId, address account);
    /// @dev Rounds go 1, 2, 3 with no gap or repeat.
    error FederationLogUnexpectedRound(uint64 federationId, uint64 expected, uint64 got);
    /// @dev The previous global hash is not the last recorded one.
    error FederationLogBrokenHashChain(uint64 federationId, bytes32 expected, bytes32 got);
    /// @dev The zero hash is not a global hash.
    error FederationLogZeroHash();
    /// @dev Fewer attestations than the federation's minimum.
    error FederationLogNotEnoughSigners(uint256 got, uint16 required);
    /// @dev The same signer attests twice in one round.
    error FederationLogDuplicateSigner(address signer);
    /// @dev Attestations must be sorted by signer address (ascending), which makes distinctness O(n).
    error FederationLogSignersNotSorted(address previous, address signer);
    /// @dev The signature does not recover to the named signer for this round's attestation.
    error FederationLogInvalidSignature(address signer);

    /// @dev A federation was created.
    event FederationCreated(
        uint64 indexed federationId,
        address indexed coordinator,
        bytes32 metadataHash,
        bytes32 initialGlobalHash,
        uint16 minSigners
    );
    /// @dev An address was invited to join (it must accept).
    event MemberInvited(uint64 indexed federationId, address indexed member);
    /// @dev An invited address accepted membership.
    event MemberJoined(uint64 indexed federationId, address indexed member);
    /// @dev A member was removed by the coordinator, or left.
    event MemberRemoved(uint64 indexed federationId, address indexed member, address by);
    /// @dev The minimum number of signers changed.
    event MinSignersChanged(uint64 indexed federationId, uint16 minSigners);
    /// @dev A round was recorded, with every attestation in full (signatures included), so that anyone can
    /// re-verify each signature from the log alone. One event per round keeps the marginal cost of an
    /// attestation low; per-member totals are in {getMember}.
    event RoundRecorded(
        uint64 indexed federationId,
        uint64 indexed round,
        bytes32 previousGlobalHash,
        bytes32 newGlobalHash,
        bytes32 metricsHash,
        uint256 examples,
        Attestation[] attestations
    );

    /// @notice Create a federation; the listed members are invited and must accept themselves.
    /// @param initialGlobalHash The global hash round 1 builds on (the initial model's arrays), may be 0.
    function createFederation(
        bytes32 metadataHash,
        bytes32 initialGlobalHash,
        address[] calldata members,
        uint16 minSigners
    ) external returns (uint64 federationId);

    /// @notice Accept an invitation to the federation.
    function acceptMembership(uint64 federationId) external;

    /// @notice Invite a new member (coordinator).
    function proposeMember(uint64 federationId, address member) external;

    /// @notice Remove a member or withdraw an invitation (coordinator).
    function removeMember(uint64 federationId, address member) external;

    /// @notice Leave the federation (member).
    function leaveFederation(uint64 federationId) external;

    /// @notice Change the minimum number of signers per round (coordinator).
    function setMinSigners(uint64 federationId, uint16 minSigners) external;

    /// @notice Record round `round` with the members' attestations, sorted by signer address.
    function recordRound(
        uint64 federationId,
        uint64 round,
        bytes32 previousGlobalHash,
        bytes32 newGlobalHash,
        bytes32 metricsHash,
        Attestation[] calldata attestations
    ) external;

    /// @notice The EIP-712 digest a member signs for its attestation.
    function attestationDigest(
        uint64 federationId,
        uint64 round,
        bytes32 previousGlobalHash,
        bytes32 updateHash,
        uint64 numExamples
    ) external view returns (bytes32);

    /// @notice A federation's head.
    function getFederation(uint64 federationId) external view returns (Federation memory);

    /// @notice A member's state and counters.
    function getMember(uint64 federationId, address account) external view returns (Member memory);

    /// @notice Number of federations created.
    function federationCount() external view returns (uint64);
}
