"""Fusion and passage selection: weighted RRF on DocumentJoiner's scale, each retriever's best chunk kept."""

from __future__ import annotations

import pytest
from haystack import Document
from haystack.components.joiners import DocumentJoiner

from pipeline.components.passages import PassageSelector
from pipeline.components.ranking import RankFusion


def chunk(first: int, last: int, score: float = 0.0, talk: str = "t") -> Document:
    return Document(
        id=f"{talk}:{first}-{last}",
        content=f"turns {first} to {last}",
        score=score,
        meta={"talk_id": talk, "first_segment": first, "last_segment": last},
    )


def test_equal_weights_reproduce_haystack_rrf() -> None:
    keyword = [chunk(0, 3), chunk(4, 7), chunk(8, 11)]
    embedding = [chunk(8, 11), chunk(12, 15), chunk(0, 3)]
    ours = RankFusion(1.0, 1.0, k=61).run(keyword_documents=keyword, embedding_documents=embedding)["documents"]
    theirs = DocumentJoiner(join_mode="reciprocal_rank_fusion").run(documents=[keyword, embedding])["documents"]
    assert [(d.id, pytest.approx(d.score)) for d in ours] == [(d.id, d.score) for d in theirs]


def test_weights_favour_one_ranking_and_leaders_are_each_rankings_best() -> None:
    keyword = [chunk(0, 3), chunk(4, 7)]
    embedding = [chunk(4, 7), chunk(0, 3)]
    fused = RankFusion(keyword_weight=1.0, embedding_weight=1.5).run(
        keyword_documents=keyword, embedding_documents=embedding
    )
    assert [d.id for d in fused["documents"]] == ["t:4-7", "t:0-3"]
    assert fused["leaders"] == ["t:0-3", "t:4-7"]
    same = RankFusion().run(keyword_documents=keyword[:1], embedding_documents=keyword[:1])
    assert same["leaders"] == ["t:0-3"]
    assert RankFusion(embedding_weight=0.0).run(keyword_documents=[], embedding_documents=embedding)["leaders"] == []
    with pytest.raises(ValueError):
        RankFusion(keyword_weight=0.0, embedding_weight=0.0)


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
