"""YouTube playlists in a manifest: a playlist row becomes one row per video before the run plans its work."""

from __future__ import annotations

from dataclasses import replace

from pipeline.batch.manifest import Manifest, ManifestProblem, ManifestRow
from pipeline.sources.base import SourceError
from pipeline.sources.files import talk_id_from
from pipeline.sources.youtube import YouTubeFetcher, watch_url


def expand_playlists(manifest: Manifest, fetcher: YouTubeFetcher) -> Manifest:
    """The manifest with each playlist row replaced by one row per video, in playlist order.

    Every video's row keeps the playlist row's line and metadata (event, speakers, date, language, extra columns)
    and records the playlist in its `playlist` metadata; its id is the video id. A video that has a row of its own,
    or came in an earlier playlist, is taken once (its own row wins). A playlist that cannot be read becomes a
    problem on its line; the other rows still run.

        manifest = expand_playlists(read_manifest(path), YouTubeFetcher())
    """
    if not any(row.playlist_id for row in manifest.rows):
        return manifest
    taken = {row.talk_id for row in manifest.rows if not row.playlist_id}
    rows: list[ManifestRow] = []
    problems = list(manifest.problems)
    for row in manifest.rows:
        if not row.playlist_id:
            rows.append(row)
            continue
        try:
            playlist = fetcher.playlist(row.playlist_id)
        except SourceError as error:
            problems.append(ManifestProblem(row.line, str(error)))
            continue
        for entry in playlist.videos:
            talk_id = talk_id_from(entry.video_id)
            if talk_id in taken:
                continue
            taken.add(talk_id)
            url = watch_url(entry.video_id)
            metadata = {**row.metadata, "id": talk_id, "playlist": row.playlist_id}
            rows.append(
                replace(
                    row,
                    talk_id=talk_id,
                    source=url,
                    location=url,
                    video_id=entry.video_id,
                    metadata=metadata,
                    playlist_id=None,
                )
            )
    return Manifest(manifest.path, rows, sorted(problems, key=lambda problem: problem.line))
