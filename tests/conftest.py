"""Shared fixtures: real Anvil and Ganache devnets on free ports, and their funded accounts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_account.signers.local import LocalAccount

from client_sdk.devnet import DEFAULT_MNEMONIC, DevnetProcess, dev_accounts, start_anvil, start_ganache


@pytest.fixture(scope="session")
def anvil() -> Iterator[DevnetProcess]:
    """An Anvil devnet for the whole session (chain id 31337, ten funded accounts)."""
    devnet = start_anvil()
    try:
        yield devnet
    finally:
        devnet.stop()


@pytest.fixture(scope="session")
def ganache() -> Iterator[DevnetProcess]:
    """A Ganache 7 devnet (shanghai) for the whole session (chain id 1337, ten funded accounts)."""
    devnet = start_ganache()
    try:
        yield devnet
    finally:
        devnet.stop()


def funded_accounts(count: int = 10, mnemonic: str = DEFAULT_MNEMONIC) -> list[LocalAccount]:
    """The devnets' funded accounts derived from the development mnemonic (keys are public)."""
    return dev_accounts(count, mnemonic)


@pytest.fixture(scope="session")
def dev_keys() -> list[LocalAccount]:
    """The ten funded development accounts, the same on Anvil and Ganache."""
    return funded_accounts(10)


@pytest.fixture(params=["anvil", "ganache"])
def devnet(request: pytest.FixtureRequest) -> DevnetProcess:
    """Each test using this runs once against Anvil and once against Ganache."""
    if request.param == "ganache":
        request.applymarker(pytest.mark.ganache)
    return request.getfixturevalue(request.param)
