"""Recaps of stored talks reuse the sentence embeddings the SQLite store kept at ingest, with the same result."""

from __future__ import annotations

from pipeline.components.segmenter import SentenceSplitter
from pipeline.components.stored_sentences import StoredSentenceEmbedder
from pipeline.models import TalkRecap
from pipeline.recap import Recapper


def comparable(recap: TalkRecap) -> dict:
    data = recap.model_dump(mode="json")
    data["generation"].pop("seconds", None)
    data["generation"].pop("created_at", None)
    return data


def test_a_stored_talks_recap_embeds_only_the_sentences_the_store_lacks_and_is_unchanged(sample_workspace, monkeypatch):
    stored = Recapper(sample_workspace)
    stored.warm_up()
    embedder = stored.pipeline.get_component("embedder")
    assert isinstance(embedder, StoredSentenceEmbedder)
    embedded: list[int] = []
    run = embedder.embedder.run
    monkeypatch.setattr(embedder.embedder, "run", lambda documents: embedded.append(len(documents)) or run(documents))
    transcript = sample_workspace.load_transcript("founder-talk")
    with_store = stored.recap("founder-talk")
    sentences = SentenceSplitter().run(transcripts=[transcript])["documents"]
    assert 0 < sum(embedded) < len(sentences) / 10  # a few sentences cut at chunk edges; ~400 found in the store
    assert comparable(with_store) == comparable(Recapper().recap_transcript(transcript))
