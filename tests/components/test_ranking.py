"""Fusion and passage selection: Haystack's weighted RRF, each retriever's best chunk kept."""

from __future__ import annotations

import pytest
from haystack import Document

from pipeline.components.passages import PassageSelector
from pipeline.components.ranking import (
    NeighbourSmoother,
    PassageRanker,
    RetrieverLeaders,
    SpeakerBooster,
    rank_fusion,
)


def chunk(first: int, last: int, score: float = 0.0, talk: str = "t") -> Document:
    return Document(
        id=f"{talk}:{first}-{last}",
        content=f"turns {first} to {last}",
        score=score,
        meta={"talk_id": talk, "first_segment": first, "last_segment": last},
    )


def test_fusion_is_haystacks_weighted_rrf_and_leaders_are_each_rankings_best() -> None:
    keyword = [chunk(0, 3), chunk(4, 7), chunk(8, 11)]
    embedding = [chunk(8, 11), chunk(12, 15), chunk(0, 3)]
    fused = rank_fusion(1.0, 1.5).run(documents=[keyword, embedding])["documents"]
    expected = {
        "t:0-3": 0.4 + 0.6 * 61 / 63,
        "t:4-7": 0.4 * 61 / 62,
        "t:8-11": 0.4 * 61 / 63 + 0.6,
        "t:12-15": 0.6 * 61 / 62,
    }
    assert [(d.id, pytest.approx(d.score)) for d in fused] == sorted(expected.items(), key=lambda item: -item[1])
    leaders = RetrieverLeaders(1.0, 1.5).run(keyword_documents=keyword, embedding_documents=embedding)["leaders"]
    assert leaders == ["t:0-3", "t:8-11"]
    same = RetrieverLeaders().run(keyword_documents=keyword[:1], embedding_documents=keyword[:1])
    assert same["leaders"] == ["t:0-3"]
    muted = RetrieverLeaders(embedding_weight=0.0)
    assert muted.run(keyword_documents=[], embedding_documents=embedding)["leaders"] == []


def test_query_pipeline_fuses_keyword_first_with_the_settings_weights(sample_workspace) -> None:
    from pipeline.pipelines import QuerySettings, query_inputs
    from pipeline.query import Searcher

    settings = QuerySettings(keyword_weight=1.0, embedding_weight=3.0)
    searcher = Searcher(sample_workspace, settings)
    searcher.warm_up()
    inputs = query_inputs("how do you hire juniors remotely", None, 3)
    steps = ("bm25", "embedding_retriever", "fusion")
    output = searcher.pipeline.run(inputs, include_outputs_from=set(steps))
    keyword, embedding = output["bm25"]["documents"], output["embedding_retriever"]["documents"]
    expected = rank_fusion(1.0, 3.0).run(documents=[keyword, embedding])["documents"]
    assert [(d.id, d.score) for d in output["fusion"]["documents"]] == [(d.id, d.score) for d in expected]
    assert keyword[0].id != embedding[0].id or len(output["fusion"]["leaders"]) == 1
    assert output["fusion"]["leaders"][0] == keyword[0].id


def test_passage_ranker_is_the_booster_smoother_and_selector_in_turn() -> None:
    speakers = {"speaker": "Priya Raman", "speakers": ["Priya Raman"]}
    fused = [chunk(0, 3, 0.5), chunk(10, 13, 0.45), chunk(20, 23, 0.4), chunk(40, 43, 0.3), chunk(24, 27, 0.1)]
    fused[2] = Document(id=fused[2].id, content=fused[2].content, score=0.4, meta={**fused[2].meta, **speakers})
    question = "What did Priya Raman say?"
    ranker = PassageRanker(top_k=3, speaker_boost=0.5, neighbour_weight=0.75)
    ranked = ranker.run(documents=fused, query=question, leaders=["t:40-43"])["documents"]
    boosted = SpeakerBooster(boost=0.5).run(documents=fused, query=question)["documents"]
    smoothed = NeighbourSmoother(weight=0.75).run(documents=boosted)["documents"]
    expected = PassageSelector(top_k=3).run(documents=smoothed, leaders=["t:40-43"])["documents"]
    assert ranked == expected
    # the named speaker's chunk first (0.6 + 0.75 × 0.1), the leader, then its neighbour (0.1 + 0.75 × 0.6 > 0.5)
    assert [d.id for d in ranked] == ["t:20-23", "t:40-43", "t:24-27"]


def test_selector_keeps_leaders_after_the_best_passage_and_is_prefix_stable() -> None:
    ranked = [chunk(0, 3, 0.9), chunk(2, 5, 0.8), chunk(10, 13, 0.7), chunk(20, 23, 0.6), chunk(30, 33, 0.5)]
    ranked += [chunk(40, 43, 0.1)]
    selector = PassageSelector(top_k=4)
    plain = selector.run(documents=ranked)["documents"]
    assert [d.id for d in plain] == ["t:0-3", "t:10-13", "t:20-23", "t:30-33"]  # t:2-5 overlaps a better one
    # a leader covered by a chosen stretch (t:2-5) is skipped; a new one (t:40-43) comes right after the first
    kept = selector.run(documents=ranked, leaders=["t:2-5", "t:40-43", "t:gone"])["documents"]
    assert [d.id for d in kept] == ["t:0-3", "t:40-43", "t:10-13", "t:20-23"]
    for top_k in (1, 2, 3):
        assert selector.run(documents=ranked, leaders=["t:40-43"], top_k=top_k)["documents"] == kept[:top_k]
    first = PassageSelector(top_k=2, leaders_after=0).run(documents=ranked, leaders=["t:40-43"])["documents"]
    assert [d.id for d in first] == ["t:40-43", "t:0-3"]


