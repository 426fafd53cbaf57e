"""Ingestion throughput beside raw `SentenceTransformer.encode` on the same chunk texts, in one run;
cold start of `talks ask` and warm query latency.

Run: `python bench/ingest.py [--copies N] [--repeats R]`. The corpus is the bundled samples (copied N times under new
ids, so the figures are about steady-state throughput, not one short file). Like with like: the raw side encodes the
very chunk texts the pipeline embeds (made by the pipeline's own cleaner, punctuation restorer and chunker: two of
the samples get their punctuation restored, which adds 1.9% tokens), with the pipeline's own (warm) model object, its
batch size, normalised, in the same process and threads; the methods alternate in R rounds (order reversed every
other round) and each overhead is the median over rounds of that round's ratio, in wall and in CPU time (on a shared
machine wall time also measures the other jobs); throughput is the best round's. The default store (SQLite) also
keeps each chunk's sentence vectors, for highlighting and recaps, pooled from the chunk's own pass
(`PooledDocumentEmbedder`); `ingest_many, memory store` is the path without them (the plain document embedder). The
pooled embedder batches chunks by token count (`pipeline.sentence_pooling.token_batches`), plain `encode` (and the
plain embedder) by characters: `raw encode, token-length batches` encodes the same texts in the pooled embedder's
batches, so `ingest_many` over it is what the rest of the pipeline costs (punctuation, pooling, writes), and the two
raw rows side by side are the batching's gain.

The punctuation restorer reads MiniLM context features through ONNX Runtime (`pipeline.punctuation_context`, the
shipped path); `ingest_many, torch context` runs the same as `ingest_many` with the features from the torch layers
(the path before), side by side, and `punctuation restoration` prices the restorer alone (the two caption talks, as
the pipeline restores them). The machine load is printed before and after.
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

import torch

from pipeline.components.punctuation import restore_segments
from pipeline.ingest import Ingestor
from pipeline.models import Transcript
from pipeline.pipelines import IndexSettings
from pipeline.punctuation_context import ContextEncoder
from pipeline.query import Searcher
from pipeline.sentence_pooling import offsets_tokenizer, token_batches
from pipeline.sources import expand_sources, load_source
from pipeline.stores import StoreConfig
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


def chunk_texts(ingestor: Ingestor, transcript: Transcript) -> list[str]:
    """The chunk texts `ingestor`'s pipeline embeds for `transcript`: its own cleaner, punctuation restorer and
    chunker, run as the pipeline runs them."""
    step = ingestor.pipeline.get_component
    cleaned = step("cleaner").run(transcript=transcript)["transcript"]
    restored = step("punctuation").run(transcript=cleaned)["transcript"]
    return [document.content for document in step("chunker").run(transcript=restored)["documents"]]


def timed(run) -> tuple[float, float]:
    """Wall and CPU seconds of `run()`."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds; medians are reported")
    parser.add_argument("--queries", type=int, default=40)
    args = parser.parse_args()
    print(f"load before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1/5/15 min)")
    transcripts = list(corpus(args.copies))
    hours = sum(t.duration or 0 for t in transcripts) / 3600
    settings = IndexSettings()

    with tempfile.TemporaryDirectory() as directory:
        workspace = Workspace(Path(directory))
        ingestor = Ingestor(workspace, settings)
        ingestor.warm_up()
        texts = [text for transcript in transcripts for text in chunk_texts(ingestor, transcript)]
        embedder = ingestor.pipeline.get_component("embedder")
        # like with like: the very model object the pipeline embeds with, its batch size, normalised, same threads
        model = embedder.embedding_backend.model
        batch_size = embedder.batch_size
        tokens = offsets_tokenizer(model)(texts, truncation=True, max_length=model.max_seq_length)["input_ids"]
        batches = token_batches([len(ids) for ids in tokens], batch_size)

        def raw() -> None:
            model.encode(texts, batch_size=batch_size, normalize_embeddings=True)

        def raw_tokens() -> None:  # the pooled embedder's batches: one encode call a batch
            for batch in batches:
                model.encode([texts[i] for i in batch], batch_size=batch_size, normalize_embeddings=True)

        def many() -> None:
            outcomes = list(ingestor.ingest_many(transcripts))
            assert all(o.result for o in outcomes) and sum(o.result.chunks for o in outcomes) == len(texts)

        def one_by_one() -> None:
            for transcript in transcripts:
                ingestor.ingest(transcript)

        memory_ingestor = Ingestor(Workspace(Path(directory) / "memory"), settings, StoreConfig(kind="memory"))
        memory_ingestor.warm_up()
        torch_context = Ingestor(Workspace(Path(directory) / "torch-context"), settings)
        torch_context.warm_up()
        restorer = ingestor.pipeline.get_component("punctuation")
        cleaner = ingestor.pipeline.get_component("cleaner")
        cleaned = [cleaner.run(transcript=transcript)["transcript"] for transcript in transcripts]
        restored = [t for t in cleaned if restorer.run(transcript=t)["restored"]]  # what the restorer restores
        restoring = restorer._model
        context = restoring._encoder
        torch_model = torch_context.pipeline.get_component("punctuation")._model
        torch_model._encoder = ContextEncoder(torch_model.context_layers, backend="torch")

        def many_torch_context() -> None:
            outcomes = list(torch_context.ingest_many(transcripts))
            assert all(o.result for o in outcomes)

        def punctuation() -> None:
            for transcript in restored:
                restore_segments(restoring, transcript.segments)

        def many_memory() -> None:
            outcomes = list(memory_ingestor.ingest_many(transcripts))
            assert all(o.result for o in outcomes)

        methods = {
            "raw": raw,
            "raw_tokens": raw_tokens,
            "ingest_many": many,
            "memory": many_memory,
            "ingest": one_by_one,
            "torch_context": many_torch_context,
            "punctuation": punctuation,
        }
        for run in methods.values():  # warm every path once
            run()
        rounds: dict[str, list[tuple[float, float]]] = {name: [] for name in methods}
        for number in range(args.repeats):  # interleaved, order reversed every other round
            order = list(methods) if number % 2 == 0 else list(reversed(methods))
            for name in order:
                rounds[name].append(timed(methods[name]))

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

    print(
        f"corpus: {len(transcripts)} talks, {hours:.2f} transcript-hours, {len(texts)} chunks; "
        f"batch size {batch_size}, torch threads {torch.get_num_threads()}, {args.repeats} interleaved rounds"
    )
    threads = context.session.get_session_options().intra_op_num_threads if context.session else "-"
    words = sum(len(segment.text.split()) for transcript in restored for segment in transcript.segments)
    print(
        f"punctuation context: the first {restoring.context_layers} MiniLM layers through {context.backend} (ONNX "
        f"Runtime intra-op threads {threads}); {len(restored)} talks restored ({words:,} words)"
    )
    labels = {
        "raw": "raw SentenceTransformer.encode",
        "raw_tokens": "raw encode, token-length batches",
        "ingest_many": "Ingestor.ingest_many, talks together",
        "memory": "ingest_many, memory store (no sentences)",
        "ingest": "Ingestor.ingest, talk by talk",
        "torch_context": "ingest_many, torch context",
        "punctuation": "punctuation restoration",
    }
    for name, label in labels.items():
        wall = min(w for w, _ in rounds[name])  # the round least disturbed by other jobs
        cpu = statistics.median(c for _, c in rounds[name])
        line = f"{label:<40} best round {wall:6.2f}s  {len(texts) / wall:6.1f} chunks/s"
        if not name.startswith("raw") and name != "punctuation":
            line += f"  {hours * 60 / wall:5.2f} transcript-hours/minute"
        print(line + f"  (median cpu {cpu:.2f}s)")
    pairs = [(name, "raw") for name in ("raw_tokens", "ingest_many", "memory", "ingest", "torch_context")]
    for name, base in [*pairs, ("ingest_many", "raw_tokens"), ("torch_context", "raw_tokens")]:
        # overhead per round (each round runs both side by side), then the median over rounds
        walls = [w / r - 1 for (w, _), (r, _) in zip(rounds[name], rounds[base], strict=True)]
        cpus = [c / r - 1 for (_, c), (_, r) in zip(rounds[name], rounds[base], strict=True)]
        print(
            f"overhead of {labels[name]} over {labels[base]}: median wall {100 * statistics.median(walls):+.1f}%, "
            f"median cpu {100 * statistics.median(cpus):+.1f}% (rounds, cpu: "
            + ", ".join(f"{100 * c:+.1f}%" for c in cpus)
            + "; wall: "
            + ", ".join(f"{100 * w:+.0f}%" for w in walls)
            + ")"
        )
    shares = [c / r for (_, c), (_, r) in zip(rounds["punctuation"], rounds["raw"], strict=True)]
    print(
        f"punctuation restoration alone: median cpu {100 * statistics.median(shares):.1f}% of raw encode (rounds "
        + ", ".join(f"{100 * share:.1f}%" for share in shares)
        + ")"
    )
    print(f"`talks ask` cold start (new process, model load, index load, one query): {cold:.2f}s")
    p50 = statistics.median(latencies)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    print(f"warm query latency over {len(latencies)} questions: p50 {p50:.0f} ms, p95 {p95:.0f} ms")
    print(f"load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
