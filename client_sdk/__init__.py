"""provenet's client SDK: connect to the contracts, manage licences, and load only licensed weights.

::

    from client_sdk import connect, load_licensed, Scope

    client = connect("http://127.0.0.1:8545")
    tensors = load_licensed(weights_hash, "model.safetensors", account, Scope.INFERENCE, client=client)

Public modules: ``client`` (connect, contract wrappers), ``gate`` (the licence gate), ``hashing``,
``accounts``, ``signing`` (EIP-712), ``types``, ``errors`` and ``contract_errors``, ``deploy``, ``devnet``.
This package imports neither flwr nor fastapi, and torch only when weights are loaded.
"""

from client_sdk.client import ProvenetClient, connect
from client_sdk.errors import ChainUnavailable, LicenseRefused, ProvenetError
from client_sdk.gate import check_licenses, load_licensed, verify_access
from client_sdk.hashing import weights_hash
from client_sdk.types import LicenseCheck, LicenseOffer, LicenseReason, LicenseTerms, Scope

__all__ = [
    "ChainUnavailable",
    "LicenseCheck",
    "LicenseOffer",
    "LicenseReason",
    "LicenseRefused",
    "LicenseTerms",
    "ProvenetClient",
    "ProvenetError",
    "Scope",
    "check_licenses",
    "connect",
    "load_licensed",
    "verify_access",
    "weights_hash",
]