def spoken(first: int, last: int, score: float) -> Document:
    text = "Ada: " + " ".join(f"Point {i} is made here." for i in range(first, last + 1))
    meta = {"talk_id": "t", "first_segment": first, "last_segment": last, "start": float(first), "end": last + 1.0}
    return Document(id=f"t:{first}-{last}", content=text, score=score, meta={**meta, "speakers": ["Ada"]})


def test_grown_passages_read_on_through_overlapping_hits_ranked_above_the_next_pick() -> None:
    ranked = [spoken(10, 15, 0.9), spoken(13, 21, 0.8), spoken(7, 12, 0.7), spoken(20, 25, 0.6), spoken(40, 45, 0.5)]
    ranked += [spoken(5, 11, 0.1), spoken(60, 65, 0.05)]
    plain = PassageSelector(top_k=3).run(documents=ranked)["documents"]
    assert [d.id for d in plain] == ["t:10-15", "t:20-25", "t:40-45"]
    grown = PassageSelector(top_k=3, grow=True).run(documents=ranked)["documents"]
    first, second, third = grown
    # after: t:13-21, cut back where the second passage starts; before: t:7-12; t:5-11 ranks below t:20-25
    assert (first.meta["first_segment"], first.meta["last_segment"]) == (7, 19)
    assert first.content == "Ada: " + " ".join(f"Point {i} is made here." for i in range(7, 20))
    assert (first.meta["start"], first.meta["end"], first.meta["grown_from"]) == (7.0, 20.0, "t:10-15")
    assert [second, third] == plain[1:] and ranked[0].content == spoken(10, 15, 0.9).content  # inputs kept
    for top_k in (1, 2):  # the same passages, grown the same, whatever the top_k
        assert PassageSelector(top_k=top_k, grow=True).run(documents=ranked)["documents"] == grown[:top_k]
    # a leader from far down the ranking is not the bound: t:5-11 ranks below the next pick by score, t:20-25
    chunks = [spoken(10, 15, 0.9), spoken(20, 25, 0.8), spoken(5, 11, 0.1), spoken(60, 65, 0.05)]
    led = PassageSelector(top_k=3, grow=True).run(documents=chunks, leaders=["t:60-65"])["documents"]
    assert [d.id for d in led] == ["t:10-15", "t:60-65", "t:20-25"]


def test_a_grown_passage_is_highlighted_with_its_chunks_stored_sentence_vectors() -> None:
    import numpy as np

    from pipeline.components.passages import PassageHighlighter
    from pipeline.text import split_sentences

    chunks = [spoken(10, 15, 0.9), spoken(13, 18, 0.8), spoken(30, 35, 0.7)]
    vectors = {d.id: np.eye(40, dtype=np.float32)[d.meta["first_segment"] + np.arange(6)] for d in chunks[::2]}
    vectors["t:13-18"] = np.eye(40, dtype=np.float32)[np.arange(13, 19)]  # sentence i: the unit vector i

    class Store:
        def sentence_vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
            return {i: vectors[i] for i in ids if i in vectors}

    class NoEmbedder:
        def embed(self, texts: list[str]) -> list[np.ndarray]:
            raise AssertionError("the stored vectors were not used")

    grown = PassageSelector(top_k=2, grow=True).run(documents=chunks)["documents"]
    assert len(split_sentences(grown[0].content or "")) == 9  # segments 10-18, one sentence each
    highlighter = PassageHighlighter(vectors=Store(), embedder=NoEmbedder())  # type: ignore[arg-type]
    query = np.zeros(40, dtype=np.float32)
    query[17] = 1.0
    result = highlighter.run(documents=grown, query="", query_embedding=query)
    scores = result["sentence_scores"]
    assert scores[0] == [0.0] * 7 + [1.0, 0.0] and scores[1] == [0.0] * 6
    # the vectors the scores come from are given out too (training/answer_passages.py freezes them)
    assert [v.argmax(axis=1).tolist() for v in result["sentence_vectors"]] == [list(range(10, 19)), list(range(30, 36))]


def test_sentences_cut_or_joined_at_a_growths_edges_take_their_pieces_stored_vectors() -> None:
    """A growth cut back mid-sentence leaves a fragment, and a join can make a sentence longer than either chunk's
    piece of it: both take a stored vector (the whole sentence's, the longest piece's) instead of the passage being
    embedded again at query time."""
    import numpy as np

    from pipeline.components.passages import _composed

    parts = {
        "t:1-4": "We kept Apache. The cloud offering was not taking our customers.",
        "t:3-6": "and said no. Trust.",
    }
    stored = {"t:1-4": np.eye(4, dtype=np.float32)[:2], "t:3-6": np.eye(4, dtype=np.float32)[2:]}
    group = ["We kept Apache.", "The cloud offering was", "Then we thought and said no.", "Trust."]
    assert _composed(group, parts, stored).argmax(axis=1).tolist() == [0, 1, 2, 3]
    assert _composed(["Nothing shared here."], parts, stored) is None
