"""Write throughput and query latency of each chunk store as it grows (SQLite, memory, pgvector, Qdrant local folder).

Chunks are synthetic but real-shaped: the embeddings are drawn from a Gaussian fitted to MiniLM embeddings of real
QMSum passages (same mean and covariance, then unit length), the texts are ~160 words drawn from the QMSum
vocabulary at its word frequencies, 100 chunks a talk, with the same metadata as real chunks. Queries are real
QMSum questions embedded by the packaged MiniLM. Every store grows through the same sizes: at each size the next
chunks are written talk by talk (`replace_talk`, as ingestion does) and then the keyword and embedding retrievers
answer the queries (as many candidates each as the query pipeline asks for). `open` is what a fresh process pays
before its first question: opening the store and reading its talks, events and speakers (as `Searcher` does).
PostgreSQL comes from `tests/pgserver.py` unless `--pg-url` names one. At the end, how each store's cost grows
with its size.

Run: `python bench/stores.py [--sizes 10000,100000] [--stores sqlite,memory,pgvector,qdrant] [--queries 40]`.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import re
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from haystack import Document

from bench.qmsum import load_meeting, meeting_files
from pipeline.pipelines import QuerySettings
from pipeline.stores import StoreConfig, open_store

CHUNKS_PER_TALK = 100
WORDS_PER_CHUNK = 160
CANDIDATES = QuerySettings().candidates


class Synthesiser:
    """Real-shaped chunks: QMSum word frequencies for text, a Gaussian fitted to MiniLM embeddings for vectors."""

    def __init__(self, model, seed: int = 7) -> None:
        texts, self.questions = [], []
        for path in meeting_files():
            transcript, queries, _ = load_meeting(path)
            words = " ".join(segment.text for segment in transcript.segments).split()
            texts += [" ".join(words[i : i + WORDS_PER_CHUNK]) for i in range(0, len(words), WORDS_PER_CHUNK)]
            self.questions += [query.question for query in queries]
        counts = collections.Counter(re.findall(r"[a-z']+", " ".join(texts).lower()))
        self.vocabulary = np.array(list(counts))
        frequencies = np.array(list(counts.values()), dtype=np.float64)
        self.probabilities = frequencies / frequencies.sum()
        real = model.encode(texts[:2000], batch_size=64, normalize_embeddings=True)
        self.mean, self.covariance = real.mean(axis=0), np.cov(real, rowvar=False)
        self.rng = np.random.default_rng(seed)

    def talk(self, number: int) -> list[Document]:
        vectors = self.rng.multivariate_normal(self.mean, self.covariance, size=CHUNKS_PER_TALK, method="cholesky")
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        words = self.rng.choice(self.vocabulary, size=(CHUNKS_PER_TALK, WORDS_PER_CHUNK), p=self.probabilities)
        talk_id = f"synthetic-{number:05d}"
        return [
            Document(
                id=f"{talk_id}-{index:03d}",
                content=" ".join(row),
                embedding=vector.astype(np.float32).tolist(),
                meta={
                    "talk_id": talk_id,
                    "title": f"Synthetic talk {number}",
                    "event": f"Event {number % 10}",
                    "youtube_id": None,
                    "first_segment": index * 10,
                    "last_segment": index * 10 + 12,
                    "start": index * 60.0,
                    "end": index * 60.0 + 75.0,
                    "speakers": [f"Speaker {number % 50}"],
                    "speaker": f"Speaker {number % 50}",
                },
            )
            for index, (row, vector) in enumerate(zip(words, vectors, strict=True))
        ]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


def measure_queries(store, questions: list[str], embeddings: np.ndarray, expected: int) -> dict[str, float]:
    started = time.perf_counter()
    store.facets()
    opened = time.perf_counter() - started + store.open_seconds
    started = time.perf_counter()
    keyword, embedding = store.retrievers(CANDIDATES)
    count = store.count_chunks()
    prepare = time.perf_counter() - started
    assert count == expected, f"{store.describe()}: {count} chunks stored, {expected} written"
    keyword_times, embedding_times = [], []
    for question, vector in zip(questions, embeddings, strict=True):
        started = time.perf_counter()
        found = keyword.run(query=question, top_k=CANDIDATES)["documents"]
        keyword_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        nearest = embedding.run(query_embedding=vector.tolist(), top_k=CANDIDATES)["documents"]
        embedding_times.append(time.perf_counter() - started)
        assert found and nearest, "a retriever returned nothing"
    hybrid = [a + b for a, b in zip(keyword_times, embedding_times, strict=True)]
    return {
        "open_s": opened,
        "prepare_s": prepare,
        "keyword_p50": percentile(keyword_times, 50),
        "keyword_p95": percentile(keyword_times, 95),
        "embedding_p50": percentile(embedding_times, 50),
        "embedding_p95": percentile(embedding_times, 95),
        "hybrid_p50": percentile(hybrid, 50),
        "hybrid_p95": percentile(hybrid, 95),
        "embedding_first": 1000 * embedding_times[0],
        "embedding_second": 1000 * embedding_times[1] if len(embedding_times) > 1 else float("nan"),
    }


def run_store(kind: str, url: str | None, root: Path, sizes: list[int], synth, questions, embeddings) -> list[dict]:
    config = StoreConfig(kind=kind, url=url, name="bench")
    rows, written, talk_number = [], 0, 0
    for size in sizes:
        write_seconds, new_chunks = 0.0, 0
        with open_store(config, root) as store:
            while written < size:
                documents = synth.talk(talk_number)
                started = time.perf_counter()
                store.replace_talk(documents[0].meta["talk_id"], documents, "synthetic", {"chunk_words": 160})
                write_seconds += time.perf_counter() - started
                written += len(documents)
                new_chunks += len(documents)
                talk_number += 1
        started = time.perf_counter()
        with open_store(config, root) as store:  # queries from a fresh handle: memory loads its files here
            store.open_seconds = time.perf_counter() - started
            figures = measure_queries(store, questions, embeddings, written)
        rows.append({"store": kind, "chunks": written, "write_per_s": new_chunks / write_seconds, **figures})
        print_row(rows[-1])
    return rows


def print_row(row: dict) -> None:
    print(
        f"{row['store']:<9} {row['chunks']:>8,} {row['write_per_s']:>10,.0f} {row['open_s']:>8.3f}"
        f" {row['prepare_s']:>9.1f}"
        f" {row['keyword_p50']:>8.1f} {row['keyword_p95']:>8.1f} {row['embedding_p50']:>8.1f}"
        f" {row['embedding_p95']:>8.1f} {row['hybrid_p50']:>8.1f} {row['hybrid_p95']:>8.1f}"
        f" {row['embedding_first']:>8.0f} {row['embedding_second']:>8.0f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="growing store sizes in chunks (default 10000,100000)")
    parser.add_argument("--stores", default="memory,pgvector,qdrant")
    parser.add_argument("--queries", type=int, default=40, help="real QMSum questions asked at each size")
    parser.add_argument("--pg-url", help="an existing PostgreSQL with pgvector (default: a throwaway local server)")
    parser.add_argument(
        "--qdrant-max",
        type=int,
        default=20000,
        help="largest size for Qdrant's local folder mode, which Qdrant itself means for small collections "
        "(default 20000; a Qdrant server has no such limit but cannot run here)",
    )
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))
    kinds = [kind.strip() for kind in args.stores.split(",") if kind.strip()]

    from sentence_transformers import SentenceTransformer

    from pipeline.embedding import embedding_model_path

    model = SentenceTransformer(embedding_model_path(), local_files_only=True)
    synth = Synthesiser(model)
    questions = synth.questions[: args.queries]
    embeddings = model.encode(questions, normalize_embeddings=True)
    print(f"chunks of ~{WORDS_PER_CHUNK} words, {CHUNKS_PER_TALK} a talk; {len(questions)} QMSum questions a size")
    print("write = chunks/s over the chunks added at that size; open = seconds to open the store and read its facets;")
    print("prepare = seconds to build the retrievers and count (memory loads every file here); latencies in ms for")
    print(f"the top {CANDIDATES} candidates (hybrid = keyword + embedding); emb 1st / 2nd: the first two embedding")
    print("questions of a fresh handle (SQLite scans `vec0` for the first, reads its matrix into memory at the second)")
    header = ("store", "chunks", "write/s", "open", "prepare", "kw p50", "kw p95", "emb p50", "emb p95", "hyb p50")
    header += ("hyb p95", "emb 1st", "emb 2nd")
    print(
        f"{header[0]:<9} {header[1]:>8} {header[2]:>10} {header[3]:>8} {header[4]:>9}"
        + "".join(f" {h:>8}" for h in header[5:])
    )
    results: list[dict] = []
    with contextlib.ExitStack() as stack:
        pg_url = args.pg_url
        if "pgvector" in kinds and not pg_url:
            from tests.pgserver import postgres_server

            pg_url = stack.enter_context(postgres_server())
        for kind in kinds:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"bench-{kind}-")))
            kind_sizes = [size for size in sizes if kind != "qdrant" or size <= args.qdrant_max]
            url = pg_url if kind == "pgvector" else None
            results += run_store(kind, url, root, kind_sizes, synth, questions, embeddings)
    print_growth(results)


def print_growth(rows: list[dict]) -> None:
    """Each store's cost at each size against its smallest size: chunks, hybrid p50 and open time, as ratios."""
    print("\ngrowth against each store's smallest size (x times): chunks, hybrid p50, open")
    for kind in dict.fromkeys(row["store"] for row in rows):
        mine = [row for row in rows if row["store"] == kind]
        first = mine[0]
        for row in mine[1:]:
            chunks, hybrid = row["chunks"] / first["chunks"], row["hybrid_p50"] / first["hybrid_p50"]
            opened = row["open_s"] / first["open_s"]
            print(
                f"{kind:<9} {first['chunks']:>8,} -> {row['chunks']:>8,}: chunks x{chunks:.0f},"
                f" hybrid p50 x{hybrid:.1f}, open x{opened:.1f}"
            )


if __name__ == "__main__":
    main()
