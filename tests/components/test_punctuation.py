"""Punctuation and casing restoration: quality on a held-back QMSum meeting, words never changed (also on fuzzed
input), detection, the component contract, and auto-caption talks recapped end to end."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest

from bench.punctuation import caption_segments, score
from pipeline.components.cleaner import TranscriptCleaner
from pipeline.components.punctuation import (
    NetworkShape,
    PunctuationModel,
    PunctuationRestorer,
    build_network,
    needs_restoration,
    restore_segments,
)
from pipeline.components.quotes import normalise
from pipeline.models import Segment, Talk, Transcript
from pipeline.sources import load_source
from tests.conftest import DATA, QMSUM
from training.punctuation import read_meeting

AUTO_CAPTION_TALKS = ["lightning-pricing.json", "docs-that-get-read.json"]
#: Floors on the held-back meeting (Bed010: boundary F1 0.777, start caps 0.878 today with the two-network ensemble
#: and its fine-tuned MiniLM layer; the ensemble on frozen MiniLM 0.782 and 0.875; its seed-15 network alone 0.783 and
#: 0.855; the weights without MiniLM context 0.768 and 0.825), a margin under the benchmark's check-half figures in
#: the caption setting (0.758 and 0.888; README, "Punctuation and casing").
MIN_BOUNDARY_F1 = 0.75
MIN_START_CAPS = 0.85


@pytest.fixture(scope="module")
def model() -> PunctuationModel:
    return PunctuationModel.load()


def transcript_of(segments: list[Segment], talk_id: str = "t", **talk: object) -> Transcript:
    return Transcript(talk=Talk(id=talk_id, **talk), segments=segments)


def assert_same_words(before: list[Segment], after: list[Segment]) -> None:
    """Segment by segment: the same words in the same order, only case and trailing marks differ."""
    assert len(before) == len(after)
    for old, new in zip(before, after, strict=True):
        assert (new.index, new.start, new.end, new.speaker) == (old.index, old.start, old.end, old.speaker)
        old_words, new_words = old.text.split(), new.text.split()
        assert len(old_words) == len(new_words), (old.text, new.text)
        for a, b in zip(old_words, new_words, strict=True):
            assert [c.lower() for c in a if c.isalnum()] == [c.lower() for c in b if c.isalnum()], (a, b)
            assert b.lower().startswith((re.sub(r"[.,?!;:…]+$", "", a) or a).lower()), (a, b)
        assert normalise(new.text) == normalise(old.text)


def test_held_back_qmsum_meeting_with_punctuation_stripped(model: PunctuationModel) -> None:
    """A check-half val meeting (never trained on nor tuned on), lower-cased, unpunctuated, in 5-10 word pieces."""
    meeting = read_meeting(sorted(QMSUM.glob("*.json"))[1])
    segments = caption_segments(meeting)
    restored = restore_segments(model, segments)
    assert_same_words(segments, restored)
    counts = score(meeting, restored).values
    tp, fp, fn, _, _, _, starts_right, starts = counts[:8]
    f1 = 2 * tp / (2 * tp + fp + fn)
    assert f1 >= MIN_BOUNDARY_F1, f1
    assert starts_right / starts >= MIN_START_CAPS


def test_bench_paired_difference_resamples_both_models_on_the_same_meetings() -> None:
    """`bench/punctuation.py --compare`: ours minus theirs, pooled over the meetings, with an interval from draws
    that score both on the same resampled meetings: one more start right in every other meeting is a gain on every
    draw (an interval above 0, narrower than the gain's range), the other way round a loss, the same counts 0."""
    from bench.punctuation import Counts, paired

    theirs = [Counts(np.array([8, 2, 2, 1, 1, 1, 6 + k % 3, 10, 50, 60], dtype=float)) for k in range(12)]
    ours = [Counts(c.values + np.eye(10)[6] * (k % 2 == 0)) for k, c in enumerate(theirs)]
    gain, low, high = paired("test", ours, theirs)["start caps"]
    assert gain == pytest.approx(6 / 120) and 0 < low < gain < high < 0.1
    assert paired("test", theirs, ours)["start caps"] == pytest.approx((-gain, -high, -low))
    assert paired("test", ours, theirs)["boundary F1"] == (0.0, 0.0, 0.0)
    assert paired("test", ours, ours)["start caps"] == (0.0, 0.0, 0.0)


def test_words_never_change_on_fuzzed_input(model: PunctuationModel) -> None:
    rng = random.Random(14)
    alphabet = "abcdefghijklmnopqrstuvwxyz'-0123456789éüßçñøł日本語ß.,?!;:…$%&"
    pool = [
        "i", "the", "so", "um", "okay", "café", "naïve", "straße", "ǆ", "ŉ", "日本語", "🙂", "3.5", "2026", "$9",
        "e.g.", "u.s.", "don't", "rock'n'roll", "...", "—", "-", "&", "?", "hello,", "why?", "ok.", "mcdonald's",
        "iphone", "api", "ssh", "x" * 300,
    ]  # fmt: skip
    for _trial in range(40):
        segments = []
        for index in range(rng.randint(0, 12)):
            count = rng.choice([0, 1, 3, 8, 25])
            tokens = [
                rng.choice(pool) if rng.random() < 0.6 else "".join(rng.choices(alphabet, k=rng.randint(1, 9)))
                for _ in range(count)
            ]
            speaker = rng.choice([None, "Ada", "Bo"])
            segments.append(Segment(index=index, text=" ".join(tokens), start=index * 2.0, speaker=speaker))
        restored = restore_segments(model, segments)
        assert_same_words(segments, restored)


def test_empty_and_huge_segments(model: PunctuationModel) -> None:
    assert restore_segments(model, []) == []
    empty = [Segment(index=0, text=""), Segment(index=1, text="   ")]
    assert [s.text for s in restore_segments(model, empty)] == ["", "   "]
    meeting = read_meeting(sorted(QMSUM.glob("*.json"))[3])
    huge = [Segment(index=0, text=" ".join(w.lower() for w in meeting.words[:20000]), start=0.0, end=3600.0)]
    restored = restore_segments(model, huge)
    assert_same_words(huge, restored)
    assert restored[0].text[0].isupper() and restored[0].text.endswith((".", "?"))
    assert restored[0].text.count(". ") > 500


def test_speaker_change_ends_a_sentence_and_existing_capitals_stay(model: PunctuationModel) -> None:
    segments = [
        Segment(index=0, text="we shipped it on tuesday and", speaker="Ada"),
        Segment(index=1, text="what about Kestrel Freight", speaker="Bo"),
    ]
    restored = restore_segments(model, segments)
    assert restored[0].text.endswith((".", "?"))
    assert restored[1].text.startswith("What")
    assert [w.rstrip(".,?") for w in restored[1].text.split()][-2:] == ["Kestrel", "Freight"]


def test_ensemble_weights_average_their_networks(model: PunctuationModel, tmp_path) -> None:
    """A file of two networks (`training/punctuation.py --combine`) loads back to the mean of their probabilities;
    one of them alone is a different model, so the file really holds both."""
    import torch

    from pipeline.components.punctuation import NetworkShape, build_network

    vocabulary = list(model.index)
    shape = NetworkShape(vocabulary=len(vocabulary), word_dim=8, conv_dim=8, hidden=8)
    torch.manual_seed(0)
    networks = [build_network(shape), build_network(NetworkShape(**{**shape.__dict__, "layers": 2}))]
    path = tmp_path / "ensemble.npz"
    PunctuationModel.save(
        path, networks, [shape, NetworkShape(**{**shape.__dict__, "layers": 2})], vocabulary, {}, 0.4, {}
    )
    loaded = PunctuationModel.load(path)
    words = "so what is pricing really i think it is the first thing a customer learns".split()
    alone = [PunctuationModel(network, vocabulary, {}, 0.4).predict(words)[0] for network in loaded.networks]
    assert len(loaded.networks) == 2 and loaded.boundary_threshold == 0.4
    assert loaded.predict(words)[0] == pytest.approx((alone[0] + alone[1]) / 2, abs=1e-6)
    assert not np.allclose(alone[0], alone[1])


def test_fine_tuned_context_weights_travel_with_the_networks(model: PunctuationModel, tmp_path) -> None:
    """MiniLM layer weights fine-tuned with the networks are saved in the same file (float16) and load back as the
    model's context weights, which its encoder then reads; a file without them has none."""
    vocabulary = list(model.index)
    shape = NetworkShape(vocabulary=len(vocabulary), word_dim=8, conv_dim=8, hidden=8, context=2, context_dim=8)
    bias = np.linspace(-1, 1, 384, dtype=np.float32)
    path = tmp_path / "tuned.npz"
    tuned = {"encoder.layer.1.output.dense.bias": bias}
    PunctuationModel.save(path, build_network(shape), shape, vocabulary, {}, 0.4, {}, context_weights=tuned)
    loaded = PunctuationModel.load(path)
    assert list(loaded.context_weights) == ["encoder.layer.1.output.dense.bias"]
    assert loaded.context_weights["encoder.layer.1.output.dense.bias"] == pytest.approx(bias, abs=1e-3)
    PunctuationModel.save(path, build_network(shape), shape, vocabulary, {}, 0.4, {})
    assert PunctuationModel.load(path).context_weights is None


def test_detection() -> None:
    for name in AUTO_CAPTION_TALKS:
        assert needs_restoration(clean(name)), name
    for name in ["founder-talk.vtt", "panel-remote-teams.srt", "fireside-chat.txt"]:
        assert not needs_restoration(clean(name)), name
    lowered = clean("founder-talk.vtt")
    lowered = lowered.model_copy(
        update={"segments": [s.model_copy(update={"text": s.text.lower()}) for s in lowered.segments]}
    )
    assert needs_restoration(lowered)  # punctuated but without capitals
    assert not needs_restoration(transcript_of([Segment(index=0, text="hi there")]))  # too short to tell


def clean(name: str) -> Transcript:
    return TranscriptCleaner().run(transcript=load_source(str(DATA / name), None, None))["transcript"]


def test_component_modes_and_metadata() -> None:
    talk = clean("lightning-pricing.json")
    restorer = PunctuationRestorer(mode="auto")
    restorer.warm_up()
    out = restorer.run(transcript=talk)
    assert out["restored"] and out["transcript"].talk.punctuation == "restored"
    assert talk.talk.punctuation is None and talk.segments[1].text.islower()  # the input is not mutated
    assert_same_words(talk.segments, out["transcript"].segments)
    again = restorer.run(transcript=out["transcript"])  # restored text looks punctuated: left alone, still marked
    assert not again["restored"] and again["transcript"] == out["transcript"]

    off = PunctuationRestorer(mode="off").run(transcript=talk)
    assert not off["restored"] and off["transcript"].segments == talk.segments
    assert off["transcript"].talk.punctuation == "original"
    founder = clean("founder-talk.vtt")
    assert not PunctuationRestorer(mode="auto").run(transcript=founder)["restored"]
    forced = PunctuationRestorer(mode="on").run(transcript=founder)
    assert forced["restored"]
    assert_same_words(founder.segments, forced["transcript"].segments)
    with pytest.raises(ValueError, match="auto, on or off"):
        PunctuationRestorer(mode="sometimes")  # type: ignore[arg-type]


def test_component_serialises_with_its_settings() -> None:
    from haystack import Pipeline

    pipeline = Pipeline()
    pipeline.add_component("punctuation", PunctuationRestorer(mode="on"))
    loaded = Pipeline.loads(pipeline.dumps(), allowed_modules=["pipeline.*"])
    assert loaded.get_component("punctuation").mode == "on"


@pytest.fixture(scope="module")
def auto_caption_recaps(tmp_path_factory, ingestor_factory):
    from pipeline.recap import Recapper

    ingestor = ingestor_factory(tmp_path_factory.mktemp("auto-captions"))
    raw = {}
    for name in AUTO_CAPTION_TALKS:
        transcript = load_source(str(DATA / name), None, None)
        raw[transcript.talk.id] = transcript
        ingestor.ingest(transcript)
    recapper = Recapper(ingestor.workspace)
    recapper.warm_up()
    return {talk_id: (raw[talk_id], ingestor.workspace, recapper.recap(talk_id)) for talk_id in raw}


@pytest.mark.parametrize("talk_id", ["lightning-pricing", "docs-that-get-read"])
def test_auto_caption_talk_recapped_end_to_end(auto_caption_recaps, talk_id: str) -> None:
    raw, workspace, recap = auto_caption_recaps[talk_id]
    stored = workspace.load_transcript(talk_id)
    assert stored.talk.punctuation == "restored" and recap.talk.punctuation == "restored"
    cleaned = TranscriptCleaner().run(transcript=raw)["transcript"]
    assert_same_words(cleaned.segments, stored.segments)  # same words, same times
    takeaways = [t.text for theme in recap.themes for t in theme.takeaways]
    assert len(takeaways) >= 2
    for text in takeaways:
        assert text[0].isupper() and text.endswith((".", "?", "!")), text
    quotes = [q for theme in recap.themes for q in theme.quotes] + recap.key_quotes
    assert quotes
    spoken = " " + normalise(" ".join(s.text for s in raw.segments)) + " "
    for quote in quotes:  # verbatim to what was said: the words of the raw captions
        assert " " + normalise(quote.text) + " " in spoken, quote.text
    sentences = recap.overview.split(". ")
    assert all(s[:1].isupper() for s in sentences if s), recap.overview


def test_ingest_with_restoration_off_keeps_the_captions_as_they_are(tmp_path) -> None:
    from pipeline.ingest import Ingestor
    from pipeline.pipelines import IndexSettings
    from pipeline.workspace import Workspace

    ingestor = Ingestor(Workspace(tmp_path), IndexSettings(restore_punctuation="off"))
    ingestor.warm_up()
    raw = load_source(str(DATA / "lightning-pricing.json"), None, None)
    ingestor.ingest(raw)
    stored = ingestor.workspace.load_transcript("lightning-pricing")
    assert stored.talk.punctuation == "original"
    assert stored.segments == TranscriptCleaner().run(transcript=raw)["transcript"].segments
