"""How fast questions are answered: warm `ask` in one process (highlights and extractive answer included) and cold
`talks ask` / `talks list` from the command line, on the default (SQLite) store.

Warm, the two configurations of the targets (README, "Warm ask, recap and ingest overhead"), each with the load
before and after:
- 100 talks of ~35 min (copies of the founder talk, 35 min, 4.9k words, under new ids), `--top-k 5`, the questions of
  `bench/ingest.py`; asked through a `Searcher` and through `Library.ask` (the path of `talks serve`), interleaved
  question by question, side by side; beside them the 100-talk corpus of `bench/serve.py` (copies of all five
  samples, 14 min on average), so this bench and that one can be compared;
- long meetings: the 35 QMSum val meetings (~10k words each), `--top-k 10`, QMSum val questions, across the archive
  and each against its own meeting (a talk filter).
A `Searcher` is opened and warmed once a workspace; p50/p95 in ms. Workspaces are ingested once into the bench
cache. Cold: `talks ask` and `talks list` as subprocesses on a workspace of the bundled samples, median of `--runs`.

Run: `python bench/ask.py [--questions 60] [--rounds 5] [--runs 5] [--skip-cold] [--skip-warm]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from bench.qmsum import CACHE_DIR, HALVES, cached_workspace, load_meeting, val_halves

ROOT = Path(__file__).resolve().parents[1]
FOUNDER_TALK = ROOT / "data" / "founder-talk.vtt"


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def percentiles(seconds: list[float]) -> str:
    values = np.asarray(seconds) * 1000
    return f"p50 {np.percentile(values, 50):6.0f} ms  p95 {np.percentile(values, 95):6.0f} ms  (n={len(values)})"


def long_talks_workspace(talks: int) -> Path:
    """A cached workspace of `talks` copies of the founder talk: the talk is ingested once through the real pipeline,
    and its stored chunks, embeddings and sentence embeddings are copied under each new id (what ingesting the copy
    would store, without embedding the same text 100 times)."""
    from pipeline.api import Library
    from pipeline.sources import expand_sources, load_source
    from pipeline.stores import StoreConfig, open_store, transcript_fingerprint
    from pipeline.workspace import Workspace

    root = CACHE_DIR / f"founder-{talks}"
    founder = load_source(expand_sources([str(FOUNDER_TALK)])[0], None, None)
    copies = [
        founder.model_copy(update={"talk": founder.talk.model_copy(update={"id": f"{founder.talk.id}-{n}"})})
        for n in range(talks)
    ]
    with Library(root) as library:
        present = set(library.talk_ids())
        if copies[0].talk.id not in present:
            report = library.ingest([copies[0]])
            if report.failures:
                raise SystemExit(f"ingest failed: {report.failures[0]}")
    missing = [copy for copy in copies[1:] if copy.talk.id not in present]
    if missing:
        print(f"copying the founder talk's rows under {len(missing)} new ids into {root} …", flush=True)
        workspace, first = Workspace(root), copies[0].talk.id
        with open_store(StoreConfig(kind="sqlite"), root) as store:
            documents, header = store.documents(first), store.header(first) or {}
            vectors = store.sentence_vectors([doc.id for doc in documents])
            for copy in missing:
                talk_id = copy.talk.id
                renamed = [
                    replace(doc, id=talk_id + doc.id[len(first) :], meta={**doc.meta, "talk_id": talk_id})
                    for doc in documents
                ]
                workspace.save_transcript(copy)
                sentences = [vectors[doc.id] for doc in documents]
                fingerprint = transcript_fingerprint(copy)
                store.replace_talk(
                    talk_id,
                    renamed,
                    fingerprint,
                    header["settings"],
                    sentence_vectors=sentences,
                    sentence_kind=header["sentence_kind"],
                )
    return root


def timings(asks: dict[str, Callable[[str], object]], questions: list[str]) -> dict[str, list[float]]:
    """Each question asked by every way in turn (interleaved, so load changes hit all of them alike). The answer
    writer's cache of cleaned sentences is emptied before each (untimed): the 100-talk rounds repeat 8 questions, and
    a warm cache would time a question whose passages were all seen before."""
    from pipeline.components.answer import _clean

    times: dict[str, list[float]] = {name: [] for name in asks}
    for question in questions:
        for name, ask in asks.items():
            _clean.cache_clear()
            started = time.perf_counter()
            ask(question)
            times[name].append(time.perf_counter() - started)
    return times


def warm_talks(rounds: int) -> None:
    from bench.ingest import QUESTIONS
    from bench.serve import workspace_with
    from pipeline.api import Library
    from pipeline.query import Searcher
    from pipeline.workspace import Workspace

    roots = {"100 talks of ~35 min": long_talks_workspace(100), "bench/serve.py's 100 talks": workspace_with(100)}
    for corpus, root in roots.items():
        searcher, library = Searcher(Workspace(root)), Library(root)
        searcher.warm_up()
        library.warm_up()
        asks = {
            "Searcher.ask": lambda question, searcher=searcher: searcher.ask(question, top_k=5),
            "Library.ask (talks serve)": lambda question, library=library: library.ask(question, top_k=5),
        }
        timings(asks, QUESTIONS[:2])  # first calls (caches, lazy imports) left out
        before = load()
        times = timings(asks, QUESTIONS * rounds)
        chunks = searcher.store.count_chunks()
        print(
            f"warm ask, {corpus} ({len(searcher.talk_ids)} talks, {chunks} chunks), top-k 5, load {before} → {load()}"
        )
        for name, seconds in times.items():
            print(f"  {name:<26}: {percentiles(seconds)}", flush=True)
        searcher.close()
        library.close()


def warm_meetings(questions: int) -> None:
    from pipeline.components.answer import _clean
    from pipeline.query import Searcher
    from pipeline.stores import StoreConfig
    from pipeline.workspace import Workspace

    halves = val_halves()
    files = [path for half in HALVES for path in halves[half]]
    root = cached_workspace("h12-val-sentences", files, store=StoreConfig(kind="sqlite"))
    asked = [(query.question, query.meeting) for path in files for query in load_meeting(path)[1]][:questions]
    searcher = Searcher(Workspace(root), store=StoreConfig(kind="sqlite"))
    searcher.warm_up()
    chunks = searcher.store.count_chunks()
    for question, _ in asked[:2]:
        searcher.ask(question, top_k=10)
    before = load()
    times: dict[str, list[float]] = {"whole archive": [], "own meeting": []}
    for question, meeting in asked:
        for scope, talk in (("whole archive", None), ("own meeting", meeting)):
            _clean.cache_clear()  # as in `timings`
            started = time.perf_counter()
            searcher.ask(question, top_k=10, talk=talk)
            times[scope].append(time.perf_counter() - started)
    print(
        f"warm ask, QMSum val long meetings ({len(files)} meetings, {chunks} chunks), top-k 10, "
        f"load {before} → {load()}"
    )
    for scope, seconds in times.items():
        print(f"  {scope:<26}: {percentiles(seconds)}", flush=True)
    searcher.close()


def cold(runs: int) -> None:
    from pipeline.ingest import Ingestor
    from pipeline.pipelines import IndexSettings
    from pipeline.sources import expand_sources, load_source
    from pipeline.workspace import Workspace

    with tempfile.TemporaryDirectory(prefix="bench-ask-") as directory:
        workspace = Workspace(Path(directory) / "ws")
        ingestor = Ingestor(workspace, IndexSettings())
        ingestor.warm_up()
        for outcome in ingestor.ingest_many(
            load_source(item, None, None) for item in expand_sources([str(ROOT / "data")])
        ):
            if outcome.error:
                raise outcome.error
        env = {**os.environ, "TALKS_WORKSPACE": str(workspace.root), "HAYSTACK_TELEMETRY_ENABLED": "False"}
        commands = {
            "talks list": ["list"],
            "talks show": ["show", "founder-talk"],
            "talks ask": ["ask", "Why did they keep the Apache license?"],
        }
        print(f"cold commands on the samples ({runs} runs each, median), load {load()}")
        for name, arguments in commands.items():
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                result = subprocess.run(
                    [sys.executable, "-m", "pipeline.cli", *arguments], env=env, capture_output=True, text=True
                )
                times.append(time.perf_counter() - started)
                if result.returncode != 0:
                    raise SystemExit(f"{name} failed: {result.stderr}")
            print(
                f"  {name:<11}: median {statistics.median(times):5.2f} s  (min {min(times):.2f}, max {max(times):.2f})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=60, help="QMSum val questions for the long meetings")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of bench/ingest.py's 8 questions on the talks")
    parser.add_argument("--runs", type=int, default=5, help="runs of each cold command")
    parser.add_argument("--skip-cold", action="store_true")
    parser.add_argument("--skip-warm", action="store_true")
    args = parser.parse_args()
    if not args.skip_warm:
        warm_talks(args.rounds)
        warm_meetings(args.questions)
    if not args.skip_cold:
        cold(args.runs)


if __name__ == "__main__":
    main()
