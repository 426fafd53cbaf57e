"""Punctuation and casing restoration on QMSum val, with punctuation and case stripped, beside a trivial baseline.

Run: `nice -n 10 python bench/punctuation.py [--weights FILE] [--compare FILE] [--limit N] [--speed-only]` (a few
minutes; twice that with `--compare`).

Each val meeting is read as `training/punctuation.py` reads its training data (annotations dropped, a change of
speaker ends a sentence), then lower-cased, stripped of punctuation, and cut into caption-like segments of 5-10
words (random lengths, seed 0) without speakers, so neither segment ends nor turns tell where sentences end. The
`PunctuationRestorer` (mode "on") restores it, through `restore_segments`, as at ingest. A second setting keeps
the turns: one segment a turn with its speaker (as ASR with diarisation gives it; a change of speaker then ends a
sentence, and the baseline's period at every segment end is a period at every turn end).

- boundary P/R/F1: a sentence boundary is a word followed by `.`, `?` or `!`; pooled over the meetings' words.
- sentence-start capitalisation accuracy: at every gold sentence start (the first word, and every word after a
  `.`/`?`/`!`) that the transcript capitalises, is the restored word written exactly as there; a missed boundary
  leaves it lower case, so this counts misses too. (QMSum writes about 8% of the words after a period in lower
  case, mostly a new turn going on with "and", "so", "yeah": those are not counted.)
- comma F1 and the case accuracy of the other words (words inside sentences), for information.
- words/s on one core: `torch.set_num_threads(1)`, median of 3 runs over the whole dev half (the MiniLM context
  features included, when the weights read them), by the wall clock (which the machine's other jobs slow) and by
  the process's CPU time (what a core of its own would give).

Baseline: a period at every segment end and a capital after it (what the segment fragments alone give).
Intervals: 90% bootstrap over meetings. The boundary threshold was tuned on dev only; check is untouched.

`--compare OTHER.npz` restores the same segments with other weights too and gives, for each setting and half, the
paired difference (the `--weights` model minus OTHER) in boundary F1 and start caps, with a 90% bootstrap interval
over the same resampled meetings; the speed rounds then alternate the two models (medians of each, and their
ratio, from one run at one load).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

from pipeline.components.punctuation import PunctuationModel, restore_segments  # noqa: E402
from pipeline.components.quotes import normalise  # noqa: E402
from pipeline.models import Segment  # noqa: E402
from training.punctuation import Meeting, read_turn, val_halves  # noqa: E402

_END = (".", "?", "!")
SETTINGS = {
    "captions": "lower case, unpunctuated 5-10 word pieces, no speakers (auto-captions)",
    "turns": "lower case, unpunctuated, one segment a turn with its speaker (ASR with diarisation)",
}


@dataclass
class Counts:
    """Per meeting: boundary tp/fp/fn, comma tp/fp/fn, sentence starts right/total, other words' case right/total."""

    values: np.ndarray  # shape (10,)

    @staticmethod
    def empty() -> Counts:
        return Counts(np.zeros(10))


def caption_segments(meeting: Meeting, seed: int = 0) -> list[Segment]:
    """The meeting's words, lower case and without punctuation, in segments of 5-10 words."""
    rng = random.Random(f"{seed}-{meeting.name}")
    words = [w.lower() for w in meeting.words]
    segments, position = [], 0
    while position < len(words):
        size = rng.randint(5, 10)
        segments.append(Segment(index=len(segments), text=" ".join(words[position : position + size])))
        position += size
    return segments


#: The project's own punctuated talk samples (`--samples`): written sentences, not QMSum's dialogue.
SAMPLES = ("founder-talk.vtt", "panel-remote-teams.srt", "fireside-chat.txt")


def sample_meeting(path: Path) -> Meeting:
    """A punctuated sample talk read as QMSum meetings are (`read_turn` on each segment; its last word ends a
    sentence), through the real parsers."""
    from pipeline.sources import expand_sources, load_source

    (item,) = expand_sources([str(path)])
    words: list[str] = []
    marks: list[int] = []
    turns: list[tuple[str, int]] = []
    for segment in load_source(item, None, None).segments:
        segment_words, segment_marks = read_turn(segment.text)
        words += segment_words
        marks += segment_marks
        if segment_words:
            turns.append((segment.speaker or "", len(segment_words)))
    marks[-1] = max(marks[-1], 2)
    return Meeting(path.stem, words, marks, [True] + [mark >= 2 for mark in marks[:-1]], turns)


