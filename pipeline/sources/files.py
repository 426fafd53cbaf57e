"""Local transcript files: finding them, reading their format, and their talk metadata."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from anyascii import anyascii
from pydantic import ValidationError

from pipeline.models import Segment, Talk, Transcript
from pipeline.sources.base import RawSegment, SourceError
from pipeline.sources.captions import parse_srt, parse_vtt
from pipeline.sources.formats import load_json, parse_json, parse_turns
from pipeline.sources.limits import SEGMENT_CHARS, SEGMENT_WORDS, WORD_CHARS, Limits, check_time
from pipeline.sources.safe_yaml import load_yaml, yaml_problem
from pipeline.sources.text_io import read_text

PARSERS = {".vtt": parse_vtt, ".srt": parse_srt, ".json": parse_json, ".txt": parse_turns}
SIDECAR_SUFFIXES = (".meta.yaml", ".meta.yml", ".meta.json")
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def is_sidecar(path: Path) -> bool:
    return path.name.endswith(SIDECAR_SUFFIXES)


def discover(paths: Iterable[Path]) -> list[Path]:
    """The transcript files named, with directories searched recursively (sidecars and hidden files skipped).

    Files inside directories are kept only when their extension is a known transcript format; a file
    named directly is always returned, so an unsupported one is reported rather than ignored.
    """
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                hidden = any(part.startswith(".") for part in child.relative_to(path).parts)
                if child.is_file() and not hidden and not is_sidecar(child) and child.suffix.lower() in PARSERS:
                    found.append(child)
        else:
            found.append(path)
    return found


def talk_id_from(text: str) -> str:
    """A safe talk id from a file stem or name: letters of other scripts transliterated to ASCII (`Über` → `Uber`,
    `講演` → `JiangYan`, by `anyascii`), other unsafe characters as `-`. A name with nothing left (`-`, `..`)
    gets `talk-` and a hash of the name, so two such files never share an id."""
    cleaned = _ID_UNSAFE.sub("-", anyascii(text)).strip("-._")[:128].rstrip("-._")
    if cleaned:
        return cleaned
    return "talk-" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]


def sidecar_for(path: Path) -> Path | None:
    base = path.with_suffix("")
    for suffix in SIDECAR_SUFFIXES:
        candidate = base.parent / f"{base.name}{suffix}"
        if candidate.exists():
            return candidate
    return None


def read_sidecar(path: Path) -> dict[str, Any]:
    """The metadata mapping of a `NAME.meta.yaml` / `.meta.json` sidecar file (YAML anchors and aliases refused)."""
    where = str(path)
    text = read_text(path)
    if path.suffix == ".json":
        data = load_json(text, where)
    else:
        try:
            data = load_yaml(text)
        except (yaml.YAMLError, ValueError, OverflowError, RecursionError) as error:
            raise SourceError(where, f"sidecar metadata cannot be read ({yaml_problem(error)})") from None
    if not isinstance(data, dict):
        raise SourceError(where, "sidecar metadata must be a mapping of keys to values")
    return data


def _extra_value(key: str, value: Any, where: str) -> str:
    """An extra metadata value as text: text, a number, yes/no or a date, or a list of those (joined by ", ")."""
    if isinstance(value, str | int | float | bool | date):
        return str(value)
    if isinstance(value, list) and all(isinstance(item, str | int | float | bool | date) for item in value):
        return ", ".join(str(item) for item in value)
    raise SourceError(where, f"bad talk metadata '{key}': must be text, a number or a list of them, not nested data")


def build_talk(fields: dict[str, Any], where: str) -> Talk:
    """A `Talk` from merged metadata; keys that are not `Talk` fields are kept in `extra` (as text)."""
    known = set(Talk.model_fields) - {"extra"}
    values = {key: value for key, value in fields.items() if key in known and value not in (None, "", [])}
    extra = {
        str(key): _extra_value(str(key), value, where)
        for key, value in fields.items()
        if key not in known and key != "extra" and value is not None
    }
    given = fields.get("extra") or {}
    if not isinstance(given, dict):
        raise SourceError(where, "bad talk metadata 'extra': must be a mapping of names to values")
    extra.update({str(k): _extra_value(f"extra.{k}", v, where) for k, v in given.items() if v is not None})
    if isinstance(values.get("speakers"), str):
        values["speakers"] = [name.strip() for name in re.split(r"[;,]", values["speakers"]) if name.strip()]
    try:
        return Talk(**values, extra=extra)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise SourceError(where, f"bad talk metadata '{field}': {first['msg']}") from None


def transcript_from_segments(talk: Talk, raw: list[RawSegment], where: str, limits: Limits | None = None) -> Transcript:
    """Number the segments; a single-speaker talk's unlabelled segments get that speaker. Times are checked and
    long segments split (see `pipeline.sources.limits`); a talk over the word cap is refused."""
    from pipeline.components.cleaner import clean_text  # imported here: it brings in Haystack

    limits = limits or Limits.from_env(where)
    if not any(segment.text.strip() for segment in raw):
        raise SourceError(where, "transcript has no text")
    if not any(clean_text(segment.text) for segment in raw):
        raise SourceError(where, "transcript has no words, only caption noise such as [Music] or tags")
    words = sum(len(segment.text.split()) for segment in raw)
    if words > limits.max_words:
        raise SourceError(
            where,
            f"transcript has {words} words, more than the {limits.max_words} word limit "
            "(split the talk, or raise TALKS_MAX_WORDS)",
        )
    for position, segment in enumerate(raw, 1):
        for value in (segment.start, segment.end):
            if value is not None:
                check_time(value, limits, where, f"segment {position}")
    only_speaker = talk.speakers[0] if len(talk.speakers) == 1 else None
    pieces = [piece for item in raw for piece in split_long_segment(item)]
    segments = [
        Segment(index=index, text=item.text, start=item.start, end=item.end, speaker=item.speaker or only_speaker)
        for index, item in enumerate(pieces)
    ]
    speakers = talk.speakers or sorted({s.speaker for s in segments if s.speaker}, key=str.lower)
    return Transcript(talk=talk.model_copy(update={"speakers": speakers}), segments=segments)


def split_long_segment(
    segment: RawSegment, max_words: int = SEGMENT_WORDS, max_chars: int = SEGMENT_CHARS, word_chars: int = WORD_CHARS
) -> list[RawSegment]:
    """A segment of at most `max_words` words and about `max_chars` characters, else pieces of it cut at word
    boundaries, each timed in proportion to its share of the characters; a word longer than `word_chars` is cut
    into pieces of that length first. Pieces keep the speaker. Written here because text splitters (Haystack's
    `DocumentSplitter`, LangChain's) split text, not timed segments."""
    if len(segment.text) <= max_chars and len(segment.text.split()) <= max_words:
        return [segment]
    tokens = [token[at : at + word_chars] for token in segment.text.split() for at in range(0, len(token), word_chars)]
    groups: list[list[str]] = [[]]
    size = 0
    for token in tokens:
        if groups[-1] and (len(groups[-1]) >= max_words or size + 1 + len(token) > max_chars):
            groups.append([])
            size = 0
        groups[-1].append(token)
        size += len(token) + (1 if size else 0)
    texts = [" ".join(group) for group in groups]
    total = sum(len(text) for text in texts) or 1
    pieces, done = [], 0
    for text in texts:
        start = _at(segment, done / total)
        done += len(text)
        pieces.append(RawSegment(text, start, _at(segment, done / total, end=True), segment.speaker))
    return pieces


def _at(segment: RawSegment, share: float, end: bool = False) -> float | None:
    """The time `share` of the way through the segment. Without both times, a piece starts when the segment does
    and only the last piece has the segment's end."""
    if share >= 1 and end:
        return segment.end
    if segment.start is None or segment.end is None:
        return None if end else segment.start
    if share <= 0:
        return segment.start
    return round(segment.start + share * (segment.end - segment.start), 3)


def load_file(path: Path, overrides: dict[str, Any] | None = None) -> Transcript:
    """Read one transcript file with its sidecar metadata; `overrides` (from flags or a manifest) win."""
    where = str(path)
    parser = PARSERS.get(path.suffix.lower())
    if path.exists() and path.is_dir():
        raise SourceError(where, "is a directory with no transcripts in it")
    if parser is None:
        known = ", ".join(sorted(PARSERS))
        raise SourceError(where, f"unsupported file type '{path.suffix or path.name}' (expected {known})")
    parsed = parser(read_text(path), where)
    fields: dict[str, Any] = {"id": talk_id_from(path.stem), "source": str(path)}
    if isinstance(parsed, Transcript):
        fields.update(parsed.talk.model_dump(exclude_none=True, exclude_defaults=True))
    sidecar = sidecar_for(path)
    if sidecar:
        fields.update(read_sidecar(sidecar))
    fields.update({key: value for key, value in (overrides or {}).items() if value not in (None, "", [])})
    talk = build_talk(fields, where)
    if isinstance(parsed, Transcript):
        raw = [RawSegment(s.text, s.start, s.end, s.speaker) for s in parsed.segments]
    else:
        raw = parsed
    return transcript_from_segments(talk, raw, where)
