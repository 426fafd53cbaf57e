"""How fast questions are answered: warm `ask` in one process (highlights and extractive answer included) and cold
`talks ask` / `talks list` from the command line, on the default (SQLite) store.

Warm: a `Searcher` is opened and warmed once, then QMSum val questions are asked against the whole archive of val
meetings (long meetings, ~3k chunks; each question also against its own meeting, as a talk filter) at top-k 5 and
10; p50/p95 in ms. Cold: `talks ask` and `talks list` as subprocesses on a workspace of the bundled samples, median
of `--runs`. The machine's load is printed with the figures.

Run: `python bench/ask.py [--questions 60] [--runs 5]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from bench.qmsum import HALVES, cached_workspace, load_meeting, val_halves

ROOT = Path(__file__).resolve().parents[1]


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def percentiles(seconds: list[float]) -> str:
    values = np.asarray(seconds) * 1000
    return f"p50 {np.percentile(values, 50):6.0f} ms  p95 {np.percentile(values, 95):6.0f} ms  (n={len(values)})"


def warm(questions: int) -> None:
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
    searcher.ask("warm up", top_k=5)
    print(f"warm ask, QMSum val archive ({len(files)} meetings, {chunks} chunks), load {load()}")
    for top_k in (5, 10):
        for scope in ("whole archive", "own meeting"):
            times = []
            for question, meeting in asked:
                started = time.perf_counter()
                searcher.ask(question, top_k=top_k, talk=meeting if scope == "own meeting" else None)
                times.append(time.perf_counter() - started)
            print(f"  top-k {top_k:>2}, {scope:<13}: {percentiles(times)}")
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
    parser.add_argument("--questions", type=int, default=60, help="QMSum val questions for the warm figures")
    parser.add_argument("--runs", type=int, default=5, help="runs of each cold command")
    parser.add_argument("--skip-cold", action="store_true")
    parser.add_argument("--skip-warm", action="store_true")
    args = parser.parse_args()
    if not args.skip_warm:
        warm(args.questions)
    if not args.skip_cold:
        cold(args.runs)


if __name__ == "__main__":
    main()
