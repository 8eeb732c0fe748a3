"""Videos and dataset files in object storage: any path may be an fsspec URL.

``s3://``, ``gs://``, ``az://``, ``https://``, ``hf://`` ... paths become
:class:`upath.UPath` objects (pathlib's interface over fsspec), so the dataset readers list
folders, read list files and join relative paths the same way for a bucket as for a disk.
Videos are decoded from a local copy of the whole file, downloaded once and kept in a
size-bounded cache (``$MOTIONFIT_CACHE/remote``, at most ``$MOTIONFIT_REMOTE_CACHE_GB``,
default 20 GB; least recently used copies go first) under a name made of the URL and its
version (ETag, else modification time, and size), so a replaced object is fetched again. A
whole-file copy beat range reads through a file-like object for short clips
(``benchmarks/storage.py``): a clip is read many times per run (index, then one window per
epoch), and PyAV's seeks turn each read into several ranged requests.

Each process (every DataLoader worker) opens its own filesystem objects; downloads retry
:data:`ATTEMPTS` times and a file that still cannot be fetched is a
:class:`~motionfit.errors.VideoDecodeError` naming the URL, which the dataset's bad-file policy
handles like an unreadable local file. Credentials and endpoints come from each filesystem's
usual settings (``AWS_*`` variables, ``FSSPEC_S3_ENDPOINT_URL``, gcloud's default login ...).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from motionfit.errors import DataError, VideoDecodeError

ATTEMPTS = 3
"""Tries per download before the file counts as unreadable."""
RETRY_WAIT_S = 0.5
"""Seconds before the second try; doubled before each later one."""
DEFAULT_CACHE_GB = 20.0
"""Size bound of the local cache of downloaded videos unless $MOTIONFIT_REMOTE_CACHE_GB says."""

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
# protocol -> (package that implements it, motionfit extra that installs it)
_PACKAGES = {
    "s3": ("s3fs", "s3"),
    "s3a": ("s3fs", "s3"),
    "gs": ("gcsfs", "gcs"),
    "gcs": ("gcsfs", "gcs"),
    "az": ("adlfs", "azure"),
    "abfs": ("adlfs", "azure"),
    "abfss": ("adlfs", "azure"),
}

# per process: URL -> local copy already checked against the object's version
_LOCAL_COPIES: dict[str, Path] = {}


def is_url(path: str | Path) -> bool:
    """True for a URL with a scheme other than ``file://`` (a path in object storage)."""
    text = str(path)
    return bool(_URL.match(text)) and not text.startswith("file://")


def as_path(path: str | Path) -> Path:
    """``path`` as a path object: a local :class:`~pathlib.Path`, or for a URL a
    :class:`upath.UPath`, which offers the ``Path`` methods motionfit uses on dataset paths
    (``/``, ``name``, ``suffix``, ``parent``, ``exists``, ``is_file``, ``iterdir``,
    ``read_text``) through fsspec; typed as ``Path`` for the code that reads both."""
    if not is_url(path):
        return Path(path)
    if not isinstance(path, str):
        return path
    filesystem(path)  # a missing fsspec implementation is a one-line error here
    from upath import UPath

    return cast(Path, UPath(path))


def filesystem(url: str | Path) -> Any:
    """The fsspec filesystem of ``url`` for this process (fsspec caches one per protocol and
    options, and makes a new one in a forked DataLoader worker). A missing implementation
    (``s3fs`` for ``s3://``) is a DataError naming the extra to install."""
    import fsspec

    protocol = str(url).split("://", 1)[0]
    try:
        return fsspec.filesystem(protocol)
    except ImportError as error:
        if protocol not in _PACKAGES:
            raise DataError(f"{url}: reading {protocol}:// needs a package: {error}") from None
        package, extra = _PACKAGES[protocol]
        raise DataError(
            f'{url}: reading {protocol}:// needs {package} (pip install "motionfit[{extra}]")'
        ) from None
    except ValueError as error:
        raise DataError(f"{url}: {error}") from None


def local_copy(path: str | Path) -> Path:
    """A local file with the content of ``path``: ``path`` itself when it is local; for a URL
    the cached copy, downloaded (with retries) if the cache has no copy of the object's
    current version. Raises :class:`VideoDecodeError` naming the URL when it cannot be read."""
    if not is_url(path):
        return Path(path)
    url = str(path)
    known = _LOCAL_COPIES.get(url)
    if known is not None and known.exists():
        return known
    fs = filesystem(url)
    fs.invalidate_cache(url)  # a listing made earlier may predate a new version of the object
    info = _retrying(url, "cannot read", lambda: fs.info(url))
    if info.get("type") == "directory":
        raise VideoDecodeError(f"{url}: a folder, not a video file")
    size = int(info.get("size") or 0)
    if size == 0:
        raise VideoDecodeError(f"{url}: empty file (0 bytes)")
    target = cache_dir() / _cache_name(url, info)
    if not (target.is_file() and target.stat().st_size == size):
        _download(fs, url, target, size)
        _evict(limit_bytes=cache_limit_bytes(), keep=target)
    os.utime(target)  # recency for the eviction order
    _LOCAL_COPIES[url] = target
    return target


