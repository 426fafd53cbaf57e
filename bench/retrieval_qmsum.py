"""Retrieval quality on QMSum val, dev and check halves side by side: turn-recall@k and hit@k for BM25, embeddings,
plain RRF, the issue's plain baseline and the `talks ask` pipeline, with 90% bootstrap intervals (over meetings).

Each meeting is ingested through the real indexing pipeline (segments = turns, no times; cached under
`bench.qmsum.CACHE_DIR`, so reruns only ask) and each specific query is asked against its own meeting.
The baseline: plain BM25 + MiniLM joined by Haystack's RRF over windows of whole turns of at least 120 words.
Run: `nice -n 10 python bench/retrieval_qmsum.py [--words N --overlap M] [--settings] [--limit N]`.
`--settings` adds query settings, one change at a time from the defaults, scored through the query pipeline's own
ranking components (fusion, speaker boost, smoothing, selection) without the highlighter.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
from haystack import Document
from haystack.components.joiners import DocumentJoiner
from haystack.components.retrievers.in_memory import InMemoryBM25Retriever, InMemoryEmbeddingRetriever
from haystack.document_stores.in_memory import InMemoryDocumentStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.qmsum import HALVES, Query, cached_embeddings, cached_workspace, interval, load_meeting, val_halves
from pipeline.components.passages import PassageSelector, to_passage
from pipeline.components.ranking import NeighbourSmoother, RetrieverLeaders, SpeakerBooster, rank_fusion
from pipeline.components.reranker import LearnedReranker
from pipeline.embedding import document_embedder
from pipeline.models import Passage, Transcript
from pipeline.pipelines import IndexSettings, QuerySettings
from pipeline.query import Searcher
from pipeline.stores import STORE_KINDS, StoreConfig
from pipeline.workspace import Workspace

KS = (1, 3, 5, 10)
DEFAULTS = QuerySettings()
PREVIOUS = dataclasses.replace(
    DEFAULTS, candidates=60, embedding_weight=1.0, neighbour_weight=0.5, leaders_after=None
)  # before issue 2's last round
SETTINGS = {
    "previous defaults": PREVIOUS,
    "defaults": DEFAULTS,
    "no retriever leaders": dataclasses.replace(DEFAULTS, leaders_after=None),
    "leaders after 2": dataclasses.replace(DEFAULTS, leaders_after=2),
    "candidates 40": dataclasses.replace(DEFAULTS, candidates=40),
    "candidates 50": dataclasses.replace(DEFAULTS, candidates=50),
    "candidates 60": dataclasses.replace(DEFAULTS, candidates=60),
    "candidates 200": dataclasses.replace(DEFAULTS, candidates=200),
    "weights 1:1": dataclasses.replace(DEFAULTS, embedding_weight=1.0),
    "weights 1:2": dataclasses.replace(DEFAULTS, embedding_weight=2.0),
    "neighbours 0.5": dataclasses.replace(DEFAULTS, neighbour_weight=0.5),
    "neighbours 1.0": dataclasses.replace(DEFAULTS, neighbour_weight=1.0),
    "speaker boost 0": dataclasses.replace(DEFAULTS, speaker_boost=0.0),
    "speaker boost 1": dataclasses.replace(DEFAULTS, speaker_boost=1.0),
    "passages not grown" if DEFAULTS.passage_growth else "grown passages": dataclasses.replace(
        DEFAULTS, passage_growth=not DEFAULTS.passage_growth
    ),
    "rerank": dataclasses.replace(DEFAULTS, rerank=True),
    "rerank, no leaders": dataclasses.replace(DEFAULTS, rerank=True, leaders_after=None),
}


BASELINE_WORDS = 120
Row = tuple[Query, list[Passage], int]  # a question, its passages best first, the meeting's turn count


def turns_covered(passages: list[Passage]) -> set[int]:
    return {turn for p in passages for turn in range(p.first_segment, p.last_segment + 1)}


def as_passages(documents) -> list[Passage]:
    return [to_passage(document, []) for document in documents]


def per_query(rows: list[Row]) -> dict[str, np.ndarray]:
    """Each figure for each question (recall, hit and share ×100; words@5 the mean passage length)."""
    figures: dict[str, list[float]] = {}
    for query, passages, turns in rows:
        for k in KS:
            covered = turns_covered(passages[:k])
            figures.setdefault(f"recall@{k}", []).append(100 * len(query.gold_turns & covered) / len(query.gold_turns))
            figures.setdefault(f"hit@{k}", []).append(100.0 * bool(query.gold_turns & covered))
            figures.setdefault(f"share@{k}", []).append(100 * len(covered) / turns)
        lengths = [len(p.text.split()) for p in passages[:5]]
        figures.setdefault("words@5", []).append(float(np.mean(lengths)) if lengths else 0.0)
    return {name: np.asarray(values) for name, values in figures.items()}


def ranked(settings: QuerySettings, question: str, bm25: list, dense: list, top_k: int) -> list[Passage]:
    """The query pipeline's ranking steps, component by component, under other settings."""
    keyword, embedding = bm25[: settings.candidates], dense[: settings.candidates]
    fused = rank_fusion(settings.keyword_weight, settings.embedding_weight).run(documents=[keyword, embedding])
    if settings.rerank:
        reranker = LearnedReranker(speaker_boost=settings.speaker_boost, neighbour_weight=settings.neighbour_weight)
        smoothed = reranker.run(
            documents=fused["documents"], query=question, keyword_documents=keyword, embedding_documents=embedding
        )["documents"]
    else:
        boosted = SpeakerBooster(settings.speaker_boost).run(documents=fused["documents"], query=question)
        smoothed = NeighbourSmoother(settings.neighbour_weight).run(documents=boosted["documents"])["documents"]
    selector = PassageSelector(top_k, settings.max_overlap, settings.leaders_after or 0, settings.passage_growth)
    leaders = None
    if settings.leaders_after is not None:
        finder = RetrieverLeaders(settings.keyword_weight, settings.embedding_weight)
        leaders = finder.run(keyword_documents=keyword, embedding_documents=embedding)["leaders"]
    return as_passages(selector.run(documents=smoothed, leaders=leaders)["documents"])


