"""The SQLite store against the memory store on QMSum val: retrieval (hybrid recall@5 / hit@5 through the whole query
pipeline) and highlights (stored sentence embeddings against embedding the sentences per question).

Each specific query is asked against its own meeting (`--top-k 10`, as `bench/retrieval_qmsum.py`). Highlights are
scored on the passages that overlap the gold span: does the passage's best highlighted sentence lie in a gold
turn? "per question" embeds the passages' sentences at question time (the highlighter before sentence embeddings
were stored); "stored" reads the ones written at ingest; both on the same passages of the SQLite pipeline. Figures
for the dev and check halves of val with 90% bootstrap intervals over meetings; timings are medians a question.

Run: `python bench/highlights_qmsum.py [--limit N]` (N meetings of each half).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from bench.qmsum import HALVES, cached_workspace, interval, load_meeting, val_halves
from pipeline.components.passages import PassageHighlighter
from pipeline.models import Passage, Transcript
from pipeline.pipelines import QuerySettings, query_inputs
from pipeline.query import Searcher
from pipeline.stores import StoreConfig
from pipeline.workspace import Workspace

TOP_K = 10


def turn_of(sentence: str, transcript: Transcript, passage: Passage) -> int | None:
    """The turn of the passage holding the sentence (a speaker label `Name: ` opening it is ignored)."""
    text = sentence.split(": ", 1)[1] if ": " in sentence[:60] else sentence
    head = " ".join(text.split()[:6])
    for probe in (text, head):
        for index in range(passage.first_segment, passage.last_segment + 1):
            if probe and probe in transcript.segments[index].text:
                return index
    return None


def highlight_hits(passages: list[Passage], gold: set[int], transcript: Transcript, k: int = 5) -> list[float]:
    """For each of the first k passages that overlaps the gold span: 1 when its best highlight lies in a gold turn."""
    hits = []
    for passage in passages[:k]:
        if not gold & set(range(passage.first_segment, passage.last_segment + 1)):
            continue
        turn = turn_of(passage.highlights[0], transcript, passage) if passage.highlights else None
        hits.append(float(turn in gold))
    return hits


def retrieval_figures(passages: list[Passage], gold: set[int]) -> tuple[float, float]:
    covered = {t for p in passages[:5] for t in range(p.first_segment, p.last_segment + 1)}
    return len(gold & covered) / len(gold), float(bool(gold & covered))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=0, help="only the first N meetings of each half")
    args = parser.parse_args()
    halves = val_halves(args.limit)
    files = [path for half in HALVES for path in halves[half]]
    started = time.perf_counter()
    sqlite_root = cached_workspace("h12-val-sentences", files, store=StoreConfig(kind="sqlite"))
    memory_root = cached_workspace("h12-val-sentences", files, store=StoreConfig(kind="memory"))
    print(f"workspaces ready in {time.perf_counter() - started:.0f}s: {sqlite_root}, {memory_root}", flush=True)
    settings = QuerySettings(top_k=TOP_K)
    memory = Searcher(Workspace(memory_root), settings, StoreConfig(kind="memory"))
    sqlite = Searcher(Workspace(sqlite_root), settings, StoreConfig(kind="sqlite"))
    memory.warm_up()
    sqlite.warm_up()
    per_question = PassageHighlighter()  # no stored vectors: embeds the sentences at question time, as before
    rows: dict[str, dict[str, list]] = {}
    timings: dict[str, list[float]] = {"memory ask": [], "sqlite ask": [], "highlight per question": [], "stored": []}
    for half in HALVES:
        figures = rows.setdefault(half, {})
        for path in halves[half]:
            transcript, queries, _ = load_meeting(path)
            for query in queries:
                t0 = time.perf_counter()
                before = memory.ask(query.question, top_k=TOP_K, talk=query.meeting)
                t1 = time.perf_counter()
                filters = sqlite.filters(talk=query.meeting, event=None, speaker=None)
                output = sqlite.pipeline.run(
                    query_inputs(query.question, filters, TOP_K, None), include_outputs_from={"selector", "highlighter"}
                )
                t2 = time.perf_counter()
                after = output["answer_writer"]["answer"]
                chosen = output["selector"]["documents"]
                vector = sqlite.pipeline.get_component("text_embedder").run(text=query.question)["embedding"]
                t3 = time.perf_counter()
                redone = per_question.run(documents=chosen, query=query.question, query_embedding=vector)["passages"]
                t4 = time.perf_counter()
                stored = sqlite.pipeline.get_component("highlighter")
                stored.run(documents=chosen, query=query.question, query_embedding=vector)
                t5 = time.perf_counter()
                timings["memory ask"].append(t1 - t0)
                timings["sqlite ask"].append(t2 - t1)
                timings["highlight per question"].append(t4 - t3)
                timings["stored"].append(t5 - t4)
                for name, passages in (("memory", before.passages), ("sqlite", after.passages)):
                    recall, hit = retrieval_figures(passages, query.gold_turns)
                    figures.setdefault(f"{name} recall@5", []).append((100 * recall, query.meeting))
                    figures.setdefault(f"{name} hit@5", []).append((100 * hit, query.meeting))
                for name, passages in (
                    ("memory pipeline", before.passages),
                    ("sqlite, per question", redone),
                    ("sqlite, stored", after.passages),
                ):
                    for value in highlight_hits(passages, query.gold_turns, transcript):
                        figures.setdefault(f"highlight in gold: {name}", []).append((100 * value, query.meeting))
                same = [a.highlights == b.highlights for a, b in zip(redone, after.passages, strict=True)]
                figures.setdefault("same highlights (stored vs per question)", []).extend(
                    (100.0 * s, query.meeting) for s in same
                )
    print(f"\nQMSum val, top-k {TOP_K}, dev and check halves, 90% bootstrap intervals over meetings")
    names = list(rows[HALVES[0]])
    print(f"{'figure':<44} " + " ".join(f"{half:>22}" for half in HALVES))
    for name in names:
        cells = []
        for half in HALVES:
            values = rows[half].get(name, [])
            cells.append(interval([v for v, _ in values], [m for _, m in values]) if values else "-")
        print(f"{name:<44} " + " ".join(f"{cell:>22}" for cell in cells))
    print("\nmedian ms a question: " + ", ".join(f"{k} {1000 * np.median(v):.0f}" for k, v in timings.items()))


if __name__ == "__main__":
    main()
