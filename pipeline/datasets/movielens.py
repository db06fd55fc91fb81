"""MovieLens releases from GroupLens: downloaded, checksum-verified and unpacked atomically.

Supported: the releases whose `ratings.csv` (userId,movieId,rating,timestamp) and `movies.csv`
(movieId,title,genres) SampleGen reads. ml-100k, ml-1m and ml-10m use other formats (`u.data`, `::`-separated
`.dat` files) and are not offered.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import tempfile
import urllib.error
import urllib.request
import zipfile
from typing import Dict, Optional

from pipeline.cli.progress import Step, no_step

BASE_URL = "https://files.grouplens.org/datasets/movielens"
RAW_FILES = ("ratings.csv", "movies.csv")
_CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    ratings: str  # about how many, for the help text
    # The zip's SHA-256 where the release is frozen (from tensorflow/datasets' url_checksums/movielens.txt);
    # None where GroupLens regenerates it or we have no pinned digest: then its published .md5 alone verifies it.
    sha256: Optional[str] = None


VARIANTS: Dict[str, Variant] = {v.name: v for v in (
    Variant("ml-latest-small", "100k",
            "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436"),
    Variant("ml-20m", "20M", "96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3"),
    Variant("ml-25m", "25M", "8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa"),
    Variant("ml-32m", "32M"),
    Variant("ml-latest", "33M+, changes over time"),
)}


class DownloadError(RuntimeError):
    """The release could not be fetched, verified or unpacked; nothing was left in the output directory."""


def is_unpacked(directory: str) -> bool:
    return all(os.path.isfile(os.path.join(directory, name)) for name in RAW_FILES)


DOWNLOAD_STEPS = ("download", "verify", "unpack")


def download(variant: str, output_dir: str, base_url: str = BASE_URL, sha256: Optional[str] = None,
             timeout: float = 60.0, step: Step = no_step) -> str:
    """Fetches `<base_url>/<variant>.zip`, verifies it, unpacks it to `<output_dir>/<variant>`; returns that path.

    Verification: the SHA-256 given (or pinned in VARIANTS) and the MD5 GroupLens publishes beside the zip must
    both match where they exist; at least one must. An unpacked release already there is not fetched again.
    step: reports each of DOWNLOAD_STEPS.
    """
    if variant not in VARIANTS:
        raise DownloadError(f"unknown MovieLens variant {variant!r}; supported: {', '.join(VARIANTS)}")
    target = os.path.join(output_dir, variant)
    if is_unpacked(target):
        return target
    os.makedirs(output_dir, exist_ok=True)
    url = f"{base_url.rstrip('/')}/{variant}.zip"
    # Staged beside the target, then renamed into place: an interrupted run leaves no partial release.
    with tempfile.TemporaryDirectory(dir=output_dir, prefix=f".{variant}-download-") as staging:
        zip_path = os.path.join(staging, f"{variant}.zip")
        fetch, verify, unpack = DOWNLOAD_STEPS
        with step(fetch):
            digests = _fetch(url, zip_path, timeout)
        with step(verify):
            _verify(url, digests, sha256 or VARIANTS[variant].sha256, _published_md5(f"{url}.md5", timeout))
        with step(unpack):
            _unpack(zip_path, variant, staging)
        os.replace(os.path.join(staging, variant), target)
    return target


def _open(url: str, timeout: float):
    try:
        return urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as e:
        raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise DownloadError(f"cannot reach {url} ({reason}): offline? Download it where there is a network, "
                            f"unzip it and pass the directory to `sparrow-tfx run --movielens DIR`") from None


def _fetch(url: str, path: str, timeout: float) -> Dict[str, str]:
    """Streams url to path; returns its sha256 and md5."""
    sha256, md5 = hashlib.sha256(), hashlib.md5()
    with _open(url, timeout) as response, open(path, "wb") as out:
        try:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                sha256.update(chunk)
                md5.update(chunk)
                out.write(chunk)
        except OSError as e:
            raise DownloadError(f"{url}: the download broke off ({e})") from None
    return {"sha256": sha256.hexdigest(), "md5": md5.hexdigest()}


def _published_md5(url: str, timeout: float) -> Optional[str]:
    """The MD5 in GroupLens' `<zip>.md5` file, None where none is published."""
    try:
        with _open(url, timeout) as response:
            text = response.read(4096).decode("ascii", errors="replace")
    except DownloadError as e:
        if "HTTP 404" in str(e):
            return None
        raise
    match = re.search(r"\b[0-9a-fA-F]{32}\b", text)
    if not match:
        raise DownloadError(f"{url} holds no MD5 digest: {text[:100]!r}")
    return match.group(0).lower()


def _verify(url: str, digests: Dict[str, str], sha256: Optional[str], md5: Optional[str]) -> None:
    if sha256 is None and md5 is None:
        raise DownloadError(f"{url}: no checksum to verify it against (no pinned SHA-256, no published .md5); "
                            f"pass --sha256 with the digest you trust")
    for name, expected, actual in (("SHA-256", sha256, digests["sha256"]), ("published MD5", md5, digests["md5"])):
        if expected is not None and expected.lower() != actual:
            raise DownloadError(f"{url}: {name} mismatch: expected {expected.lower()}, got {actual}. The file is "
                                f"corrupt or GroupLens re-released it; pass --sha256 only for a digest you trust")


def _unpack(zip_path: str, variant: str, staging: str) -> None:
    """Extracts the release's own folder (`<variant>/...`), refusing any other path."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            names = archive.namelist()
            outside = [n for n in names if not n.startswith(f"{variant}/") or ".." in n.split("/")]
            if outside:
                raise DownloadError(f"{zip_path}: entries outside {variant}/: {outside[:3]}")
            missing = [f for f in RAW_FILES if f"{variant}/{f}" not in names]
            if missing:
                raise DownloadError(f"{zip_path}: no {', '.join(missing)} in {variant}/")
            archive.extractall(staging)
    except zipfile.BadZipFile as e:
        raise DownloadError(f"{zip_path}: not a zip file ({e})") from None
