// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title ILicenseRegistry
/// @notice Licences to use a registered model, as ERC-721 tokens carrying their terms.
/// @dev Scope is a bitmask of {SCOPE_INFERENCE}, {SCOPE_DERIVATIVE}, {SCOPE_REDISTRIBUTE}, {SCOPE_COMMERCIAL}.
/// The legal text's hash and URI are recorded in {LicenseIssued} (immutable evidence) rather than in storage,
/// which keeps issuance under 150k gas.
interface ILicenseRegistry {
    /*//////////////////////////////////////////////////////////////
                                 TYPES
    //////////////////////////////////////////////////////////////*/

    /// @dev Why {checkLicense} answered as it did. `None` means valid.
    enum LicenseReason {
        None,
        NotLicensed,
        Expired,
        Revoked,
        Suspended,
        ScopeNotGranted,
        ParentInvalid
    }

    /// @dev Life-cycle state set by the licence's authority. Expiry is computed, not stored as a state.
    enum LicenseState {
        Active,
        Suspended,
        Revoked
    }

    /// @dev Terms requested when issuing. `parentId` 0 issues a root licence (caller: model owner);
    /// otherwise a sublicence of `parentId` (caller: that licence's holder, which must grant REDISTRIBUTE).
    struct LicenseTerms {
        bytes32 model;
        uint8 scope;
        uint64 expiry;
        bool transferable;
        uint256 parentId;
        bytes32 legalHash;
        string legalURI;
    }

    /// @dev Stored record of a licence (two storage slots).
    struct License {
        bytes32 model;
        uint64 expiry;
        uint64 issuedAt;
        uint64 parentId;
        uint8 scope;
        LicenseState state;
        uint8 depth;
        bool transferable;
    }

    /// @dev An EIP-712 offer signed by the model owner. `licensee` 0 means anyone may redeem it.
    struct LicenseOffer {
        bytes32 model;
        address licensee;
        uint8 scope;
        uint64 expiry;
        bool transferable;
        bytes32 legalHash;
        string legalURI;
        uint256 price;
        uint256 nonce;
        uint256 deadline;
    }

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @dev The model is not registered in the model registry.
    error LicenseRegistryUnknownModel(bytes32 model);
    /// @dev `account` is not the owner of `model`.
    error LicenseRegistryNotModelOwner(bytes32 model, address account);
    /// @dev The scope is empty or has bits outside the four defined scopes.
    error LicenseRegistryInvalidScope(uint8 scope);
    /// @dev The expiry is in the past, or does not extend the current one on renewal.
    error LicenseRegistryInvalidExpiry(uint64 expiry);
    /// @dev No licence with this id exists.
    error LicenseRegistryUnknownLicense(uint256 licenseId);
    /// @dev `account` may not manage this licence (only the model owner or the parent licence's holder may).
    error LicenseRegistryNotAuthorized(uint256 licenseId, address account);
    /// @dev `account` does not hold the parent licence it tries to sublicense.
    error LicenseRegistryNotParentHolder(uint256 parentId, address account);
    /// @dev The parent licence does not grant REDISTRIBUTE.
    error LicenseRegistryParentNotRedistributable(uint256 parentId);
    /// @dev The parent licence is not valid now.
    error LicenseRegistryParentInvalid(uint256 parentId, LicenseReason reason);
    /// @dev A sublicence asked for scope its parent does not have.
    error LicenseRegistryScopeExceedsParent(uint8 scope, uint8 parentScope);
    /// @dev A sublicence asked for an expiry later than its parent's.
    error LicenseRegistryExpiryExceedsParent(uint64 expiry, uint64 parentExpiry);
    /// @dev A sublicence names another model than its parent.
    error LicenseRegistryModelMismatch(bytes32 model, bytes32 parentModel);
    /// @dev Sublicence chains are bounded so that validity checks stay bounded.
    error LicenseRegistryTooDeep(uint8 depth);
    /// @dev The licence is revoked; revocation is final.
    error LicenseRegistryLicenseRevoked(uint256 licenseId);
    /// @dev The licence is not in the state this action needs.
    error LicenseRegistryWrongState(uint256 licenseId, LicenseState state);
    /// @dev The licence is not transferable.
    error LicenseRegistryNotTransferable(uint256 licenseId);
    /// @dev The offer's deadline has passed.
    error LicenseRegistryOfferExpired(uint256 deadline);
    /// @dev The offer's nonce was redeemed or cancelled already.
    error LicenseRegistryOfferUsed(address signer, uint256 nonce);
    /// @dev The offer is not signed by the model's current owner.
    error LicenseRegistryInvalidOfferSigner(address signer, address owner);
    /// @dev The offer names another licensee.
    error LicenseRegistryOfferNotForSender(address licensee, address sender);
    /// @dev The value sent does not equal the offer's price.
    error LicenseRegistryWrongPayment(uint256 price, uint256 sent);
    /// @dev The account has no proceeds to withdraw.
    error LicenseRegistryNothingToWithdraw(address account);
    /// @dev Sending proceeds to the account failed.
    error LicenseRegistryWithdrawFailed(address account, uint256 amount);
    /// @dev A sublicence cannot be transferable when its parent is not.
    error LicenseRegistryTransferableExceedsParent(uint256 parentId);
    /// @dev `account` does not hold this licence.
    error LicenseRegistryNotHolder(uint256 licenseId, address account);
    /// @dev The registry was deployed against a model registry that does not point back to it.
    error LicenseRegistryMisconfigured(address modelRegistry);

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    /// @dev A licence was issued (directly, by sublicensing or by redeeming an offer).
    event LicenseIssued(
        uint256 indexed licenseId,
        bytes32 indexed model,
        address indexed licensee,
        address issuer,
        uint8 scope,
        uint64 expiry,
        bool transferable,
        uint256 parentId,
        bytes32 legalHash,
        string legalURI
    );
    /// @dev An offer was redeemed into `licenseId`.
    event OfferRedeemed(uint256 indexed licenseId, address indexed signer, uint256 indexed nonce, uint256 price);
    /// @dev The signer cancelled an unredeemed offer.
    event OfferCancelled(address indexed signer, uint256 indexed nonce);
    /// @dev The licence's expiry was extended.
    event LicenseRenewed(uint256 indexed licenseId, uint64 oldExpiry, uint64 newExpiry, address by);
    /// @dev The licence was suspended (incident response); `reasonHash` points at the reason.
    event LicenseSuspended(uint256 indexed licenseId, address by, bytes32 reasonHash);
    /// @dev A suspended licence was reinstated.
    event LicenseReinstated(uint256 indexed licenseId, address by);
    /// @dev The licence was revoked, finally; its sublicences are invalid from now on.
    event LicenseRevoked(uint256 indexed licenseId, address by, bytes32 reasonHash);
    /// @dev The licence `holder` uses for its model changed: `inUse` true when {checkLicense} now considers
    /// `licenseId` for `holder`, false when it stopped (the licence left the holder).
    event LicenseInUse(address indexed holder, uint256 indexed licenseId, bool inUse);
    /// @dev Offer proceeds were paid out.
    event ProceedsWithdrawn(address indexed account, uint256 amount);

