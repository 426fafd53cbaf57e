"""YouTube captions through the real youtube-transcript-api code path, against a local fake YouTube."""

from __future__ import annotations

import json
import logging
import socket
import threading
from datetime import date
from pathlib import Path

import pytest

from pipeline.sources import expand_sources, load_source
from pipeline.sources.base import RawSegment, SourceError
from pipeline.sources.speakers import channel_speaker
from pipeline.sources.youtube import YouTubeFetcher, parse_playlist_id, parse_video_id
from tests.fakeyoutube import (
    AGE_REASON,
    BOT_CHECK_REASON,
    PLAYLIST_MISSING,
    RECAPTCHA_PAGE,
    FakePlaylist,
    FakeTrack,
    FakeVideo,
    FakeYouTube,
    FakeYouTubeSession,
    closed_port,
    fake_youtube,  # noqa: F401 - the fixture
    playability_error,
    standard_talk,
    talk_cues,
)

TALK = "talkVideo01"  # manual en, manual de (translatable), auto en
FRENCH = "frenchOnly1"  # manual fr (translatable), auto es (not translatable)
REGIONAL = "regionalEn1"  # manual en-GB, auto en
NO_TRACKS = "noTracks001"
NO_CAPTIONS = "noCaptions1"
GONE = "goneVideo01"
AGE = "ageLimited1"
UNPLAYABLE = "unplayable1"
BOT = "botCheck001"
BOT_TWICE = "botTwice001"
RECAPTCHA = "recaptcha01"
TIMEDTEXT_429 = "rateLimit01"
WATCH_429 = "watch429vid"
SERVER_ERROR = "serverError"
FORBIDDEN = "forbidden01"
PO_TOKEN = "poToken0001"
GARBLED = "garbledPage"
EMPTY_XML = "emptyXml001"
NOT_JSON = "notJson0001"
CONSENT = "consentWall"
SLOW = "slowVideo01"
UNKNOWN = "unknownVid1"


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAYSTACK_TELEMETRY_ENABLED", "False")


@pytest.fixture
def yt(fake_youtube: FakeYouTube) -> FakeYouTube:  # noqa: F811
    """The fake with every scenario the tests use."""
    fake = fake_youtube
    fake.add(TALK, standard_talk())
    fake.add(
        FRENCH,
        FakeVideo(
            tracks=[
                FakeTrack("fr", "French", translatable=True, cues=talk_cues("[fr] ")),
                FakeTrack("es", "Spanish (auto-generated)", auto=True, cues=talk_cues("[es auto] ")),
            ]
        ),
    )
    fake.add(
        REGIONAL,
        FakeVideo(
            tracks=[
                FakeTrack("en", "English (auto-generated)", auto=True, cues=talk_cues("[en auto] ")),
                FakeTrack("en-GB", "English (United Kingdom)", cues=talk_cues("[en-GB manual] ")),
            ]
        ),
    )
    fake.add(NO_TRACKS, FakeVideo(tracks=[]))
    fake.add(NO_CAPTIONS, FakeVideo(tracks=[FakeTrack("en", "English")], captions=False))
    fake.add(GONE, FakeVideo(playability=playability_error("ERROR", "This video is unavailable")))
    fake.add(AGE, FakeVideo(playability=playability_error("LOGIN_REQUIRED", AGE_REASON)))
    fake.add(
        UNPLAYABLE,
        FakeVideo(playability=playability_error("UNPLAYABLE", "Members-only content", "Join this channel\nto watch")),
    )
    fake.add(BOT, FakeVideo(playability=playability_error("LOGIN_REQUIRED", BOT_CHECK_REASON, "Learn more")))
    fake.add(BOT_TWICE, FakeVideo(tracks=standard_talk().tracks, bot_checks=2))
    fake.add(RECAPTCHA, FakeVideo(watch_page=RECAPTCHA_PAGE))
    fake.add(TIMEDTEXT_429, FakeVideo(tracks=standard_talk().tracks, timedtext_status=429))
    fake.add(WATCH_429, FakeVideo(tracks=standard_talk().tracks, watch_status=429))
    fake.add(SERVER_ERROR, FakeVideo(tracks=standard_talk().tracks, timedtext_status=500))
    fake.add(FORBIDDEN, FakeVideo(tracks=standard_talk().tracks, timedtext_status=403))
    fake.add(PO_TOKEN, FakeVideo(tracks=[FakeTrack("en", "English", po_token=True, cues=talk_cues())]))
    fake.add(GARBLED, FakeVideo(tracks=standard_talk().tracks, watch_page="<html><body>new layout</body></html>"))
    fake.add(EMPTY_XML, FakeVideo(tracks=standard_talk().tracks, timedtext_body=""))
    fake.add(NOT_JSON, FakeVideo(player_body="<html><body>Something went wrong</body></html>"))
    fake.add(CONSENT, FakeVideo(tracks=standard_talk().tracks, consent_wall=True))
    fake.add(SLOW, FakeVideo(tracks=standard_talk().tracks, delay=1.0))
    return fake


