"""ROUGE of the extractive `talks ask` answer on QMSum val's specific queries, dev and check halves side by side,
with 90% bootstrap intervals (over meetings), beside the previous writer and a lead baseline.

Each meeting goes through the real indexing pipeline (cached, see `bench.qmsum.cached_workspace`); each specific
query is asked against its own meeting through the real query pipeline, whose `ExtractiveAnswerWriter` writes about
`--words` words (the pipeline's highlighter output is cached too, so reruns only write answers; the first queries
are checked against `Searcher.ask`). "similarity only" is the writer before issue 15 (sentences by the
highlighter's similarity alone); the lead baseline takes as many words from the start of the top passages.
ROUGE-1/2/Lsum F1 with stemming (rouge-score; Lsum over newline-separated sentences, as QMSum reports ROUGE-L).
Run: `nice -n 10 python bench/answers_qmsum.py [--words 65] [--limit N]`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from unittest import mock

import numpy as np
from rouge_score import rouge_scorer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.qmsum import HALVES, cached_workspace, highlighted, interval, load_meeting, val_halves
from pipeline.components import answer as answer_module
from pipeline.components.answer import ExtractiveAnswerWriter
from pipeline.query import Searcher
from pipeline.text import split_sentences
from pipeline.workspace import Workspace

METRICS = ("rouge1", "rouge2", "rougeLsum")
SIMILARITY_ONLY = {name: float(name == "similarity") for name in answer_module.FEATURES}


def lines(text: str) -> str:
    return "\n".join(split_sentences(text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--words", type=int, default=65)
    parser.add_argument("--limit", type=int, default=0, help="only the first N meetings of each half")
    args = parser.parse_args()
    scorer = rouge_scorer.RougeScorer(list(METRICS), use_stemmer=True)
    halves = val_halves(args.limit)
    searcher = Searcher(Workspace(cached_workspace("qmsum-val", halves["dev"] + halves["check"])))
    searcher.warm_up()
    writer = ExtractiveAnswerWriter(answer_words=args.words)
    methods = ("extractive answer", "similarity only", "lead of passages")
    scores = {name: {half: [] for half in HALVES} for name in methods}
    lengths: dict[str, list[int]] = {name: [] for name in methods}
    meetings: dict[str, list[str]] = {half: [] for half in HALVES}
    checked = 0
    for half in HALVES:
        for path in halves[half]:
            for query in load_meeting(path)[1]:
                passages, sentence_scores = highlighted(searcher, query)
                written = writer.run(query=query.question, passages=passages, sentence_scores=sentence_scores)
                text = written["answer"].answer or ""
                if checked < 5:  # the cached pipeline output gives what `talks ask` gives
                    asked = searcher.ask(query.question, talk=query.meeting, answer_words=args.words)
                    assert asked.answer == written["answer"].answer, (query.question, asked.answer, text)
                    checked += 1
                with mock.patch.object(answer_module, "WEIGHTS", SIMILARITY_ONLY):
                    before = writer.run(query=query.question, passages=passages, sentence_scores=sentence_scores)
                cited = " ".join(s.text for s in written["answer"].sentences)
                lead = " ".join(" ".join(p.text for p in passages).split()[: len(cited.split())])
                similar = " ".join(s.text for s in before["answer"].sentences)
                for name, candidate in zip(methods, (cited, similar, lead), strict=True):
                    result = scorer.score(lines(query.answer), lines(candidate))
                    scores[name][half].append([100 * result[m].fmeasure for m in METRICS])
                    lengths[name].append(len(candidate.split()))
                meetings[half].append(query.meeting)
    counts = ", ".join(f"{half} {len(set(meetings[half]))} meetings / {len(meetings[half])} queries" for half in HALVES)
    print(f"QMSum val specific queries ({counts}), answers of about {args.words} words (citations not counted)")
    print("ROUGE F1 x100, mean [90% bootstrap interval over meetings]")
    columns = [f"{m} {half}" for m in ("R-1", "R-2", "R-Lsum") for half in HALVES]
    print(" | ".join([f"{'method':>18}", f"{'words':>5}"] + [f"{c:>18}" for c in columns]))
    for name in methods:
        cells = []
        for column in range(len(METRICS)):
            for half in HALVES:
                values = np.asarray(scores[name][half])[:, column]
                cells.append(f"{interval(values, meetings[half]):>18}")
        print(" | ".join([f"{name:>18}", f"{np.mean(lengths[name]):5.0f}", *cells]))
    for against in ("similarity only", "lead of passages"):
        print(f"\ngain of the extractive answer against {against} (paired)")
        cells = []
        for column in range(len(METRICS)):
            for half in HALVES:
                ours = np.asarray(scores["extractive answer"][half])[:, column]
                theirs = np.asarray(scores[against][half])[:, column]
                cells.append(f"{interval(ours - theirs, meetings[half], signed=True):>18}")
        print(" | ".join([f"{'':>18}", f"{'':>5}", *cells]))


if __name__ == "__main__":
    main()
