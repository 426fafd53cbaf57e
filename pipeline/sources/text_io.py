"""Reading transcript files as text, with one-line errors for the ways files go wrong."""

from __future__ import annotations

from pathlib import Path

from pipeline.sources.base import SourceError

MAX_BYTES = 50 * 1024 * 1024


def read_text(path: Path) -> str:
    """The file's text, decoded as UTF-8 (a BOM is dropped), or a `SourceError` saying what is wrong."""
    where = str(path)
    if not path.exists():
        raise SourceError(where, "no such file or directory")
    if not path.is_file():
        raise SourceError(where, "not a regular file")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise SourceError(where, f"file is {size / 1e6:.0f} MB, larger than the {MAX_BYTES // 1_000_000} MB limit")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SourceError(where, f"cannot read file ({error.strerror or error})") from None
    if not data.strip():
        raise SourceError(where, "file is empty")
    if b"\x00" in data[:8192]:
        raise SourceError(where, "binary file, not a text transcript")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        bad = data[error.start]
        raise SourceError(
            where, f"not UTF-8 text (byte 0x{bad:02x} at offset {error.start}); re-save the file as UTF-8"
        ) from None