def fetcher(fake: FakeYouTube, **options: object) -> YouTubeFetcher:
    """A fetcher on the fake with tiny backoff, so retries cost milliseconds."""
    options.setdefault("http_client", fake.session())
    options.setdefault("max_attempts", 3)
    options.setdefault("backoff_seconds", 0.001)
    return YouTubeFetcher(**options)  # type: ignore[arg-type]


def failure(fake: FakeYouTube, video_id: str, **options: object) -> SourceError:
    with pytest.raises(SourceError) as caught:
        fetcher(fake, **options).fetch(video_id)
    error = caught.value
    assert error.where == f"youtube:{video_id}"
    assert str(error) == f"youtube:{video_id}: {error.problem}"
    assert "Traceback" not in str(error) and "\n" not in str(error) and "github.com" not in str(error)
    return error


# -- parse_video_id ------------------------------------------------------------------------------------------------

ID = "dQw4w9WgXcQ"


@pytest.mark.parametrize(
    "text",
    [
        ID,
        f"  {ID}\n",
        "a-b_C-d_E-f",
        f"https://www.youtube.com/watch?v={ID}",
        f"https://www.youtube.com/watch?v={ID}&t=42s&list=PLrAXtmErZgOeiKm4sgNOknGvNjby9efdf&index=3",
        f"https://www.youtube.com/watch?feature=share&v={ID}",
        f"http://youtube.com/watch?v={ID}",
        f"www.youtube.com/watch?v={ID}",
        f"youtube.com/watch?v={ID}#t=10",
        f"https://m.youtube.com/watch?v={ID}&feature=youtu.be",
        f"https://music.youtube.com/watch?v={ID}&si=abc",
        f"HTTPS://WWW.YOUTUBE.COM/watch?v={ID}",
        f"https://youtu.be/{ID}",
        f"https://youtu.be/{ID}?si=Xy12_ab-CD&t=42",
        f"youtu.be/{ID}",
        f"https://www.youtube.com/live/{ID}?feature=share",
        f"https://www.youtube.com/shorts/{ID}",
        f"youtube.com/shorts/{ID}/",
        f"https://www.youtube.com/embed/{ID}?start=30&autoplay=1",
        f"https://www.youtube.com/v/{ID}",
        f"https://www.youtube-nocookie.com/embed/{ID}?rel=0",
        f"youtube-nocookie.com/embed/{ID}",
    ],
)
def test_parse_video_id_accepts_youtube_forms(text: str) -> None:
    expected = "a-b_C-d_E-f" if "a-b_C" in text else ID
    assert parse_video_id(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "talk.txt",
        "dQw4w9WgXcQx",  # 12 characters
        "dQw4w9WgXc",  # 10 characters
        "dQw4w9WgX.Q",
        f"talks/{ID}",
        f"./{ID}.vtt",
        f"https://vimeo.com/{ID}",
        f"https://notyoutube.com/watch?v={ID}",
        f"https://youtube.com.evil.example/watch?v={ID}",
        "https://www.youtube.com/watch?v=tooShort",
        "https://www.youtube.com/watch?list=PLrAXtmErZgOeiKm4sgNOknGvNjby9efdf",
        "https://www.youtube.com/@SomeConference",
        "https://www.youtube.com/channel/UC_x5XG1OV2P6uZZ5FSM9Ttw",
        "https://www.youtube.com/playlist?list=PLrAXtmErZgOeiKm4sgNOknGvNjby9efdf",
        "https://youtu.be/",
        f"ftp://www.youtube.com/watch?v={ID}",
        f"https://www.youtube.com:99999/watch?v={ID}",
    ],
)
def test_parse_video_id_rejects_everything_else(text: str) -> None:
    assert parse_video_id(text) is None


