"""Fetch a talk's captions and the video's own metadata from YouTube with `youtube-transcript-api`.

`parse_video_id` recognises a YouTube URL or a bare video id, `parse_playlist_id` a playlist URL;
`YouTubeFetcher.fetch` picks the best caption track for the wanted languages, reads the video's title, channel,
upload date, length and description chapters from the pages the library requests anyway, retries what retrying can
fix, caches what it fetched, and turns every failure into a one-line `SourceError`. `YouTubeFetcher.playlist` lists
a playlist's videos.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import re
import socket
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import requests
import urllib3.exceptions
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential, wait_random
from youtube_transcript_api import YouTubeTranscriptApi
from youtube_transcript_api._errors import (
    AgeRestricted,
    CouldNotRetrieveTranscript,
    FailedToCreateConsentCookie,
    InvalidVideoId,
    IpBlocked,
    NoTranscriptFound,
    NotTranslatable,
    PoTokenRequired,
    RequestBlocked,
    TranscriptsDisabled,
    TranslationLanguageNotAvailable,
    VideoUnavailable,
    VideoUnplayable,
    YouTubeDataUnparsable,
    YouTubeRequestFailed,
)
from youtube_transcript_api._transcripts import Transcript, TranscriptList
from youtube_transcript_api.proxies import GenericProxyConfig

from pipeline.chapters import description_chapters
from pipeline.models import Chapter
from pipeline.sources.base import RawSegment, SourceError
from pipeline.sources.captions import drop_repeated_words
from pipeline.workspace import atomic_write, inside, shown

logger = logging.getLogger(__name__)

VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
PLAYLIST_ID = re.compile(r"[A-Za-z0-9_-]{10,64}")
PLAYLIST_URL = "https://www.youtube.com/playlist?list={playlist_id}"
BROWSE_URL = "https://www.youtube.com/youtubei/v1/browse?key={api_key}"
MAX_PLAYLIST_VIDEOS = 5000
MAX_PLAYLIST_PAGES = 100
_YOUTUBE_DOMAINS = ("youtube.com", "youtube-nocookie.com")  # and every subdomain: www., m., music., ...
_SHORT_DOMAINS = ("youtu.be", "www.youtu.be")
_ID_PATH_PREFIXES = ("live", "shorts", "embed", "v", "e")
CACHE_FORMAT = 2  # 2: with the video's metadata
_T = TypeVar("_T")
DEFAULT_TIMEOUT = 30.0

# What a broken or unexpected reply raises inside the library (bad XML, bad JSON, a missing key in the player JSON).
_UNPARSABLE = (SyntaxError, ValueError, KeyError, IndexError, TypeError)


def parse_video_id(text: str) -> str | None:
    """The 11-character video id in a YouTube URL or a bare id, or None when `text` is not YouTube.

    Accepts `youtube.com/watch?v=ID` (any extra query parameters, any subdomain such as `www.`, `m.` or `music.`),
    `youtube.com/{live,shorts,embed,v,e}/ID`, `youtube-nocookie.com/embed/ID`, `youtu.be/ID`, with or without a
    scheme, and a bare id. A bare id is any 11 characters from `[A-Za-z0-9_-]`, so a local file can look like one:
    the caller must check for an existing path first and only then ask this function.
    """
    text = text.strip()
    if VIDEO_ID.fullmatch(text):
        return text
    parts = _youtube_url(text)
    if parts is None:
        return None
    short, segments, query = parts
    candidate: str | None = None
    if short:
        candidate = segments[0] if segments else None
    elif segments[:1] == ["watch"]:
        candidate = (query.get("v") or [None])[0]
    elif len(segments) >= 2 and segments[0] in _ID_PATH_PREFIXES:
        candidate = segments[1]
    return candidate if candidate and VIDEO_ID.fullmatch(candidate) else None


def watch_url(video_id: str) -> str:
    return f"https://www.youtube.com/watch?v={video_id}"


def parse_playlist_id(text: str) -> str | None:
    """The playlist id of a YouTube playlist URL, or None.

    A playlist URL is `youtube.com/playlist?list=ID`, or any YouTube URL with `list=ID` that names no video (such
    as `youtube.com/watch?list=ID`). A video URL that also carries `list=` (what the address bar shows while a
    playlist plays) stays that one video: use the `playlist?list=` URL to take the whole playlist."""
    parts = _youtube_url(text.strip())
    if parts is None or parse_video_id(text) is not None:
        return None
    candidate = (parts[2].get("list") or [None])[0]
    return candidate if candidate and PLAYLIST_ID.fullmatch(candidate) else None


def _youtube_url(text: str) -> tuple[bool, list[str], dict[str, list[str]]] | None:
    """(is it youtu.be, path segments, query) of a YouTube URL (with or without a scheme), or None."""
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:  # e.g. a malformed port or IPv6 literal
        return None
    if parts.scheme.lower() not in ("http", "https"):
        return None
    segments = [segment for segment in parts.path.split("/") if segment]
    if host in _SHORT_DOMAINS:
        return True, segments, parse_qs(parts.query)
    if any(host == domain or host.endswith("." + domain) for domain in _YOUTUBE_DOMAINS):
        return False, segments, parse_qs(parts.query)
    return None


@dataclass(frozen=True)
class VideoDetails:
    """What YouTube says about a video: title, channel, upload date, length (seconds), description, and the
    chapters written in the description (empty when there are none or they are unusable)."""

    title: str | None = None
    channel: str | None = None
    upload_date: date | None = None
    duration: float | None = None
    description: str = ""
    chapters: tuple[Chapter, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "channel": self.channel,
            "upload_date": self.upload_date.isoformat() if self.upload_date else None,
            "duration": self.duration,
            "description": self.description,
            "chapters": [chapter.model_dump() for chapter in self.chapters],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VideoDetails:
        upload = data.get("upload_date")
        return cls(
            title=_text(data.get("title")),
            channel=_text(data.get("channel")),
            upload_date=date.fromisoformat(upload) if upload else None,
            duration=_length(data.get("duration")),
            description=_text(data.get("description")) or "",
            chapters=tuple(Chapter.model_validate(item) for item in data.get("chapters") or []),
        )


def _text(value: Any, limit: int = 5000) -> str | None:
    """A stripped, length-limited string, or None for anything else (or blank)."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:limit]