    /*//////////////////////////////////////////////////////////////
                               FUNCTIONS
    //////////////////////////////////////////////////////////////*/

    /// @notice Issue a licence to `to`: a root licence (model owner) or a sublicence (parent's holder).
    function issueLicense(address to, LicenseTerms calldata terms) external returns (uint256 licenseId);

    /// @notice Redeem an offer signed by the model owner, paying exactly its price.
    function redeemOffer(LicenseOffer calldata offer, bytes calldata signature)
        external
        payable
        returns (uint256 licenseId);

    /// @notice Cancel an unredeemed offer signed by the caller.
    function cancelOffer(uint256 nonce) external;

    /// @notice Extend the licence's expiry.
    function renewLicense(uint256 licenseId, uint64 newExpiry) external;

    /// @notice Suspend the licence (it is invalid until reinstated).
    function suspendLicense(uint256 licenseId, bytes32 reasonHash) external;

    /// @notice Reinstate a suspended licence.
    function reinstateLicense(uint256 licenseId) external;

    /// @notice Revoke the licence. Final; its sublicences become invalid.
    function revokeLicense(uint256 licenseId, bytes32 reasonHash) external;

    /// @notice Choose which of the caller's licences {checkLicense} considers for that licence's model.
    function useLicense(uint256 licenseId) external;

    /// @notice Withdraw the caller's offer proceeds.
    function withdrawProceeds() external;

    /// @notice Whether `account` may use `model` for every bit of `scope`, why not, and the licence used.
    /// @dev The model's owner holds every right (licence id 0). Otherwise the licence considered is the one
    /// `account` uses for `model`: the first it received, replaced by a later one only when it is no longer
    /// valid, or the one it chose with {useLicense}.
    function checkLicense(bytes32 model, address account, uint8 scope)
        external
        view
        returns (bool valid, LicenseReason reason, uint256 licenseId);

    /// @notice Like {checkLicense} for one given licence id held by `account`.
    function checkLicenseById(uint256 licenseId, address account, uint8 scope)
        external
        view
        returns (bool valid, LicenseReason reason);

    /// @notice The stored record of a licence.
    function licenseOf(uint256 licenseId) external view returns (License memory);

    /// @notice The licence `account` currently holds for `model` (0 if none).
    function heldLicense(bytes32 model, address account) external view returns (uint256);

    /// @notice Whether `signer`'s offer nonce has been redeemed or cancelled.
    function offerNonceUsed(address signer, uint256 nonce) external view returns (bool);

    /// @notice The EIP-712 digest of an offer, as signed by the model owner.
    function hashOffer(LicenseOffer calldata offer) external view returns (bytes32);

    /// @notice Proceeds waiting for `account`.
    function proceedsOf(address account) external view returns (uint256);

    /// @notice Number of licences issued so far (ids run from 1 to this number).
    function totalIssued() external view returns (uint256);
}