# -- language choice -----------------------------------------------------------------------------------------------


def test_manual_track_is_preferred_over_auto_generated(yt: FakeYouTube) -> None:
    result = fetcher(yt).fetch(TALK)

    assert (result.video_id, result.language_code, result.language) == (TALK, "en", "English")
    assert result.is_generated is False and result.translated_from is None and result.from_cache is False
    # the empty cue is dropped by the library; `&amp;#39;` and escaped tags come out as plain text
    assert [s.text for s in result.segments] == [
        "[en manual] Welcome to the talk",
        "[en manual] it's about testing",
        "[en manual] thank you",
    ]
    assert result.segments[1] == RawSegment(text="[en manual] it's about testing", start=2.5, end=5.5, speaker=None)
    assert result.raw[2] == {"text": "[en manual] thank you", "start": 6.0, "duration": 4.25}
    assert (yt.count("watch"), yt.count("player"), yt.count("timedtext")) == (1, 1, 1)
    timedtext = next(hit for hit in yt.hits if hit.kind == "timedtext")
    assert timedtext.query["lang"] == "en" and "kind" not in timedtext.query and "fmt" not in timedtext.query


def test_auto_generated_track_is_used_when_there_is_no_manual_one(yt: FakeYouTube) -> None:
    result = fetcher(yt, languages=["es"]).fetch(FRENCH)

    assert (result.language_code, result.language, result.is_generated) == ("es", "Spanish (auto-generated)", True)
    assert result.segments[0].text == "[es auto] Welcome to the talk"


def test_languages_are_tried_in_priority_order(yt: FakeYouTube) -> None:
    assert fetcher(yt, languages=["de", "en"]).fetch(TALK).language_code == "de"
    assert fetcher(yt, languages=["fr", "en", "de"]).fetch(TALK).segments[0].text.startswith("[en manual]")


def test_a_manual_regional_variant_beats_an_auto_generated_exact_match(yt: FakeYouTube) -> None:
    result = fetcher(yt, languages=["en"]).fetch(REGIONAL)

    assert (result.language_code, result.is_generated) == ("en-GB", False)


def test_translates_when_no_wanted_language_exists(yt: FakeYouTube) -> None:
    result = fetcher(yt, languages=["de"], translate_to="en").fetch(FRENCH)

    assert (result.language_code, result.language, result.translated_from) == ("en", "English", "fr")
    assert result.is_generated is True  # YouTube's flag for a machine translation
    assert result.segments[0].text == "[en] [fr] Welcome to the talk"
    timedtext = next(hit for hit in yt.hits if hit.kind == "timedtext")
    assert (timedtext.query["lang"], timedtext.query["tlang"]) == ("fr", "en")


def test_a_track_already_in_the_translation_target_is_not_translated(yt: FakeYouTube) -> None:
    result = fetcher(yt, languages=["fr"], translate_to="de").fetch(TALK)

    assert (result.language_code, result.translated_from) == ("de", None)
    assert all("tlang" not in hit.query for hit in yt.hits)


def test_missing_language_lists_what_exists(yt: FakeYouTube) -> None:
    error = failure(yt, TALK, languages=["fr", "es"])

    assert error.problem == "no transcript in fr, es; available: en (manual), de (manual), en (auto)"
    assert error.retryable is False
    assert yt.count("timedtext") == 0 and yt.count("player") == 1  # not retried


def test_missing_language_that_cannot_be_translated_either(yt: FakeYouTube) -> None:
    error = failure(yt, FRENCH, languages=["de"], translate_to="it")

    assert error.problem == "no transcript in de and none can be translated to it; available: fr (manual), es (auto)"


def test_a_video_without_tracks(yt: FakeYouTube) -> None:
    assert failure(yt, NO_TRACKS).problem == "no transcript in en; available: none"


