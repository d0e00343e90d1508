"""Weights hashes: the SHA-256 identities under which models are registered on chain.

A model stored as **one file** (normally ``model.safetensors``) is identified by the SHA-256 of the
file's bytes, exactly what ``sha256sum model.safetensors`` prints::

    >>> weights_hash("model.safetensors").hex()      # doctest: +SKIP
    'b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9'

A model stored as **a directory** (sharded weights, index, config...) is identified by the SHA-256 of
its *manifest*: the canonical JSON serialisation of the list of ``[relative path, sha256 hex]`` pairs of
every file in it. The canonical bytes are defined exactly so that anyone can recompute them:

1. Files: every regular file below the directory, recursively, following symbolic links to files.
   Entries whose relative path has a component starting with ``.`` (``.git``, ``.cache``,
   ``.DS_Store``...) are skipped. A directory without files is an error.
2. Relative path: relative to the directory, components joined with ``/`` (POSIX form, also on
   Windows), no leading ``./``, Unicode exactly as the file system returns it (no normalisation).
3. Digest: the file's SHA-256 as 64 lowercase hexadecimal characters.
4. Order: pairs sorted by relative path, comparing Unicode code points (equivalently the UTF-8 bytes).
5. Serialisation: a JSON array of two-element arrays ``[path, hex]``, with no whitespace at all
   (separators ``,`` and ``:``), non-ASCII characters written as themselves (not ``\\u`` escapes;
   only ``"``, ``\\`` and control characters are escaped, as JSON requires), encoded as UTF-8,
   no trailing newline. This is ``json.dumps(pairs, separators=(",", ":"), ensure_ascii=False)``.
6. Weights hash: SHA-256 of those bytes.

For example a directory with ``a.safetensors`` (the 3 bytes ``abc``) and ``b/c.safetensors``
(empty) has the canonical bytes::

    [["a.safetensors","ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],["b/c.safetensors","e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]]

and the shell recomputes its weights hash with::

    cd model && find . -type f ! -path '*/.*' | sed 's|^\\./||' | LC_ALL=C sort \\
      | while read -r f; do printf '["%s","%s"]\\n' "$f" "$(sha256sum "$f" | cut -c1-64)"; done \\
      | paste -sd, | sed 's/^/[/; s/$/]/' | tr -d '\\n' | sha256sum

which prints ``df426072fe582d618012586726dc917491d6319d798c0e77d02eedd0a2874ab8`` for this example
(the recipe is valid for paths without quotes, backslashes or newlines).

Shards are hashed in parallel threads; ``hashlib`` releases the GIL while it digests large
buffers, so the speed-up is real.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from client_sdk.errors import HashingError, ProvenetFileNotFoundError, ProvenetValueError

__all__ = [
    "model_files",
    "ManifestEntry",
    "ModelManifest",
    "ProgressCallback",
    "model_manifest",
    "sha256_file",
    "weights_hash",
]

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(bytes_done, bytes_total)`` while hashing; may be called from worker threads."""

# 1 MiB stays within the L2 cache while making syscalls and GIL hand-offs negligible.
_BUFFER_SIZE = 1 << 20


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One file of a model: its POSIX path relative to the model directory and its SHA-256."""

    path: str
    sha256: bytes

    @property
    def sha256_hex(self) -> str:
        return self.sha256.hex()


@dataclass(frozen=True, slots=True)
class ModelManifest:
    """The files of a multi-file model, sorted by path, and the weights hash they define."""

    entries: tuple[ManifestEntry, ...]
    size: int
    """Total number of bytes hashed."""

    def canonical_bytes(self) -> bytes:
        """The exact bytes whose SHA-256 is the weights hash (see the module docstring)."""
        pairs = [[entry.path, entry.sha256_hex] for entry in self.entries]
        return json.dumps(pairs, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    @property
    def digest(self) -> bytes:
        """The weights hash of the model: SHA-256 of :meth:`canonical_bytes`."""
        return hashlib.sha256(self.canonical_bytes()).digest()

    @property
    def hex(self) -> str:
        return self.digest.hex()


def sha256_file(
    path: str | os.PathLike[str],
    progress: ProgressCallback | None = None,
    *,
    buffer_size: int = _BUFFER_SIZE,
) -> bytes:
    """Return the SHA-256 digest of a file's bytes, read in a stream.

    Parameters
    ----------
    path:
        The file to hash.
    progress:
        Optional ``(bytes_done, bytes_total)`` callback, called after every buffer.
    buffer_size:
        Bytes read per system call, into one reused buffer.

    Raises
    ------
    ProvenetFileNotFoundError
        The file does not exist.
    HashingError
        The file cannot be read (a directory, no permission, an I/O error).
    """
    return _hash_one(Path(path), progress, buffer_size)


def _hash_one(
    path: Path,
    progress: Callable[[int], None] | ProgressCallback | None,
    buffer_size: int,
    *,
    report_delta: bool = False,
) -> bytes:
    digest = hashlib.sha256()
    buffer = bytearray(buffer_size)
    view = memoryview(buffer)
    try:
        with open(path, "rb", buffering=0) as stream:
            total = os.fstat(stream.fileno()).st_size
            done = 0
            while True:
                count = stream.readinto(view)
                if not count:
                    break
                digest.update(view[:count])
                done += count
                if progress is not None:
                    if report_delta:
                        progress(count)  # type: ignore[call-arg]
                    else:
                        progress(done, max(total, done))  # type: ignore[call-arg]
    except FileNotFoundError as error:
        raise ProvenetFileNotFoundError(f"cannot hash {path}: no such file") from error
    except IsADirectoryError as error:
        raise HashingError(path, "it is a directory; pass a file, or use weights_hash()") from error
    except OSError as error:
        raise HashingError(path, error.strerror or str(error)) from error
    return digest.digest()


def model_files(root: Path) -> list[tuple[str, Path]]:
    """The files a directory's manifest covers, as (relative POSIX path, path): hidden names are skipped."""
    files: list[tuple[str, Path]] = []
    for directory, subdirectories, names in os.walk(root, followlinks=False):
        subdirectories[:] = [name for name in subdirectories if not name.startswith(".")]
        for name in names:
            if name.startswith("."):
                continue
            full = Path(directory, name)
            if full.is_file():
                relative = PurePosixPath(*full.relative_to(root).parts).as_posix()
                files.append((relative, full))
    return files