def turn_segments(meeting: Meeting) -> list[Segment]:
    """The meeting's words, lower case and without punctuation, one segment a turn, with its speaker (as ASR with
    speaker diarisation gives them)."""
    segments, position = [], 0
    for speaker, size in meeting.turns:
        text = " ".join(w.lower() for w in meeting.words[position : position + size])
        segments.append(Segment(index=len(segments), text=text, speaker=speaker))
        position += size
    return segments


def baseline(segments: list[Segment]) -> list[Segment]:
    out = []
    for segment in segments:
        text = segment.text
        out.append(segment.model_copy(update={"text": (text[:1].upper() + text[1:] + ".") if text else text}))
    return out


def score(meeting: Meeting, restored: list[Segment]) -> Counts:
    tokens = [t for s in restored for t in s.text.split()]
    if normalise(" ".join(tokens)) != normalise(" ".join(meeting.words)):
        raise SystemExit(f"{meeting.name}: the restored words differ from the input")
    counts = np.zeros(10)
    for word, mark, start, token in zip(meeting.words, meeting.marks, meeting.starts, tokens, strict=True):
        gold_end, predicted_end = mark >= 2, token.endswith(_END)
        counts[0:3] += [gold_end and predicted_end, predicted_end and not gold_end, gold_end and not predicted_end]
        gold_comma, comma = mark == 1, token.endswith(",")
        counts[3:6] += [gold_comma and comma, comma and not gold_comma, gold_comma and not comma]
        bare = token.rstrip(".,?!")
        if start:
            if word[:1].isupper():  # a start the transcriber wrote in lower case ("yeah." / "and then") is a quirk
                counts[6:8] += [bare == word, 1]
        else:
            counts[8:10] += [bare == word, 1]
    return Counts(counts)


def f1(c: np.ndarray, offset: int) -> tuple[float, float, float]:
    tp, fp, fn = c[..., offset], c[..., offset + 1], c[..., offset + 2]
    precision = tp / np.maximum(tp + fp, 1)
    recall = tp / np.maximum(tp + fn, 1)
    return precision, recall, 2 * tp / np.maximum(2 * tp + fp + fn, 1)


def figures(c: np.ndarray) -> dict[str, np.ndarray]:
    p, r, f = f1(c, 0)
    _, _, comma = f1(c, 3)
    return {
        "boundary P": p,
        "boundary R": r,
        "boundary F1": f,
        "start caps": c[..., 6] / np.maximum(c[..., 7], 1),
        "comma F1": comma,
        "inner case": c[..., 8] / np.maximum(c[..., 9], 1),
    }


def report(name: str, per_meeting: list[Counts], rounds: int = 2000) -> dict[str, float]:
    """Each figure pooled over the meetings, with a 90% bootstrap interval (meetings resampled)."""
    table = np.stack([c.values for c in per_meeting])
    draws = np.random.default_rng(0).integers(0, len(table), size=(rounds, len(table)))
    pooled = figures(table.sum(axis=0))
    resampled = figures(table[draws].sum(axis=1))
    cells = []
    for key, value in pooled.items():
        low, high = np.percentile(resampled[key], [5, 95])
        cells.append(f"{key} {value:.3f} [{low:.3f}, {high:.3f}]")
    print(f"  {name:<9} " + "  ".join(cells))
    return {key: float(value) for key, value in pooled.items()}


def paired(name: str, ours: list[Counts], theirs: list[Counts], rounds: int = 2000) -> dict[str, tuple[float, ...]]:
    """`ours` minus `theirs` (the same meetings, in order) in boundary F1 and start caps, pooled, with a 90%
    bootstrap interval: each draw resamples the meetings once and scores both on them."""
    a = np.stack([c.values for c in ours])
    b = np.stack([c.values for c in theirs])
    draws = np.random.default_rng(0).integers(0, len(a), size=(rounds, len(a)))
    pooled_a, pooled_b = figures(a.sum(axis=0)), figures(b.sum(axis=0))
    drawn_a, drawn_b = figures(a[draws].sum(axis=1)), figures(b[draws].sum(axis=1))
    out, cells = {}, []
    for key in ("boundary F1", "start caps"):
        low, high = np.percentile(drawn_a[key] - drawn_b[key], [5, 95])
        out[key] = (float(pooled_a[key] - pooled_b[key]), float(low), float(high))
        cells.append(f"{key} {out[key][0]:+.4f} [{low:+.4f}, {high:+.4f}]")
    print(f"  {name:<9} " + "  ".join(cells))
    return out


