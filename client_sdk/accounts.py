"""Ethereum accounts kept as keystore v3 files (scrypt), one file per named account.

The keystore directory is, in order: the ``directory`` argument, the ``PROVENET_KEYSTORE_DIR``
environment variable, ``~/.provenet/keystores``. An account named ``alice`` lives in
``<directory>/alice.json``, written atomically with permissions ``0600``::

    info = create_account("alice", password="correct horse", directory=tmp)
    account = load_account("alice", password_env="ALICE_PASSWORD", directory=tmp)

A password comes from the ``password`` argument, else the environment variable named by
``password_env`` (``PROVENET_PASSWORD`` by default), else an interactive prompt. Private keys are
never printed nor logged, and never appear in an error message.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import is_hex_address, to_checksum_address

from client_sdk.errors import (
    AccountExists,
    AccountNotFound,
    KeystoreError,
    PasswordUnavailable,
    ProvenetValueError,
    WrongPassword,
)

__all__ = [
    "DEFAULT_PASSWORD_ENV",
    "KEYSTORE_DIR_ENV",
    "AccountInfo",
    "create_account",
    "import_account",
    "keystore_dir",
    "list_accounts",
    "load_account",
]

KEYSTORE_DIR_ENV = "PROVENET_KEYSTORE_DIR"
DEFAULT_PASSWORD_ENV = "PROVENET_PASSWORD"
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """A stored account: its name, checksummed address and keystore file (no secret)."""

    name: str
    address: str
    path: Path


def keystore_dir(directory: str | os.PathLike[str] | None = None) -> Path:
    """The keystore directory in use: argument, else ``$PROVENET_KEYSTORE_DIR``, else the default."""
    if directory is not None:
        return Path(directory).expanduser()
    from_env = os.environ.get(KEYSTORE_DIR_ENV)
    if from_env:
        return Path(from_env).expanduser()
    return Path.home() / ".provenet" / "keystores"


def create_account(
    name: str,
    password: str,
    directory: str | os.PathLike[str] | None = None,
    *,
    scrypt_n: int | None = None,
) -> AccountInfo:
    """Generate a new key and store it encrypted under ``name``.

    ``scrypt_n`` lowers the scrypt cost (tests only); the default is eth-account's (2**18).
    """
    return _store(name, Account.create().key, password, directory, scrypt_n)


def import_account(
    name: str,
    private_key: str | bytes,
    password: str,
    directory: str | os.PathLike[str] | None = None,
    *,
    scrypt_n: int | None = None,
) -> AccountInfo:
    """Store an existing private key (hex string or 32 bytes) encrypted under ``name``."""
    try:
        key = Account.from_key(private_key).key
    except Exception:
        # The key itself must not end up in a message or a traceback.
        raise ProvenetValueError(
            "the private key is not valid: expected 32 bytes, or 64 hexadecimal characters with or without 0x"
        ) from None
    return _store(name, key, password, directory, scrypt_n)


def list_accounts(directory: str | os.PathLike[str] | None = None) -> list[AccountInfo]:
    """The accounts in the keystore directory, sorted by name; unreadable files are skipped."""
    root = keystore_dir(directory)
    if not root.is_dir():
        return []
    accounts = []
    for path in sorted(root.glob("*.json")):
        address = _address_of(path)
        if address is not None:
            accounts.append(AccountInfo(name=path.stem, address=address, path=path))
    return accounts


def load_account(
    name_or_path: str | os.PathLike[str],
    password: str | None = None,
    password_env: str | None = None,
    prompt: bool = True,
    directory: str | os.PathLike[str] | None = None,
) -> LocalAccount:
    """Decrypt a stored account.

    Parameters
    ----------
    name_or_path:
        An account name in the keystore directory, a keystore file path, or an address.
    password:
        The password; when ``None`` it is read from ``password_env``, else prompted for.
    password_env:
        Environment variable holding the password (``PROVENET_PASSWORD`` when ``None``).
    prompt:
        Whether to ask on the terminal when no password was found elsewhere.

    Raises
    ------
    AccountNotFound, WrongPassword, PasswordUnavailable, KeystoreError
    """
    path = _resolve(name_or_path, directory)
    keyfile = _read_keyfile(path)
    source = "the password argument"
    if password is None:
        variable = password_env or DEFAULT_PASSWORD_ENV
        password = os.environ.get(variable)
        source = f"environment variable {variable}"
        if password is None:
            if not prompt or not sys.stdin or not sys.stdin.isatty():
                raise PasswordUnavailable(path, password_env or DEFAULT_PASSWORD_ENV)
            password = getpass.getpass(f"Password for {path.stem} ({_address_text(keyfile)}): ")
            source = "the prompt"
    try:
        key = Account.decrypt(keyfile, password)
    except ValueError as error:
        if "MAC mismatch" in str(error):
            raise WrongPassword(path, source) from None
        raise KeystoreError(f"keystore {path} cannot be decrypted: {error}") from None
    return Account.from_key(key)


def _store(
    name: str,
    key: bytes,
    password: str,
    directory: str | os.PathLike[str] | None,
    scrypt_n: int | None,
) -> AccountInfo:
    if not _NAME.fullmatch(name):
        raise ProvenetValueError(
            f"account name {name!r} is not allowed: use 1-64 letters, digits, '_', '-' or '.',"
            " not starting with '.' or '-'"
        )
    if not isinstance(password, str):
        raise ProvenetValueError("the keystore password must be a string")
    root = keystore_dir(directory)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = root / f"{name}.json"
    if target.exists():
        raise AccountExists(name, target)
    keyfile = Account.encrypt(key, password, kdf="scrypt", iterations=scrypt_n)
    _write_new_file_atomically(target, json.dumps(keyfile).encode(), name)
    return AccountInfo(name=name, address=to_checksum_address(keyfile["address"]), path=target)


def _write_new_file_atomically(target: Path, content: bytes, name: str) -> None:
    """Write ``content`` to a 0600 temporary file, then link it into place without overwriting."""
    descriptor, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        try:
            # link() fails if the target appeared meanwhile, so a key is never overwritten.
            os.link(temporary, target)
        except FileExistsError:
            raise AccountExists(name, target) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    directory_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory_fd)
    finally:
        os.close(directory_fd)


def _resolve(name_or_path: str | os.PathLike[str], directory: str | os.PathLike[str] | None) -> Path:
    root = keystore_dir(directory)
    text = os.fspath(name_or_path)
    if is_hex_address(text):
        wanted = to_checksum_address(text)
        for info in list_accounts(root):
            if info.address == wanted:
                return info.path
        raise AccountNotFound(text, root)
    candidate = Path(text).expanduser()
    if candidate.is_file():
        return candidate
    if _NAME.fullmatch(text) and (root / f"{text}.json").is_file():
        return root / f"{text}.json"
    raise AccountNotFound(text, root)


def _read_keyfile(path: Path) -> dict[str, Any]:
    try:
        keyfile = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise KeystoreError(f"keystore {path} cannot be read as JSON: {error}") from None
    if not isinstance(keyfile, dict) or "crypto" not in {k.lower() for k in keyfile}:
        raise KeystoreError(f"{path} is not a keystore v3 file (no 'crypto' section)")
    return keyfile


def _address_of(path: Path) -> str | None:
    try:
        keyfile = json.loads(path.read_text(encoding="utf-8"))
        return to_checksum_address(keyfile["address"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _address_text(keyfile: dict[str, Any]) -> str:
    try:
        return to_checksum_address(keyfile["address"])
    except (KeyError, ValueError, TypeError):
        return "unknown address"