def _relative_to_root(paths: Iterable[str | os.PathLike[str]], root: Path | None) -> list[tuple[str, Path]]:
    resolved = [Path(p).absolute() for p in paths]
    if not resolved:
        raise ProvenetValueError("a model manifest needs at least one file; none was given")
    if root is None:
        root = Path(os.path.commonpath([p.parent for p in resolved]))
    root = root.absolute()
    files = []
    for full in resolved:
        try:
            relative = full.relative_to(root)
        except ValueError:
            raise ProvenetValueError(f"{full} is not inside the model directory {root}") from None
        files.append((PurePosixPath(*relative.parts).as_posix(), full))
    return files


def model_manifest(
    root_or_paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    root: str | os.PathLike[str] | None = None,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
) -> ModelManifest:
    """Hash every file of a model and return its manifest.

    Parameters
    ----------
    root_or_paths:
        A model directory (all its non-hidden files, recursively), or an explicit list of files.
    root:
        For a list of files, the directory their relative paths start from; by default the
        deepest directory that contains all of them.
    progress:
        Optional ``(bytes_done, bytes_total)`` callback over all files; called from the worker
        threads, one call at a time.
    workers:
        Number of hashing threads; by default one per available CPU, at most one per file.

    Raises
    ------
    ProvenetFileNotFoundError, HashingError
        A file is missing or unreadable; the message names it.
    ProvenetValueError
        No files, duplicate paths, or a file outside ``root``.
    """
    if isinstance(root_or_paths, str | os.PathLike):
        source = Path(root_or_paths)
        if not source.exists():
            raise ProvenetFileNotFoundError(f"cannot hash model {source}: no such file or directory")
        if not source.is_dir():
            files = _relative_to_root([source], Path(root) if root is not None else None)
        else:
            files = model_files(source)
            if not files:
                raise ProvenetValueError(f"model directory {source} contains no files to hash")
    else:
        files = _relative_to_root(root_or_paths, Path(root) if root is not None else None)

    files.sort(key=lambda item: item[0])
    names = [name for name, _ in files]
    if len(set(names)) != len(names):
        raise ProvenetValueError(f"the same file is listed twice in the model manifest: {names}")

    sizes = {}
    for name, full in files:
        try:
            sizes[name] = full.stat().st_size
        except FileNotFoundError:
            raise ProvenetFileNotFoundError(f"cannot hash {full}: no such file") from None
        except OSError as error:
            raise HashingError(full, error.strerror or str(error)) from error
    total = sum(sizes.values())

    report: Callable[[int], None] | None = None
    if progress is not None:
        lock = threading.Lock()
        done = 0

        def report(count: int) -> None:
            nonlocal done
            with lock:
                done += count
                progress(done, max(total, done))

    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    workers = max(1, min(workers, len(files)))

    def hash_entry(item: tuple[str, Path]) -> ManifestEntry:
        name, full = item
        return ManifestEntry(name, _hash_one(full, report, _BUFFER_SIZE, report_delta=True))

    if workers == 1:
        entries = [hash_entry(item) for item in files]
    else:
        # Largest files first, so that no thread is left with a big shard at the end.
        by_size = sorted(files, key=lambda item: sizes[item[0]], reverse=True)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="provenet-hash") as pool:
            hashed = {entry.path: entry for entry in pool.map(hash_entry, by_size)}
        entries = [hashed[name] for name in names]
    return ModelManifest(entries=tuple(entries), size=total)


def weights_hash(
    path: str | os.PathLike[str],
    progress: ProgressCallback | None = None,
    *,
    workers: int | None = None,
) -> bytes:
    """Return the weights hash of a model: the file's SHA-256, or a directory's manifest hash.

    Raises
    ------
    ProvenetFileNotFoundError
        Nothing exists at ``path``.
    HashingError, ProvenetValueError
        A file cannot be read, or the directory holds no files.
    """
    source = Path(path)
    if source.is_dir():
        return model_manifest(source, progress=progress, workers=workers).digest
    if not source.exists():
        raise ProvenetFileNotFoundError(
            f"cannot hash model {source}: no such file or directory (expected a .safetensors file"
            " or a directory of shards)"
        )
    return sha256_file(source, progress)