def load_weights(path: Path | None, flag: str) -> PunctuationModel:
    """The weights at `path` (None: the packaged ones); a missing or unreadable file ends the run in one line."""
    if path is not None and not path.is_file():
        raise SystemExit(f"{flag} {path}: no such weights file")
    try:
        return PunctuationModel.load(path)
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise SystemExit(f"{flag} {path}: not punctuation weights ({type(error).__name__}: {error})") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=None, help="default: the packaged weights")
    parser.add_argument("--limit", type=int, default=0, help="only the first N meetings of each half")
    parser.add_argument("--speed-only", action="store_true", help="only the words/s figures")
    parser.add_argument("--samples", action="store_true", help="only the project's punctuated samples, as captions")
    parser.add_argument("--compare", type=Path, default=None, help="other weights: paired difference, speed ratio")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    model = load_weights(args.weights, "--weights")
    other = None if args.compare is None else load_weights(args.compare, "--compare")
    if args.samples:  # each cut into caption pieces three ways (seeds 0-2), pooled
        print(f"load: {os.getloadavg()[0]:.2f}; the project's punctuated samples as captions, 3 random cuts each")
        for name in SAMPLES:
            meeting = sample_meeting(ROOT / "data" / name)
            counts = sum(
                score(meeting, restore_segments(model, caption_segments(meeting, seed))).values for seed in range(3)
            )
            found = figures(counts)
            print(
                f"  {name}: {len(meeting.words):,} words, boundary F1 {found['boundary F1']:.3f} "
                f"(P {found['boundary P']:.3f}, R {found['boundary R']:.3f}), start caps {found['start caps']:.3f}"
            )
        return
    dev, check = val_halves()
    halves = {"dev": dev[: args.limit or None], "check": check[: args.limit or None]}
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (1/5 min), torch threads 1")
    print("90% bootstrap intervals over meetings")
    for setting, segmenter in () if args.speed_only else (("captions", caption_segments), ("turns", turn_segments)):
        print(f"\n{setting}: {SETTINGS[setting]}")
        for half, meetings in halves.items():
            words = sum(len(m.words) for m in meetings)
            print(f" {half}: {len(meetings)} meetings, {words:,} words")
            ours, trivial, theirs = [], [], []
            for meeting in meetings:
                segments = segmenter(meeting)
                ours.append(score(meeting, restore_segments(model, segments)))
                trivial.append(score(meeting, baseline(segments)))
                if other is not None:
                    theirs.append(score(meeting, restore_segments(other, segments)))
            report("model", ours)
            if other is not None:
                report("compare", theirs)
            report("baseline", trivial)
            if other is not None:
                paired("paired", ours, theirs)

    words = [w.lower() for m in halves["dev"] for w in m.words]
    models = {"model": model} if other is None else {"model": model, "compare": other}
    timings: dict[str, list[float]] = {name: [] for name in models}
    cpu: dict[str, list[float]] = {name: [] for name in models}
    for each in models.values():
        each.restore(words[:2000])  # warm
    for _ in range(3):  # with --compare, the rounds alternate the two models
        for name, each in models.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            each.restore(words)
            timings[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - started_cpu)
    for name in models:
        seconds, cpu_seconds = statistics.median(timings[name]), statistics.median(cpu[name])
        label = "" if other is None else f" ({name})"
        print(
            f"speed{label}: {len(words) / seconds:,.0f} words/s on one thread ({len(words):,} words, median of 3 "
            f"runs: {seconds:.2f} s wall); {len(words) / cpu_seconds:,.0f} words/s of CPU time ({cpu_seconds:.2f} s: "
            "what one core of its own would give, whatever the machine's load)"
        )
    if other is not None:
        ratio = statistics.median(cpu["compare"]) / statistics.median(cpu["model"])
        print(f"speed ratio (model / compare, words/s of CPU time): {ratio:.3f}")
    print(f"load after: {os.getloadavg()[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()
