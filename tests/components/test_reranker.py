"""The learned reranker: its shipped weights load, it re-orders candidates by its model (the same way every run),
and an unusable weights file is refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from haystack import Document

from pipeline.components.reranker import FEATURES, LearnedReranker, RerankerWeightsError, load_weights


def chunk(first: int, text: str, score: float) -> Document:
    meta = {"talk_id": "t", "first_segment": first, "last_segment": first + 2, "speakers": ["A"], "speaker": "A"}
    return Document(id=f"t:{first}", content=text, score=score, meta=meta)


CANDIDATES = [
    chunk(0, "The budget was small.", 0.9),
    chunk(10, "Nobody liked the colour of the case.", 0.8),
    chunk(20, "They chose the rubber case.", 0.7),
]


def write_model(path: Path, weights: dict[str, float], keep_first: int = 0) -> Path:
    model = {
        "features": list(FEATURES),
        "mean": [0.0] * len(FEATURES),
        "scale": [1.0] * len(FEATURES),
        "coef": [weights.get(name, 0.0) for name in FEATURES],
        "intercept": 0.0,
        "candidates": 30,
        "keep_first": keep_first,
    }
    path.write_text(json.dumps(model))
    return path


def rerank(reranker: LearnedReranker, query: str = "Which rubber case did they choose?") -> list[str]:
    output = reranker.run(
        documents=CANDIDATES, query=query, keyword_documents=CANDIDATES, embedding_documents=CANDIDATES
    )
    return [d.id for d in output["documents"]]


def test_the_shipped_weights_load_and_rank_every_candidate() -> None:
    model = load_weights()
    assert model["coef"].shape == (len(FEATURES),) and model["candidates"] >= 5
    reranker = LearnedReranker()
    first, again = rerank(reranker), rerank(reranker)
    assert first == again and sorted(first) == ["t:0", "t:10", "t:20"]
    assert first[: model["keep_first"]] == ["t:0"][: model["keep_first"]]


def test_candidates_are_reordered_by_the_model_and_inputs_not_changed(tmp_path: Path) -> None:
    weights = write_model(tmp_path / "coverage.json", {"coverage": 1.0})
    reranker = LearnedReranker(weights=str(weights), speaker_boost=0.0, neighbour_weight=0.0)
    assert rerank(reranker) == ["t:20", "t:10", "t:0"]  # "rubber", "case", "chose(n)": 2 of 3, then 1, then none
    assert rerank(reranker, "What about the budget?") == ["t:0", "t:10", "t:20"]  # ties keep the fused order
    assert [d.score for d in CANDIDATES] == [0.9, 0.8, 0.7]
    kept = write_model(tmp_path / "kept.json", {"coverage": 1.0}, keep_first=1)
    assert rerank(LearnedReranker(weights=str(kept), speaker_boost=0.0, neighbour_weight=0.0)) == [
        "t:0",
        "t:20",
        "t:10",
    ]
    only_two = LearnedReranker(weights=str(weights), candidates=2, speaker_boost=0.0, neighbour_weight=0.0)
    assert rerank(only_two) == ["t:10", "t:0", "t:20"]  # the third chunk is outside the reranked head
    assert LearnedReranker(weights=str(weights)).to_dict()["init_parameters"]["weights"] == str(weights)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not a reranker model"),
        (json.dumps({"features": ["bm25"], "mean": [0], "scale": [1], "coef": [1], "intercept": 0}), "other features"),
    ],
)
def test_a_bad_weights_file_is_refused_in_one_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "reranker.json"
    path.write_text(content)
    with pytest.raises(RerankerWeightsError, match=message) as error:
        LearnedReranker(weights=str(path)).warm_up()
    assert "\n" not in str(error.value) and str(path) in str(error.value)
    with pytest.raises(RerankerWeightsError, match="cannot read"):
        load_weights(tmp_path / "missing.json")


def test_a_reranking_query_pipeline_dumps_and_loads_without_paths_to_weights(tmp_path: Path) -> None:
    from haystack import Pipeline

    from pipeline.pipelines import QuerySettings, build_query_pipeline, query_inputs
    from pipeline.stores import StoreConfig, open_store

    store = open_store(StoreConfig(kind="sqlite"), tmp_path)
    try:
        text = build_query_pipeline(store, QuerySettings(rerank=True)).dumps()
        loaded = Pipeline.loads(text, allowed_modules=["pipeline.*"])
    finally:
        store.close()
    assert "LearnedReranker" in text and "weights: null" in text
    assert loaded.get_component("ranker").speaker_boost == 0.0  # the reranker re-scores; the ranker only selects
    assert set(query_inputs("q", None, 3, rerank=True)) - set(query_inputs("q", None, 3, rerank=False)) == {"reranker"}
