// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IFederationLog} from "./interfaces/IFederationLog.sol";

/// @title FederationLog
/// @notice Federations of training partners and the hash-chained log of their rounds.
/// @dev Per round the contract writes the head (last round, last global hash) and one counter slot per
/// attesting member; everything else goes into events.
contract FederationLog is EIP712, IFederationLog {
    /// @dev EIP-712 type of a member's round attestation.
    bytes32 public constant ATTESTATION_TYPEHASH = keccak256(
        "RoundAttestation(uint64 federationId,uint64 round,bytes32 previousGlobalHash,bytes32 updateHash,"
        "uint64 numExamples)"
    );

    /// @dev Federation heads by id (from 1).
    mapping(uint64 federationId => Federation) private _federations;
    /// @dev Members' status and counters.
    mapping(uint64 federationId => mapping(address account => Member)) private _members;
    /// @dev Number of federations created.
    uint64 private _federationCount;

    constructor() EIP712("provenet FederationLog", "1") {}

    /*//////////////////////////////////////////////////////////////
                               MEMBERSHIP
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IFederationLog
    function createFederation(
        bytes32 metadataHash,
        bytes32 initialGlobalHash,
        address[] calldata members,
        uint16 minSigners
    ) external returns (uint64 federationId) {
        if (minSigners == 0 || minSigners > members.length) {
            revert FederationLogInvalidMinSigners(minSigners, members.length);
        }
        federationId = ++_federationCount;
        _federations[federationId] = Federation({
            coordinator: msg.sender,
            lastRound: 0,
            minSigners: minSigners,
            memberCount: 0,
            lastGlobalHash: initialGlobalHash
        });
        emit FederationCreated(federationId, msg.sender, metadataHash, initialGlobalHash, minSigners);
        // Bounded by the calldata list, not by storage.
        for (uint256 i = 0; i < members.length; ++i) {
            address member = members[i];
            if (member == address(0) || _members[federationId][member].status != MemberStatus.None) {
                revert FederationLogInvalidMember(member);
            }
            _members[federationId][member].status = MemberStatus.Invited;
            emit MemberInvited(federationId, member);
        }
    }

    /// @inheritdoc IFederationLog
    function acceptMembership(uint64 federationId) external {
        Federation storage federation = _requireFederation(federationId);
        Member storage member = _members[federationId][msg.sender];
        if (member.status != MemberStatus.Invited) revert FederationLogNotInvited(federationId, msg.sender);
        member.status = MemberStatus.Active;
        ++federation.memberCount;
        emit MemberJoined(federationId, msg.sender);
    }

    /// @inheritdoc IFederationLog
    function proposeMember(uint64 federationId, address account) external {
        _requireCoordinator(federationId);
        if (account == address(0)) revert FederationLogInvalidMember(account);
        Member storage member = _members[federationId][account];
        if (member.status == MemberStatus.Invited || member.status == MemberStatus.Active) {
            revert FederationLogAlreadyMember(federationId, account);
        }
        member.status = MemberStatus.Invited;
        emit MemberInvited(federationId, account);
    }

    /// @inheritdoc IFederationLog
    function removeMember(uint64 federationId, address account) external {
        _requireCoordinator(federationId);
        _remove(federationId, account);
    }

    /// @inheritdoc IFederationLog
    function leaveFederation(uint64 federationId) external {
        _requireFederation(federationId);
        _remove(federationId, msg.sender);
    }

    /// @inheritdoc IFederationLog
    function setMinSigners(uint64 federationId, uint16 minSigners) external {
        Federation storage federation = _requireCoordinator(federationId);
        if (minSigners == 0) revert FederationLogInvalidMinSigners(minSigners, federation.memberCount);
        federation.minSigners = minSigners;
        emit MinSignersChanged(federationId, minSigners);
    }

    /// @dev Invited or active `account` becomes removed; counters are kept as history.
    function _remove(uint64 federationId, address account) private {
        Member storage member = _members[federationId][account];
        MemberStatus status = member.status;
        if (status != MemberStatus.Active && status != MemberStatus.Invited) {
            revert FederationLogNotMember(federationId, account);
        }
        member.status = MemberStatus.Removed;
        if (status == MemberStatus.Active) --_federations[federationId].memberCount;
        emit MemberRemoved(federationId, account, msg.sender);
    }

    /*//////////////////////////////////////////////////////////////
                                 ROUNDS
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IFederationLog
    function recordRound(
        uint64 federationId,
        uint64 round,
        bytes32 previousGlobalHash,
        bytes32 newGlobalHash,
        bytes32 metricsHash,
        Attestation[] calldata attestations
    ) external {
        Federation storage federation = _requireCoordinator(federationId);
        uint64 lastRound = federation.lastRound;
        // lastRound < round <= type(uint64).max is checked right below, so +1 cannot wrap for a valid call.
        unchecked {
            if (round != lastRound + 1) revert FederationLogUnexpectedRound(federationId, lastRound + 1, round);
        }
        bytes32 lastHash = federation.lastGlobalHash;
        if (previousGlobalHash != lastHash) {
            revert FederationLogBrokenHashChain(federationId, lastHash, previousGlobalHash);
        }
        if (newGlobalHash == bytes32(0)) revert FederationLogZeroHash();
        uint16 minSigners = federation.minSigners;
        if (attestations.length < minSigners) revert FederationLogNotEnoughSigners(attestations.length, minSigners);

        uint256 totalExamples = 0;
        address previousSigner = address(0);
        for (uint256 i = 0; i < attestations.length; ++i) {
            address signer = attestations[i].signer;
            if (signer <= previousSigner) {
                if (signer == previousSigner) revert FederationLogDuplicateSigner(signer);
                revert FederationLogSignersNotSorted(previousSigner, signer);
            }
            previousSigner = signer;
            // A sum of at most 2^16 uint64 values cannot overflow uint256.
            unchecked {
                totalExamples += _recordAttestation(federationId, round, previousGlobalHash, attestations[i]);
            }
        }
        federation.lastRound = round;
        federation.lastGlobalHash = newGlobalHash;
        emit RoundRecorded(
            federationId, round, previousGlobalHash, newGlobalHash, metricsHash, totalExamples, attestations
        );
    }

    /// @dev Verify one attestation and count it for its signer. Returns its number of examples.
    function _recordAttestation(
        uint64 federationId,
        uint64 round,
        bytes32 previousGlobalHash,
        Attestation calldata attestation
    ) private returns (uint64 examples) {
        _verifyAttestation(federationId, round, previousGlobalHash, attestation);
        address signer = attestation.signer;
        Member storage member = _members[federationId][signer];
        if (member.status != MemberStatus.Active) revert FederationLogNotMember(federationId, signer);
        examples = attestation.numExamples;
        // rounds < 2^64 (one per recorded round); examples < 2^128 (a sum of < 2^64 uint64 values).
        unchecked {
            member.rounds += 1;
            member.examples += examples;
        }
    }

    /// @dev The attestation is signed by its named signer for this federation, round and previous hash.
    function _verifyAttestation(
        uint64 federationId,
        uint64 round,
        bytes32 previousGlobalHash,
        Attestation calldata attestation
    ) private view {
        bytes32 digest = _attestationDigest(
            federationId, round, previousGlobalHash, attestation.updateHash, attestation.numExamples
        );
        // The third value only details the error, and any error fails the check below.
        // slither-disable-next-line unused-return
        (address recovered, ECDSA.RecoverError error,) = ECDSA.tryRecover(digest, attestation.r, attestation.vs);
        if (error != ECDSA.RecoverError.NoError || recovered != attestation.signer) {
            revert FederationLogInvalidSignature(attestation.signer);
        }
    }

    /// @dev EIP-712 digest of an attestation.
    function _attestationDigest(
        uint64 federationId,
        uint64 round,
        bytes32 previousGlobalHash,
        bytes32 updateHash,
        uint64 numExamples
    ) private view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(ATTESTATION_TYPEHASH, federationId, round, previousGlobalHash, updateHash, numExamples)
            )
        );
    }

    /*//////////////////////////////////////////////////////////////
                                  VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IFederationLog
    function attestationDigest(
        uint64 federationId,
        uint64 round,
        bytes32 previousGlobalHash,
        bytes32 updateHash,
        uint64 numExamples
    ) external view returns (bytes32) {
        return _attestationDigest(federationId, round, previousGlobalHash, updateHash, numExamples);
    }

    /// @inheritdoc IFederationLog
    function getFederation(uint64 federationId) external view returns (Federation memory) {
        return _requireFederation(federationId);
    }

    /// @inheritdoc IFederationLog
    function getMember(uint64 federationId, address account) external view returns (Member memory) {
        return _members[federationId][account];
    }

    /// @inheritdoc IFederationLog
    function federationCount() external view returns (uint64) {
        return _federationCount;
    }

    /// @dev The federation, or a revert naming it.
    function _requireFederation(uint64 federationId) private view returns (Federation storage federation) {
        federation = _federations[federationId];
        if (federation.coordinator == address(0)) revert FederationLogUnknownFederation(federationId);
    }

    /// @dev The federation, if the caller coordinates it.
    function _requireCoordinator(uint64 federationId) private view returns (Federation storage federation) {
        federation = _requireFederation(federationId);
        if (federation.coordinator != msg.sender) revert FederationLogNotCoordinator(federationId, msg.sender);
    }
}
