"""A local stand-in for YouTube, so tests drive the real `youtube-transcript-api` code path without the internet.

`FakeYouTube` is a `ThreadingHTTPServer` on 127.0.0.1 (port 0) serving the three things the library asks for:

1. `GET  /watch?v=ID`                      the watch page; the library only needs `"INNERTUBE_API_KEY":"..."` in it
                                           (a page with `class="g-recaptcha"` instead means IpBlocked; one with
                                           `action="https://consent.youtube.com/s"` is the cookie-consent wall).
                                           Like YouTube's, it embeds `var ytInitialPlayerResponse = {...};` with
                                           `videoDetails` and `microformat.playerMicroformatRenderer` (upload date)
2. `POST /youtubei/v1/player?key=KEY`      JSON body `{"context": {"client": {"clientName": "ANDROID", ...}},
                                           "videoId": ID}`; answers `playabilityStatus`, `videoDetails` (title,
                                           author, lengthSeconds, shortDescription) and
                                           `captions.playerCaptionsTracklistRenderer.{captionTracks,translationLanguages}`
3. `GET  /api/timedtext?v=ID&...&lang=xx`  the track's `baseUrl` (the library strips `&fmt=srv3`, adds `&tlang=yy`
                                           to translate) answering `<transcript><text start= dur=>...</text>`

and, for playlists (`fake.add_playlist(ID, FakePlaylist(...))`), what the YouTube web client reads:

4. `GET  /playlist?list=ID`                the page, with `ytcfg` and `var ytInitialData = {...};` holding the first
                                           `page_size` entries as `playlistVideoRenderer`s (or `lockupViewModel`s)
                                           and a `continuationItemRenderer` token when there are more
5. `POST /youtubei/v1/browse?key=KEY`      body `{"context": ..., "continuation": TOKEN}`: the next entries in
                                           `onResponseReceivedActions[0].appendContinuationItemsAction`

`FakeYouTubeSession` is a `requests.Session` whose adapter rewrites `https://www.youtube.com/...` to the server, so
`YouTubeTranscriptApi(http_client=session)` talks to it. Every request is recorded in `FakeYouTube.hits`. The server
also acts as a plain forward proxy: a request line with an absolute URL is served the same and marked `proxied`.

Use the `fake_youtube` fixture (import it into a test module) and `fake_youtube.add(video_id, FakeVideo(...))`.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from requests.adapters import HTTPAdapter

YOUTUBE = "https://www.youtube.com"
API_KEY = "AIzaSyFAKE_innertube-key_0123456789ab"
BOT_CHECK_REASON = "Sign in to confirm you\u2019re not a bot"  # with a typographic apostrophe, as YouTube sends it
AGE_REASON = "This video may be inappropriate for some users."
UNAVAILABLE_REASON = "This video is unavailable"
KINDS = {
    "/watch": "watch",
    "/youtubei/v1/player": "player",
    "/api/timedtext": "timedtext",
    "/playlist": "playlist",
    "/youtubei/v1/browse": "browse",
}
TRANSLATION_LANGUAGES = [("en", "English"), ("de", "German"), ("fr", "French"), ("es", "Spanish")]

WATCH_PAGE = """<!DOCTYPE html><html lang="en"><head><title>{title} - YouTube</title>
<script>ytcfg.set({{"CLIENT_CANARY_STATE":"none","INNERTUBE_API_KEY":"{key}","INNERTUBE_API_VERSION":"v1",
"INNERTUBE_CLIENT_NAME":"WEB","INNERTUBE_CONTEXT_CLIENT_VERSION":"2.20250101.00.00"}});</script></head>
<body><div id="player"></div><script nonce="abc">var ytInitialPlayerResponse = {player};var meta = 1;</script>
</body></html>"""
PLAYLIST_PAGE = """<!DOCTYPE html><html lang="en"><head><title>{title} - YouTube</title>
<script>ytcfg.set({{"INNERTUBE_API_KEY":"{key}","INNERTUBE_CONTEXT_CLIENT_VERSION":"2.20250101.00.00"}});</script>
</head><body><script nonce="abc">var ytInitialData = {data};</script></body></html>"""
PLAYLIST_MISSING = "The playlist does not exist."
RECAPTCHA_PAGE = """<!DOCTYPE html><html><head><title>https://www.youtube.com/watch?v={video_id}</title></head>
<body><form id="captcha-form" action="index" method="post"><div class="g-recaptcha" data-sitekey="6Lc-fake"></div>
</form><div>Our systems have detected unusual traffic from your computer network.</div></body></html>"""
CONSENT_PAGE = """<!DOCTYPE html><html><body><form action="https://consent.youtube.com/s" method="POST">
<input type="hidden" name="gl" value="DE"><input type="hidden" name="v" value="cb.20210328-17-p0.de+FX+119">
<button>Accept all</button></form></body></html>"""


@dataclass
class FakeTrack:
    """One caption track. `auto` makes it an ASR track (`"kind": "asr"`); cues are (start, duration, text)."""

    language_code: str
    name: str
    auto: bool = False
    translatable: bool = False
    cues: list[tuple[float, float, str]] = field(default_factory=list)
    po_token: bool = False  # the baseUrl carries `&exp=xpe`: the library refuses it without any request


@dataclass
class FakeVideo:
    """How the fake answers for one video id. The defaults are a playable video with captions."""

    tracks: list[FakeTrack] = field(default_factory=list)
    title: str = "A talk"
    captions: bool = True  # False: the player JSON has no `captions` key, i.e. captions are disabled
    playability: dict[str, Any] = field(default_factory=lambda: {"status": "OK", "playableInEmbed": True})
    watch_status: int = 200
    watch_page: str | None = None  # replaces the normal watch page (e.g. RECAPTCHA_PAGE)
    consent_wall: bool = False  # serve CONSENT_PAGE until the request carries a CONSENT cookie
    player_status: int = 200
    player_body: str | None = None  # replaces the player JSON (e.g. an HTML error page)
    timedtext_status: int = 200
    timedtext_body: str | None = None  # replaces the XML (e.g. an empty body)
    delay: float = 0.0  # seconds to wait before answering the watch page
    bot_checks: int = 0  # answer the first n player requests with the "not a bot" check, then normally
    channel: str = "Some Conference"  # videoDetails.author
    description: str = ""  # videoDetails.shortDescription, where uploaders write chapters
    length_seconds: str = "1800"
    upload_date: str | None = "2026-05-14T06:00:00-07:00"  # only in the watch page's microformat, as on YouTube


@dataclass
class FakePlaylist:
    """A playlist: its videos (ids) and how many the page and each continuation hold. `private` ids are listed as
    unplayable entries; `lockups` serves the newer `lockupViewModel` entries instead of `playlistVideoRenderer`;
    `missing` answers with YouTube's "does not exist" alert."""

    video_ids: list[str] = field(default_factory=list)
    title: str = "Some Conference 2026"
    page_size: int = 100
    private: list[str] = field(default_factory=list)
    lockups: bool = False
    missing: bool = False


