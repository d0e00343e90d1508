"""Keystore accounts: create, import, list, load, wrong passwords, file permissions."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from client_sdk.accounts import (
    KEYSTORE_DIR_ENV,
    AccountInfo,
    create_account,
    import_account,
    keystore_dir,
    list_accounts,
    load_account,
)
from client_sdk.errors import (
    AccountExists,
    AccountNotFound,
    PasswordUnavailable,
    ProvenetValueError,
    WrongPassword,
)

FAST = 2**10  # scrypt cost for tests; real keystores keep eth-account's default
# The first development key (public, devnet only).
DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def test_create_list_load(tmp_path: Path) -> None:
    info = create_account("alice", "pw-alice", tmp_path, scrypt_n=FAST)
    assert isinstance(info, AccountInfo)
    assert info.path == tmp_path / "alice.json"
    assert list_accounts(tmp_path) == [info]
    account = load_account("alice", password="pw-alice", directory=tmp_path)
    assert account.address == info.address
    assert load_account(info.path, password="pw-alice").address == info.address
    assert load_account(info.address.lower(), password="pw-alice", directory=tmp_path).address == info.address


def test_keystore_is_v3_scrypt_and_private(tmp_path: Path) -> None:
    info = create_account("bob", "pw", tmp_path / "keys", scrypt_n=FAST)
    keyfile = json.loads(info.path.read_text())
    assert keyfile["version"] == 3
    assert keyfile["crypto"]["kdf"] == "scrypt"
    assert stat.S_IMODE(info.path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert not [p for p in (tmp_path / "keys").iterdir() if p.name.startswith(".")], "temp file left behind"


def test_default_cost_keystore_round_trip(tmp_path: Path) -> None:
    info = import_account("dev", DEV_KEY, "pw", tmp_path)
    assert json.loads(info.path.read_text())["crypto"]["kdfparams"]["n"] == 2**18
    assert load_account("dev", password="pw", directory=tmp_path).key.hex() == DEV_KEY[2:]


def test_import_gives_the_key_address(tmp_path: Path) -> None:
    info = import_account("dev0", DEV_KEY, "pw", tmp_path, scrypt_n=FAST)
    assert info.address == DEV_ADDRESS
    assert load_account("dev0", password="pw", directory=tmp_path).address == DEV_ADDRESS


def test_invalid_key_is_not_echoed(tmp_path: Path) -> None:
    secret = "0x" + "zz" * 32
    with pytest.raises(ProvenetValueError) as raised:
        import_account("bad", secret, "pw", tmp_path, scrypt_n=FAST)
    assert "zz" not in str(raised.value)
    assert raised.value.__cause__ is None


def test_wrong_password(tmp_path: Path) -> None:
    create_account("carol", "right", tmp_path, scrypt_n=FAST)
    with pytest.raises(WrongPassword, match="carol.json") as raised:
        load_account("carol", password="wrong", directory=tmp_path)
    assert isinstance(raised.value, PermissionError)


def test_password_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info = create_account("dave", "from-env", tmp_path, scrypt_n=FAST)
    monkeypatch.setenv("DAVE_PASSWORD", "from-env")
    assert load_account("dave", password_env="DAVE_PASSWORD", directory=tmp_path).address == info.address
    monkeypatch.setenv("DAVE_PASSWORD", "nope")
    with pytest.raises(WrongPassword, match="DAVE_PASSWORD"):
        load_account("dave", password_env="DAVE_PASSWORD", directory=tmp_path)


def test_no_password_and_no_prompt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    create_account("erin", "pw", tmp_path, scrypt_n=FAST)
    monkeypatch.delenv("PROVENET_PASSWORD", raising=False)
    with pytest.raises(PasswordUnavailable, match="PROVENET_PASSWORD"):
        load_account("erin", directory=tmp_path, prompt=False)


def test_prompt_uses_getpass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info = create_account("frank", "typed", tmp_path, scrypt_n=FAST)
    monkeypatch.delenv("PROVENET_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    prompts: list[str] = []
    monkeypatch.setattr("getpass.getpass", lambda prompt: prompts.append(prompt) or "typed")
    assert load_account("frank", directory=tmp_path).address == info.address
    assert info.address in prompts[0]


def test_never_overwrites(tmp_path: Path) -> None:
    first = create_account("gina", "pw", tmp_path, scrypt_n=FAST)
    before = first.path.read_bytes()
    with pytest.raises(AccountExists):
        create_account("gina", "pw", tmp_path, scrypt_n=FAST)
    assert first.path.read_bytes() == before


@pytest.mark.parametrize("name", ["", "../escape", "a/b", ".hidden", "x" * 65])
def test_bad_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ProvenetValueError):
        create_account(name, "pw", tmp_path, scrypt_n=FAST)


def test_unknown_account(tmp_path: Path) -> None:
    with pytest.raises(AccountNotFound, match="nobody"):
        load_account("nobody", password="pw", directory=tmp_path)


def test_list_skips_foreign_files_and_sorts(tmp_path: Path) -> None:
    create_account("zed", "pw", tmp_path, scrypt_n=FAST)
    create_account("amy", "pw", tmp_path, scrypt_n=FAST)
    (tmp_path / "notes.json").write_text("{not json")
    assert [info.name for info in list_accounts(tmp_path)] == ["amy", "zed"]
    assert list_accounts(tmp_path / "missing") == []


def test_directory_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEYSTORE_DIR_ENV, str(tmp_path / "env-keys"))
    assert keystore_dir() == tmp_path / "env-keys"
    info = create_account("hal", "pw", scrypt_n=FAST)
    assert info.path.parent == tmp_path / "env-keys"
    monkeypatch.delenv(KEYSTORE_DIR_ENV)
    assert keystore_dir() == Path.home() / ".provenet" / "keystores"
