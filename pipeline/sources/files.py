"""Local transcript files: finding them, reading their format, and their talk metadata."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from pipeline.models import Segment, Talk, Transcript
from pipeline.sources.base import RawSegment, SourceError
from pipeline.sources.captions import parse_srt, parse_vtt
from pipeline.sources.formats import parse_json, parse_turns
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
    """A safe talk id from a file stem or name: unsafe characters become `-`."""
    cleaned = _ID_UNSAFE.sub("-", text).strip("-._")
    return cleaned[:128] or "talk"


def sidecar_for(path: Path) -> Path | None:
    base = path.with_suffix("")
    for suffix in SIDECAR_SUFFIXES:
        candidate = base.parent / f"{base.name}{suffix}"
        if candidate.exists():
            return candidate
    return None


def read_sidecar(path: Path) -> dict[str, Any]:
    """The metadata mapping of a `NAME.meta.yaml` / `.meta.json` sidecar file."""
    text = read_text(path)
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise SourceError(str(path), f"sidecar metadata cannot be parsed ({str(error).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise SourceError(str(path), "sidecar metadata must be a mapping of keys to values")
    return data


def build_talk(fields: dict[str, Any], where: str) -> Talk:
    """A `Talk` from merged metadata; keys that are not `Talk` fields are kept in `extra`."""
    known = set(Talk.model_fields) - {"extra"}
    values = {key: value for key, value in fields.items() if key in known and value not in (None, "", [])}
    extra = {str(key): str(value) for key, value in fields.items() if key not in known and value is not None}
    extra.update({str(k): str(v) for k, v in (fields.get("extra") or {}).items()})
    if isinstance(values.get("speakers"), str):
        values["speakers"] = [name.strip() for name in re.split(r"[;,]", values["speakers"]) if name.strip()]
    try:
        return Talk(**values, extra=extra)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise SourceError(where, f"bad talk metadata '{field}': {first['msg']}") from None


def transcript_from_segments(talk: Talk, raw: list[RawSegment], where: str) -> Transcript:
    """Number the segments; a single-speaker talk's unlabelled segments get that speaker."""
    if not any(segment.text.strip() for segment in raw):
        raise SourceError(where, "transcript has no text")
    only_speaker = talk.speakers[0] if len(talk.speakers) == 1 else None
    segments = [
        Segment(index=index, text=item.text, start=item.start, end=item.end, speaker=item.speaker or only_speaker)
        for index, item in enumerate(raw)
    ]
    speakers = talk.speakers or sorted({s.speaker for s in segments if s.speaker}, key=str.lower)
    return Transcript(talk=talk.model_copy(update={"speakers": speakers}), segments=segments)


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
