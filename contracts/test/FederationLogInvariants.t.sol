// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ProvenetTest} from "./utils/ProvenetTest.sol";
import {FederationHandler} from "./handlers/FederationHandler.sol";
import {IFederationLog} from "../src/interfaces/IFederationLog.sol";

/// @title FederationLogInvariants
/// @notice Under any sequence of valid rounds, invalid attempts, membership changes and time: the hash
/// chain never breaks, rounds are consecutive, invalid attempts revert with their named error, and member
/// counters equal the attestations recorded.
contract FederationLogInvariants is ProvenetTest {
    FederationHandler internal handler;

    function setUp() public override {
        super.setUp();
        uint256[] memory active = new uint256[](4);
        active[0] = ALICE_KEY;
        active[1] = BOB_KEY;
        active[2] = CAROL_KEY;
        active[3] = 0xD00D;
        active = _sortedKeys(active);
        uint256[] memory keys = new uint256[](5);
        for (uint256 i = 0; i < 4; ++i) {
            keys[i] = active[i];
        }
        keys[4] = 0xE11E; // invited, never accepts
        handler = new FederationHandler(federationLog, coordinator, keys, keccak256("genesis"));
        targetContract(address(handler));
        bytes4[] memory selectors = new bytes4[](5);
        selectors[0] = FederationHandler.recordValidRound.selector;
        selectors[1] = FederationHandler.recordValidRound.selector;
        selectors[2] = FederationHandler.recordInvalidRound.selector;
        selectors[3] = FederationHandler.toggleMember.selector;
        selectors[4] = FederationHandler.warp.selector;
        targetSelector(address(handler), selectors);
    }

    /// @dev The head equals the ghost chain: same last hash, rounds 1..n with no gap.
    function invariant_hashChainNeverBreaks() public view {
        IFederationLog.Federation memory federation = federationLog.getFederation(handler.federationId());
        vm.assertEq(federation.lastGlobalHash, handler.ghostLastHash(), "last global hash");
        vm.assertEq(federation.lastRound, handler.ghostLastRound(), "rounds are consecutive");
    }

    /// @dev Every invalid attempt reverted with its own named error.
    function invariant_invalidRoundsAlwaysRevert() public view {
        vm.assertEq(handler.unexpectedOutcomes(), 0, "an invalid round was accepted or reverted otherwise");
    }

    /// @dev Per-member counters equal the ghost sums of recorded attestations.
    function invariant_memberCountersEqualAttestations() public view {
        uint64 federationId = handler.federationId();
        uint256 totalRounds = 0;
        for (uint256 i = 0; i < handler.memberCount(); ++i) {
            address member = handler.memberAt(i);
            IFederationLog.Member memory record = federationLog.getMember(federationId, member);
            vm.assertEq(record.rounds, handler.ghostRounds(member), "rounds attested");
            vm.assertEq(record.examples, handler.ghostExamples(member), "examples attested");
            vm.assertLe(record.rounds, federationLog.getFederation(federationId).lastRound);
            totalRounds += record.rounds;
        }
        vm.assertGe(totalRounds, federationLog.getFederation(federationId).lastRound, "every round had a signer");
    }
}
