"""What the answer writer's made-up-name check (`pipeline.llm.answer.unknown_names`) does to LLM answers already
written, without running the model again: the cached answers of `bench/llm_qmsum.py` (specific queries), their
sentences re-checked against the passages the writer showed, ROUGE-1 paired against the cached answer by val half.

Run: `python bench/llm_answer_names.py [CACHE.jsonl]` (default: the newest `llm-qmsum-*.jsonl` in the bench cache).
An answer left with no sentence counts as the extractive answer, as the writer falls back to it.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

from bench.llm_qmsum import _names, select_items  # noqa: E402
from bench.qmsum import CACHE_DIR, cached_workspace, highlighted, interval, val_halves  # noqa: E402
from pipeline.llm.answer import passage_heading, unknown_names  # noqa: E402

SENTENCE = re.compile(r"(.+?[.!?])((?:\s\[\d+\])+)")  # a written answer: each sentence followed by its [n] markers
SHOWN = 3  # passages the benchmark's writer reads (`--max-passages` default)


def main() -> None:
    from rouge_score import rouge_scorer

    from pipeline.query import Searcher
    from pipeline.workspace import Workspace

    path = Path(sys.argv[1]) if len(sys.argv) > 1 else max(CACHE_DIR.glob("llm-qmsum-*.jsonl"), key=os.path.getmtime)
    rows = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if row["kind"] == "specific":
            rows[(row["meeting"], row["query"])] = row
    halves = val_halves()
    searcher = Searcher(Workspace(cached_workspace("qmsum-val", halves["dev"] + halves["check"])))
    scorer = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=True)
    totals = defaultdict(lambda: {"delta": [], "meetings": [], "dropped": 0, "sentences": 0, "fallbacks": 0})
    dropped = []
    for half, kind, item in select_items(4, 0):
        key = _names(kind, item)
        row = rows.get(key)
        if row is None or row["method"] != "llama-cpp":
            continue
        passages, _ = highlighted(searcher, item)
        shown = [f"{passage_heading(p)}\n{p.text}" for p in passages[:SHOWN]]
        total, kept = totals[half], []
        for text, _markers in SENTENCE.findall(row["text"]):
            total["sentences"] += 1
            names = unknown_names(text.strip(), shown)
            if names:
                total["dropped"] += 1
                dropped.append((key[0], names, text.strip()))
            else:
                kept.append(text.strip())
        if kept:
            score = scorer.score(item.answer, " ".join(kept))["rouge1"].fmeasure * 100
        else:
            total["fallbacks"] += 1
            score = row["extractive"]["rouge1"]
        total["delta"].append(score - row["llm"]["rouge1"])
        total["meetings"].append(key[0])
    print(f"{path.name}; load {os.getloadavg()[0]:.1f}")
    for half, total in totals.items():
        paired = interval(total["delta"], total["meetings"], signed=True)
        print(
            f"{half}: {len(total['delta'])} answers, {total['sentences']} sentences, {total['dropped']} dropped, "
            f"{total['fallbacks']} left empty (extractive); ROUGE-1 paired {paired}"
        )
    for meeting, names, text in dropped:
        print(f"  {meeting}: {', '.join(names)} — {text}")


if __name__ == "__main__":
    main()
