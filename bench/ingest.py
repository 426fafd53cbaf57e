"""Ingestion throughput beside raw `SentenceTransformer.encode` on the same chunk texts, in one run;
cold start of `talks ask` and warm query latency.

Run: `python bench/ingest.py [--copies N]`. The corpus is the bundled samples (copied N times under new ids,
so the figures are about steady-state throughput, not one short file).
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sentence_transformers import SentenceTransformer

from pipeline.components.chunker import TranscriptChunker
from pipeline.components.cleaner import TranscriptCleaner
from pipeline.embedding import embedding_model_path
from pipeline.ingest import Ingestor
from pipeline.pipelines import IndexSettings
from pipeline.query import Searcher
from pipeline.sources import expand_sources, load_source
from pipeline.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "Why did they keep the Apache license?",
    "How much did they charge at first?",
    "How do you keep a remote team aligned?",
    "When should a startup raise a Series A?",
    "How should free tiers be designed?",
    "What helps maintainers avoid burnout?",
    "How does on-call work across time zones?",
    "What is a decision log?",
]


def corpus(copies: int):
    samples = [load_source(item, None, None) for item in expand_sources([str(ROOT / "data")])]
    for copy in range(copies):
        for transcript in samples:
            talk = transcript.talk.model_copy(update={"id": f"{transcript.talk.id}-{copy}"})
            yield transcript.model_copy(update={"talk": talk})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=5)
    parser.add_argument("--queries", type=int, default=40)
    args = parser.parse_args()
    transcripts = list(corpus(args.copies))
    hours = sum(t.duration or 0 for t in transcripts) / 3600
    settings = IndexSettings()
    chunker, cleaner = TranscriptChunker(settings.chunk_words, settings.chunk_overlap), TranscriptCleaner()
    texts = [
        d.content
        for t in transcripts
        for d in chunker.run(transcript=cleaner.run(transcript=t)["transcript"])["documents"]
    ]

    model = SentenceTransformer(embedding_model_path(), device="cpu")
    model.encode(texts[:64], batch_size=32)  # warm both the same way
    with tempfile.TemporaryDirectory() as directory:
        workspace = Workspace(Path(directory))
        ingestor = Ingestor(workspace, settings)
        ingestor.warm_up()
        ingestor.ingest(transcripts[0])
        rounds = []
        for _ in range(2):  # alternate so neither side gets the warmer machine
            started = time.perf_counter()
            model.encode(texts, batch_size=32, normalize_embeddings=True)
            raw = time.perf_counter() - started
            started = time.perf_counter()
            for transcript in transcripts:
                ingestor.ingest(transcript)
            rounds.append((raw, time.perf_counter() - started))
        raw, piped = min(r for r, _ in rounds), min(p for _, p in rounds)

        searcher = Searcher(workspace)
        searcher.warm_up()
        latencies = []
        for number in range(args.queries):
            started = time.perf_counter()
            searcher.ask(QUESTIONS[number % len(QUESTIONS)])
            latencies.append((time.perf_counter() - started) * 1000)
        latencies.sort()
        env = {**os.environ, "TALKS_WORKSPACE": directory, "HAYSTACK_TELEMETRY_ENABLED": "False"}
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "pipeline.cli", "ask", QUESTIONS[0], "--json"],
            env=env,
            capture_output=True,
            check=True,
        )
        cold = time.perf_counter() - started

    print(f"corpus: {len(transcripts)} talks, {hours:.2f} transcript-hours, {len(texts)} chunks")
    print(f"raw SentenceTransformer.encode: {raw:6.2f}s  {len(texts) / raw:7.1f} chunks/s")
    print(
        f"talks ingest pipeline:          {piped:6.2f}s  {len(texts) / piped:7.1f} chunks/s  "
        f"{hours * 60 / piped:6.2f} transcript-hours/minute"
    )
    print(f"pipeline overhead over raw encoding: {100 * (piped / raw - 1):+.1f}%")
    print(f"`talks ask` cold start (new process, model load, index load, one query): {cold:.2f}s")
    p50 = statistics.median(latencies)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    print(f"warm query latency over {len(latencies)} questions: p50 {p50:.0f} ms, p95 {p95:.0f} ms")


if __name__ == "__main__":
    main()