@contextlib.contextmanager
def named_as(path: str | Path, file: Path) -> Iterator[None]:
    """Errors about the local copy ``file`` name the video as the user did (its URL)."""
    try:
        yield
    except VideoDecodeError as error:
        if str(path) == str(file):
            raise
        raise VideoDecodeError(str(error).replace(str(file), str(path))) from None


def upload_folder(folder: Path, url: str, last: tuple[str, ...] = ()) -> None:
    """Copy every file under the local ``folder`` to ``url`` (same relative paths); the files
    named in ``last`` (relative paths) go after all others, so a reader that finds them finds
    everything they name. Each object is written whole or not at all (object stores do not
    show partial uploads)."""
    fs = filesystem(url)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".part"))
    ordered = sorted(files, key=lambda p: p.relative_to(folder).as_posix() in last)
    for file in ordered:
        target = f"{url.rstrip('/')}/{file.relative_to(folder).as_posix()}"
        _retrying(target, "upload failed", lambda f=file, t=target: fs.put_file(str(f), t))


def forget_local_copy(path: str | Path) -> None:
    """Drop this process's memory of ``path``'s local copy (evicted by another process)."""
    _LOCAL_COPIES.pop(str(path), None)


def cache_dir() -> Path:
    """Where downloaded videos are kept: ``$MOTIONFIT_CACHE/remote`` (default
    ``~/.cache/motionfit/remote``)."""
    root = os.environ.get("MOTIONFIT_CACHE", str(Path.home() / ".cache" / "motionfit"))
    return Path(root) / "remote"


def cache_limit_bytes() -> int:
    """The cache's size bound in bytes (``$MOTIONFIT_REMOTE_CACHE_GB``, default 20)."""
    text = os.environ.get("MOTIONFIT_REMOTE_CACHE_GB", str(DEFAULT_CACHE_GB))
    try:
        gigabytes = float(text)
    except ValueError:
        raise DataError(f"MOTIONFIT_REMOTE_CACHE_GB={text!r} is not a number") from None
    return int(gigabytes * 1024**3)


def _cache_name(url: str, info: dict[str, Any]) -> str:
    keys = ("ETag", "etag", "md5Hash", "mtime", "LastModified")
    version = next((str(info[key]) for key in keys if key in info), "")
    digest = hashlib.sha256(f"{url}\n{version}\n{info.get('size')}".encode()).hexdigest()[:32]
    return digest + Path(url.split("?", 1)[0]).suffix.lower()


def _download(fs: Any, url: str, target: Path, size: int) -> None:
    """``url`` to ``target`` through a temporary file renamed when complete (a reader never
    sees a partial copy; parallel workers may both download, the last rename wins)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")

    def fetch() -> None:
        fs.get_file(url, str(partial))
        got = partial.stat().st_size
        if got != size:
            raise OSError(f"connection ended after {got} of {size} bytes")

    try:
        _retrying(url, "download failed", fetch)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _retrying(url: str, what: str, action: Any) -> Any:
    """``action()``, tried :data:`ATTEMPTS` times on network errors; a missing object is not
    retried. The last error becomes a VideoDecodeError naming ``url``."""
    wait = RETRY_WAIT_S
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return action()
        except FileNotFoundError:
            raise VideoDecodeError(f"{url}: no such file") from None
        except PermissionError as error:
            raise VideoDecodeError(f"{url}: access denied ({error})") from None
        except Exception as error:  # network failures surface as many types (aiohttp, botocore)
            if attempt == ATTEMPTS:
                raise VideoDecodeError(f"{url}: {what} after {ATTEMPTS} tries ({error})") from None
            time.sleep(wait)
            wait *= 2
    raise AssertionError("unreachable")


def _evict(limit_bytes: int, keep: Path) -> None:
    """Delete the least recently used copies until the cache holds at most ``limit_bytes``
    (never ``keep``, the copy just made)."""
    copies = []
    for entry in os.scandir(keep.parent):
        if entry.is_file() and not entry.name.startswith("."):
            stat = entry.stat()
            copies.append((stat.st_mtime, stat.st_size, Path(entry.path)))
    total = sum(size for _, size, _ in copies)
    for _, size, path in sorted(copies):
        if total <= limit_bytes:
            break
        if path != keep:
            path.unlink(missing_ok=True)
            total -= size
