"""The Haystack Pipelines: indexing (clean → restore punctuation → chunk → embed → write) and query (hybrid
retrieval → passages)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from haystack import Pipeline

from pipeline.components.answer import ExtractiveAnswerWriter
from pipeline.components.chunker import TranscriptChunker
from pipeline.components.cleaner import TranscriptCleaner
from pipeline.components.passages import PassageHighlighter
from pipeline.components.punctuation import PunctuationRestorer, RestoreMode
from pipeline.components.query_embedder import QueryEmbedder
from pipeline.components.ranking import CandidateFusion, PassageRanker
from pipeline.components.reranker import LearnedReranker
from pipeline.components.writer import TalkWriter
from pipeline.embedding import (
    EMBEDDING_MODEL_NAME,
    INGEST_ENCODER_ENV,
    SentenceEmbedder,
    document_embedder,
    encoder_choice,
    text_embedder,
)
from pipeline.stores import ChunkStore, StoreConfig


@dataclass(frozen=True)
class IndexSettings:
    """How talks are chunked. Chosen on the QMSum retrieval benchmark: see README, "Retrieval"."""

    chunk_words: int = 165
    chunk_overlap: int = 55
    model: str = EMBEDDING_MODEL_NAME
    restore_punctuation: RestoreMode = "auto"  # see PunctuationRestorer; README, "Punctuation and casing"


@dataclass(frozen=True)
class QuerySettings:
    """How questions are answered. Chosen on the QMSum retrieval benchmark: see README, "Retrieval".

    `candidates`: chunks each retriever hands to fusion; `keyword_weight`/`embedding_weight`: their weights in
    Haystack's reciprocal rank fusion (constant 61); `leaders_after`: each retriever's best chunk is kept among the
    passages right after this many (None: not kept unless it scores in); `rerank`: the head of the re-scored ranking
    re-ordered by the learned `LearnedReranker` (fitted on QMSum train; README, "Retrieval"); `passage_growth`: a chunk
    skipped for overlapping a passage but ranked above the last one picked grows that passage (`PassageSelector`)."""

    top_k: int = 5
    candidates: int = 100
    keyword_weight: float = 1.0
    embedding_weight: float = 1.5
    speaker_boost: float = 0.5
    neighbour_weight: float = 0.75
    max_overlap: float = 0.0
    passage_growth: bool = True
    leaders_after: int | None = 1
    answer_words: int = 80
    rerank: bool = False


def build_indexing_pipeline(
    workspace: str, settings: IndexSettings = IndexSettings(), store: StoreConfig | None = None
) -> Pipeline:
    pipeline = Pipeline(
        metadata=io_metadata(
            {"cleaner": {"transcript": "transcript"}}, {"talk_id": "writer.talk_id", "chunks": "writer.chunks"}
        )
    )
    pipeline.add_component("cleaner", TranscriptCleaner())
    pipeline.add_component("punctuation", PunctuationRestorer(mode=settings.restore_punctuation))
    pipeline.add_component("chunker", TranscriptChunker(words=settings.chunk_words, overlap=settings.chunk_overlap))
    keeps_sentences = (store or StoreConfig()).kind == "sqlite"  # sentence embeddings kept: none per question
    pooled = keeps_sentences and encoder_choice(INGEST_ENCODER_ENV, "torch") == "torch"
    # one transformer pass a chunk gives its vector and its sentences' (`PooledDocumentEmbedder`); else a second one
    if pooled:  # imported here: the Haystack sentence-transformers embedders load torch, which `talks ask` avoids
        from pipeline.components.embedders import PooledDocumentEmbedder

        pipeline.add_component("embedder", PooledDocumentEmbedder())
    else:  # chunks batched by token count, as the pooled embedder batches them: less padding than by characters
        pipeline.add_component("embedder", document_embedder(batch_by_tokens=True))
    store_settings = (store or StoreConfig()).model_dump()
    writer = TalkWriter(
        workspace=workspace, settings=asdict(settings), store=store_settings, sentence_kind=SentenceEmbedder.kind()
    )  # with the torch encoder both the pooled embedder and `SentenceEmbedder` pool; with ONNX, sentences on their own
    pipeline.add_component("writer", writer)
    pipeline.connect("cleaner.transcript", "punctuation.transcript")
    pipeline.connect("punctuation.transcript", "chunker.transcript")
    pipeline.connect("punctuation.transcript", "writer.transcript")
    pipeline.connect("chunker.documents", "embedder.documents")
    if pooled:
        pipeline.connect("embedder.documents", "writer.documents")
        pipeline.connect("embedder.sentence_vectors", "writer.sentence_vectors")
    elif keeps_sentences:
        pipeline.add_component("sentences", SentenceEmbedder())
        pipeline.connect("embedder.documents", "sentences.documents")
        pipeline.connect("sentences.documents", "writer.documents")
        pipeline.connect("sentences.sentence_vectors", "writer.sentence_vectors")
    else:
        pipeline.connect("embedder.documents", "writer.documents")
    return pipeline


def build_query_pipeline(store: ChunkStore, settings: QuerySettings = QuerySettings()) -> Pipeline:
    """BM25 and embedding retrieval joined by weighted reciprocal rank fusion, re-scored for named speakers and
    neighbouring matches; then the best distinct passages (each retriever's best match among them), their sentences
    closest to the question highlighted and condensed into a cited extractive answer."""
    keyword_retriever, embedding_retriever = store.retrievers(settings.candidates)
    names = query_inputs("question", "filters", "top_k", "answer_words", settings.rerank)  # type: ignore[arg-type]
    pipeline = Pipeline(metadata=io_metadata(names, {"answer": "answer_writer.answer"}))
    pipeline.add_component("text_embedder", QueryEmbedder(embedder=text_embedder()))
    pipeline.add_component("bm25", keyword_retriever)
    pipeline.add_component("embedding_retriever", embedding_retriever)
    # Fusion with the leaders, and re-scoring with selection, are one component each: Haystack deep-copies every
    # component's inputs, and the ~200 candidates cost more to copy between five components than to rank.
    pipeline.add_component("fusion", CandidateFusion(settings.keyword_weight, settings.embedding_weight))
    if settings.rerank:  # the reranker re-scores (speaker boost, smoothing) before re-ordering; the ranker selects
        reranker = LearnedReranker(speaker_boost=settings.speaker_boost, neighbour_weight=settings.neighbour_weight)
        pipeline.add_component("reranker", reranker)
    ranker = PassageRanker(
        top_k=settings.top_k,
        speaker_boost=0.0 if settings.rerank else settings.speaker_boost,
        neighbour_weight=0.0 if settings.rerank else settings.neighbour_weight,
        max_overlap=settings.max_overlap,
        leaders_after=settings.leaders_after or 0,
        grow=settings.passage_growth,
    )
    pipeline.add_component("ranker", ranker)
    stored_sentences = store if getattr(store, "keeps_sentence_vectors", False) else None
    pipeline.add_component("highlighter", PassageHighlighter(vectors=stored_sentences))
    pipeline.add_component("answer_writer", ExtractiveAnswerWriter(answer_words=settings.answer_words))
    if getattr(embedding_retriever, "takes_arrays", False):  # the array is copied as one object, the list by float
        pipeline.connect("text_embedder.vector", "embedding_retriever.query_embedding")
    else:
        pipeline.connect("text_embedder.embedding", "embedding_retriever.query_embedding")
    pipeline.connect("text_embedder.vector", "highlighter.query_embedding")
    # rankings as one `Candidates` where the retriever gives them so (copied as one object, not Document by Document)
    keyword = "bm25.candidates" if getattr(keyword_retriever, "gives_candidates", False) else "bm25.documents"
    embedding = "embedding_retriever." + (
        "candidates" if getattr(embedding_retriever, "gives_candidates", False) else "documents"
    )
    pipeline.connect(keyword, "fusion.keyword_documents")
    pipeline.connect(embedding, "fusion.embedding_documents")
    if settings.rerank:
        pipeline.connect("fusion.documents", "reranker.documents")
        pipeline.connect(keyword, "reranker.keyword_documents")
        pipeline.connect(embedding, "reranker.embedding_documents")
        pipeline.connect("reranker.documents", "ranker.documents")
    else:
        pipeline.connect("fusion.documents", "ranker.documents")
    if settings.leaders_after is not None:
        pipeline.connect("fusion.leaders", "ranker.leaders")
    pipeline.connect("ranker.documents", "highlighter.documents")
    pipeline.connect("highlighter.passages", "answer_writer.passages")
    pipeline.connect("highlighter.sentence_scores", "answer_writer.sentence_scores")
    return pipeline


def run_pipeline(pipeline: Pipeline, inputs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """`pipeline.run`, re-raising our own errors (a store, workspace or source problem) as they were raised inside a
    component, instead of Haystack's wrapper, so callers can report them in one line."""
    from haystack.core.errors import PipelineRuntimeError

    try:
        return pipeline.run(inputs)
    except PipelineRuntimeError as error:
        from pipeline.sources.base import SourceError  # on failure only: `pipeline.sources` imports requests
        from pipeline.stores import StoreError
        from pipeline.workspace import WorkspaceError

        cause: BaseException | None = error
        while cause is not None:
            if isinstance(cause, StoreError | WorkspaceError | SourceError):
                raise cause from None
            cause = cause.__cause__ or cause.__context__
        raise


def io_metadata(inputs: dict[str, dict[str, Any]], outputs: dict[str, str]) -> dict[str, Any]:
    """`Pipeline.metadata` that says what to feed a pipeline and what comes out, so that a YAML dump runs without
    this package's helpers (see `pipeline_run_inputs`). `inputs` is an inputs dict (component → socket → value)
    whose values are the input names; `outputs` maps a result name to its `component.socket`."""
    mapping: dict[str, list[str]] = {}
    for name, sockets in inputs.items():
        for socket, value in sockets.items():
            mapping.setdefault(str(value), []).append(f"{name}.{socket}")
    return {"inputs": mapping, "outputs": outputs}


def pipeline_run_inputs(pipeline: Pipeline, **values: Any) -> dict[str, dict[str, Any]]:
    """The `run` inputs of a pipeline (built here, or loaded from a dump with `Pipeline.loads`) from its metadata
    and the named values, e.g. `pipeline_run_inputs(query, question="Why?", filters=None, top_k=5,
    answer_words=80)`; the outputs are `pipeline.metadata["outputs"]`."""
    data: dict[str, dict[str, Any]] = {}
    for name, sockets in pipeline.metadata["inputs"].items():
        for target in sockets:
            component, socket = target.split(".", 1)
            data.setdefault(component, {})[socket] = values[name]
    return data


def query_inputs(
    question: str,
    filters: dict[str, Any] | None,
    top_k: int,
    answer_words: int | None = None,
    rerank: bool = QuerySettings.rerank,
) -> dict[str, dict[str, Any]]:
    """The query pipeline's `run` inputs (`rerank`: for a pipeline built with `QuerySettings(rerank=True)`)."""
    reranker = {"reranker": {"query": question}} if rerank else {}
    return {
        "text_embedder": {"text": question},
        "bm25": {"query": question, "filters": filters},
        "embedding_retriever": {"filters": filters},
        "ranker": {"query": question, "top_k": top_k},
        "highlighter": {"query": question},
        "answer_writer": {"query": question, "answer_words": answer_words},
        **reranker,
    }
