"""Checksummed access to files shipped in the package."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..exceptions import ModelFileError

DATA_DIR = Path(__file__).resolve().parent / "data"


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verified_path(path: Path, checksum_file: Path) -> Path:
    """Return ``path`` after checking it against the digest in ``checksum_file``.

    Raises
    ------
    ModelFileError
        If the file is missing or its SHA-256 differs (truncated or corrupt download, edit).
    """
    if not path.is_file():
        raise ModelFileError(f"model file {path} is missing; reinstall sk3dmm")
    expected = checksum_file.read_text().split()[0]
    actual = sha256_of(path)
    if actual != expected:
        raise ModelFileError(
            f"model file {path} is corrupt: SHA-256 {actual[:12]}... differs from the shipped "
            f"{expected[:12]}...; reinstall sk3dmm"
        )
    return path