@dataclass(frozen=True)
class Hit:
    """One request the server saw. `kind` is watch, player, timedtext or other."""

    method: str
    kind: str
    path: str
    query: dict[str, str]
    video_id: str | None
    proxied: bool
    headers: dict[str, str]


def playability_error(status: str, reason: str, *subreasons: str) -> dict[str, Any]:
    """A `playabilityStatus` block as YouTube sends it for a video that cannot be played."""
    runs = [{"text": text} for text in subreasons]
    return {
        "status": status,
        "reason": reason,
        "errorScreen": {
            "playerErrorMessageRenderer": {"reason": {"runs": [{"text": reason}]}, "subreason": {"runs": runs}}
        },
    }


def talk_cues(prefix: str = "") -> list[tuple[float, float, str]]:
    """A few cues; `&amp;#39;` is YouTube's double-escaped apostrophe, `&lt;i&gt;` an escaped formatting tag."""
    return [
        (0.0, 2.5, f"{prefix}Welcome to the talk"),
        (2.5, 3.0, f"{prefix}it&amp;#39;s about &lt;i&gt;testing&lt;/i&gt;"),
        (5.5, 0.0, ""),  # an empty cue: the library drops it
        (6.0, 4.25, f"{prefix}thank you"),
    ]


def standard_talk() -> FakeVideo:
    """Manual English, auto-generated English and manual German (translatable) tracks."""
    return FakeVideo(
        tracks=[
            FakeTrack("en", "English", cues=talk_cues("[en manual] ")),
            FakeTrack("de", "German", translatable=True, cues=talk_cues("[de manual] ")),
            FakeTrack("en", "English (auto-generated)", auto=True, cues=talk_cues("[en auto] ")),
        ]
    )


