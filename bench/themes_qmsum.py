"""Theme segmentation and recap overviews on QMSum val, and recap time on the bundled samples.

Run: `python bench/themes_qmsum.py [--limit N] [--cache FILE] [--sweep]` (about 10 minutes on 2 CPU cores, most
of it embedding 30k sentences once; `--cache` keeps the embeddings for the next run).

Segmentation: Pk and WindowDiff (lower is better) of the recap's theme spans against each meeting's gold
`topic_list`, at turn level, beside an even split into the same number of segments; once with the number of
themes chosen automatically, once with the gold number given (`themes=N`). Gold segmentation: each topic's
`relevant_text_span`s label their turns; a turn inside two topics' spans (they sometimes overlap) belongs to the
topic whose span starts later (the newer topic); a turn inside no span (gaps) belongs to the topic before it (a
leading gap to the first topic). A boundary is every change of label between consecutive turns, so a topic the
meeting comes back to starts a new segment. k is half the mean gold segment length in turns (at least 2).

Overview: ROUGE-1/2/Lsum F1 (rouge_score, stemming; Lsum over newline-separated sentences) of the recap overview
against the reference answer of the meeting's general query ("Summarize the whole meeting." where there is one;
9 meetings ask it in other words, e.g. "What was the meeting about?"), beside a lead baseline: the meeting's
first words, as many as the overview has.

Chosen (`RecapSettings`), on this benchmark (figures: 35 meetings, run of 27 Nov 2026):
- segmentation "dp" (optimal split by within-block spread over sentence embeddings, pooled into 40-word units),
  not "tiling": given the gold number of themes both beat the even split by the same margin (Pk 0.359 and 0.364
  against 0.460), but only the DP's cost curve gives a usable automatic count; TextTiling's depth cutoff
  over-segments (7.4 segments a meeting against 4.6 gold; Pk/WD 0.441/0.561 against the DP's 0.379/0.433).
- the number of themes: the count whose drop in spread most exceeds the drop on the same units shuffled (a null
  model), less `min_excess` = 0.008 a block, with at most one block per 400 words. It gives 4.3 segments a
  meeting against 4.6 gold and beats the even split with as many segments by 0.09 Pk, like its neighbours
  (0.010: 3.2 segments and a lower Pk only because Pk favours fewer boundaries; 0.006: 6.1 segments); on the
  founder talk it finds 5 themes (intro and origin story, open source, bootstrapping, team, scaling).
  Pooling 20-word units scores best here but gives 2.8 segments a meeting: too few themes for a recap.
- overview_words = 120: the overview (intro sentence, then the best takeaway of each theme) averages 107 words
  (ROUGE-1/2/Lsum 24.24 / 4.14 / 21.19 against the lead baseline's 17.17 / 2.60 / 15.71, run of the keyphrase-title
  change; segmentation figures unchanged),
  about the references' ~110; a 160-word budget adds little (109 words, +0.2 ROUGE-1: it runs out of themes),
  80 words scores lower.
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from rouge_score import rouge_scorer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

from bench.qmsum import load_meeting, meeting_files
from pipeline.components.cleaner import TranscriptCleaner
from pipeline.models import Theme, Transcript
from pipeline.recap import (
    Recapper,
    RecapSettings,
    build_recap_pipeline,
    extractive_overview,
    talk_intro,
)
from pipeline.sources.files import discover, load_file
from pipeline.text import split_sentences
from pipeline.workspace import Workspace

DATA = Path(__file__).resolve().parents[1] / "data"


def gold_labels(data: dict, turns: int) -> list[int]:
    """Each turn's gold segment number (see the module doc for overlaps and gaps)."""
    labels: list[int | None] = [None] * turns
    spans = sorted(
        (int(a), int(b), topic) for topic, item in enumerate(data["topic_list"]) for a, b in item["relevant_text_span"]
    )
    for first, last, topic in spans:  # sorted by start, so a later-starting span overwrites an overlap
        for turn in range(max(0, first), min(turns - 1, last) + 1):
            labels[turn] = topic
    previous = next((label for label in labels if label is not None), 0)
    filled = []
    for label in labels:
        previous = previous if label is None else label
        filled.append(previous)
    return segment_numbers(filled)


def segment_numbers(labels: list) -> list[int]:
    """Labels → segment numbers that go up by one at each change of label."""
    out, number = [], 0
    for i, label in enumerate(labels):
        if i and label != labels[i - 1]:
            number += 1
        out.append(number)
    return out