def turn_windows(transcript: Transcript, min_words: int = BASELINE_WORDS) -> list[Document]:
    """The baseline's chunks: consecutive windows of whole turns (`Speaker: text` lines), each closed once it has at
    least `min_words` words; no overlap, nothing left out."""
    windows: list[Document] = []
    lines: list[str] = []
    first = 0
    for segment in transcript.segments:
        if not lines:
            first = segment.index
        lines.append(f"{segment.speaker}: {segment.text}" if segment.speaker else segment.text)
        if sum(len(line.split()) for line in lines) >= min_words or segment is transcript.segments[-1]:
            meta = {"talk_id": transcript.talk.id, "first_segment": first, "last_segment": segment.index}
            windows.append(Document(id=f"{transcript.talk.id}:{first}", content="\n".join(lines), meta=meta))
            lines = []
    return windows


class Baseline:
    """The issue's plain baseline: BM25 (Haystack's in-memory defaults) and MiniLM over `turn_windows`, joined by
    Haystack's RRF with equal weights; the top 5 as they come."""

    def __init__(self, transcripts: list[Transcript]) -> None:
        embedder = document_embedder()
        embedder.warm_up()

        def embed(texts: list[str]) -> np.ndarray:
            documents = embedder.run(documents=[Document(content=text) for text in texts])["documents"]
            return np.asarray([d.embedding for d in documents])

        self.stores: dict[str, InMemoryDocumentStore] = {}
        for transcript in transcripts:
            windows = turn_windows(transcript)
            vectors = cached_embeddings([w.content or "" for w in windows], embed, f"baseline-{transcript.talk.id}")
            store = InMemoryDocumentStore()
            store.write_documents(
                [dataclasses.replace(w, embedding=v.tolist()) for w, v in zip(windows, vectors, strict=True)]
            )
            self.stores[transcript.talk.id] = store
        self.joiner = DocumentJoiner(join_mode="reciprocal_rank_fusion")

    def ask(self, meeting: str, question: str, vector: list[float], top_k: int = 10) -> list[Passage]:
        store = self.stores[meeting]
        keyword = InMemoryBM25Retriever(store, top_k=top_k).run(query=question)["documents"]
        dense = InMemoryEmbeddingRetriever(store, top_k=top_k).run(query_embedding=vector)["documents"]
        return as_passages(self.joiner.run(documents=[keyword, dense])["documents"][:top_k])


