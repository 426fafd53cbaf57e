"""Sources → `Transcript`: local caption and transcript files, and YouTube videos."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.models import Transcript
from pipeline.sources.base import SourceError
from pipeline.sources.files import build_talk, discover, load_file, transcript_from_segments
from pipeline.sources.youtube import YouTubeFetcher, parse_video_id

__all__ = ["SourceError", "expand_sources", "load_source"]


def expand_sources(items: list[str]) -> list[str]:
    """Directories become the transcript files inside them; files, URLs and video ids stay as given."""
    expanded: list[str] = []
    for item in items:
        path = Path(item).expanduser()
        if path.is_dir():
            found = discover([path])
            expanded.extend(str(file) for file in found) if found else expanded.append(item)
        else:
            expanded.append(item)
    return expanded


def load_source(item: str, overrides: dict[str, Any] | None, youtube: YouTubeFetcher | None) -> Transcript:
    """A transcript from an existing path, else from a YouTube URL or video id."""
    path = Path(item).expanduser()
    if path.exists():
        return load_file(path, overrides)
    video_id = parse_video_id(item)
    if video_id is None:
        if path.suffix:
            return load_file(path, overrides)  # reports the missing file
        raise SourceError(item, "no such file, and not a YouTube URL or video id")
    fetched = (youtube or YouTubeFetcher()).fetch(video_id)
    fields: dict[str, Any] = {
        "id": video_id,
        "youtube_id": video_id,
        "source": f"https://www.youtube.com/watch?v={video_id}",
        "language": fetched.language_code,
        "captions_auto": fetched.is_generated,
    }
    if fetched.translated_from:
        fields["extra"] = {"translated_from": fetched.translated_from}
    fields.update({key: value for key, value in (overrides or {}).items() if value not in (None, "", [])})
    where = f"youtube:{video_id}"
    return transcript_from_segments(build_talk(fields, where), fetched.segments, where)
