"""Fetch a talk's captions from YouTube with `youtube-transcript-api`.

`parse_video_id` recognises a YouTube URL or a bare video id; `YouTubeFetcher.fetch` picks the best caption track
for the wanted languages, retries when YouTube blocks or the network fails, caches what it fetched, and turns every
failure into a one-line `SourceError`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential, wait_random
from youtube_transcript_api import YouTubeTranscriptApi
from youtube_transcript_api._errors import (
    AgeRestricted,
    CouldNotRetrieveTranscript,
    FailedToCreateConsentCookie,
    InvalidVideoId,
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

from pipeline.sources.base import RawSegment, SourceError
from pipeline.workspace import atomic_write

logger = logging.getLogger(__name__)

VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_YOUTUBE_DOMAINS = ("youtube.com", "youtube-nocookie.com")  # and every subdomain: www., m., music., ...
_SHORT_DOMAINS = ("youtu.be", "www.youtu.be")
_ID_PATH_PREFIXES = ("live", "shorts", "embed", "v", "e")
CACHE_FORMAT = 1
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
    candidate: str | None = None
    if host in _SHORT_DOMAINS:
        candidate = segments[0] if segments else None
    elif any(host == domain or host.endswith("." + domain) for domain in _YOUTUBE_DOMAINS):
        if segments[:1] == ["watch"]:
            candidate = (parse_qs(parts.query).get("v") or [None])[0]
        elif len(segments) >= 2 and segments[0] in _ID_PATH_PREFIXES:
            candidate = segments[1]
    return candidate if candidate and VIDEO_ID.fullmatch(candidate) else None


@dataclass(frozen=True)
class FetchedYouTube:
    """The captions of one video as fetched (or read back from the cache).

    `language_code`/`language` describe the text as delivered: after a translation they are the target language and
    `translated_from` holds the code of the track it was translated from. `is_generated` is YouTube's flag: True for
    auto-generated (ASR) captions and for machine translations. `raw` is the library's `[{text, start, duration}]`.
    """

    video_id: str
    language_code: str
    language: str
    is_generated: bool
    translated_from: str | None
    segments: list[RawSegment]
    raw: list[dict[str, Any]]
    from_cache: bool = field(default=False, compare=False)


def _segments(raw: list[dict[str, Any]]) -> list[RawSegment]:
    return [
        RawSegment(text=item["text"], start=float(item["start"]), end=float(item["start"]) + float(item["duration"]))
        for item in raw
    ]


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

    Retries: a blocked request (bot check, recaptcha, HTTP 429), a network failure or an HTTP 5xx is retried up to
    `max_attempts` times in all, waiting `backoff_seconds * 2**n` plus up to `backoff_seconds` of jitter in between.

    `languages` defaults to `["en"]`. `proxy` is an http(s) proxy URL used for both http and https. `http_client`
    replaces the default session, which gives every request `timeout` seconds (the library sets none; a session you
    pass keeps its own behaviour). The library sets an `Accept-Language` header and, with a proxy, `proxies` on the
    session it is given.
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
    ) -> None:
        self.languages = list(languages) if languages else ["en"]
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
        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_exponential(multiplier=self.backoff_seconds, max=300) + wait_random(0, self.backoff_seconds),
            retry=retry_if_exception(self._should_retry),
            before_sleep=self._log_retry(video_id),
            reraise=True,
        )
        try:
            fetched = retrying(self._fetch_once, video_id)
        except SourceError:
            raise
        except (CouldNotRetrieveTranscript, requests.RequestException, *_UNPARSABLE) as error:
            problem, retryable = self._describe(error)
            raise SourceError(where, problem, retryable=retryable) from error
        if self.cache_dir is not None:
            self._write_cache(fetched)
        return fetched

    def _fetch_once(self, video_id: str) -> FetchedYouTube:
        transcripts = self._api.list(video_id)
        transcript, translated_from = self._choose(transcripts, video_id)
        fetched = transcript.fetch()
        raw = fetched.to_raw_data()
        return FetchedYouTube(
            video_id=video_id,
            language_code=fetched.language_code,
            language=fetched.language,
            is_generated=fetched.is_generated,
            translated_from=translated_from,
            segments=_segments(raw),
            raw=raw,
        )

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
        if isinstance(error, (RequestBlocked, requests.ConnectionError, requests.Timeout)):
            return True
        return isinstance(error, YouTubeRequestFailed) and (_http_status(error) or 0) >= 500

    def _log_retry(self, video_id: str) -> Callable[[RetryCallState], None]:
        def log(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            name = type(error).__name__
            logger.warning(
                "youtube:%s: attempt %d of %d failed (%s); retrying in %.1fs",
                video_id,
                state.attempt_number,
                self.max_attempts,
                name,
                wait,
            )

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
        if isinstance(error, requests.exceptions.ProxyError):
            return f"cannot reach the proxy {_redact(self.proxy or '')} ({tries}); check --proxy", True
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
        return self.cache_dir / f"{video_id}.json"

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
        }
        try:
            atomic_write(path, json.dumps(data, ensure_ascii=False, indent=1).encode())
        except OSError as error:
            logger.warning("youtube:%s: could not write cache file %s: %s", fetched.video_id, path, error)