# -- failures ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("video_id", "problem"),
    [
        (NO_CAPTIONS, "captions are disabled for this video"),
        (GONE, "the video is unavailable (removed, private or a wrong id)"),
        (UNKNOWN, "the video is unavailable (removed, private or a wrong id)"),
        (AGE, "the video is age-restricted; its captions need a signed-in session, which is not supported"),
        (UNPLAYABLE, "the video is unplayable: Members-only content; Join this channel to watch"),
        (FORBIDDEN, "request to YouTube failed: 403 Client Error: Forbidden"),
        (PO_TOKEN, "YouTube requires a PO token for this video's captions, which is not supported"),
        (GARBLED, "could not understand YouTube's reply (maybe changed; upgrade youtube-transcript-api)"),
        (EMPTY_XML, "could not understand YouTube's reply (maybe changed; upgrade youtube-transcript-api)"),
        (NOT_JSON, "could not understand YouTube's reply (maybe changed; upgrade youtube-transcript-api)"),
    ],
)
def test_failures_give_one_clear_line(yt: FakeYouTube, video_id: str, problem: str) -> None:
    error = failure(yt, video_id)

    assert error.problem == problem
    assert error.retryable is False
    assert yt.count("watch") == 1  # permanent failures are not retried


def test_not_a_video_id_makes_no_request(yt: FakeYouTube) -> None:
    with pytest.raises(SourceError, match="not a YouTube video id"):
        fetcher(yt).fetch("https://youtu.be/" + TALK)
    assert yt.count() == 0


