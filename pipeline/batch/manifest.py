"""The manifest: CSV (header row), JSON Lines or YAML, one talk a row; malformed rows become problems with their
line number, the rest runs."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from pipeline.models import Talk
from pipeline.sources.base import SourceError
from pipeline.sources.files import talk_id_from
from pipeline.sources.safe_yaml import StrictLoader, yaml_problem
from pipeline.sources.text_io import read_text
from pipeline.sources.youtube import PLAYLIST_URL, parse_playlist_id, parse_video_id

MANIFEST_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".yaml": "yaml", ".yml": "yaml"}
KNOWN_KEYS = ("source", "id", "title", "speakers", "event", "date", "language", "translate")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")


class BatchError(Exception):
    """The batch cannot start (unreadable manifest, bad proxy, damaged state, unreachable cluster or store); the
    message says why."""


@dataclass(frozen=True)
class ManifestProblem:
    """A manifest row that was skipped, and why."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class ManifestRow:
    """One talk of the manifest. `location` is the resolved file path or the video's watch URL; `metadata` holds
    the `Talk` fields and extra columns that override what the source says."""

    line: int
    talk_id: str
    source: str
    location: str
    video_id: str | None
    metadata: dict[str, Any]
    languages: tuple[str, ...] | None = None
    translate: str | None = None
    playlist_id: str | None = None  # a YouTube playlist: expanded into one row per video before the run

    def fingerprint(self, languages: Sequence[str], translate: str | None) -> str:
        """A hash of everything that decides this talk's result; a changed row is processed again."""
        data: dict[str, Any] = {"source": self.source, "metadata": self.metadata}
        if self.video_id:
            data["request"] = {"languages": list(self.languages or languages), "translate": self.translate or translate}
        text = json.dumps(data, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Manifest:
    path: Path
    rows: list[ManifestRow]
    problems: list[ManifestProblem]


class _RowError(ValueError):
    """A malformed row; the message is the problem."""


def read_manifest(path: Path) -> Manifest:
    """The rows of a CSV, JSON Lines or YAML manifest; malformed rows become problems with their line number."""
    kind = MANIFEST_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise BatchError(f"{path}: unsupported manifest type '{path.suffix}' (expected .csv, .jsonl or .yaml)")
    try:
        text = read_text(path)  # UTF-8 or UTF-16, within the file-size cap
    except SourceError as error:
        raise BatchError(f"{path}: cannot read manifest ({error.problem})") from None
    readers = {"csv": _csv_items, "jsonl": _jsonl_items, "yaml": _yaml_items}
    rows: list[ManifestRow] = []
    problems: list[ManifestProblem] = []
    first_line: dict[str, int] = {}
    for line, item in readers[kind](text, path):
        try:
            if isinstance(item, Exception):
                raise _RowError(str(item))
            if all(value in (None, "") for value in item.values()):
                continue  # a blank row
            row = _parse_row(item, line, path.parent)
            if row.talk_id in first_line:
                raise _RowError(f"duplicate talk id '{row.talk_id}' (first on line {first_line[row.talk_id]})")
        except _RowError as error:
            problems.append(ManifestProblem(line, str(error)))
            continue
        first_line[row.talk_id] = line
        rows.append(row)
    if not rows and not problems:
        raise BatchError(f"{path}: no talks in manifest")
    return Manifest(path, rows, problems)


def _csv_items(text: str, path: Path) -> Iterator[tuple[int, dict[str, Any] | Exception]]:
    """Rows as mappings of the header's columns, each with the line it starts on (quoted fields may span lines)."""
    reading = 0

    def lines() -> Iterator[str]:
        nonlocal reading
        for reading, content in enumerate(io.StringIO(text, newline=""), 1):  # noqa: B007 - read by the loop below
            yield content

    reader = csv.reader(lines())
    try:
        header = [name.strip() for name in next(reader, [])]
    except csv.Error as error:
        raise BatchError(f"{path}: line 1: unreadable CSV header ({error})") from None
    if "source" not in {name.lower() for name in header}:
        raise BatchError(f"{path}: line 1: the header has no 'source' column (columns: {', '.join(header) or 'none'})")
    while True:
        line = reading + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield line, _RowError(f"unreadable CSV ({error})")
            continue
        if not fields:
            continue  # a blank line
        if len(fields) > len(header):
            yield line, _RowError(f"{len(fields)} fields, but the header has {len(header)}")
        else:
            yield line, dict(zip(header, fields + [""] * (len(header) - len(fields)), strict=True))


def _jsonl_items(text: str, path: Path) -> Iterator[tuple[int, dict[str, Any] | Exception]]:
    for line, content in enumerate(text.splitlines(), 1):
        if not content.strip():
            continue
        try:
            item = json.loads(content)
        except json.JSONDecodeError as error:
            yield line, _RowError(f"not JSON ({error.msg} at column {error.colno})")
            continue
        except (RecursionError, ValueError):
            yield line, _RowError("not a JSON object of a talk (nested too deeply, or a number too large)")
            continue
        yield line, item if isinstance(item, dict) else _RowError("not a JSON object")


def _yaml_items(text: str, path: Path) -> Iterator[tuple[int, dict[str, Any] | Exception]]:
    """Each talk of a YAML list, or of a mapping's `talks:` list (its other keys are defaults for every talk).

    Items are built one by one, so a bad value (such as an impossible date) costs only its own row. Anchors and
    aliases are refused (`StrictLoader`): a few bytes of nested aliases would expand to gigabytes."""
    loader = StrictLoader(text)
    try:
        try:
            root = loader.get_single_node()
        except (yaml.YAMLError, RecursionError) as error:
            raise BatchError(f"{path}: not valid YAML ({yaml_problem(error)})") from None
        defaults: dict[str, Any] = {}
        items = root
        if isinstance(root, yaml.MappingNode):
            items = next((value for key, value in root.value if key.value == "talks"), None)
            for key, value in root.value:
                if key.value != "talks":
                    defaults[str(loader.construct_object(key, deep=True))] = loader.construct_object(value, deep=True)
        if not isinstance(items, yaml.SequenceNode):
            raise BatchError(f"{path}: a YAML manifest is a list of talks, or a mapping with a 'talks:' list")
        for node in items.value:
            line = node.start_mark.line + 1
            try:
                item = loader.construct_object(node, deep=True)
            except (yaml.YAMLError, ValueError, OverflowError, RecursionError) as error:
                yield line, _RowError(f"bad value ({yaml_problem(error)})")
                continue
            yield line, {**defaults, **item} if isinstance(item, dict) else _RowError("not a mapping of keys to values")
    finally:
        loader.dispose()


def _parse_row(raw: Mapping[Any, Any], line: int, base: Path) -> ManifestRow:
    """A validated row; raises `_RowError` naming the problem."""
    item: dict[str, Any] = {}
    for key, value in raw.items():
        name = str(key).strip()
        name = name.lower() if name.lower() in KNOWN_KEYS else name
        item[name] = (value.strip() or None) if isinstance(value, str) else value
    source = _text(item.pop("source", None), "source")
    if not source:
        raise _RowError("missing 'source'")
    if "extra" in item:
        raise _RowError("'extra' is a reserved column name")
    path = Path(source).expanduser()
    path = path if path.is_absolute() else base / path
    video_id = None if path.exists() else parse_video_id(source)
    playlist_id = None if path.exists() or video_id else parse_playlist_id(source)
    if playlist_id and ("id" in item or "title" in item):
        raise _RowError("a playlist row names many talks: it cannot set one 'id' or 'title'")
    location = f"https://www.youtube.com/watch?v={video_id}" if video_id else str(path)
    name = video_id or Path(source).stem
    if playlist_id:
        location, name = PLAYLIST_URL.format(playlist_id=playlist_id), f"playlist-{playlist_id}"
    talk_id = _talk_id(item.pop("id", None), talk_id_from(name))
    languages = _languages(item.pop("language", None))
    translate = _languages(item.pop("translate", None))
    if translate and len(translate) > 1:
        raise _RowError("'translate' takes one language code")
    metadata: dict[str, Any] = {"id": talk_id}
    metadata["title"] = _text(item.pop("title", None), "title")
    metadata["speakers"] = _speakers(item.pop("speakers", None))
    metadata["event"] = _text(item.pop("event", None), "event")
    metadata["date"] = _date(item.pop("date", None))
    if languages and not video_id and not playlist_id:
        metadata["language"] = languages[0]  # a file's language; for YouTube it is the caption priority
    for key, value in item.items():
        metadata[key] = _text(value, key)
    metadata = {key: value for key, value in metadata.items() if value not in (None, "", [])}
    return ManifestRow(
        line=line,
        talk_id=talk_id,
        source=source,
        location=location,
        video_id=video_id,
        metadata=metadata,
        languages=tuple(languages) if languages and (video_id or playlist_id) else None,
        translate=translate[0] if translate else None,
        playlist_id=playlist_id,
    )


def _text(value: Any, key: str) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, (int, float, bool, date)):
        return str(value)
    raise _RowError(f"'{key}' must be text, not {type(value).__name__}")


