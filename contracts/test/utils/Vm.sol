// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title Vm
/// @notice The Foundry cheatcodes provenet's tests use, and nothing else. forge-std is not available
/// offline, so this declares the exact signatures of Foundry 1.7's cheatcodes at their fixed address.
/// @dev Add a cheatcode here only with the signature Foundry ships (`strings forge | grep "function name("`).
interface Vm {
    /*//////////////////////////////////////////////////////////////
                            ENVIRONMENT
    //////////////////////////////////////////////////////////////*/

    /// @dev Set block.timestamp.
    function warp(uint256 newTimestamp) external;
    /// @dev Set the next call's msg.sender.
    function prank(address msgSender) external;
    /// @dev Set msg.sender for every call until {stopPrank}.
    function startPrank(address msgSender) external;
    /// @dev End a {startPrank}.
    function stopPrank() external;
    /// @dev Set block.chainid.
    function chainId(uint256 newChainId) external;
    /// @dev Set an account's balance.
    function deal(address account, uint256 newBalance) external;
    /// @dev Name an address in traces.
    function label(address account, string calldata newLabel) external;
    /// @dev An account's nonce.
    function getNonce(address account) external view returns (uint64 nonce);
    /// @dev The address a CREATE from `deployer` at `nonce` deploys to.
    function computeCreateAddress(address deployer, uint256 nonce) external pure returns (address);
    /// @dev Snapshot the whole EVM state.
    function snapshotState() external returns (uint256 snapshotId);
    /// @dev Go back to a snapshot.
    function revertToState(uint256 snapshotId) external returns (bool success);

    /*//////////////////////////////////////////////////////////////
                              SIGNING
    //////////////////////////////////////////////////////////////*/

    /// @dev The address of a private key.
    function addr(uint256 privateKey) external pure returns (address keyAddr);
    /// @dev A (v, r, s) ECDSA signature of `digest`.
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
    /// @dev An EIP-2098 compact (r, vs) signature of `digest`.
    function signCompact(uint256 privateKey, bytes32 digest) external pure returns (bytes32 r, bytes32 vs);

    /*//////////////////////////////////////////////////////////////
                            EXPECTATIONS
    //////////////////////////////////////////////////////////////*/

    /// @dev The next call reverts with exactly `revertData`.
    function expectRevert(bytes calldata revertData) external;
    /// @dev The next call reverts with exactly this 4-byte selector as data.
    function expectRevert(bytes4 revertData) external;
    /// @dev The next call reverts, with any data.
    function expectRevert() external;
    /// @dev The next event emitted matches the one the test emits next (all topics and data).
    function expectEmit() external;
    /// @dev As {expectEmit}, and the event comes from `emitter`.
    function expectEmit(address emitter) external;
    /// @dev The next event matches on the checked topics and data.
    function expectEmit(bool checkTopic1, bool checkTopic2, bool checkTopic3, bool checkData) external;
    /// @dev As above, from `emitter`.
    function expectEmit(bool checkTopic1, bool checkTopic2, bool checkTopic3, bool checkData, address emitter) external;
    /// @dev Reject this fuzz input unless `condition` holds.
    function assume(bool condition) external pure;

    /*//////////////////////////////////////////////////////////////
                              ASSERTIONS
    //////////////////////////////////////////////////////////////*/

    /// @dev Revert unless `condition`.
    function assertTrue(bool condition) external pure;
    /// @dev Revert unless `condition`.
    function assertTrue(bool condition, string calldata err) external pure;
    /// @dev Revert if `condition`.
    function assertFalse(bool condition) external pure;
    /// @dev Revert if `condition`.
    function assertFalse(bool condition, string calldata err) external pure;
    /// @dev Revert unless `left == right`.
    function assertEq(bool left, bool right) external pure;
    /// @dev Revert unless `left == right`.
    function assertEq(bool left, bool right, string calldata err) external pure;
    /// @dev Revert unless `left == right`.
    function assertEq(uint256 left, uint256 right) external pure;
    /// @dev Revert unless `left == right`.
    function assertEq(uint256 left, uint256 right, string calldata err) external pure;
    /// @dev Revert unless `left == right`.
    function assertEq(int256 left, int256 right) external pure;
    /// @dev Revert unless `left == right`.
    function assertEq(address left, address right) external pure;
    /// @dev Revert unless `left == right`.
    function assertEq(address left, address right, string calldata err) external pure;
    /// @dev Revert unless `left == right`.
    function assertEq(bytes32 left, bytes32 right) external pure;
    /// @dev Revert unless `left == right`.
    function assertEq(bytes32 left, bytes32 right, string calldata err) external pure;
    /// @dev Revert unless `left == right`.
    function assertEq(string calldata left, string calldata right) external pure;
    /// @dev Revert unless `left == right`.
    function assertEq(bytes calldata left, bytes calldata right) external pure;
    /// @dev Revert if `left == right`.
    function assertNotEq(address left, address right) external pure;
    /// @dev Revert if `left == right`.
    function assertNotEq(bytes32 left, bytes32 right) external pure;
    /// @dev Revert if `left == right`.
    function assertNotEq(uint256 left, uint256 right) external pure;
    /// @dev Revert unless `left <= right`.
    function assertLe(uint256 left, uint256 right) external pure;
    /// @dev Revert unless `left <= right`.
    function assertLe(uint256 left, uint256 right, string calldata err) external pure;
    /// @dev Revert unless `left < right`.
    function assertLt(uint256 left, uint256 right) external pure;
    /// @dev Revert unless `left >= right`.
    function assertGe(uint256 left, uint256 right) external pure;
    /// @dev Revert unless `left >= right`.
    function assertGe(uint256 left, uint256 right, string calldata err) external pure;
    /// @dev Revert unless `left > right`.
    function assertGt(uint256 left, uint256 right) external pure;
}
