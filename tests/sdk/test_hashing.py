"""Weights hashes: known vectors, the manifest's canonical bytes, parallel = serial, errors."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from client_sdk.errors import HashingError, ProvenetError, ProvenetFileNotFoundError, ProvenetValueError
from client_sdk.hashing import ManifestEntry, ModelManifest, model_manifest, sha256_file, weights_hash

EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
# FIPS 180-2 test vector: "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".
TWO_BLOCK = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
# The example of the module docstring, recomputable with the shell recipe printed there.
GOLDEN_CANONICAL = (
    b'[["a.safetensors","ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],'
    b'["b/c.safetensors","e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]]'
)
GOLDEN_HASH = "df426072fe582d618012586726dc917491d6319d798c0e77d02eedd0a2874ab8"


def write(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"", EMPTY), (b"abc", ABC), (b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", TWO_BLOCK)],
)
def test_sha256_file_known_vectors(tmp_path: Path, content: bytes, expected: str) -> None:
    assert sha256_file(write(tmp_path / "f.safetensors", content)).hex() == expected


def test_sha256_file_across_buffer_boundaries(tmp_path: Path) -> None:
    content = os.urandom(3 * 4096 + 17)
    path = write(tmp_path / "f", content)
    for buffer_size in (1, 4096, 4097, 1 << 20):
        assert sha256_file(path, buffer_size=buffer_size) == hashlib.sha256(content).digest()


def test_sha256_file_reports_progress(tmp_path: Path) -> None:
    path = write(tmp_path / "f", b"x" * (2 * (1 << 20) + 5))
    calls: list[tuple[int, int]] = []
    sha256_file(path, lambda done, total: calls.append((done, total)))
    assert calls[-1] == (path.stat().st_size, path.stat().st_size)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_single_file_weights_hash_is_sha256sum(tmp_path: Path) -> None:
    path = write(tmp_path / "model.safetensors", b"abc")
    assert weights_hash(path).hex() == ABC


def test_manifest_canonical_bytes_golden(tmp_path: Path) -> None:
    write(tmp_path / "m" / "a.safetensors", b"abc")
    write(tmp_path / "m" / "b" / "c.safetensors", b"")
    write(tmp_path / "m" / ".git" / "HEAD", b"ignored: hidden")
    write(tmp_path / "m" / "b" / ".DS_Store", b"ignored: hidden")
    manifest = model_manifest(tmp_path / "m")
    assert manifest.canonical_bytes() == GOLDEN_CANONICAL
    assert manifest.hex == GOLDEN_HASH
    assert weights_hash(tmp_path / "m").hex() == GOLDEN_HASH
    assert manifest.size == 3


def test_manifest_sorts_by_code_point_and_keeps_unicode(tmp_path: Path) -> None:
    names = ["é.safetensors", "Z.safetensors", "a b.safetensors", "a/b.safetensors", "a-b.safetensors"]
    for name in names:
        write(tmp_path / name, name.encode())
    manifest = model_manifest(tmp_path)
    assert [entry.path for entry in manifest.entries] == sorted(names)
    assert "é".encode() in manifest.canonical_bytes()
    assert b"\\u" not in manifest.canonical_bytes()


def test_manifest_from_explicit_paths_matches_directory(tmp_path: Path) -> None:
    paths = [write(tmp_path / f"model-{i}-of-3.safetensors", os.urandom(1000 + i)) for i in range(3)]
    assert model_manifest(reversed(paths)) == model_manifest(tmp_path)


def test_parallel_equals_serial(tmp_path: Path) -> None:
    for index in range(8):
        write(tmp_path / f"shards/model-{index:05d}.safetensors", os.urandom(300_000 + index * 7919))
    serial = model_manifest(tmp_path / "shards", workers=1)
    parallel = model_manifest(tmp_path / "shards", workers=4)
    assert serial == parallel
    for entry in serial.entries:
        content = (tmp_path / "shards" / entry.path).read_bytes()
        assert entry.sha256 == hashlib.sha256(content).digest()


def test_manifest_progress_reaches_total_from_threads(tmp_path: Path) -> None:
    for index in range(4):
        write(tmp_path / f"s{index}.safetensors", b"y" * (1 << 20) * (index + 1))
    seen: list[tuple[int, int]] = []
    manifest = model_manifest(tmp_path, progress=lambda done, total: seen.append((done, total)), workers=4)
    assert seen[-1] == (manifest.size, manifest.size)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(ProvenetFileNotFoundError, match="nope.safetensors"):
        sha256_file(missing)
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        weights_hash(missing)
    with pytest.raises(ProvenetError, match="nope.safetensors"):
        model_manifest([missing, write(tmp_path / "there.safetensors", b"")])


def test_unreadable_file_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "locked.safetensors", b"secret")
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as a user that can read mode-000 files (root)")
        with pytest.raises(HashingError, match="locked.safetensors"):
            sha256_file(path)
    finally:
        path.chmod(0o600)


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(HashingError, match="directory"):
        sha256_file(tmp_path)


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ProvenetValueError, match="no files"):
        model_manifest(tmp_path)


def test_file_outside_root_is_an_error(tmp_path: Path) -> None:
    inside = write(tmp_path / "model" / "a.safetensors", b"")
    outside = write(tmp_path / "elsewhere.safetensors", b"")
    with pytest.raises(ProvenetValueError, match="not inside"):
        model_manifest([inside, outside], root=tmp_path / "model")


def test_manifest_entries_are_frozen() -> None:
    entry = ManifestEntry("a", b"\x00" * 32)
    with pytest.raises(AttributeError):
        entry.path = "b"  # type: ignore[misc]
    manifest = ModelManifest((entry,), size=0)
    with pytest.raises(AttributeError):
        manifest.size = 1  # type: ignore[misc]


@settings(max_examples=40, deadline=None)
@given(
    files=st.dictionaries(
        st.text(
            st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\\0"), min_size=1, max_size=12
        ).filter(lambda name: not name.startswith(".") and name not in (".", "..")),
        st.binary(max_size=64),
        min_size=1,
        max_size=5,
    )
)
def test_manifest_matches_its_definition(tmp_path_factory: pytest.TempPathFactory, files: dict[str, bytes]) -> None:
    import json

    root = tmp_path_factory.mktemp("model")
    written = {}
    for name, content in files.items():
        try:
            write(root / name, content)
        except OSError:
            continue  # a name the file system refuses
        written[name] = content
    if not written:
        return
    on_disk = {p.name: p.read_bytes() for p in root.iterdir()}  # the file system may normalise names
    expected = json.dumps(
        [[name, hashlib.sha256(on_disk[name]).hexdigest()] for name in sorted(on_disk)],
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    manifest = model_manifest(root)
    assert manifest.canonical_bytes() == expected
    assert manifest.digest == hashlib.sha256(expected).digest()