def _length(value: Any) -> float | None:
    """Seconds from YouTube's `lengthSeconds` (a string) or the cache; None unless finite, positive and sane."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) and 0 < seconds < 7 * 24 * 3600 else None


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def video_details(responses: list[dict[str, Any]], video_id: str) -> VideoDetails:
    """The video's metadata from player responses (`videoDetails`, `microformat`), the first that has a field
    winning: the innertube reply youtube-transcript-api asked for, then the one embedded in the watch page (which
    also carries the upload date)."""

    def first(*keys: str) -> Any:
        for data in responses:
            value = _dig(data, *keys)
            if value not in (None, ""):
                return value
        return None

    micro = ("microformat", "playerMicroformatRenderer")
    title = _text(first("videoDetails", "title") or first(*micro, "title", "simpleText"), 300)
    channel = _text(first("videoDetails", "author") or first(*micro, "ownerChannelName"), 300)
    duration = _length(first("videoDetails", "lengthSeconds") or first(*micro, "lengthSeconds"))
    description = _text(first("videoDetails", "shortDescription") or first(*micro, "description", "simpleText"))
    uploaded = first(*micro, "uploadDate") or first(*micro, "publishDate")
    try:
        upload_date = date.fromisoformat(uploaded[:10]) if isinstance(uploaded, str) else None
    except ValueError:
        upload_date = None
    chapters = description_chapters(description, duration, f"youtube:{video_id}")
    return VideoDetails(title, channel, upload_date, duration, description or "", tuple(chapters))


_EMBEDDED = r"""(?:var\s+|window\[["']){name}(?:["']\])?\s*=\s*"""


def embedded_json(html: str, name: str) -> dict[str, Any] | None:
    """The JSON object a YouTube page assigns to `name` (`var ytInitialData = {...};`), or None."""
    match = re.search(_EMBEDDED.format(name=re.escape(name)), html)
    if match is None:
        return None
    try:
        value, _end = json.JSONDecoder().raw_decode(html, match.end())
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


class _PlayerRecorder:
    """A `requests` response hook keeping the player responses youtube-transcript-api fetches (the innertube
    `player` reply and the one embedded in the watch page), so the video's metadata costs no extra request. Keyed
    by video id, so fetches in several threads do not mix; only the newest `limit` videos are kept."""

    def __init__(self, limit: int = 64) -> None:
        self._seen: OrderedDict[str, dict[str, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()
        self._limit = limit

    def __call__(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        try:
            if response.status_code != 200:
                return
            url = urlsplit(response.url)
            if url.path == "/youtubei/v1/player":
                data = response.json()
                video_id = _dig(data, "videoDetails", "videoId")
                kind = "player"
            elif url.path == "/watch":
                video_id = (parse_qs(url.query).get("v") or [None])[0]
                data = embedded_json(response.text, "ytInitialPlayerResponse")
                kind = "page"
            else:
                return
        except (ValueError, RecursionError):
            return  # a broken reply: the library reports it
        if not isinstance(video_id, str) or not isinstance(data, dict):
            return
        kept = {key: data[key] for key in ("videoDetails", "microformat") if isinstance(data.get(key), dict)}
        with self._lock:
            self._seen.setdefault(video_id, {})[kind] = kept
            self._seen.move_to_end(video_id)
            while len(self._seen) > self._limit:
                self._seen.popitem(last=False)

    def forget(self, video_id: str) -> None:
        with self._lock:
            self._seen.pop(video_id, None)

    def take(self, video_id: str) -> list[dict[str, Any]]:
        """The recorded responses for a video, innertube reply first, and forget them."""
        with self._lock:
            seen = self._seen.pop(video_id, {})
        return [seen[kind] for kind in ("player", "page") if kind in seen]


@dataclass(frozen=True)
class PlaylistEntry:
    video_id: str
    title: str | None = None


@dataclass(frozen=True)
class YouTubePlaylist:
    """A playlist's videos in order. `skipped`: entries YouTube marks unplayable (private or deleted videos)."""

    playlist_id: str
    title: str | None
    videos: list[PlaylistEntry]
    skipped: int = 0


@dataclass(frozen=True)
class FetchedYouTube:
    """The captions of one video as fetched (or read back from the cache).

    `language_code`/`language` describe the text as delivered: after a translation they are the target language and
    `translated_from` holds the code of the track it was translated from. `is_generated` is YouTube's flag: True for
    auto-generated (ASR) captions and for machine translations. `raw` is the library's `[{text, start, duration}]`;
    `video` is what YouTube says about the video.
    """

    video_id: str
    language_code: str
    language: str
    is_generated: bool
    translated_from: str | None
    segments: list[RawSegment]
    raw: list[dict[str, Any]]
    video: VideoDetails = field(default_factory=lambda: VideoDetails())
    from_cache: bool = field(default=False, compare=False)


def _segments(raw: list[dict[str, Any]]) -> list[RawSegment]:
    """The fetched pieces as raw segments; one repeating the words of the piece before loses them (`.captions`)."""
    return drop_repeated_words(
        RawSegment(text=item["text"], start=float(item["start"]), end=float(item["start"]) + float(item["duration"]))
        for item in raw
    )


class _TimeoutSession(requests.Session):
    """A session with a default timeout: the library itself never passes one, so a dead connection would hang."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self._timeout)
        return super().request(method, url, *args, **kwargs)


def _redact(proxy: str) -> str:
    """A proxy URL without its credentials, for messages."""
    parts = urlsplit(proxy)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname or '?'}{port}"


def _http_status(error: YouTubeRequestFailed) -> int | None:
    match = re.match(r"(\d{3}) ", error.reason)
    return int(match.group(1)) if match else None


def _one_line(text: str) -> str:
    return " ".join(text.split())


class YouTubeFetcher:
    """Fetches captions through `youtube-transcript-api`, with language choice, retries and an optional cache.

    Language choice: for each code in `languages` (in priority order) a manually created track beats an
    auto-generated one; an exact code match beats a regional variant (`en` also takes `en-GB`), but a manual variant
    still beats an auto-generated exact match. When none of the wanted languages exist and `translate_to` is set, a
    track already in `translate_to` is used as is, else a translatable track (manual first) is machine-translated.

    Cache: with `cache_dir`, each fetch is stored as `cache_dir/<video_id>.json` together with the request that
    produced it (`languages` and `translate_to`). A later fetch of the same video with the same request is answered
    from that file without any HTTP request, unless `refresh` is set; a different request refetches and overwrites
    it (one file per video, the latest request wins). An unreadable cache file is ignored and replaced; a cache file
    that cannot be written is logged and the fetched data still returned.

    Retries: what may pass within seconds is retried up to `max_attempts` times in all, waiting
    `backoff_seconds * 2**n` plus up to `backoff_seconds` of jitter in between: a blocked request (bot check,
    recaptcha, HTTP 429), a timeout, a dropped connection, an HTTP 5xx. What retrying cannot fix fails at once: no
    network at all (the host name does not resolve, the network is unreachable, the connection is refused, also by
    a proxy) and every answer that is not an error of the moment (no captions, a private video, a 403, ...). A
    failure of the network or a block is still `retryable` in the `SourceError` (re-running later may work). Each
    retry is one line (`retry_where` names what was being fetched): passed to `on_retry` (the CLI shows it on its
    progress line) and logged at INFO; without `on_retry` nothing else shows it, so it is logged at WARNING.

    Metadata: the video's title, channel, upload date, length and description chapters (`VideoDetails`) come from
    the player responses the library fetches anyway (the innertube reply, and the one embedded in the watch page),
    recorded by a response hook on the session; they cost no request of their own.

    `languages` defaults to `["en"]`. `proxy` is an http(s) proxy URL used for both http and https. `http_client`
    replaces the default session, which gives every request `timeout` seconds (the library sets none; a session you
    pass keeps its own behaviour). The library sets an `Accept-Language` header and, with a proxy, `proxies` on the
    session it is given; this class adds its response hook to it.
    """

    def __init__(
        self,
        languages: list[str] | None = None,
        translate_to: str | None = None,
        proxy: str | None = None,
        http_client: requests.Session | None = None,
        cache_dir: Path | None = None,
        refresh: bool = False,
        max_attempts: int = 4,
        backoff_seconds: float = 2.0,
        timeout: float = DEFAULT_TIMEOUT,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        self.languages = list(languages) if languages else ["en"]
        self.on_retry = on_retry
        self.translate_to = translate_to
        self.proxy = proxy
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.refresh = refresh
        self.max_attempts = max(1, max_attempts)
        self.backoff_seconds = max(0.0, backoff_seconds)
        proxy_config = None
        if proxy is not None:
            if urlsplit(proxy).scheme.lower() not in ("http", "https") or not urlsplit(proxy).hostname:
                raise SourceError("youtube", "the proxy must be an http:// or https:// URL such as http://host:3128")
            proxy_config = GenericProxyConfig(http_url=proxy, https_url=proxy)
        session = http_client if http_client is not None else _TimeoutSession(timeout)
        self._recorder = _PlayerRecorder()
        session.hooks.setdefault("response", []).append(self._recorder)
        self._session = session
        self._api = YouTubeTranscriptApi(proxy_config=proxy_config, http_client=session)

    @property
    def request(self) -> dict[str, Any]:
        """What was asked for; a cached fetch is reused only for the same request."""
        return {"languages": self.languages, "translate_to": self.translate_to}

    def fetch(self, video_id: str) -> FetchedYouTube:
        """The captions of `video_id` in the best available language; raises `SourceError` on any failure."""
        where = f"youtube:{video_id}"
        if not VIDEO_ID.fullmatch(video_id):
            raise SourceError(where, "not a YouTube video id (expected 11 characters of A-Z, a-z, 0-9, _ or -)")
        if self.cache_dir is not None and not self.refresh:
            cached = self._read_cache(video_id)
            if cached is not None:
                return cached
        fetched = self._retried(where, self._fetch_once, video_id)
        if self.cache_dir is not None:
            self._write_cache(fetched)
        return fetched

    def _retried(
        self, where: str, once: Callable[[str], _T], item: str, failed: str = "could not fetch captions"
    ) -> _T:
        """`once(item)`, retried; what still fails is a `SourceError` whose problem opens with `failed`."""
        try:
            return self._retrying(where)(once, item)
        except SourceError:
            raise
        except (CouldNotRetrieveTranscript, requests.RequestException, *_UNPARSABLE) as error:
            problem, retryable = self._describe(error)
            problem = problem.replace("could not fetch captions", failed)
            raise SourceError(where, problem, retryable=retryable) from error

    def _retrying(self, where: str) -> Retrying:
        return Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_exponential(multiplier=self.backoff_seconds, max=300) + wait_random(0, self.backoff_seconds),
            retry=retry_if_exception(self._should_retry),
            before_sleep=self._log_retry(where),
            reraise=True,
        )

    def _fetch_once(self, video_id: str) -> FetchedYouTube:
        self._recorder.forget(video_id)
        try:
            transcripts = self._api.list(video_id)
            transcript, translated_from = self._choose(transcripts, video_id)
            fetched = transcript.fetch()
        finally:
            recorded = self._recorder.take(video_id)
        raw = fetched.to_raw_data()
        return FetchedYouTube(
            video_id=video_id,
            language_code=fetched.language_code,
            language=fetched.language,
            is_generated=fetched.is_generated,
            translated_from=translated_from,
            segments=_segments(raw),
            raw=raw,
            video=video_details(recorded, video_id),
        )

    # -- playlists ------------------------------------------------------------------------------------------------

    def playlist(self, playlist_id: str) -> YouTubePlaylist:
        """The videos of a playlist, in its order (at most `MAX_PLAYLIST_VIDEOS`); raises `SourceError`.

        Reads the playlist page's `ytInitialData` and follows its continuations through the innertube `browse`
        endpoint, as the YouTube web client does: youtube-transcript-api has no playlists, and yt-dlp, which has,
        cannot be pointed at a local server for offline tests without re-creating its whole extractor."""
        where = f"youtube:playlist:{playlist_id}"
        if not PLAYLIST_ID.fullmatch(playlist_id):
            raise SourceError(where, "not a YouTube playlist id")
        if playlist_id.startswith("RD"):
            raise SourceError(where, "a YouTube mix is made up for each viewer, not a fixed playlist: pass its videos")
        result = self._retried(where, self._playlist_once, playlist_id, "could not read the playlist")
        if not result.videos:
            raise SourceError(where, "the playlist has no playable videos")
        return result

    def _playlist_once(self, playlist_id: str) -> YouTubePlaylist:
        where = f"youtube:playlist:{playlist_id}"
        html = self._get(PLAYLIST_URL.format(playlist_id=playlist_id), playlist_id).text
        data = embedded_json(html, "ytInitialData")
        if data is None:
            if 'class="g-recaptcha"' in html:
                raise IpBlocked(playlist_id)
            raise YouTubeDataUnparsable(playlist_id)
        alert = _playlist_alert(data)
        if alert is not None:
            raise SourceError(where, f"the playlist is unavailable: {alert}")
        title = _text(_dig(data, "metadata", "playlistMetadataRenderer", "title"), 300)
        key = re.search(r'"INNERTUBE_API_KEY":\s*"([A-Za-z0-9_-]+)"', html)
        version = re.search(r'"INNERTUBE_CONTEXT_CLIENT_VERSION":\s*"([0-9.]+)"', html)
        videos: dict[str, PlaylistEntry] = {}
        skipped = 0
        pages = 0
        while True:
            token = None
            for kind, value in _playlist_items(data):
                if kind == "continuation":
                    token = value
                elif kind == "skipped":
                    skipped += 1
                elif value.video_id not in videos:
                    videos[value.video_id] = value
            pages += 1
            if token is None or key is None or len(videos) >= MAX_PLAYLIST_VIDEOS or pages >= MAX_PLAYLIST_PAGES:
                break
            client = {"clientName": "WEB", "clientVersion": version.group(1) if version else "2.20250101.00.00"}
            response = self._post(
                BROWSE_URL.format(api_key=key.group(1)),
                {"context": {"client": client}, "continuation": token},
                playlist_id,
            )
            data = response.json()
        if token is not None and (len(videos) >= MAX_PLAYLIST_VIDEOS or pages >= MAX_PLAYLIST_PAGES):
            logger.warning("%s: only the first %d videos are taken", where, min(len(videos), MAX_PLAYLIST_VIDEOS))
        if skipped:
            logger.warning("%s: %d private or deleted videos skipped", where, skipped)
        return YouTubePlaylist(playlist_id, title, list(videos.values())[:MAX_PLAYLIST_VIDEOS], skipped)

    def _get(self, url: str, name: str) -> requests.Response:
        return _checked(self._session.get(url), name)

    def _post(self, url: str, body: dict[str, Any], name: str) -> requests.Response:
        return _checked(self._session.post(url, json=body), name)

    def _choose(self, transcripts: TranscriptList, video_id: str) -> tuple[Transcript, str | None]:
        """The track to fetch and, when it is a translation, the code it is translated from."""
        tracks = list(transcripts)
        wanted = list(self.languages)
        if self.translate_to and self.translate_to not in wanted:
            wanted.append(self.translate_to)  # text already in the target language beats a machine translation
        for code in wanted:
            for generated in (False, True):
                group = [track for track in tracks if track.is_generated is generated]
                exact = [track for track in group if track.language_code.lower() == code.lower()]
                variant = [track for track in group if track.language_code.lower().startswith(code.lower() + "-")]
                if exact or variant:
                    return (exact or variant)[0], None
        available = ", ".join(
            f"{track.language_code} ({'auto' if track.is_generated else 'manual'})" for track in tracks
        )
        asked = ", ".join(self.languages)
        if self.translate_to:
            for track in sorted(tracks, key=lambda track: track.is_generated):
                if self.translate_to in {language.language_code for language in track.translation_languages}:
                    return track.translate(self.translate_to), track.language_code
            raise SourceError(
                f"youtube:{video_id}",
                f"no transcript in {asked} and none can be translated to {self.translate_to}; "
                f"available: {available or 'none'}",
            )
        raise SourceError(f"youtube:{video_id}", f"no transcript in {asked}; available: {available or 'none'}")

    @staticmethod
    def _should_retry(error: BaseException) -> bool:
        """Whether trying again in a few seconds may work: see the class docstring."""
        if isinstance(error, requests.ConnectionError) and no_network(error) is not None:
            return False
        if isinstance(error, (RequestBlocked, requests.ConnectionError, requests.Timeout)):
            return True
        return isinstance(error, YouTubeRequestFailed) and (_http_status(error) or 0) >= 500

    def retry_where(self, where: str) -> str:
        """What a retry line names (`youtube:<video id>`); a batch adds the talk."""
        return where

    def _log_retry(self, where: str) -> Callable[[RetryCallState], None]:
        def log(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            line = (
                f"{self.retry_where(where)}: attempt {state.attempt_number} of {self.max_attempts} failed "
                f"({type(error).__name__}); retrying in {wait:.1f}s"
            )
            logger.log(logging.INFO if self.on_retry is not None else logging.WARNING, "%s", line)
            if self.on_retry is not None:
                self.on_retry(line)

        return log

    def _describe(self, error: BaseException) -> tuple[str, bool]:
        """A one-line problem for a failure, and whether re-running later may help."""
        tries = f"{self.max_attempts} attempt{'s' if self.max_attempts != 1 else ''}"
        if isinstance(error, RequestBlocked):  # also IpBlocked: recaptcha page or HTTP 429
            if self.proxy:
                advice = f"the proxy {_redact(self.proxy)} is blocked too; try another --proxy or re-run later"
            else:
                advice = "use --proxy URL or re-run later to resume"
            return f"YouTube is blocking requests from this IP (bot check or rate limit; {tries}); {advice}", True
        unreachable = no_network(error) if isinstance(error, requests.ConnectionError) else None
        if isinstance(error, requests.exceptions.ProxyError):
            if unreachable is not None:
                return f"cannot reach the proxy {_redact(self.proxy or '')}: {unreachable}; check --proxy", True
            return f"cannot reach the proxy {_redact(self.proxy or '')} ({tries}); check --proxy", True
        if unreachable is not None:
            return f"cannot reach YouTube (no network?): {unreachable}; re-run later to resume", True
        if isinstance(error, requests.Timeout):
            return f"cannot reach YouTube (no network?): the request timed out ({tries}); re-run later to resume", True
        if isinstance(error, requests.ConnectionError):
            return f"cannot reach YouTube (no network?): connection failed ({tries}); re-run later to resume", True
        if isinstance(error, TranscriptsDisabled):
            return "captions are disabled for this video", False
        if isinstance(error, InvalidVideoId):
            return "invalid video id (pass the 11-character id, not a URL)", False
        if isinstance(error, VideoUnavailable):
            return "the video is unavailable (removed, private or a wrong id)", False
        if isinstance(error, AgeRestricted):
            return "the video is age-restricted; its captions need a signed-in session, which is not supported", False
        if isinstance(error, VideoUnplayable):
            reasons = [error.reason or "no reason given", *error.sub_reasons]
            return _one_line("the video is unplayable: " + "; ".join(reason for reason in reasons if reason)), False
        if isinstance(error, YouTubeRequestFailed):
            status = _http_status(error)
            reason = _one_line(error.reason.split(" for url:")[0])
            if status is not None and status >= 500:
                return f"YouTube answered with a server error ({reason}; {tries}); re-run later to resume", True
            return f"request to YouTube failed: {reason}", False
        if isinstance(error, PoTokenRequired):
            return "YouTube requires a PO token for this video's captions, which is not supported", False
        if isinstance(error, FailedToCreateConsentCookie):
            return "could not get past YouTube's cookie-consent page", False
        if isinstance(error, (NotTranslatable, TranslationLanguageNotAvailable)):
            return f"the captions cannot be translated to {self.translate_to}", False
        if isinstance(error, NoTranscriptFound):
            return f"no transcript in {', '.join(self.languages)}", False
        if isinstance(error, (YouTubeDataUnparsable, *_UNPARSABLE)):
            return "could not understand YouTube's reply (maybe changed; upgrade youtube-transcript-api)", False
        if isinstance(error, requests.RequestException):
            return f"request to YouTube failed ({type(error).__name__})", True
        return f"could not fetch captions ({type(error).__name__})", False

    def _cache_path(self, video_id: str) -> Path:
        assert self.cache_dir is not None
        if not VIDEO_ID.fullmatch(video_id):  # the cache key names a file: never let it be a path
            raise SourceError(f"youtube:{shown(video_id)}", "not a YouTube video id")
        return inside(self.cache_dir, self.cache_dir / f"{video_id}.json")

    def _read_cache(self, video_id: str) -> FetchedYouTube | None:
        """The cached fetch for this video and request, or None when there is none (or it is unreadable)."""
        path = self._cache_path(video_id)
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != CACHE_FORMAT or data.get("video_id") != video_id:
                return None
            if data.get("request") != self.request:
                logger.info("youtube:%s: cached for another language request; refetching", video_id)
                return None
            raw = [
                {"text": str(item["text"]), "start": float(item["start"]), "duration": float(item["duration"])}
                for item in data["raw"]
            ]
            return FetchedYouTube(
                video_id=video_id,
                language_code=str(data["language_code"]),
                language=str(data["language"]),
                is_generated=bool(data["is_generated"]),
                translated_from=data.get("translated_from"),
                segments=_segments(raw),
                raw=raw,
                video=VideoDetails.from_json(data["video"]),
                from_cache=True,
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            logger.warning("youtube:%s: ignoring unreadable cache file %s (%s)", video_id, path, type(error).__name__)
            return None

    def _write_cache(self, fetched: FetchedYouTube) -> None:
        """Store a fetch atomically: a temporary file in the cache directory, then `os.replace`."""
        path = self._cache_path(fetched.video_id)
        data = {
            "format": CACHE_FORMAT,
            "video_id": fetched.video_id,
            "request": self.request,
            "language_code": fetched.language_code,
            "language": fetched.language,
            "is_generated": fetched.is_generated,
            "translated_from": fetched.translated_from,
            "raw": fetched.raw,
            "video": fetched.video.to_json(),
        }
        try:
            atomic_write(path, json.dumps(data, ensure_ascii=False, indent=1).encode())
        except OSError as error:
            logger.warning("youtube:%s: could not write cache file %s: %s", fetched.video_id, path, error)


def no_network(error: requests.ConnectionError) -> str | None:
    """Why a connection failed when it is no use retrying now (no network at all), or None.

    A host name that does not resolve, an unreachable network or host, and a refused connection (nothing listens:
    a firewall, or a wrong proxy port) do not go away in seconds; a reset or a timeout may."""
    if isinstance(error, requests.Timeout):
        return None
    for cause in _causes(error):
        if isinstance(cause, (urllib3.exceptions.NameResolutionError, socket.gaierror)):
            return "the host name does not resolve"
        code = cause.errno if isinstance(cause, OSError) else None
        if code == errno.ECONNREFUSED:
            return "the connection was refused"
        if code in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return "the network is unreachable"
    return None


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error, what it wraps (`args`, urllib3's `reason`) and what caused it, each once."""
    pending, seen = [error], set()
    while pending and len(seen) < 20:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        pending += [item for item in linked if isinstance(item, BaseException)]


def _checked(response: requests.Response, name: str) -> requests.Response:
    """The response, or the library's error for it (429: blocked; another 4xx/5xx: request failed)."""
    if response.status_code == 429:
        raise IpBlocked(name)
    try:
        response.raise_for_status()
    except requests.HTTPError as error:
        raise YouTubeRequestFailed(name, error) from None
    return response


def _walk(data: Any) -> Iterator[dict[str, Any]]:
    """Every mapping in a JSON tree, in document order (iteratively: YouTube's trees are deep)."""
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))


def _runs_text(value: Any) -> str | None:
    if isinstance(value, dict):
        if isinstance(value.get("simpleText"), str):
            return value["simpleText"]
        if isinstance(value.get("content"), str):
            return value["content"]
        runs = value.get("runs")
        if isinstance(runs, list):
            return "".join(run.get("text", "") for run in runs if isinstance(run, dict)) or None
    return None


def _playlist_items(data: Any) -> Iterator[tuple[str, Any]]:
    """("video", PlaylistEntry), ("skipped", None) and ("continuation", token) in page order: the classic
    `playlistVideoRenderer` and the newer `lockupViewModel` entries."""
    for node in _walk(data):
        video = node.get("playlistVideoRenderer")
        if isinstance(video, dict) and isinstance(video.get("videoId"), str):
            if not VIDEO_ID.fullmatch(video["videoId"]):
                continue
            if video.get("isPlayable") is False:
                yield "skipped", None
            else:
                yield "video", PlaylistEntry(video["videoId"], _text(_runs_text(video.get("title")), 300))
        lockup = node.get("lockupViewModel")
        if isinstance(lockup, dict) and lockup.get("contentType") == "LOCKUP_CONTENT_TYPE_VIDEO":
            content_id = lockup.get("contentId")
            if isinstance(content_id, str) and VIDEO_ID.fullmatch(content_id):
                title = _runs_text(_dig(lockup, "metadata", "lockupMetadataViewModel", "title"))
                yield "video", PlaylistEntry(content_id, _text(title, 300))
        token = _dig(node, "continuationItemRenderer", "continuationEndpoint", "continuationCommand", "token")
        if isinstance(token, str):
            yield "continuation", token


def _playlist_alert(data: dict[str, Any]) -> str | None:
    """The error YouTube shows instead of a playlist ("The playlist does not exist."), or None."""
    for alert in data.get("alerts") or []:
        for renderer in (alert or {}).values() if isinstance(alert, dict) else []:
            if isinstance(renderer, dict) and renderer.get("type") == "ERROR":
                return _one_line(_runs_text(renderer.get("text")) or "unknown reason")
    return None