def _talk_id(value: Any, default: str) -> str:
    talk_id = _text(value, "id") or default
    try:
        Talk(id=talk_id)
    except ValidationError:
        raise _RowError(
            f"bad id '{talk_id}' (up to 128 letters, digits, '.', '_' and '-', starting with a letter or digit)"
        ) from None
    return talk_id


def _speakers(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [name.strip() for name in value.split(";") if name.strip()]
    if isinstance(value, list) and all(isinstance(name, str) for name in value):
        return [name.strip() for name in value if name.strip()]
    raise _RowError("'speakers' must be a list of names (or names separated by ';')")


def _date(value: Any) -> date | None:
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, datetime):
        return value.date()
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise _RowError(f"bad date '{value}' (expected YYYY-MM-DD)") from None


def _languages(value: Any) -> list[str]:
    if value is None:
        return []
    codes = value.split(",") if isinstance(value, str) else value
    if not isinstance(codes, list) or not all(isinstance(code, str) for code in codes):
        raise _RowError("language codes must be text such as 'de,en' or a list of codes")
    codes = [code.strip() for code in codes if code.strip()]
    bad = [code for code in codes if not _LANGUAGE.match(code)]
    if bad:
        raise _RowError(f"bad language code '{bad[0]}' (expected e.g. en, de or pt-BR)")
    return codes
