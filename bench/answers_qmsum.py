"""ROUGE of the extractive `talks ask` answer on QMSum val's specific queries, beside a lead baseline.

Each meeting goes through the real indexing pipeline; each specific query is asked against its own meeting with
`--answer-words 65`. The lead baseline takes the same number of words from the start of the top passages.
ROUGE-1/2/Lsum F1 with stemming (rouge-score; Lsum over newline-separated sentences, as QMSum reports ROUGE-L).
Run: `python bench/answers_qmsum.py [--words 65] [--limit N]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from rouge_score import rouge_scorer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.qmsum import load_meeting, meeting_files
from pipeline.ingest import Ingestor
from pipeline.query import Searcher
from pipeline.text import split_sentences
from pipeline.workspace import Workspace

METRICS = ("rouge1", "rouge2", "rougeLsum")


def lines(text: str) -> str:
    return "\n".join(split_sentences(text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--words", type=int, default=65)
    parser.add_argument("--limit", type=int, default=0, help="only the first N meetings")
    args = parser.parse_args()
    scorer = rouge_scorer.RougeScorer(list(METRICS), use_stemmer=True)
    scores: dict[str, list[list[float]]] = {"extractive answer": [], "lead of passages": []}
    lengths: dict[str, list[int]] = {name: [] for name in scores}
    with tempfile.TemporaryDirectory() as directory:
        workspace = Workspace(Path(directory))
        ingestor = Ingestor(workspace)
        ingestor.warm_up()
        queries = []
        for path in meeting_files()[: args.limit or None]:
            transcript, meeting_queries, _ = load_meeting(path)
            ingestor.ingest(transcript)
            queries.extend(meeting_queries)
        searcher = Searcher(workspace)
        searcher.warm_up()
        for query in queries:
            answer = searcher.ask(query.question, talk=query.meeting, answer_words=args.words)
            written = " ".join(sentence.text for sentence in answer.sentences)
            lead = " ".join(" ".join(p.text for p in answer.passages).split()[: len(written.split())])
            for name, text in (("extractive answer", written), ("lead of passages", lead)):
                result = scorer.score(lines(query.answer), lines(text))
                scores[name].append([100 * result[m].fmeasure for m in METRICS])
                lengths[name].append(len(text.split()))
    print(f"QMSum val: {len(queries)} specific queries, answers of about {args.words} words")
    print(f"{'method':>18} | {'words':>5} | {'ROUGE-1':>7} | {'ROUGE-2':>7} | {'ROUGE-Lsum':>10}")
    for name, rows in scores.items():
        r1, r2, rl = np.mean(rows, axis=0)
        print(f"{name:>18} | {np.mean(lengths[name]):5.0f} | {r1:7.2f} | {r2:7.2f} | {rl:10.2f}")


if __name__ == "__main__":
    main()
