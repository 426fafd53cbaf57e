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