class FakeYouTube:
    """The server, its videos and the requests it saw."""

    def __init__(self) -> None:
        self.videos: dict[str, FakeVideo] = {}
        self.playlists: dict[str, FakePlaylist] = {}
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-youtube", daemon=True
        )  # a short poll interval: shutdown() waits for the next poll

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeYouTube:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def add(self, video_id: str, video: FakeVideo) -> FakeVideo:
        self.videos[video_id] = video
        return video

    def session(self, timeout: float | None = 5.0) -> FakeYouTubeSession:
        """A session whose YouTube requests land on this server."""
        return FakeYouTubeSession(self.base_url, timeout=timeout)

    def record(self, hit: Hit) -> None:
        with self._lock:
            self.hits.append(hit)

    def count(self, kind: str | None = None, video_id: str | None = None) -> int:
        """How many requests of a kind (watch, player, timedtext) and/or for a video the server saw."""
        with self._lock:
            return sum(1 for hit in self.hits if kind in (None, hit.kind) and video_id in (None, hit.video_id))

    def reset(self) -> None:
        with self._lock:
            self.hits.clear()

    def __enter__(self) -> FakeYouTube:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what the server answers -------------------------------------------------------------------------------

    def track_url(self, video_id: str, track: FakeTrack) -> str:
        query = {
            "v": video_id,
            "ei": "xp1JaMfUBcyLzPsP9ren4QQ",
            "caps": "asr",
            "opi": "112496729",
            "xoaf": "5",
            "hl": "en",
            "ip": "0.0.0.0",
            "ipbits": "0",
            "expire": "1749680182",
            "sparams": "ip,ipbits,expire,v,ei,caps,opi,xoaf",
            "signature": "1F9610ACAAC990A6B62DB23D030E97121C9E8F97.7F4A2E6D1C6E7ADFFEF8588DA0091AEFE24B64F7",
            "key": "yt8",
        }
        if track.auto:
            query["kind"] = "asr"
        query["lang"] = track.language_code
        url = f"{YOUTUBE}/api/timedtext?{urlencode(query, safe=',')}"
        if track.po_token:
            url += "&exp=xpe"
        return url + "&fmt=srv3"

    def player_json(self, video_id: str, video: FakeVideo | None) -> dict[str, Any]:
        if video is None:
            return {"playabilityStatus": playability_error("ERROR", UNAVAILABLE_REASON)}
        data: dict[str, Any] = {
            "responseContext": {"visitorData": "CgtmS09UUW54WUQ5VSjGu6bCBg%3D%3D"},
            "playabilityStatus": video.playability,
            "videoDetails": {
                "videoId": video_id,
                "title": video.title,
                "lengthSeconds": video.length_seconds,
                "author": video.channel,
                "shortDescription": video.description,
                "channelId": "UCfakeChannel0000000000",
            },
        }
        if video.captions and video.playability.get("status") == "OK":
            tracks = []
            for track in video.tracks:
                entry: dict[str, Any] = {
                    "baseUrl": self.track_url(video_id, track),
                    "name": {"runs": [{"text": track.name}]},
                    "vssId": ("a." if track.auto else ".") + track.language_code,
                    "languageCode": track.language_code,
                    "isTranslatable": track.translatable,
                    "trackName": "",
                }
                if track.auto:
                    entry["kind"] = "asr"
                tracks.append(entry)
            data["captions"] = {
                "playerCaptionsTracklistRenderer": {
                    "captionTracks": tracks,
                    "audioTracks": [{"captionTrackIndices": list(range(len(tracks)))}],
                    "translationLanguages": [
                        {"languageCode": code, "languageName": {"runs": [{"text": name}]}}
                        for code, name in TRANSLATION_LANGUAGES
                    ],
                    "defaultAudioTrackIndex": 0,
                }
            }
        return data

    def page_player_json(self, video_id: str, video: FakeVideo) -> dict[str, Any]:
        """The player response embedded in the watch page: the same `videoDetails`, plus the `microformat` the
        innertube reply lacks (the upload date)."""
        data = self.player_json(video_id, video)
        micro: dict[str, Any] = {
            "title": {"simpleText": video.title},
            "description": {"simpleText": video.description},
            "lengthSeconds": video.length_seconds,
            "ownerChannelName": video.channel,
        }
        if video.upload_date:
            micro |= {"uploadDate": video.upload_date, "publishDate": video.upload_date}
        return {**data, "microformat": {"playerMicroformatRenderer": micro}}

    def add_playlist(self, playlist_id: str, playlist: FakePlaylist) -> FakePlaylist:
        self.playlists[playlist_id] = playlist
        return playlist

    def playlist_items(self, playlist_id: str, offset: int) -> list[dict[str, Any]]:
        """Entries from `offset` (one page), then a continuation item when more follow."""
        playlist = self.playlists[playlist_id]
        listed = playlist.video_ids + playlist.private
        page = listed[offset : offset + playlist.page_size]
        items: list[dict[str, Any]] = []
        for number, video_id in enumerate(page, offset + 1):
            title = self.videos[video_id].title if video_id in self.videos else f"Video {number}"
            if playlist.lockups and video_id not in playlist.private:
                items.append(
                    {
                        "lockupViewModel": {
                            "contentId": video_id,
                            "contentType": "LOCKUP_CONTENT_TYPE_VIDEO",
                            "metadata": {"lockupMetadataViewModel": {"title": {"content": title}}},
                        }
                    }
                )
                continue
            entry: dict[str, Any] = {
                "videoId": video_id,
                "index": {"simpleText": str(number)},
                "title": {"runs": [{"text": "[Private video]" if video_id in playlist.private else title}]},
                "isPlayable": video_id not in playlist.private,
            }
            items.append({"playlistVideoRenderer": entry})
        if offset + playlist.page_size < len(listed):
            token = f"{playlist_id}:{offset + playlist.page_size}"
            command = {"continuationCommand": {"token": token, "request": "CONTINUATION_REQUEST_TYPE_BROWSE"}}
            items.append(
                {
                    "continuationItemRenderer": {
                        "trigger": "CONTINUATION_TRIGGER_ON_ITEM_SHOWN",
                        "continuationEndpoint": command,
                    }
                }
            )
        return items

    def playlist_data(self, playlist_id: str) -> dict[str, Any]:
        """`ytInitialData` of a playlist page, nested as YouTube nests it."""
        playlist = self.playlists.get(playlist_id)
        if playlist is None or playlist.missing:
            alert = {"type": "ERROR", "text": {"runs": [{"text": PLAYLIST_MISSING}]}}
            return {"responseContext": {}, "alerts": [{"alertWithButtonRenderer": alert}]}
        contents = {"playlistVideoListRenderer": {"contents": self.playlist_items(playlist_id, 0)}}
        section = {"itemSectionRenderer": {"contents": [contents]}}
        tab = {"tabRenderer": {"selected": True, "content": {"sectionListRenderer": {"contents": [section]}}}}
        return {
            "responseContext": {},
            "contents": {"twoColumnBrowseResultsRenderer": {"tabs": [tab]}},
            "metadata": {"playlistMetadataRenderer": {"title": playlist.title}},
        }

    def timedtext_xml(self, video: FakeVideo, query: dict[str, str]) -> str | None:
        auto = query.get("kind") == "asr"
        track = next(
            (t for t in video.tracks if t.language_code == query.get("lang") and t.auto == auto),
            None,
        )
        if track is None:
            return None
        target = query.get("tlang")
        cues = [(start, dur, f"[{target}] {text}" if target and text else text) for start, dur, text in track.cues]
        body = "".join(f'<text start="{start:g}" dur="{dur:g}">{text}</text>' for start, dur, text in cues)
        return f'<?xml version="1.0" encoding="utf-8" ?><transcript>{body}</transcript>'


