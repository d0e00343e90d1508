// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {ILicenseRegistry} from "./interfaces/ILicenseRegistry.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";

/// @title LicenseRegistry
/// @notice Model licences as ERC-721 tokens. Owners issue directly or sign EIP-712 offers that licensees
/// redeem; licences are renewed, suspended, reinstated and revoked; holders with REDISTRIBUTE sublicense.
/// @dev Revocation cascades without a loop: validity walks up the (bounded) chain of parents at check time.
/// Authority over a licence: the model's current owner, and for a sublicence also the parent's holder.
contract LicenseRegistry is ERC721, EIP712, ILicenseRegistry {
    /*//////////////////////////////////////////////////////////////
                                CONSTANTS
    //////////////////////////////////////////////////////////////*/

    /// @dev Run the model for inference.
    uint8 public constant SCOPE_INFERENCE = 1;
    /// @dev Fine-tune it, or register models derived from it.
    uint8 public constant SCOPE_DERIVATIVE = 2;
    /// @dev Redistribute it, which includes sublicensing.
    uint8 public constant SCOPE_REDISTRIBUTE = 4;
    /// @dev Use it commercially.
    uint8 public constant SCOPE_COMMERCIAL = 8;
    /// @dev Every defined scope bit.
    uint8 public constant SCOPE_ALL = 15;
    /// @dev Longest chain of sublicences below a root licence; bounds every validity walk.
    uint8 public constant MAX_DEPTH = 4;

    /// @dev EIP-712 type of a licence offer.
    bytes32 public constant OFFER_TYPEHASH = keccak256(
        "LicenseOffer(bytes32 model,address licensee,uint8 scope,uint64 expiry,bool transferable,"
        "bytes32 legalHash,string legalURI,uint256 price,uint256 nonce,uint256 deadline)"
    );

    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    /// @dev The model registry that says who owns each model.
    IModelRegistry private immutable _models;

    /// @dev A licence as stored: one slot. The model is its registry index; times fit 40 bits (year 36812).
    struct StoredLicense {
        uint32 modelIndex;
        uint40 expiry;
        uint40 issuedAt;
        uint48 parentId;
        uint8 scope;
        LicenseState state;
        uint8 depth;
        bool transferable;
        bool suspendedByOwner;
    }

    /// @dev Licence records by id.
    mapping(uint256 licenseId => StoredLicense) private _licenses;
    /// @dev The licence each holder uses for each model ("in use"); see {checkLicense} and {useLicense}.
    mapping(uint32 modelIndex => mapping(address holder => uint256 licenseId)) private _held;
    /// @dev Offer nonces redeemed or cancelled, per signer (unordered, so offers are independent).
    mapping(address signer => mapping(uint256 nonce => bool used)) private _usedNonces;
    /// @dev Offer proceeds waiting to be withdrawn.
    mapping(address account => uint256 amount) private _proceeds;
    /// @dev Last issued licence id.
    uint256 private _lastId;

    /// @param models_ The model registry; it must point back at this contract.
    constructor(address models_) ERC721("provenet licence", "PVL") EIP712("provenet LicenseRegistry", "1") {
        if (IModelRegistry(models_).licenseRegistry() != address(this)) revert LicenseRegistryMisconfigured(models_);
        _models = IModelRegistry(models_);
    }

    /*//////////////////////////////////////////////////////////////
                                 ISSUING
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc ILicenseRegistry
    function issueLicense(address to, LicenseTerms calldata terms) external returns (uint256) {
        _checkScopeAndExpiry(terms.scope, terms.expiry);
        (address owner, uint32 modelIndex) = _models.modelOwnerAndIndex(terms.model);
        if (owner == address(0)) revert LicenseRegistryUnknownModel(terms.model);
        StoredLicense memory license = _newLicense(modelIndex, terms.scope, terms.expiry, terms.transferable);
        if (terms.parentId == 0) {
            if (owner != msg.sender) revert LicenseRegistryNotModelOwner(terms.model, msg.sender);
        } else {
            license.depth = _checkSublicense(terms, modelIndex, msg.sender);
            license.parentId = uint48(terms.parentId);
        }
        return _issue(to, msg.sender, terms.model, license, terms.legalHash, terms.legalURI);
    }

    /// @inheritdoc ILicenseRegistry
    function redeemOffer(LicenseOffer calldata offer, bytes calldata signature) external payable returns (uint256) {
        if (block.timestamp > offer.deadline) revert LicenseRegistryOfferExpired(offer.deadline);
        if (offer.licensee != address(0) && offer.licensee != msg.sender) {
            revert LicenseRegistryOfferNotForSender(offer.licensee, msg.sender);
        }
        if (msg.value != offer.price) revert LicenseRegistryWrongPayment(offer.price, msg.value);
        _checkScopeAndExpiry(offer.scope, offer.expiry);
        (address owner, uint32 modelIndex) = _models.modelOwnerAndIndex(offer.model);
        if (owner == address(0)) revert LicenseRegistryUnknownModel(offer.model);
        if (_usedNonces[owner][offer.nonce]) revert LicenseRegistryOfferUsed(owner, offer.nonce);
        bytes32 digest = _hashTypedDataV4(_offerStructHash(offer));
        if (!SignatureChecker.isValidSignatureNow(owner, digest, signature)) {
            revert LicenseRegistryInvalidOfferSigner(_recoverOrZero(digest, signature), owner);
        }
        _usedNonces[owner][offer.nonce] = true;
        _proceeds[owner] += msg.value;
        StoredLicense memory license = _newLicense(modelIndex, offer.scope, offer.expiry, offer.transferable);
        uint256 licenseId = _issue(msg.sender, owner, offer.model, license, offer.legalHash, offer.legalURI);
        emit OfferRedeemed(licenseId, owner, offer.nonce, offer.price);
        return licenseId;
    }

    /// @inheritdoc ILicenseRegistry
    function cancelOffer(uint256 nonce) external {
        if (_usedNonces[msg.sender][nonce]) revert LicenseRegistryOfferUsed(msg.sender, nonce);
        _usedNonces[msg.sender][nonce] = true;
        emit OfferCancelled(msg.sender, nonce);
    }

    /// @dev An active root licence record issued now; callers set parent and depth for sublicences.
    function _newLicense(uint32 modelIndex, uint8 scope, uint64 expiry, bool transferable)
        private
        view
        returns (StoredLicense memory)
    {
        return StoredLicense({
            modelIndex: modelIndex,
            expiry: uint40(expiry),
            issuedAt: uint40(block.timestamp),
            parentId: 0,
            scope: scope,
            state: LicenseState.Active,
            depth: 0,
            transferable: transferable,
            suspendedByOwner: false
        });
    }

    /// @dev Store the record, then mint (the mint hook indexes it for the holder).
    function _issue(
        address to,
        address issuer,
        bytes32 model,
        StoredLicense memory license,
        bytes32 legalHash,
        string calldata legalURI
    ) private returns (uint256 licenseId) {
        // Ids are a counter from 1 and must fit the 48-bit parent field: 2^48 issuances cannot happen.
        unchecked {
            licenseId = ++_lastId;
        }
        _licenses[licenseId] = license;
        emit LicenseIssued(
            licenseId,
            model,
            to,
            issuer,
            license.scope,
            license.expiry,
            license.transferable,
            license.parentId,
            legalHash,
            legalURI
        );
        // Plain mint: a licence is a record of rights, and a holder contract need not implement
        // IERC721Receiver to be granted one (this also keeps issuance under its gas budget).
        _mint(to, licenseId);
    }

    /// @dev A sublicence: caller holds a valid parent with REDISTRIBUTE, and asks for no more than it.
    function _checkSublicense(LicenseTerms calldata terms, uint32 modelIndex, address caller)
        private
        view
        returns (uint8 depth)
    {
        uint256 parentId = terms.parentId;
        address holder = _ownerOf(parentId);
        if (holder == address(0)) revert LicenseRegistryUnknownLicense(parentId);
        if (holder != caller) revert LicenseRegistryNotParentHolder(parentId, caller);
        StoredLicense memory parent = _licenses[parentId];
        if (parent.modelIndex != modelIndex) {
            revert LicenseRegistryModelMismatch(terms.model, _models.modelAt(parent.modelIndex));
        }
        LicenseReason reason = _evaluate(parentId, 0);
        if (reason != LicenseReason.None) revert LicenseRegistryParentInvalid(parentId, reason);
        if (parent.scope & SCOPE_REDISTRIBUTE != SCOPE_REDISTRIBUTE) {
            revert LicenseRegistryParentNotRedistributable(parentId);
        }
        if (terms.scope & parent.scope != terms.scope) {
            revert LicenseRegistryScopeExceedsParent(terms.scope, parent.scope);
        }
        if (parent.expiry != 0 && (terms.expiry == 0 || terms.expiry > parent.expiry)) {
            revert LicenseRegistryExpiryExceedsParent(terms.expiry, parent.expiry);
        }
        if (terms.transferable && !parent.transferable) revert LicenseRegistryTransferableExceedsParent(parentId);
        if (parent.depth >= MAX_DEPTH) revert LicenseRegistryTooDeep(parent.depth);
        // depth < MAX_DEPTH (4), so +1 cannot overflow a uint8.
        unchecked {
            depth = parent.depth + 1;
        }
    }

    /*//////////////////////////////////////////////////////////////
                               LIFE CYCLE
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc ILicenseRegistry
    function renewLicense(uint256 licenseId, uint64 newExpiry) external {
        (StoredLicense storage license,) = _requireAuthority(licenseId, msg.sender);
        if (license.state == LicenseState.Revoked) revert LicenseRegistryLicenseRevoked(licenseId);
        uint64 oldExpiry = license.expiry;
        // Perpetual licences cannot be extended; a new expiry must be later than the old one and in the future.
        if (
            oldExpiry == 0 || newExpiry != 0
                && (newExpiry <= oldExpiry || newExpiry <= block.timestamp || newExpiry > type(uint40).max)
        ) {
            revert LicenseRegistryInvalidExpiry(newExpiry);
        }
        uint256 parentId = license.parentId;
        if (parentId != 0) {
            uint64 parentExpiry = _licenses[parentId].expiry;
            if (parentExpiry != 0 && (newExpiry == 0 || newExpiry > parentExpiry)) {
                revert LicenseRegistryExpiryExceedsParent(newExpiry, parentExpiry);
            }
        }
        license.expiry = uint40(newExpiry);
        emit LicenseRenewed(licenseId, oldExpiry, newExpiry, msg.sender);
    }

    /// @inheritdoc ILicenseRegistry
    function suspendLicense(uint256 licenseId, bytes32 reasonHash) external {
        (StoredLicense storage license, bool byModelOwner) = _requireAuthority(licenseId, msg.sender);
        if (license.state != LicenseState.Active) revert LicenseRegistryWrongState(licenseId, license.state);
        license.state = LicenseState.Suspended;
        license.suspendedByOwner = byModelOwner;
        emit LicenseSuspended(licenseId, msg.sender, reasonHash);
    }

    /// @inheritdoc ILicenseRegistry
    function reinstateLicense(uint256 licenseId) external {
        (StoredLicense storage license, bool byModelOwner) = _requireAuthority(licenseId, msg.sender);
        if (license.state != LicenseState.Suspended) revert LicenseRegistryWrongState(licenseId, license.state);
        // A suspension by the model owner (incident response) is lifted by the model owner only.
        if (license.suspendedByOwner && !byModelOwner) revert LicenseRegistryNotAuthorized(licenseId, msg.sender);
        license.state = LicenseState.Active;
        license.suspendedByOwner = false;
        emit LicenseReinstated(licenseId, msg.sender);
    }

    /// @inheritdoc ILicenseRegistry
    function revokeLicense(uint256 licenseId, bytes32 reasonHash) external {
        (StoredLicense storage license,) = _requireAuthority(licenseId, msg.sender);
        if (license.state == LicenseState.Revoked) revert LicenseRegistryLicenseRevoked(licenseId);
        license.state = LicenseState.Revoked;
        emit LicenseRevoked(licenseId, msg.sender, reasonHash);
    }

    /// @inheritdoc ILicenseRegistry
    function withdrawProceeds() external {
        uint256 amount = _proceeds[msg.sender];
        if (amount == 0) revert LicenseRegistryNothingToWithdraw(msg.sender);
        _proceeds[msg.sender] = 0;
        emit ProceedsWithdrawn(msg.sender, amount);
        (bool ok,) = payable(msg.sender).call{value: amount}("");
        if (!ok) revert LicenseRegistryWithdrawFailed(msg.sender, amount);
    }

    /*//////////////////////////////////////////////////////////////
                                 CHECKS
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc ILicenseRegistry
    function checkLicense(bytes32 model, address account, uint8 scope)
        external
        view
        returns (bool valid, LicenseReason reason, uint256 licenseId)
    {
        (address owner, uint32 modelIndex) = _models.modelOwnerAndIndex(model);
        if (owner == address(0)) return (false, LicenseReason.NotLicensed, 0);
        if (owner == account) return (true, LicenseReason.None, 0);
        licenseId = _held[modelIndex][account];
        if (licenseId == 0) return (false, LicenseReason.NotLicensed, 0);
        reason = _evaluate(licenseId, scope);
        valid = reason == LicenseReason.None;
    }

    /// @inheritdoc ILicenseRegistry
    function checkLicenseById(uint256 licenseId, address account, uint8 scope)
        external
        view
        returns (bool valid, LicenseReason reason)
    {
        if (_ownerOf(licenseId) != account || account == address(0)) return (false, LicenseReason.NotLicensed);
        reason = _evaluate(licenseId, scope);
        valid = reason == LicenseReason.None;
    }

    /// @dev Why licence `licenseId` does not grant `scope` now (None when it does). Walks up the parents.
    function _evaluate(uint256 licenseId, uint8 scope) private view returns (LicenseReason) {
        StoredLicense memory license = _licenses[licenseId];
        if (license.state != LicenseState.Active) {
            // The state is set by the licence's authority, not derived from the timestamp; Slither taints
            // the whole record because it also holds times.
            // slither-disable-next-line incorrect-equality
            return license.state == LicenseState.Revoked ? LicenseReason.Revoked : LicenseReason.Suspended;
        }
        if (license.expiry != 0 && block.timestamp >= license.expiry) return LicenseReason.Expired;
        if (license.scope & scope != scope) return LicenseReason.ScopeNotGranted;
        // Bounded by MAX_DEPTH: each sublicence is one level below its parent.
        uint256 parentId = license.parentId;
        while (parentId != 0) {
            StoredLicense memory parent = _licenses[parentId];
            if (parent.state != LicenseState.Active || (parent.expiry != 0 && block.timestamp >= parent.expiry)) {
                return LicenseReason.ParentInvalid;
            }
            parentId = parent.parentId;
        }
        return LicenseReason.None;
    }

    /// @dev Scope is non-empty within the defined bits; expiry is 0 (perpetual) or in the future (< 2^40).
    function _checkScopeAndExpiry(uint8 scope, uint64 expiry) private view {
        if (scope == 0 || scope & SCOPE_ALL != scope) revert LicenseRegistryInvalidScope(scope);
        if (expiry != 0 && (expiry <= block.timestamp || expiry > type(uint40).max)) {
            revert LicenseRegistryInvalidExpiry(expiry);
        }
    }

    /// @dev The licence, if `account` is its model's owner or (for a sublicence) its parent's holder, and
    /// whether `account` is the model owner.
    function _requireAuthority(uint256 licenseId, address account)
        private
        view
        returns (StoredLicense storage license, bool byModelOwner)
    {
        license = _licenses[licenseId];
        if (license.modelIndex == 0) revert LicenseRegistryUnknownLicense(licenseId);
        if (_models.modelOwner(_models.modelAt(license.modelIndex)) == account) return (license, true);
        if (license.parentId != 0 && _ownerOf(license.parentId) == account) return (license, false);
        revert LicenseRegistryNotAuthorized(licenseId, account);
    }

    /// @dev ERC-721 hook: enforce non-transferability, keep the holder index current.
    function _update(address to, uint256 tokenId, address auth) internal override returns (address from) {
        StoredLicense storage license = _licenses[tokenId];
        from = _ownerOf(tokenId);
        if (from != address(0)) {
            if (!license.transferable) revert LicenseRegistryNotTransferable(tokenId);
            if (license.state == LicenseState.Revoked) revert LicenseRegistryLicenseRevoked(tokenId);
        }
        from = super._update(to, tokenId, auth);
        uint32 modelIndex = license.modelIndex;
        if (from != address(0) && _held[modelIndex][from] == tokenId) {
            delete _held[modelIndex][from];
            emit LicenseInUse(from, tokenId, false);
        }
        if (to != address(0)) {
            // An incoming licence takes over only from none or an invalid one: nobody can displace a valid
            // licence by sending or sublicensing another to its holder. The holder chooses with useLicense.
            uint256 current = _held[modelIndex][to];
            if (current == 0 || _evaluate(current, 0) != LicenseReason.None) {
                _held[modelIndex][to] = tokenId;
                emit LicenseInUse(to, tokenId, true);
            }
        }
    }

    /// @inheritdoc ILicenseRegistry
    function useLicense(uint256 licenseId) external {
        if (_ownerOf(licenseId) != msg.sender) revert LicenseRegistryNotHolder(licenseId, msg.sender);
        _held[_licenses[licenseId].modelIndex][msg.sender] = licenseId;
        emit LicenseInUse(msg.sender, licenseId, true);
    }

    /*//////////////////////////////////////////////////////////////
                                  VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc ILicenseRegistry
    function licenseOf(uint256 licenseId) external view returns (License memory) {
        if (_ownerOf(licenseId) == address(0)) revert LicenseRegistryUnknownLicense(licenseId);
        StoredLicense memory stored = _licenses[licenseId];
        return License({
            model: _models.modelAt(stored.modelIndex),
            expiry: stored.expiry,
            issuedAt: stored.issuedAt,
            parentId: stored.parentId,
            scope: stored.scope,
            state: stored.state,
            depth: stored.depth,
            transferable: stored.transferable
        });
    }

    /// @inheritdoc ILicenseRegistry
    function heldLicense(bytes32 model, address account) external view returns (uint256) {
        (address owner, uint32 modelIndex) = _models.modelOwnerAndIndex(model);
        return owner == address(0) ? 0 : _held[modelIndex][account];
    }

    /// @inheritdoc ILicenseRegistry
    function offerNonceUsed(address signer, uint256 nonce) external view returns (bool) {
        return _usedNonces[signer][nonce];
    }

    /// @inheritdoc ILicenseRegistry
    function hashOffer(LicenseOffer calldata offer) external view returns (bytes32) {
        return _hashTypedDataV4(_offerStructHash(offer));
    }

    /// @inheritdoc ILicenseRegistry
    function proceedsOf(address account) external view returns (uint256) {
        return _proceeds[account];
    }

    /// @inheritdoc ILicenseRegistry
    function totalIssued() external view returns (uint256) {
        return _lastId;
    }

    /// @notice The model registry this licence registry trusts for ownership.
    function modelRegistry() external view returns (address) {
        return address(_models);
    }

    /// @dev EIP-712 struct hash of an offer.
    function _offerStructHash(LicenseOffer calldata offer) private pure returns (bytes32) {
        return keccak256(
            abi.encode(
                OFFER_TYPEHASH,
                offer.model,
                offer.licensee,
                offer.scope,
                offer.expiry,
                offer.transferable,
                offer.legalHash,
                keccak256(bytes(offer.legalURI)),
                offer.price,
                offer.nonce,
                offer.deadline
            )
        );
    }

    /// @dev Who signed, for the error message; 0 when the signature does not parse.
    function _recoverOrZero(bytes32 digest, bytes calldata signature) private pure returns (address signer) {
        // The error and its argument are not needed: a failed recovery returns 0, which is what we report.
        // slither-disable-next-line unused-return
        (signer,,) = ECDSA.tryRecover(digest, signature);
    }
}
