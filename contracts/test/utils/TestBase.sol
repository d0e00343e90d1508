// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Vm} from "./Vm.sol";

/// @title Cheats
/// @notice The cheatcode handle and `bound`, for test contracts and invariant handlers alike.
abstract contract Cheats {
    /// @dev The cheatcode address: address(uint160(uint256(keccak256("hevm cheat code")))).
    Vm internal constant vm = Vm(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);

    /// @dev Map `x` into [min, max] (inclusive), keeping values already inside unchanged so that the
    /// fuzzer's edge cases (min, max, 0, type max) land on the range's edges.
    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        require(min <= max, "Cheats: bound min > max");
        if (x >= min && x <= max) return x;
        // x lies outside [min, max], so the range is not all of uint256 and max - min + 1 cannot overflow.
        uint256 size = max - min + 1;
        if (x < min) return max - (min - x - 1) % size;
        return min + (x - max - 1) % size;
    }
}

/// @title TestBase
/// @notice provenet's own minimal Foundry test base (forge-std is not available offline): {Cheats} plus
/// the target lists that forge's invariant runner reads from the test contract.
/// @dev forge calls `targetContracts()`, `targetSelectors()`, `targetSenders()`, `excludeContracts()` and
/// `excludeSenders()` on an invariant test contract and treats a missing function or an empty list as "no
/// restriction". The return types must match forge-std's (`address[]`, `FuzzSelector[]`).
abstract contract TestBase is Cheats {
    /// @dev A contract and the selectors of it that the invariant runner may call.
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    /// @dev Contracts the invariant runner calls (empty: every contract deployed in setUp).
    address[] private _targetContracts;
    /// @dev Selector restrictions per target contract.
    FuzzSelector[] private _targetSelectors;
    /// @dev Senders the invariant runner uses (empty: random senders).
    address[] private _targetSenders;
    /// @dev Contracts the invariant runner never calls.
    address[] private _excludeContracts;

    /*//////////////////////////////////////////////////////////////
                          INVARIANT TARGETS
    //////////////////////////////////////////////////////////////*/

    /// @dev Add a contract to the invariant runner's targets.
    function targetContract(address target) internal {
        _targetContracts.push(target);
    }

    /// @dev Restrict the invariant runner to these selectors of `target`.
    function targetSelector(address target, bytes4[] memory selectors) internal {
        _targetSelectors.push(FuzzSelector({addr: target, selectors: selectors}));
    }

    /// @dev Add a sender the invariant runner may use.
    function targetSender(address sender) internal {
        _targetSenders.push(sender);
    }

    /// @dev Keep the invariant runner away from a contract.
    function excludeContract(address target) internal {
        _excludeContracts.push(target);
    }

    /// @notice Read by forge's invariant runner.
    function targetContracts() public view returns (address[] memory) {
        return _targetContracts;
    }

    /// @notice Read by forge's invariant runner.
    function targetSelectors() public view returns (FuzzSelector[] memory) {
        return _targetSelectors;
    }

    /// @notice Read by forge's invariant runner.
    function targetSenders() public view returns (address[] memory) {
        return _targetSenders;
    }

    /// @notice Read by forge's invariant runner.
    function excludeContracts() public view returns (address[] memory) {
        return _excludeContracts;
    }
}