def _handler_for(fake: FakeYouTube) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes: without this each reply waits ~40ms

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            proxied = self.path.startswith(("http://", "https://"))
            url = urlsplit(self.path)
            query = {key: values[-1] for key, values in parse_qs(url.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            kind = KINDS.get(url.path, "other")
            video_id = query.get("v")
            if kind == "player":
                try:
                    video_id = json.loads(body or b"{}").get("videoId")
                except ValueError:
                    video_id = None
            fake.record(Hit(method, kind, url.path, query, video_id, proxied, dict(self.headers.items())))
            video = fake.videos.get(video_id or "")
            if kind == "watch" and method == "GET":
                self._watch(video_id or "", video)
            elif kind == "player" and method == "POST":
                self._player(video_id or "", video, query, body)
            elif kind == "timedtext" and method == "GET" and video is not None:
                self._timedtext(video, query)
            elif kind == "playlist" and method == "GET":
                data = fake.playlist_data(query.get("list", ""))
                title = escape(fake.playlists[query["list"]].title if query.get("list") in fake.playlists else "")
                page = PLAYLIST_PAGE.format(title=title, key=API_KEY, data=json.dumps(data))
                self._send(200, "text/html", page)
            elif kind == "browse" and method == "POST":
                self._browse(query, body)
            else:
                self._send(404, "text/html", "<html><body>404 Not Found</body></html>")

        def _watch(self, video_id: str, video: FakeVideo | None) -> None:
            if video is not None and video.delay:
                time.sleep(video.delay)
            if video is not None and video.watch_status != 200:
                self._send(video.watch_status, "text/html", "<html><body>error</body></html>")
            elif video is not None and video.watch_page is not None:
                self._send(200, "text/html", video.watch_page.format(video_id=video_id))
            elif video is not None and video.consent_wall and "CONSENT=YES+" not in self.headers.get("Cookie", ""):
                self._send(200, "text/html", CONSENT_PAGE)
            else:
                title = escape(video.title if video else "YouTube")
                player = json.dumps(fake.page_player_json(video_id, video) if video else {}).replace("</", "<\\/")
                self._send(200, "text/html", WATCH_PAGE.format(title=title, key=API_KEY, player=player))

        def _browse(self, query: dict[str, str], body: bytes) -> None:
            try:
                token = json.loads(body)["continuation"]
                playlist_id, offset = token.rsplit(":", 1)
                items = fake.playlist_items(playlist_id, int(offset))
            except (ValueError, KeyError, TypeError):
                self._send(400, "application/json", json.dumps({"error": {"code": 400}}))
                return
            if query.get("key") != API_KEY:
                self._send(400, "application/json", json.dumps({"error": {"code": 400}}))
                return
            action = {"appendContinuationItemsAction": {"continuationItems": items}}
            self._send(200, "application/json", json.dumps({"onResponseReceivedActions": [action]}))

        def _player(self, video_id: str, video: FakeVideo | None, query: dict[str, str], body: bytes) -> None:
            try:
                request = json.loads(body)
                client = request["context"]["client"]["clientName"]
            except (ValueError, KeyError, TypeError):
                client = None
            if query.get("key") != API_KEY or not client:
                error = {"error": {"code": 400, "message": "Request contains an invalid argument."}}
                self._send(400, "application/json", json.dumps(error))
            elif video is not None and fake.count("player", video_id) <= video.bot_checks:
                blocked = {"playabilityStatus": playability_error("LOGIN_REQUIRED", BOT_CHECK_REASON, "Learn more")}
                self._send(200, "application/json", json.dumps(blocked))
            elif video is not None and video.player_body is not None:
                self._send(video.player_status, "text/html", video.player_body)
            elif video is not None and video.player_status != 200:
                self._send(
                    video.player_status, "application/json", json.dumps({"error": {"code": video.player_status}})
                )
            else:
                self._send(200, "application/json", json.dumps(fake.player_json(video_id, video)))

        def _timedtext(self, video: FakeVideo, query: dict[str, str]) -> None:
            if video.timedtext_status != 200:
                self._send(video.timedtext_status, "text/html", "<html><body>error</body></html>")
                return
            xml = video.timedtext_body if video.timedtext_body is not None else fake.timedtext_xml(video, query)
            if xml is None:
                self._send(404, "text/html", "<html><body>no such track</body></html>")
            else:
                self._send(200, "text/xml; charset=UTF-8", xml)

        def _send(self, status: int, content_type: str, text: str) -> None:
            payload = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the timeout tests give up on purpose
                self.wfile.write(payload)

    return Handler


class RedirectAdapter(HTTPAdapter):
    """Sends requests for `https://www.youtube.com/...` to `base_url/...` instead."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        request = request.copy()
        url = request.url or ""
        if url.startswith(YOUTUBE):
            request.url = self.base_url + url[len(YOUTUBE) :]
        return super().send(request, *args, **kwargs)


class FakeYouTubeSession(requests.Session):
    """A session that reaches the fake instead of YouTube, ignores proxy variables of the environment, and has a
    default timeout so a broken test fails instead of hanging."""

    def __init__(self, base_url: str, timeout: float | None = 5.0) -> None:
        super().__init__()
        self.trust_env = False
        self.timeout = timeout
        self.mount(YOUTUBE + "/", RedirectAdapter(base_url))

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


def closed_port() -> int:
    """A local port nothing listens on (connections to it are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def fake_youtube() -> Iterator[FakeYouTube]:
    """A running fake YouTube with no videos; add them with `fake_youtube.add(...)`."""
    with FakeYouTube() as fake:
        yield fake
