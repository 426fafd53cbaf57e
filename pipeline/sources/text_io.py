"""Reading transcript files as text, with one-line errors for the ways files go wrong.

UTF-8 (with or without a BOM) is the norm; UTF-16 and UTF-32 with a BOM, and UTF-16 without one, are decoded
too (Windows tools save captions that way). No library fits the BOM-less case: `charset-normalizer` guesses
among legacy 8-bit code pages as well, where a wrong guess turns a damaged UTF-8 file into mojibake instead of an
error, so the rule here is the narrow one: text whose odd (or even) bytes are mostly NUL is UTF-16-LE (or -BE).
"""

from __future__ import annotations

import codecs
from pathlib import Path

from pipeline.sources.base import SourceError
from pipeline.sources.limits import Limits

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16-LE: its BOM starts the same way
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def read_text(path: Path, limits: Limits | None = None) -> str:
    """The file's text, decoded (see the module doc), or a `SourceError` saying what is wrong."""
    where = str(path)
    limits = limits or Limits.from_env(where)
    if not path.exists():
        raise SourceError(where, "no such file or directory")
    if not path.is_file():
        raise SourceError(where, "not a regular file")
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise SourceError(
            where,
            f"file is {size / 1e6:.1f} MB, larger than the {limits.max_file_mb:g} MB limit "
            "(split the transcript, or raise TALKS_MAX_FILE_MB)",
        )
    try:
        with path.open("rb") as handle:
            data = handle.read(limits.max_file_bytes + 1)  # the file may have grown since stat()
    except OSError as error:
        raise SourceError(where, f"cannot read file ({error.strerror or error})") from None
    if len(data) > limits.max_file_bytes:
        raise SourceError(where, f"file is larger than the {limits.max_file_mb:g} MB limit")
    return decode(data, where)


def decode(data: bytes, where: str) -> str:
    """Bytes → text: by BOM, else UTF-16 by its NUL pattern, else UTF-8; NUL characters are refused."""
    if not data.strip():
        raise SourceError(where, "file is empty")
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), None) or _utf16_without_bom(data)
    if encoding is None:
        encoding = "utf-8"
        if b"\x00" in data[:8192]:
            raise SourceError(where, "binary file, not a text transcript")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        label = "UTF-8" if encoding.startswith("utf-8") else encoding.upper()
        if label == "UTF-8":
            bad = data[error.start]
            problem = f"not UTF-8 text (byte 0x{bad:02x} at offset {error.start}); re-save the file as UTF-8"
        else:
            problem = f"damaged {label} text at byte {error.start}; re-save the file as UTF-8"
        raise SourceError(where, problem) from None
    text = text.removeprefix("\ufeff")
    if "\x00" in text:
        raise SourceError(where, f"binary data (a NUL character at offset {text.index(chr(0))}), not a text transcript")
    if not text.strip():
        raise SourceError(where, "file is empty")
    return text


def _utf16_without_bom(data: bytes, sample: int = 4096) -> str | None:
    """ "utf-16-le"/"utf-16-be" when the bytes look like BOM-less UTF-16 text of a Latin-script language: at least
    40% of the odd (LE) or even (BE) bytes of the sample are NUL and almost none of the others."""
    head = data[: sample - sample % 2]
    if len(head) < 4 or len(data) % 2:
        return None
    even, odd = head[0::2], head[1::2]
    pairs = len(head) // 2
    even_nul, odd_nul = even.count(0), odd.count(0)
    if odd_nul >= 0.4 * pairs and even_nul <= 0.02 * pairs:
        return "utf-16-le"
    if even_nul >= 0.4 * pairs and odd_nul <= 0.02 * pairs:
        return "utf-16-be"
    return None
