"""ROUGE of the extractive `talks ask` answer on QMSum val's specific queries, dev and check halves side by side,
with 90% bootstrap intervals (over meetings) and paired gains: the fitted sentence scorer (the default, fitted on
train by `training/answer_scorer.py`) beside the hand-set scorer before it, the similarity-only writer before issue
15 and a lead baseline.

Each meeting goes through the real indexing pipeline (cached, see `bench.qmsum.cached_workspace`); each specific
query is asked against its own meeting through the real query pipeline, whose `ExtractiveAnswerWriter` writes about
`--words` words (the pipeline's highlighter output is cached too, so reruns only write answers; the first queries
are checked against `Searcher.ask`). With `--frozen`, the passages frozen by `training/answer_passages.py val`
instead, so the writers are compared on the same passages whatever retrieval does meanwhile. The lead baseline
takes as many words from the start of the top passages as the fitted scorer's answer has.
ROUGE-1/2/Lsum F1 with stemming (rouge-score; Lsum over newline-separated sentences, as QMSum reports ROUGE-L).
Run: `nice -n 10 python bench/answers_qmsum.py [--words 65] [--limit N] [--frozen]`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from rouge_score import rouge_scorer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.qmsum import HALVES, cached_workspace, highlighted, interval, load_meeting, val_halves
from pipeline.components.answer import ExtractiveAnswerWriter, Scorer
from pipeline.models import Passage
from pipeline.query import Searcher
from pipeline.text import split_sentences
from pipeline.workspace import Workspace
from training.answer_passages import frozen_path

METRICS = ("rouge1", "rouge2", "rougeLsum")
SIMILARITY_ONLY = Scorer({"similarity": 1.0})
METHODS = ("fitted scorer", "hand-set scorer", "similarity only", "lead of passages")
BASELINES = ("hand-set scorer", "similarity only", "lead of passages")


def lines(text: str) -> str:
    return "\n".join(split_sentences(text))


def cited(writer: ExtractiveAnswerWriter, question: str, passages: list[Passage], scores: list[list[float]]) -> str:
    answer = writer.run(query=question, passages=passages, sentence_scores=scores)["answer"]
    return " ".join(s.text for s in answer.sentences)


def queries(args: argparse.Namespace, halves: dict[str, list[Path]]):
    """(half, meeting, question, reference, passages, sentence scores) for each specific query: from the pipeline
    (cached per query), or with `--frozen` from the passages frozen by `training/answer_passages.py val`."""
    half_of = {path.stem: half for half in HALVES for path in halves[half]}
    if args.frozen:
        records = json.loads(frozen_path("val").read_text())
        for half in HALVES:
            for record in records:
                if half_of.get(record["meeting"]) == half:
                    passages = [Passage.model_validate(p) for p in record["passages"]]
                    yield half, record["meeting"], record["question"], record["answer"], passages, record["scores"]
        return
    searcher = Searcher(Workspace(cached_workspace("qmsum-val", halves["dev"] + halves["check"])))
    searcher.warm_up()
    checked = 0
    for half in HALVES:
        for path in halves[half]:
            for query in load_meeting(path)[1]:
                passages, sentence_scores = highlighted(searcher, query)
                if checked < 5:  # the cached pipeline output gives what `talks ask` gives
                    asked = searcher.ask(query.question, talk=query.meeting, answer_words=args.words)
                    writer = ExtractiveAnswerWriter(answer_words=args.words)
                    written = writer.run(query=query.question, passages=passages, sentence_scores=sentence_scores)
                    assert asked.answer == written["answer"].answer, (query.question, asked.answer)
                    checked += 1
                yield half, query.meeting, query.question, query.answer, passages, sentence_scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--words", type=int, default=65)
    parser.add_argument("--limit", type=int, default=0, help="only the first N meetings of each half")
    parser.add_argument("--frozen", action="store_true", help="the passages frozen by training/answer_passages.py")
    args = parser.parse_args()
    scorer = rouge_scorer.RougeScorer(list(METRICS), use_stemmer=True)
    halves = val_halves(args.limit)
    writers = {
        "fitted scorer": ExtractiveAnswerWriter(answer_words=args.words, scorer="fitted"),
        "hand-set scorer": ExtractiveAnswerWriter(answer_words=args.words, scorer="hand-set"),
        "similarity only": ExtractiveAnswerWriter(answer_words=args.words, scorer="hand-set"),
    }
    writers["similarity only"]._scorer = SIMILARITY_ONLY  # the writer before issue 15
    scores = {name: {half: [] for half in HALVES} for name in METHODS}
    lengths: dict[str, list[int]] = {name: [] for name in METHODS}
    meetings: dict[str, list[str]] = {half: [] for half in HALVES}
    for half, meeting, question, reference, passages, sentence_scores in queries(args, halves):
        texts = {name: cited(writer, question, passages, sentence_scores) for name, writer in writers.items()}
        length = len(texts["fitted scorer"].split())
        texts["lead of passages"] = " ".join(" ".join(p.text for p in passages).split()[:length])
        for name in METHODS:
            result = scorer.score(lines(reference), lines(texts[name]))
            scores[name][half].append([100 * result[m].fmeasure for m in METRICS])
            lengths[name].append(len(texts[name].split()))
        meetings[half].append(meeting)
    counts = ", ".join(f"{half} {len(set(meetings[half]))} meetings / {len(meetings[half])} queries" for half in HALVES)
    source = "frozen passages" if args.frozen else "the pipeline's passages"
    print(f"QMSum val specific queries ({counts}), {source}, answers of about {args.words} words (no citations)")
    print("ROUGE F1 x100, mean [90% bootstrap interval over meetings]")
    columns = [f"{m} {half}" for m in ("R-1", "R-2", "R-Lsum") for half in HALVES]
    print(" | ".join([f"{'method':>18}", f"{'words':>5}"] + [f"{c:>18}" for c in columns]))
    for name in METHODS:
        cells = []
        for column in range(len(METRICS)):
            for half in HALVES:
                values = np.asarray(scores[name][half])[:, column]
                cells.append(f"{interval(values, meetings[half]):>18}")
        print(" | ".join([f"{name:>18}", f"{np.mean(lengths[name]):5.0f}", *cells]))
    for against in BASELINES:
        print(f"\ngain of the fitted scorer against {against} (paired)")
        cells = []
        for column in range(len(METRICS)):
            for half in HALVES:
                ours = np.asarray(scores["fitted scorer"][half])[:, column]
                theirs = np.asarray(scores[against][half])[:, column]
                cells.append(f"{interval(ours - theirs, meetings[half], signed=True):>18}")
        print(" | ".join([f"{'':>18}", f"{'':>5}", *cells]))


if __name__ == "__main__":
    main()
