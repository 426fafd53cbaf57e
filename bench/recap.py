"""Extractive recap time, warm (models loaded, in one process): the founder talk (bundled sample, 35 min, 4.9k words)
and the QMSum val meeting nearest 10k words, median of `--runs`, with the machine's load.

Side by side, alternating, for each talk (`Recapper(workspace).recap`, as `talks recap`, the server and batch use it):
- *own vectors*: the talk in a workspace whose store keeps the sentences' own embeddings (talks ingested before
  the one-pass ingest): they are taken from the store, and only the sentences the stored chunks lack are embedded;
- *ingested now*: the same talk ingested by today's pipeline, whose store keeps sentence vectors pooled from the
  chunk pass (fine for highlights, not used by recaps): the recap embeds every sentence itself, with its sentence
  encoder (`RecapSettings.sentence_encoder`, int8 ONNX by default). For the founder talk a workspace ingested
  through the real pipeline; for the meeting, the same transcript without a store (what such a talk costs);
- *torch, every sentence*: every sentence embedded with sentence-transformers (what talks ingested now cost before).
Beside them, embedding all the talk's sentences alone with each encoder (the step the stored vectors save). Wall
and CPU seconds (process time, all threads: on a busy machine the wall time is mostly waiting for a core). The
keyphrase stem cache is emptied before each timed recap (a warm process would keep it: the same talk recapped again
would flatter it). Targets (README, "Warm ask, recap and ingest overhead"): ≤ 1.5 s for the founder talk, ≤ 5 s for
a 10k-word meeting.

Run: `python bench/recap.py [--runs 3]`. The workspaces are the bench cache's (`bench/ask.py`'s 100 copies of the
founder talk; the QMSum val meetings; the founder talk ingested now), ingested on first use.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ask import FOUNDER_TALK, long_talks_workspace
from bench.qmsum import CACHE_DIR, HALVES, cached_workspace, load_meeting, val_halves


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def founder_ingested_now() -> Path:
    """A workspace holding the founder talk ingested by the current indexing pipeline (pooled sentence vectors)."""
    from pipeline.api import Library
    from pipeline.sources import expand_sources, load_source

    root = CACHE_DIR / "founder-now"
    with Library(root) as library:
        if "founder-talk" not in library.talk_ids():
            report = library.ingest([load_source(expand_sources([str(FOUNDER_TALK)])[0], None, None)])
            if report.failures:
                raise SystemExit(f"ingest failed: {report.failures[0]}")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from pipeline.components.keyphrases import stem
    from pipeline.embedding import document_embedder
    from pipeline.recap import Recapper, RecapSettings
    from pipeline.stores import StoreConfig
    from pipeline.workspace import Workspace

    halves = val_halves()
    files = [path for half in HALVES for path in halves[half]]
    meeting = min(files, key=lambda path: abs(load_meeting(path)[0].word_count - 10_000))
    talks = {
        "founder talk": (long_talks_workspace(100), "founder-talk-0", founder_ingested_now(), "founder-talk"),
        f"QMSum {meeting.stem}": (
            cached_workspace("h12-val-sentences", [meeting], store=StoreConfig(kind="sqlite")),
            meeting.stem,
            None,
            meeting.stem,
        ),
    }
    settings = RecapSettings().resolved()
    torch_recapper = Recapper(settings=replace(settings, sentence_encoder="torch"))
    torch_recapper.warm_up()
    splitter = torch_recapper.pipeline.get_component("splitter")
    chosen = dict.fromkeys(("torch", settings.sentence_encoder or "torch"))
    encoders = {encoder: document_embedder(encoder=encoder) for encoder in chosen}
    for embedder in encoders.values():
        embedder.warm_up()
    print(f"extractive recap, warm, median of {args.runs}; load {load()}")
    for name, (own_root, own_id, now_root, now_id) in talks.items():
        own = Recapper(Workspace(own_root))
        now = Recapper(Workspace(now_root)) if now_root else Recapper(settings=settings)
        transcript = Workspace(own_root).load_transcript(own_id)
        now_transcript = Workspace(now_root).load_transcript(now_id) if now_root else transcript
        sentences = splitter.run(transcripts=[transcript])["documents"]
        runs = {  # partial, not lambda: bound to this talk's objects
            "own vectors": partial(own.recap, own_id),
            "ingested now": partial(now.recap, now_id) if now_root else partial(now.recap_transcript, transcript),
            "torch, every sentence": partial(torch_recapper.recap_transcript, now_transcript),
        }
        for encoder, embedder in encoders.items():
            runs[f"embedding alone, {encoder}"] = partial(embedder.run, documents=sentences)
        for recapper in (own, now):
            recapper.warm_up()
        for run in runs.values():  # first call: lazy imports and caches left out
            run()
        times: dict[str, list[tuple[float, float]]] = {key: [] for key in runs}
        for _ in range(args.runs):
            for key, run in runs.items():
                stem.cache_clear()
                started, cpu = time.perf_counter(), time.process_time()
                run()
                times[key].append((time.perf_counter() - started, time.process_time() - cpu))
        print(f"  {name}: {transcript.word_count} words, {len(sentences)} sentences; load {load()}", flush=True)
        for key, values in times.items():
            wall, cpu = (statistics.median(value[i] for value in values) for i in (0, 1))
            print(f"    {key:<28} {wall:6.2f} s wall, {cpu:6.2f} s CPU", flush=True)


if __name__ == "__main__":
    main()
