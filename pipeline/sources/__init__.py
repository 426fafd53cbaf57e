"""Sources → `Transcript`: local caption and transcript files, and YouTube videos."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.models import Transcript
from pipeline.sources.base import SourceError
from pipeline.sources.files import build_talk, discover, load_file, transcript_from_segments
from pipeline.sources.speakers import channel_speaker
from pipeline.sources.youtube import YouTubeFetcher, parse_playlist_id, parse_video_id, watch_url

__all__ = ["SourceError", "expand_sources", "load_source"]


def expand_sources(
    items: list[str], youtube: YouTubeFetcher | None = None, problems: list[SourceError] | None = None
) -> list[str]:
    """Directories become the transcript files inside them, YouTube playlist URLs the watch URLs of their videos,
    video URLs and ids a watch URL; each source comes once. A playlist that cannot be read is added to `problems`
    (raised when `problems` is None)."""
    expanded: list[str] = []
    for item in items:
        path = Path(item).expanduser()
        playlist_id = None if path.exists() else parse_playlist_id(item)
        if path.is_dir():
            found = discover([path])
            expanded.extend(str(file) for file in found) if found else expanded.append(item)
        elif playlist_id is not None:
            try:
                playlist = (youtube or YouTubeFetcher()).playlist(playlist_id)
            except SourceError as error:
                if problems is None:
                    raise
                problems.append(error)
                continue
            expanded.extend(watch_url(entry.video_id) for entry in playlist.videos)
        else:
            video_id = None if path.exists() else parse_video_id(item)
            expanded.append(watch_url(video_id) if video_id else item)  # one form per video, so each comes once
    return list(dict.fromkeys(expanded))


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
    video = fetched.video
    fields: dict[str, Any] = {
        "id": video_id,
        "youtube_id": video_id,
        "source": watch_url(video_id),
        "language": fetched.language_code,
        "captions_auto": fetched.is_generated,
        "title": video.title,
        "speakers": [speaker] if (speaker := channel_speaker(video.channel)) else [],  # a person's channel only
        "date": video.upload_date,
        "duration": video.duration,
        "chapters": list(video.chapters),
        "translated_from": fetched.translated_from,  # not `Talk` fields: kept in `extra`
        "channel": video.channel,
    }
    fields.update({key: value for key, value in (overrides or {}).items() if value not in (None, "", [])})
    where = f"youtube:{video_id}"
    return transcript_from_segments(build_talk(fields, where), fetched.segments, where)
