from __future__ import annotations

import itertools

import pytest

from pipeline.components.chunker import TranscriptChunker, is_backchannel
from pipeline.components.cleaner import TranscriptCleaner
from pipeline.models import Segment, Talk, Transcript
from pipeline.sources.files import load_file
from tests.conftest import DATA


def transcript_of(word_counts: list[int], speakers: list[str | None] | None = None) -> Transcript:
    segments = [
        Segment(
            index=i,
            text=" ".join(f"w{i}x{j}" for j in range(n)),
            start=float(i * 10),
            end=float(i * 10 + 9),
            speaker=speakers[i] if speakers else None,
        )
        for i, n in enumerate(word_counts)
    ]
    return Transcript(talk=Talk(id="t", youtube_id="abcdefghijk"), segments=segments)


def test_windows_cover_every_segment_whole_and_overlap():
    transcript = transcript_of([10] * 30)
    documents = TranscriptChunker(words=50, overlap=20).run(transcript=transcript)["documents"]
    covered = set()
    for doc in documents:
        first, last = doc.meta["first_segment"], doc.meta["last_segment"]
        covered.update(range(first, last + 1))
        expected = " ".join(transcript.segments[i].text for i in range(first, last + 1))
        assert doc.content == expected  # whole segments only, in order
        assert doc.meta["start"] == transcript.segments[first].start
        assert doc.meta["end"] == transcript.segments[last].end
        assert len(doc.content.split()) <= 50
    assert covered == set(range(30))
    pairs = list(itertools.pairwise(documents))
    assert all(b.meta["first_segment"] <= a.meta["last_segment"] for a, b in pairs)  # overlapping
    assert all(b.meta["first_segment"] > a.meta["first_segment"] for a, b in pairs)  # always progressing


def test_a_segment_longer_than_a_chunk_is_a_window_of_its_own_cut_to_the_chunk_size():
    """Sources split long segments at load; a longer one (a transcript stored before) still never makes a chunk
    beyond the chunk size, in words or in characters."""
    transcript = transcript_of([5, 200, 5])
    documents = TranscriptChunker(words=50, overlap=10).run(transcript=transcript)["documents"]
    alone = [d for d in documents if (d.meta["first_segment"], d.meta["last_segment"]) == (1, 1)]
    assert len(alone) == 1 and alone[0].content == " ".join(transcript.segments[1].text.split()[:50])
    assert all(len(d.content.split()) <= 50 for d in documents)

    huge = transcript.segments[0].model_copy(update={"text": "x" * 10**6})
    giant = transcript.model_copy(update={"segments": [huge]})
    (document,) = TranscriptChunker(words=50, overlap=10).run(transcript=giant)["documents"]
    assert document.content == "x" * 100


def test_speaker_labels_and_main_speaker():
    transcript = transcript_of([5, 20, 5], speakers=["Ada", "Bob", "Ada"])
    (document,) = TranscriptChunker(words=100, overlap=10).run(transcript=transcript)["documents"]
    assert document.content.startswith("Ada: w0x0")
    assert "\nBob: w1x0" in document.content
    assert document.meta["speakers"] == ["Ada", "Bob"]
    assert document.meta["speaker"] == "Bob"


def test_ids_are_stable_and_unique():
    transcript = transcript_of([7] * 40)
    chunker = TranscriptChunker(words=60, overlap=20)
    first = [d.id for d in chunker.run(transcript=transcript)["documents"]]
    assert first == [d.id for d in chunker.run(transcript=transcript)["documents"]]
    assert len(set(first)) == len(first)


def test_unpunctuated_auto_captions_provenance_round_trips():
    transcript = TranscriptCleaner().run(transcript=load_file(DATA / "lightning-pricing.json"))["transcript"]
    documents = TranscriptChunker().run(transcript=transcript)["documents"]
    assert len(documents) > 3
    for doc in documents:
        segments = transcript.segments[doc.meta["first_segment"] : doc.meta["last_segment"] + 1]
        assert doc.content == " ".join(s.text for s in segments if s.text and not is_backchannel(s.text))
        assert doc.meta["start"] == segments[0].start
        assert doc.meta["talk_id"] == "lightning-pricing"


@pytest.mark.parametrize(("words", "overlap"), [(5, 0), (50, 50), (50, -1)])
def test_settings_are_validated(words: int, overlap: int):
    with pytest.raises(ValueError):
        TranscriptChunker(words=words, overlap=overlap)


def test_backchannels_stay_in_range_but_not_in_text():
    transcript = transcript_of([10, 1, 10], speakers=["Ada", "Bob", "Ada"])
    segments = [*transcript.segments]
    segments[1] = segments[1].model_copy(update={"text": "Mm-hmm."})
    transcript = transcript.model_copy(update={"segments": segments})
    (document,) = TranscriptChunker(words=100, overlap=10).run(transcript=transcript)["documents"]
    assert (document.meta["first_segment"], document.meta["last_segment"]) == (0, 2)
    assert "Mm-hmm" not in document.content and "Bob" not in document.content
    (kept,) = TranscriptChunker(words=100, overlap=10, skip_backchannels=False).run(transcript=transcript)["documents"]
    assert "Bob: Mm-hmm." in kept.content
    assert is_backchannel("Yeah, okay.") and not is_backchannel("Yeah, we shipped it.")
