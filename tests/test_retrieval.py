"""Retrieval on real QMSum meetings: the gold turns show up in the top-5 passages."""

from __future__ import annotations

import pytest

from bench.qmsum import load_meeting
from pipeline.query import Searcher
from tests.conftest import QMSUM

MEETINGS = ["Bed002", "IS1006b", "TS3009c"]


@pytest.mark.skipif(not QMSUM.exists(), reason="../shared/eval/qmsum is not beside the repo")
def test_gold_turns_in_top_five(tmp_path, ingestor_factory):
    ingestor = ingestor_factory(tmp_path)
    queries = []
    for name in MEETINGS:
        transcript, meeting_queries, _ = load_meeting(QMSUM / f"{name}.json")
        ingestor.ingest(transcript)
        queries.extend(meeting_queries)
    searcher = Searcher(ingestor.workspace)
    searcher.warm_up()
    hits = 0
    for query in queries:
        answer = searcher.ask(query.question, top_k=5, talk=query.meeting)
        covered = {t for p in answer.passages for t in range(p.first_segment, p.last_segment + 1)}
        hits += bool(covered & query.gold_turns)
    assert hits >= 0.8 * len(queries), f"{hits} of {len(queries)} queries found gold turns in the top 5"
