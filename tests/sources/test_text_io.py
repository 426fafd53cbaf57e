"""Reading files as text: encodings (UTF-8, UTF-16/32 with and without BOM), binary data and the size cap."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from pipeline.sources.base import SourceError
from pipeline.sources.files import load_file
from pipeline.sources.text_io import read_text

VTT = "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\nÜber Qualität: ça marche, 講演.\n"


@pytest.mark.parametrize(
    "encoded",
    [
        VTT.encode("utf-8"),
        codecs.BOM_UTF8 + VTT.encode("utf-8"),
        codecs.BOM_UTF16_LE + VTT.encode("utf-16-le"),
        codecs.BOM_UTF16_BE + VTT.encode("utf-16-be"),
        VTT.encode("utf-16-le"),  # no BOM: told by the NUL bytes at odd offsets
        VTT.encode("utf-16-be"),
        VTT.encode("utf-32"),  # with its BOM
    ],
    ids=["utf8", "utf8-bom", "utf16le-bom", "utf16be-bom", "utf16le", "utf16be", "utf32-bom"],
)
def test_unicode_encodings_are_decoded(tmp_path: Path, encoded: bytes):
    path = tmp_path / "talk.vtt"
    path.write_bytes(encoded)
    assert read_text(path) == VTT
    assert load_file(path).segments[0].text == "Über Qualität: ça marche, 講演."


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"\x00\x01\x02\x03binary\xff" * 50, "binary file"),
        (b"WEBVTT\n\n" + b"x" * 9000 + b"\x00 more", "NUL character at offset 9008"),
        (codecs.BOM_UTF16_LE + "ok".encode("utf-16-le") + b"\x00\xd8", "damaged UTF-16 text"),
        ("caf\xe9".encode("latin-1") + b" au lait", "not UTF-8 text (byte 0xe9 at offset 3)"),
        (b"  \n\t\n", "file is empty"),
        (codecs.BOM_UTF16_LE, "file is empty"),
    ],
    ids=["binary", "late-nul", "bad-utf16", "latin1", "blank", "bom-only"],
)
def test_undecodable_files_get_one_line_naming_the_problem(tmp_path: Path, content: bytes, problem: str):
    path = tmp_path / "talk.txt"
    path.write_bytes(content)
    with pytest.raises(SourceError) as caught:
        read_text(path)
    assert str(caught.value).startswith(str(path)) and problem in str(caught.value)
    assert "\n" not in str(caught.value)


def test_files_over_the_size_cap_are_refused_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "big.txt"
    path.write_bytes(b"word " * 300_000)  # 1.5 MB
    monkeypatch.setenv("TALKS_MAX_FILE_MB", "1")
    with pytest.raises(SourceError, match=r"file is 1\.5 MB, larger than the 1 MB limit .*TALKS_MAX_FILE_MB"):
        read_text(path)
    monkeypatch.setenv("TALKS_MAX_FILE_MB", "2")
    assert read_text(path).startswith("word word")
    monkeypatch.setenv("TALKS_MAX_FILE_MB", "lots")
    with pytest.raises(SourceError, match="TALKS_MAX_FILE_MB='lots' is not a positive number"):
        read_text(path)
