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
(`PooledDocumentEmbedder`); `ingest_many, memory store` is the path without them (the plain document embedder, as
for pgvector and Qdrant). Both embedders batch chunks by token count (`pipeline.token_batches`), plain `encode` by
characters: `raw encode, token-length batches` encodes the same texts in the pooled embedder's batches, so
`ingest_many` over it is what the rest of the pipeline costs (punctuation, pooling, writes), and the two raw rows
side by side are the batching's gain.

`--batching` runs only the memory store's chunk embedder (the `embedder` component of a memory-store ingestor), with
token-count batches (`batch_by_tokens`, the shipped path) against the same embedder batching by characters (the path
before), side by side in interleaved rounds, torch and fp32 ONNX (one intra-op thread): on all the samples' chunks
at once (as `ingest_many` embeds them) and on one QMSum val meeting (the first of the dev half, read from
../shared/eval/qmsum/val, cut into chunks by the ingestor's own steps). It prints the padded tokens each batching
feeds the model, the CPU-time ratio token/character batches of every round and their median, and the largest
difference between the two sides' vectors.

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

from pipeline.components.embedders import PackagedDocumentEmbedder
from pipeline.components.onnx_embedders import OnnxDocumentEmbedder
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


def padded_tokens(lengths: list[int], batches: list[list[int]]) -> int:
    """Tokens the model is fed: each batch padded to its longest text."""
    return sum(len(batch) * max(lengths[i] for i in batch) for batch in batches)


def batching(copies: int, repeats: int) -> None:
    """The memory store's chunk embedder, token-count batches against character batches (see the docstring)."""
    from haystack import Document

    from bench.qmsum import load_meeting, val_halves

    settings = IndexSettings()
    with tempfile.TemporaryDirectory() as directory:
        ingestor = Ingestor(Workspace(Path(directory)), settings, StoreConfig(kind="memory"))
        ingestor.warm_up()
        shipped = ingestor.pipeline.get_component("embedder")  # the memory store's own: token batches
        assert isinstance(shipped, PackagedDocumentEmbedder) and shipped.batch_by_tokens
        meeting_path = val_halves()["dev"][0]
        meeting, _, _ = load_meeting(meeting_path)
        corpora = {
            "samples": [text for transcript in corpus(copies) for text in chunk_texts(ingestor, transcript)],
            f"QMSum {meeting_path.stem}": chunk_texts(ingestor, meeting),
        }
    before = PackagedDocumentEmbedder(  # the same settings and (shared) model, batching by characters
        batch_size=shipped.batch_size, progress_bar=False, normalize_embeddings=True, local_files_only=True
    )
    before.warm_up()
    embedders = {
        ("torch", "characters"): before,
        ("torch", "tokens"): shipped,
        ("onnx", "characters"): OnnxDocumentEmbedder(threads=1, batch_size=shipped.batch_size),
        ("onnx", "tokens"): OnnxDocumentEmbedder(threads=1, batch_size=shipped.batch_size, batch_by_tokens=True),
    }
    model, size = shipped.embedding_backend.model, shipped.batch_size
    print(f"torch threads {torch.get_num_threads()}, batch size {size}, {repeats} interleaved rounds")
    for name, texts in corpora.items():
        documents = [Document(content=text) for text in texts]
        tokens = offsets_tokenizer(model)(texts, truncation=True, max_length=model.max_seq_length)["input_ids"]
        lengths = [len(ids) for ids in tokens]
        by_characters = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # as `encode` sorts
        character_batches = [by_characters[i : i + size] for i in range(0, len(texts), size)]
        print(
            f"{name}: {len(texts)} chunks, {sum(lengths):,} tokens; padded to "
            f"{padded_tokens(lengths, character_batches):,} by characters, "
            f"{padded_tokens(lengths, token_batches(lengths, size)):,} by tokens"
        )
        vectors = {}
        for key, embedder in embedders.items():  # warm, and the vectors to compare
            embedder.warm_up()
            vectors[key] = [d.embedding for d in embedder.run(documents=documents)["documents"]]
        cpu: dict[tuple[str, str], list[float]] = {key: [] for key in embedders}
        for number in range(repeats):  # interleaved, order reversed every other round
            keys = list(embedders) if number % 2 == 0 else list(reversed(embedders))
            for key in keys:
                cpu[key].append(timed(lambda: embedders[key].run(documents=documents))[1])  # noqa: B023
        for encoder in ("torch", "onnx"):
            old, new = cpu[(encoder, "characters")], cpu[(encoder, "tokens")]
            ratios = [n / o for n, o in zip(new, old, strict=True)]
            difference = max(
                abs(a - b)
                for u, v in zip(vectors[(encoder, "tokens")], vectors[(encoder, "characters")], strict=True)
                for a, b in zip(u, v, strict=True)
            )
            print(
                f"  {encoder}: median cpu {statistics.median(old):.2f}s by characters, {statistics.median(new):.2f}s"
                f" by tokens; token/character median ratio {statistics.median(ratios):.3f} (rounds "
                + ", ".join(f"{r:.3f}" for r in ratios)
                + f"); vectors max |diff| {difference:.1e}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds; medians are reported")
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--batching", action="store_true", help="only the chunk embedder's batching, old and new")
    args = parser.parse_args()
    print(f"load before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1/5/15 min)")
    if args.batching:
        batching(args.copies, args.repeats)
        print(f"load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        return
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