def print_halves(rows: dict[str, dict[str, list[Row]]], figures: tuple[str, ...], width: int = 24) -> None:
    """One line a method: each figure on dev and on check, with its 90% bootstrap interval over meetings."""
    columns = [f"{figure} {half}" for figure in figures for half in HALVES]
    print(" | ".join([f"{'method':>{width}}"] + [f"{c:>18}" for c in columns]))
    for method, halves in rows.items():
        cells = []
        for figure in figures:
            for half in HALVES:
                values = per_query(halves[half])[figure]
                cells.append(f"{interval(values, [q.meeting for q, _, _ in halves[half]]):>18}")
        print(" | ".join([f"{method:>{width}}", *cells]))


def print_gains(rows: dict[str, dict[str, list[Row]]], against: str, width: int = 24) -> None:
    """Each method minus `against`, question by question (paired), with its 90% bootstrap interval."""
    figures = ("recall@5", "hit@5", "share@5")
    columns = [f"{figure} {half}" for figure in figures for half in HALVES]
    print(f"\ngain against {against} (paired, 90% bootstrap interval over meetings)")
    print(" | ".join([f"{'method':>{width}}"] + [f"{c:>18}" for c in columns]))
    for method, halves in rows.items():
        if method == against:
            continue
        cells = []
        for figure in figures:
            for half in HALVES:
                difference = per_query(halves[half])[figure] - per_query(rows[against][half])[figure]
                meetings = [q.meeting for q, _, _ in halves[half]]
                cells.append(f"{interval(difference, meetings, signed=True):>18}")
        print(" | ".join([f"{method:>{width}}", *cells]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--words", type=int, default=IndexSettings.chunk_words)
    parser.add_argument("--overlap", type=int, default=IndexSettings.chunk_overlap)
    parser.add_argument("--limit", type=int, default=0, help="only the first N meetings of each half")
    parser.add_argument("--settings", action="store_true", help="also score other query settings, one at a time")
    parser.add_argument("--store", choices=STORE_KINDS[:2], default="sqlite", help="the chunk store (default sqlite)")
    args = parser.parse_args()
    halves = val_halves(args.limit)
    settings = IndexSettings(chunk_words=args.words, chunk_overlap=args.overlap)
    started = time.perf_counter()
    store = StoreConfig(kind=args.store)
    root = cached_workspace("qmsum-val", halves["dev"] + halves["check"], settings, store)
    meetings = {half: [load_meeting(path)[:2] for path in files] for half, files in halves.items()}
    baseline = Baseline([transcript for half in HALVES for transcript, _ in meetings[half]])
    ingest_seconds = time.perf_counter() - started
    searcher = Searcher(Workspace(root), QuerySettings(top_k=10), store)
    searcher.warm_up()
    selector = PassageSelector(top_k=10, max_overlap=searcher.settings.max_overlap)
    embedder = searcher.pipeline.get_component("text_embedder")
    keyword = searcher.pipeline.get_component("bm25")  # the pipeline's own retrievers, whatever the store
    dense_retriever = searcher.pipeline.get_component("embedding_retriever")
    joiner = DocumentJoiner(join_mode="reciprocal_rank_fusion")
    flipped = "not reranked" if DEFAULTS.rerank else "reranked"  # the pipeline with the reranker switched over
    names = ("baseline", "bm25", "embedding", "plain rrf", "hybrid", flipped)
    other = dataclasses.replace(searcher.settings, rerank=not DEFAULTS.rerank)
    rows: dict[str, dict[str, list[Row]]] = {name: {half: [] for half in HALVES} for name in names}
    variants: dict[str, dict[str, list[Row]]] = {}
    if args.settings:
        variants = {name: {half: [] for half in HALVES} for name in SETTINGS}
    deepest = max([searcher.settings.candidates] + [v.candidates for v in SETTINGS.values()])
    started = time.perf_counter()
    checked = 0
    for half in HALVES:
        for transcript, queries in meetings[half]:
            turns = len(transcript.segments)
            for query in queries:
                filters = searcher.filters(talk=query.meeting, event=None, speaker=None)
                depth = searcher.settings.candidates
                deep_bm25 = keyword.run(query=query.question, filters=filters, top_k=deepest)["documents"]
                vector = embedder.run(text=query.question)["embedding"]
                deep_dense = dense_retriever.run(query_embedding=vector, filters=filters, top_k=deepest)["documents"]
                bm25, dense = deep_bm25[:depth], deep_dense[:depth]
                fused = joiner.run(documents=[bm25, dense])["documents"]
                for name, variant in SETTINGS.items() if args.settings else ():
                    # at the pipeline's top_k: the @5 figures are printed, and grown passages grow with top_k
                    passages = ranked(variant, query.question, deep_bm25, deep_dense, top_k=variant.top_k)
                    variants[name][half].append((query, passages, turns))
                hybrid = ranked(searcher.settings, query.question, deep_bm25, deep_dense, top_k=10)
                if checked < 3:  # component by component, the ranking is the pipeline's own
                    asked = searcher.ask(query.question, top_k=10, talk=query.meeting, answer_words=0).passages
                    assert [p.first_segment for p in asked] == [p.first_segment for p in hybrid], query.question
                    checked += 1
                for name, passages in (
                    ("baseline", baseline.ask(query.meeting, query.question, vector)),
                    ("bm25", as_passages(selector.run(documents=bm25)["documents"])),
                    ("embedding", as_passages(selector.run(documents=dense)["documents"])),
                    ("plain rrf", as_passages(selector.run(documents=fused)["documents"])),
                    ("hybrid", hybrid),
                    (names[-1], ranked(other, query.question, deep_bm25, deep_dense, top_k=10)),
                ):
                    rows[name][half].append((query, passages, turns))
    query_seconds = time.perf_counter() - started
    counts = {half: (len(meetings[half]), len(rows["hybrid"][half])) for half in HALVES}
    print(
        f"QMSum val, dev half {counts['dev'][0]} meetings / {counts['dev'][1]} queries, check half "
        f"{counts['check'][0]} / {counts['check'][1]}; chunks of {args.words} words, overlap {args.overlap}; "
        f"ingest (or cache) {ingest_seconds:.1f}s, queries {query_seconds:.1f}s"
    )
    print(
        "hybrid = the `talks ask` pipeline (BM25 + embeddings by weighted RRF, speaker boost, neighbour smoothing, "
        "each retriever's best chunk kept); plain rrf = the same two lists fused by DocumentJoiner, nothing else; "
        f"baseline = BM25 + MiniLM by RRF over windows of whole turns of at least {BASELINE_WORDS} words"
    )
    print("mean [90% bootstrap interval over meetings]")
    print_halves(rows, ("recall@5", "hit@5", "share@5", "words@5"))
    print_halves(rows, ("recall@1", "hit@1", "recall@10", "hit@10"))
    print_gains(rows, "hybrid")
    print_gains(rows, "baseline")
    if variants:
        print(f"\nquery settings, one change at a time from the defaults ({DEFAULTS})")
        print_halves(variants, ("recall@5", "hit@5", "share@5", "words@5"))
        print_gains(variants, "defaults")
        same = all(
            [p.first_segment for p in a[1]] == [p.first_segment for p in b[1][: len(a[1])]]
            for half in HALVES
            for a, b in zip(variants["defaults"][half], rows["hybrid"][half], strict=True)
        )
        print(f"'defaults' rows {'equal' if same else 'DIFFER FROM'} the hybrid rows above")


if __name__ == "__main__":
    main()
