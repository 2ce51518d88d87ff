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


def load_checkpoint(path: str | Path, what: str):
    """``torch.load`` a user's file (tensors only), with errors that say which file and what is wrong.

    Raises
    ------
    ModelFileError
        If the file is missing, a folder, empty, or not a PyTorch checkpoint.
    """
    import torch

    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{what} {path}: file not found")
    if not path.is_file():
        raise ModelFileError(f"{what} {path}: is not a file")
    if path.stat().st_size == 0:
        raise ModelFileError(f"{what} {path}: the file is empty")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ModelFileError(
            f"{what} {path}: not a readable PyTorch checkpoint (truncated, corrupt, or another format): {reason}"
        ) from exc


def verified_path(path: Path, checksum_file: Path) -> Path:
    """Return ``path`` after checking it against the digest in ``checksum_file``.

    Raises
    ------
    ModelFileError
        If the file is missing or its SHA-256 differs (truncated or corrupt download, edit).
    """
    if not path.is_file() or not checksum_file.is_file():
        missing = path if not path.is_file() else checksum_file
        raise ModelFileError(
            f"embedded file {missing.name} is missing from {missing.parent}: this sk3dmm installation is "
            "incomplete (a wheel or copy built without its package data); reinstall sk3dmm from a full "
            "wheel or the source tree (pip install --force-reinstall sk3dmm)"
        )
    expected = shipped_sha256(checksum_file)
    actual = sha256_of(path)
    if actual != expected:
        raise ModelFileError(
            f"model file {path} is corrupt: SHA-256 {actual[:12]}... differs from the shipped "
            f"{expected[:12]}...; reinstall sk3dmm"
        )
    return path


def shipped_sha256(checksum_file: Path) -> str:
    """The hex SHA-256 recorded in a shipped ``.sha256`` file (``digest  name`` or ``digest``)."""
    return checksum_file.read_text().split()[0]


def check_embedded_digest(what: str, name: str, pickled: str, installed: str) -> None:
    """Check that an embedded file a pickle names is the one this installation ships.

    Raises
    ------
    ModelFileError
        If the SHA-256 recorded in the pickle differs from the installed file's.
    """
    if pickled != installed:
        raise ModelFileError(
            f"this pickle was made with another version of the embedded {what} {name}: it names the file "
            f"with SHA-256 {pickled[:12]}..., this sk3dmm installation ships SHA-256 {installed[:12]}...; "
            "unpickle it with the sk3dmm version that made it, or fit the estimator again"
        )