@pytest.mark.parametrize(
    ("video_id", "kind"),
    [
        (BOT, "player"),  # playabilityStatus LOGIN_REQUIRED "Sign in to confirm you're not a bot"
        (RECAPTCHA, "watch"),  # the watch page is a recaptcha form
        (WATCH_429, "watch"),  # HTTP 429 on the watch page
        (TIMEDTEXT_429, "timedtext"),  # HTTP 429 on the captions
    ],
)
def test_blocked_is_retried_then_retryable(
    yt: FakeYouTube, video_id: str, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    lines: list[str] = []
    with caplog.at_level(logging.INFO, logger="pipeline.sources.youtube"):
        error = failure(yt, video_id, max_attempts=3, on_retry=lines.append)

    assert yt.count(kind, video_id) == 3
    assert error.retryable is True
    assert error.problem.startswith("YouTube is blocking requests from this IP")
    assert "--proxy" in error.problem and "re-run later" in error.problem and "3 attempts" in error.problem
    expected = [f"youtube:{video_id}: attempt 1 of 3", f"youtube:{video_id}: attempt 2 of 3"]
    assert [line.split(" failed")[0] for line in lines] == expected  # for the caller's one updating line
    assert [record.getMessage().split(" failed")[0] for record in caplog.records] == expected
    assert all(record.levelno == logging.INFO for record in caplog.records)  # not printed unless asked for


def test_retries_nobody_shows_are_logged_as_warnings(yt: FakeYouTube, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="pipeline.sources.youtube"):
        failure(yt, BOT, max_attempts=2, backoff_seconds=0.001)  # no on_retry (a batch run)
    assert [(r.levelno, r.getMessage().split(" failed")[0]) for r in caplog.records] == [
        (logging.WARNING, f"youtube:{BOT}: attempt 1 of 2")
    ]


def test_one_attempt_means_no_retry(yt: FakeYouTube) -> None:
    assert failure(yt, BOT, max_attempts=1).retryable is True
    assert yt.count("player") == 1


def test_a_block_that_lifts_is_retried_through(yt: FakeYouTube) -> None:
    result = fetcher(yt, max_attempts=3).fetch(BOT_TWICE)

    assert result.language_code == "en" and yt.count("player") == 3


def test_server_errors_are_retried(yt: FakeYouTube) -> None:
    error = failure(yt, SERVER_ERROR, max_attempts=2)

    assert error.retryable is True
    assert error.problem.startswith("YouTube answered with a server error (500 Server Error: Internal Server Error;")
    assert "127.0.0.1" not in error.problem and yt.count("timedtext") == 2


class CountingSession(FakeYouTubeSession):
    calls = 0

    def request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.calls += 1
        return super().request(*args, **kwargs)


def test_a_refused_connection_is_not_retried_but_retryable_later(yt: FakeYouTube) -> None:
    session = CountingSession(f"http://127.0.0.1:{closed_port()}")
    lines: list[str] = []
    error = failure(yt, TALK, http_client=session, max_attempts=4, backoff_seconds=5.0, on_retry=lines.append)

    assert error.retryable is True  # a later run may have a network
    assert error.problem == "cannot reach YouTube (no network?): the connection was refused; re-run later to resume"
    assert session.calls == 1 and lines == []  # no waiting: retrying in seconds cannot fix it


class UnresolvableSession(CountingSession):
    """Every request goes to a host name that cannot resolve (`.invalid` is reserved for that, RFC 2606)."""

    def __init__(self) -> None:
        super().__init__("http://no-such-host.invalid")


def test_a_name_that_does_not_resolve_is_not_retried() -> None:
    session = UnresolvableSession()
    with pytest.raises(SourceError) as caught:
        YouTubeFetcher(http_client=session, max_attempts=4, backoff_seconds=5.0).fetch(TALK)

    assert caught.value.retryable is True
    assert caught.value.problem == (
        "cannot reach YouTube (no network?): the host name does not resolve; re-run later to resume"
    )
    assert session.calls == 1


def test_a_dropped_connection_is_retried(fake_youtube: FakeYouTube) -> None:  # noqa: F811
    lines: list[str] = []
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        stop = threading.Event()

        def hang_up() -> None:  # accept, then close without answering: a reset, not a refusal
            server.settimeout(0.1)
            while not stop.is_set():
                try:
                    connection, _ = server.accept()
                except OSError:
                    continue
                connection.close()

        thread = threading.Thread(target=hang_up, daemon=True)
        thread.start()
        try:
            session = CountingSession(f"http://127.0.0.1:{server.getsockname()[1]}")
            error = failure(fake_youtube, TALK, http_client=session, max_attempts=3, on_retry=lines.append)
        finally:
            stop.set()
            thread.join(timeout=5)

    assert session.calls == 3 and len(lines) == 2
    assert error.retryable is True and error.problem.startswith("cannot reach YouTube (no network?)")


def test_a_timeout_is_retried_then_retryable(yt: FakeYouTube) -> None:
    error = failure(yt, SLOW, http_client=yt.session(timeout=0.2), max_attempts=2)

    assert error.retryable is True
    assert error.problem.startswith("cannot reach YouTube (no network?): the request timed out")
    assert yt.count("watch") == 2


def test_cookie_consent_wall_is_passed(yt: FakeYouTube) -> None:
    assert fetcher(yt).fetch(CONSENT).language_code == "en"
    assert yt.count("watch") == 2  # the consent page, then the page with the CONSENT cookie


# -- proxy ---------------------------------------------------------------------------------------------------------


def test_proxy_is_used_for_every_request(yt: FakeYouTube) -> None:
    session = yt.session()
    result = fetcher(yt, http_client=session, proxy=yt.base_url).fetch(TALK)  # the fake also acts as the proxy

    assert result.language_code == "en"
    assert session.proxies == {"http": yt.base_url, "https": yt.base_url}
    assert yt.count() == 3 and all(hit.proxied for hit in yt.hits)


def test_an_unreachable_proxy(yt: FakeYouTube) -> None:
    proxy = f"http://user:secret@127.0.0.1:{closed_port()}"
    error = failure(yt, TALK, proxy=proxy, max_attempts=2)

    assert error.retryable is True
    assert error.problem.startswith("cannot reach the proxy http://127.0.0.1:")
    assert "secret" not in error.problem


def test_a_proxy_must_be_an_http_url() -> None:
    with pytest.raises(SourceError, match="proxy must be an http:// or https:// URL"):
        YouTubeFetcher(proxy="socks5://127.0.0.1:1080")


# -- cache ---------------------------------------------------------------------------------------------------------


def test_cache_hit_makes_no_request(yt: FakeYouTube, tmp_path: Path) -> None:
    first = fetcher(yt, cache_dir=tmp_path).fetch(TALK)
    assert yt.count() == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{TALK}.json"]  # no temporary file left behind
    stored = json.loads((tmp_path / f"{TALK}.json").read_text(encoding="utf-8"))
    assert stored["request"] == {"languages": ["en"], "translate_to": None}
    assert (stored["language_code"], stored["is_generated"], stored["raw"]) == ("en", False, first.raw)

    yt.reset()
    second = fetcher(yt, cache_dir=tmp_path).fetch(TALK)

    assert yt.count() == 0
    assert second == first and second.from_cache is True


def test_refresh_refetches(yt: FakeYouTube, tmp_path: Path) -> None:
    fetcher(yt, cache_dir=tmp_path).fetch(TALK)
    yt.reset()

    result = fetcher(yt, cache_dir=tmp_path, refresh=True).fetch(TALK)

    assert result.from_cache is False and yt.count() == 3


def test_cache_is_only_reused_for_the_same_language_request(yt: FakeYouTube, tmp_path: Path) -> None:
    fetcher(yt, cache_dir=tmp_path).fetch(TALK)
    yt.reset()

    german = fetcher(yt, cache_dir=tmp_path, languages=["de", "en"]).fetch(TALK)
    assert german.language_code == "de" and yt.count() == 3

    yt.reset()
    again = fetcher(yt, cache_dir=tmp_path, languages=["de", "en"]).fetch(TALK)
    assert again.from_cache and again.language_code == "de" and yt.count() == 0


def test_translation_is_cached_with_its_source(yt: FakeYouTube, tmp_path: Path) -> None:
    first = fetcher(yt, cache_dir=tmp_path, languages=["de"], translate_to="en").fetch(FRENCH)
    yt.reset()

    second = fetcher(yt, cache_dir=tmp_path, languages=["de"], translate_to="en").fetch(FRENCH)

    assert yt.count() == 0 and second == first and second.translated_from == "fr"


def test_an_unreadable_cache_file_is_replaced(yt: FakeYouTube, tmp_path: Path) -> None:
    (tmp_path / f"{TALK}.json").write_text("{not json", encoding="utf-8")

    result = fetcher(yt, cache_dir=tmp_path).fetch(TALK)

    assert result.from_cache is False and yt.count() == 3
    assert json.loads((tmp_path / f"{TALK}.json").read_text(encoding="utf-8"))["video_id"] == TALK


def test_a_failed_fetch_writes_no_cache(yt: FakeYouTube, tmp_path: Path) -> None:
    failure(yt, NO_CAPTIONS, cache_dir=tmp_path / "cache")

    assert not (tmp_path / "cache").exists()


# -- the video's own metadata --------------------------------------------------------------------------------------

CHAPTERED = "chaptered01"
UNSORTED = "unsortedCh1"
PAST_END = "pastEndCh01"
DESCRIPTION = """Maya explains how to price a developer tool.

Chapters:
0:00 Intro
1:05 - Seat-based pricing
(2:30) Usage-based pricing
Q&A – 4:10

Slides: https://example.com/slides.pdf (updated 12:00)
"""


def add_metadata_videos(fake: FakeYouTube) -> None:
    tracks = standard_talk().tracks
    fake.add(
        CHAPTERED,
        FakeVideo(
            tracks=tracks,
            title="Pricing Developer Tools",
            channel="DevTools Conf",
            description=DESCRIPTION,
            length_seconds="305",
            upload_date="2026-03-02T09:30:00-08:00",
        ),
    )
    fake.add(
        UNSORTED, FakeVideo(tracks=tracks, description="0:00 Intro\n3:00 Later\n2:00 Earlier\n", length_seconds="600")
    )
    fake.add(
        PAST_END, FakeVideo(tracks=tracks, description="0:00 Intro\n2:00 Middle\n12:00 Outro\n", length_seconds="600")
    )


def test_metadata_comes_from_the_pages_the_library_fetches(yt: FakeYouTube) -> None:
    add_metadata_videos(yt)
    video = fetcher(yt).fetch(CHAPTERED).video

    assert (video.title, video.channel, video.duration) == ("Pricing Developer Tools", "DevTools Conf", 305.0)
    assert video.upload_date == date(2026, 3, 2)  # from the watch page's microformat
    assert [(c.start, c.title) for c in video.chapters] == [
        (0.0, "Intro"),
        (65.0, "Seat-based pricing"),
        (150.0, "Usage-based pricing"),
        (250.0, "Q&A"),
    ]
    assert (yt.count("watch"), yt.count("player"), yt.count("timedtext")) == (1, 1, 1)  # no extra request


def test_a_video_without_chapters(yt: FakeYouTube) -> None:
    video = fetcher(yt).fetch(TALK).video

    assert video.title == "A talk" and video.channel == "Some Conference" and video.chapters == ()
    assert video.upload_date == date(2026, 5, 14) and video.duration == 1800.0


@pytest.mark.parametrize(
    ("video_id", "warning"),
    [
        (UNSORTED, "youtube:unsortedCh1: ignoring the description's chapters: they are not in time order (line 3)"),
        (
            PAST_END,
            "youtube:pastEndCh01: ignoring the description's chapters: line 3 starts at 12:00, past the end of the "
            "video (10:00)",
        ),
    ],
)
def test_chapters_with_bad_times_are_ignored_with_a_warning(
    yt: FakeYouTube, video_id: str, warning: str, caplog: pytest.LogCaptureFixture
) -> None:
    add_metadata_videos(yt)
    with caplog.at_level(logging.WARNING):
        video = fetcher(yt).fetch(video_id).video

    assert video.chapters == () and video.duration == 600.0
    assert [record.getMessage() for record in caplog.records] == [warning]


def test_metadata_is_cached_with_the_captions(yt: FakeYouTube, tmp_path: Path) -> None:
    add_metadata_videos(yt)
    first = fetcher(yt, cache_dir=tmp_path).fetch(CHAPTERED)
    yt.reset()

    second = fetcher(yt, cache_dir=tmp_path).fetch(CHAPTERED)

    assert yt.count() == 0 and second.from_cache and second == first and len(second.video.chapters) == 4


def test_an_old_cache_file_without_metadata_is_refetched(yt: FakeYouTube, tmp_path: Path) -> None:
    fetcher(yt, cache_dir=tmp_path).fetch(TALK)
    path = tmp_path / f"{TALK}.json"
    old = json.loads(path.read_text(encoding="utf-8"))
    del old["video"]
    old["format"] = 1
    path.write_text(json.dumps(old), encoding="utf-8")
    yt.reset()

    result = fetcher(yt, cache_dir=tmp_path).fetch(TALK)

    assert not result.from_cache and result.video.title == "A talk" and yt.count("player") == 1


def test_a_youtube_talk_gets_its_metadata_and_flags_still_win(yt: FakeYouTube) -> None:
    add_metadata_videos(yt)
    url = f"https://www.youtube.com/watch?v={CHAPTERED}"

    transcript = load_source(url, None, fetcher(yt))
    talk = transcript.talk
    assert (talk.id, talk.title, talk.speakers, talk.date) == (
        CHAPTERED,
        "Pricing Developer Tools",
        [],  # a conference's channel is not the speaker of its talks
        date(2026, 3, 2),
    )
    assert {segment.speaker for segment in transcript.segments} == {None}
    assert talk.duration == 305.0 and [c.title for c in talk.chapters][:2] == ["Intro", "Seat-based pricing"]
    assert talk.extra == {"channel": "DevTools Conf"} and talk.source == url

    overrides = {"title": "My title", "speakers": ["Maya Lindqvist"], "date": date(2026, 1, 1), "event": "Conf"}
    given = load_source(url, overrides, fetcher(yt)).talk
    assert (given.title, given.speakers, given.date, given.event) == (
        "My title",
        ["Maya Lindqvist"],
        date(2026, 1, 1),
        "Conf",
    )
    assert given.extra["channel"] == "DevTools Conf"  # the channel is kept even when the speakers are given


@pytest.mark.parametrize(
    ("channel", "speaker"),
    [
        ("Maya Lindqvist", "Maya Lindqvist"),
        ("Guido van Rossum", "Guido van Rossum"),
        ("Seán O'Brien", "Seán O'Brien"),
        ("Ada McGee", "Ada McGee"),
        ("DevTools Conf", None),
        ("PyCon Italia", None),
        ("GOTO Conferences", None),
        ("Google for Developers", None),
        ("Talks at Google", None),
        ("Fireship", None),
        ("NDC 2024", None),
        ("", None),
    ],
)
def test_the_channel_is_the_speaker_only_when_it_reads_as_a_persons_name(channel: str, speaker: str | None) -> None:
    assert channel_speaker(channel) == speaker


def test_a_persons_channel_is_the_speaker_of_every_segment(yt: FakeYouTube) -> None:
    yt.add("personChan1", FakeVideo(tracks=[FakeTrack("en", "English", cues=talk_cues())], channel="Maya Lindqvist"))
    transcript = load_source("personChan1", None, fetcher(yt))
    assert transcript.talk.speakers == ["Maya Lindqvist"] and transcript.talk.extra == {"channel": "Maya Lindqvist"}
    assert {segment.speaker for segment in transcript.segments} == {"Maya Lindqvist"}


# -- playlists -----------------------------------------------------------------------------------------------------

PLAYLIST = "PLfakeConference2026talks"


@pytest.mark.parametrize(
    "text",
    [
        f"https://www.youtube.com/playlist?list={PLAYLIST}",
        f"youtube.com/playlist?list={PLAYLIST}&si=abc",
        f"https://m.youtube.com/playlist?list={PLAYLIST}",
        f"https://www.youtube.com/watch?list={PLAYLIST}",
    ],
)
def test_parse_playlist_id(text: str) -> None:
    assert parse_playlist_id(text) == PLAYLIST
    assert parse_video_id(text) is None


@pytest.mark.parametrize(
    "text",
    [
        f"https://www.youtube.com/watch?v={ID}&list={PLAYLIST}",  # one video of a playlist: that video
        "https://www.youtube.com/playlist?list=short",
        f"https://example.com/playlist?list={PLAYLIST}",
        PLAYLIST,
        "https://www.youtube.com/playlist",
    ],
)
def test_parse_playlist_id_rejects_everything_else(text: str) -> None:
    assert parse_playlist_id(text) is None


def test_a_playlist_lists_its_videos_across_continuations(yt: FakeYouTube) -> None:
    ids = [f"video{n:06d}" for n in range(7)]
    yt.add_playlist(PLAYLIST, FakePlaylist(video_ids=ids, page_size=3, private=["private0001"]))

    result = fetcher(yt).playlist(PLAYLIST)

    assert result.title == "Some Conference 2026"
    assert [entry.video_id for entry in result.videos] == ids
    assert result.skipped == 1  # the private video is listed as unplayable
    assert (yt.count("playlist"), yt.count("browse")) == (1, 2)


def test_a_playlist_of_lockup_entries(yt: FakeYouTube) -> None:
    yt.add_playlist(PLAYLIST, FakePlaylist(video_ids=[TALK, FRENCH], lockups=True))

    result = fetcher(yt).playlist(PLAYLIST)

    assert [(entry.video_id, entry.title) for entry in result.videos] == [(TALK, "A talk"), (FRENCH, "A talk")]


def test_a_missing_playlist_is_one_clear_line(yt: FakeYouTube) -> None:
    with pytest.raises(SourceError) as caught:
        fetcher(yt).playlist("PLdoesNotExist0000")

    assert str(caught.value) == "youtube:playlist:PLdoesNotExist0000: the playlist is unavailable: " + PLAYLIST_MISSING
    assert caught.value.retryable is False and yt.count("playlist") == 1


def test_a_mix_is_not_a_playlist(yt: FakeYouTube) -> None:
    with pytest.raises(SourceError, match="a YouTube mix is made up for each viewer"):
        fetcher(yt).playlist("RDdQw4w9WgXcQ")
    assert yt.count() == 0


def test_expand_sources_turns_a_playlist_into_its_videos(yt: FakeYouTube, tmp_path: Path) -> None:
    yt.add_playlist(PLAYLIST, FakePlaylist(video_ids=[TALK, FRENCH]))
    problems: list[SourceError] = []
    sources = [
        f"https://www.youtube.com/playlist?list={PLAYLIST}",
        f"https://youtu.be/{TALK}",  # already in the playlist: once
        "https://www.youtube.com/playlist?list=PLdoesNotExist0000",
    ]

    expanded = expand_sources(sources, fetcher(yt), problems)

    assert expanded == [f"https://www.youtube.com/watch?v={TALK}", f"https://www.youtube.com/watch?v={FRENCH}"]
    assert [error.where for error in problems] == ["youtube:playlist:PLdoesNotExist0000"]
