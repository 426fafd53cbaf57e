"""Answering questions across the workspace's talks with the query pipeline."""

from __future__ import annotations

from typing import Any

from pipeline.models import TALK_ID_RULE, Answer, is_valid_talk_id
from pipeline.pipelines import QuerySettings, build_query_pipeline, query_inputs, run_pipeline
from pipeline.stores import StoreConfig, open_store
from pipeline.workspace import Workspace, shown


class QueryError(Exception):
    """A question cannot be asked as given (an unknown talk, event or speaker)."""


class Searcher:
    """Loads the index once and answers any number of questions."""

    def __init__(
        self, workspace: Workspace, settings: QuerySettings = QuerySettings(), store: StoreConfig | None = None
    ) -> None:
        self.settings = settings
        self.store = open_store(store or StoreConfig(), workspace.root)
        self.pipeline = build_query_pipeline(self.store, settings)
        facets = self.store.facets()
        self.talk_ids, self.events, self.speakers = facets.talk_ids, facets.events, facets.speakers

    def warm_up(self) -> None:
        self.pipeline.warm_up()

    def close(self) -> None:
        self.store.close()

    def ask(
        self,
        question: str,
        top_k: int | None = None,
        talk: str | None = None,
        event: str | None = None,
        speaker: str | None = None,
        answer_words: int | None = None,
    ) -> Answer:
        if not question.strip():
            raise QueryError("the question is empty")
        filters = self.filters(talk=talk, event=event, speaker=speaker)
        result = run_pipeline(
            self.pipeline,
            query_inputs(question, filters, top_k or self.settings.top_k, answer_words, self.settings.rerank),
        )
        return result["answer_writer"]["answer"]

    def filters(self, talk: str | None, event: str | None, speaker: str | None) -> dict[str, Any] | None:
        """Haystack metadata filters; event and speaker match case-insensitively (a speaker by part of the name)."""
        conditions = []
        if talk:
            if not is_valid_talk_id(talk):
                raise QueryError(f"{shown(talk)} is not a valid talk id ({TALK_ID_RULE})")
            if talk not in self.talk_ids:
                raise QueryError(f"no talk '{talk}' in the index (talks: {', '.join(self.talk_ids) or 'none'})")
            conditions.append({"field": "meta.talk_id", "operator": "==", "value": talk})
        if event:
            matches = [name for name in self.events if name.lower() == event.lower()]
            if not matches:
                raise QueryError(f"no event '{event}' in the index (events: {', '.join(self.events) or 'none'})")
            conditions.append({"field": "meta.event", "operator": "in", "value": matches})
        if speaker:
            matches = [name for name in self.speakers if speaker.lower() in name.lower()]
            if not matches:
                raise QueryError(f"no speaker matching '{speaker}' (speakers: {', '.join(self.speakers) or 'none'})")
            conditions.append({"field": "meta.speaker", "operator": "in", "value": matches})
        if not conditions:
            return None
        return {"operator": "AND", "conditions": conditions}