def theme_labels(themes: list[Theme], turns: int) -> list[int]:
    """Each turn's segment number from the themes' spans (turns before or between spans join the span before)."""
    starts = sorted(span.first_segment for theme in themes for span in theme.spans)
    labels, number = [], 0
    for turn in range(turns):
        while number + 1 < len(starts) and starts[number + 1] <= turn:
            number += 1
        labels.append(number)
    return segment_numbers(labels)


def even_labels(turns: int, segments: int) -> list[int]:
    return [min(segments - 1, turn * segments // turns) for turn in range(turns)]


def pk_windowdiff(reference: list[int], hypothesis: list[int]) -> tuple[float, float]:
    """Pk and WindowDiff with k = half the mean reference segment length (at least 2)."""
    n = len(reference)
    k = max(2, round(n / (reference[-1] + 1) / 2))
    if n <= k:
        return 0.0, 0.0
    ref = np.concatenate([[0], np.cumsum(np.diff(reference) != 0)])
    hyp = np.concatenate([[0], np.cumsum(np.diff(hypothesis) != 0)])
    ref_counts, hyp_counts = ref[k:] - ref[:-k], hyp[k:] - hyp[:-k]
    pk = float(np.mean((ref_counts > 0) != (hyp_counts > 0)))
    wd = float(np.mean(ref_counts != hyp_counts))
    return pk, wd


def general_reference(data: dict) -> str:
    queries = data["general_query_list"]
    chosen = next((q for q in queries if "summar" in q["query"].lower() and "meeting" in q["query"].lower()), None)
    return (chosen or queries[0])["answer"]


def lines(text: str) -> str:
    return "\n".join(split_sentences(text))


def embed_meetings(limit: int, cache: Path | None) -> list[tuple[Transcript, dict, list]]:
    if cache and cache.exists():
        meetings = pickle.loads(cache.read_bytes())
        return meetings[: limit or None]
    pipeline = build_recap_pipeline()
    splitter, embedder = pipeline.get_component("splitter"), pipeline.get_component("embedder")
    embedder.warm_up()
    meetings = []
    started = time.perf_counter()
    for path in meeting_files()[: limit or None]:
        transcript, _, data = load_meeting(path)
        documents = embedder.run(documents=splitter.run(transcripts=[transcript])["documents"])["documents"]
        meetings.append((transcript, data, documents))
        print(
            f"  embedded {path.stem}: {len(documents)} sentences ({time.perf_counter() - started:.0f}s)",
            file=sys.stderr,
        )
    if cache:
        cache.write_bytes(pickle.dumps(meetings))
    return meetings


def evaluate(meetings: list, settings: RecapSettings, overview_words: list[int]) -> dict[str, float]:
    """Segmentation figures, and ROUGE of the overview for each word budget, with the recap's own components."""
    pipeline = build_recap_pipeline(settings)
    pipeline.warm_up()
    segmenter, titler = pipeline.get_component("segmenter"), pipeline.get_component("titler")
    takeaways = pipeline.get_component("takeaways")
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeLsum"], use_stemmer=True)
    rows: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        rows.setdefault(name, []).append(value)

    for transcript, data, documents in meetings:
        turns = len(transcript.segments)
        gold = gold_labels(data, turns)
        segmented = segmenter.run(documents=documents, transcripts=[transcript])
        hypothesis = theme_labels(segmented["themes"], turns)
        count = hypothesis[-1] + 1
        for name, labels in (("auto", hypothesis), ("even@auto", even_labels(turns, count))):
            pk, wd = pk_windowdiff(gold, labels)
            add(f"{name} Pk", pk)
            add(f"{name} WD", wd)
        add("segments auto", count)
        add("segments gold", gold[-1] + 1)
        forced = segmenter.run(documents=documents, transcripts=[transcript], theme_count=gold[-1] + 1)["themes"]
        for name, labels in (("gold k", theme_labels(forced, turns)), ("even@gold", even_labels(turns, gold[-1] + 1))):
            pk, wd = pk_windowdiff(gold, labels)
            add(f"{name} Pk", pk)
            add(f"{name} WD", wd)
        themes = titler.run(themes=segmented["themes"], documents=segmented["documents"])["themes"]
        result = takeaways.run(themes=themes, documents=segmented["documents"])
        reference = lines(general_reference(data))
        meeting_words = " ".join(s.text for s in transcript.segments).split()
        intro = talk_intro(transcript.talk, result["themes"])
        for budget in overview_words:
            overview = extractive_overview(intro, result["themes"], result["scores"], budget)
            lead = " ".join(meeting_words[: len(overview.split())])
            for name, text in ((f"overview@{budget}", overview), (f"lead@{budget}", lead)):
                scores = scorer.score(reference, lines(text))
                for metric in ("rouge1", "rouge2", "rougeLsum"):
                    add(f"{name} {metric}", 100 * scores[metric].fmeasure)
            add(f"overview@{budget} words", len(overview.split()))
    return {name: statistics.mean(values) for name, values in rows.items()}


def sample_timings() -> list[tuple[str, int, float]]:
    """Seconds per recap of each bundled sample (model loaded and warmed up first)."""
    with tempfile.TemporaryDirectory() as directory:
        workspace = Workspace(Path(directory)).create()
        for path in discover([DATA]):
            workspace.save_transcript(TranscriptCleaner().run(transcript=load_file(path))["transcript"])
        recapper = Recapper(workspace)
        recapper.warm_up()
        recapper.recap(workspace.talk_ids()[0])  # first run pays one-off start-up costs
        timings = []
        for talk_id in workspace.talk_ids():
            transcript = workspace.load_transcript(talk_id)
            started = time.perf_counter()
            recapper.recap(talk_id)
            timings.append((talk_id, transcript.word_count, time.perf_counter() - started))
        return timings


def print_segmentation(name: str, figures: dict[str, float]) -> None:
    print(
        f"| {name} | {figures['auto Pk']:.3f} / {figures['auto WD']:.3f} | "
        f"{figures['even@auto Pk']:.3f} / {figures['even@auto WD']:.3f} | {figures['segments auto']:.2f} | "
        f"{figures['gold k Pk']:.3f} / {figures['gold k WD']:.3f} | "
        f"{figures['even@gold Pk']:.3f} / {figures['even@gold WD']:.3f} | {figures['segments gold']:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=0, help="only the first N meetings")
    parser.add_argument("--cache", type=Path, help="pickle of the embedded meetings, written once, then reused")
    parser.add_argument("--sweep", action="store_true", help="also try the other segmentation settings")
    parser.add_argument("--no-timing", action="store_true", help="skip timing the recaps of the bundled samples")
    args = parser.parse_args()
    started = time.perf_counter()
    meetings = embed_meetings(args.limit, args.cache)
    embed_seconds = time.perf_counter() - started
    default = RecapSettings()
    budgets = [80, 120, 160] if args.sweep else [default.overview_words]
    figures = evaluate(meetings, default, budgets)
    print(f"\nQMSum val: {len(meetings)} meetings (embedding {embed_seconds:.0f}s)\n")
    print("Segmentation, Pk / WindowDiff (lower is better)\n")
    print("| settings | auto | even split, same count | segments | gold count given | even split, gold count | gold |")
    print("|---|---|---|---|---|---|---|")
    print_segmentation(f"default ({default.segmentation}, min_excess {default.min_excess})", figures)
    if args.sweep:
        variants = {
            "dp, min_excess 0.006": replace(default, min_excess=0.006),
            "dp, min_excess 0.010": replace(default, min_excess=0.010),
            "dp, min_theme_words 300": replace(default, min_theme_words=300),
            "dp, unit_words 20": replace(default, unit_words=20),
            "tiling (depth > mean)": replace(default, segmentation="tiling"),
        }
        for name, settings in variants.items():
            print_segmentation(name, evaluate(meetings, settings, []))
    print("\nOverview vs the general-query reference, ROUGE F1 (higher is better)\n")
    print("| summary | words | ROUGE-1 | ROUGE-2 | ROUGE-Lsum |")
    print("|---|---|---|---|---|")
    for budget in budgets:
        words = figures[f"overview@{budget} words"]
        for name in (f"overview@{budget}", f"lead@{budget}"):
            label = f"recap overview ({budget}-word budget)" if name.startswith("overview") else "lead baseline"
            print(
                f"| {label} | {words:.0f} | {figures[f'{name} rouge1']:.2f} | {figures[f'{name} rouge2']:.2f} | "
                f"{figures[f'{name} rougeLsum']:.2f} |"
            )
    if not args.no_timing:
        print("\nRecap time on the bundled samples (model warm)\n")
        print("| talk | words | seconds |")
        print("|---|---|---|")
        for talk_id, words, seconds in sample_timings():
            print(f"| {talk_id} | {words} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
