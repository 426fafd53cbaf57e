"""The extractive answer writer: sentences that answer the question, within the word budget, each cited."""

from __future__ import annotations

from pipeline.components.answer import FEATURES, SCORERS, ExtractiveAnswerWriter, candidates
from pipeline.models import Passage
from pipeline.query import Searcher
from pipeline.text import split_sentences


def passage(text: str, speakers: list[str], first: int = 0) -> Passage:
    return Passage(
        talk_id="t", title="t", text=text, score=1.0, first_segment=first, last_segment=first + 3, speakers=speakers
    )


def test_demo_question_is_answered_with_the_three_reasons_the_talk_gives(sample_workspace) -> None:
    searcher = Searcher(sample_workspace)
    searcher.warm_up()
    answer = searcher.ask("Why did they decide against a source-available license?")
    text = answer.answer or ""
    assert "contributors" in text and "Apache" in text, text  # contributors under Apache
    assert "cloud offering" in text and "customers" in text, text  # the cloud offering did not take customers
    # the third: "a license change is a promise you break once ...", which the talk sums up as trust ("trust was the
    # product", "open source is distribution and trust, and the license is a promise")
    assert "promise" in text or "trust" in text, text
    assert len(text.split()) <= searcher.settings.answer_words + 45  # budget plus at most one sentence and citations
    for sentence in answer.sentences:
        assert sentence.citations and 1 <= sentence.citations[0] <= len(answer.passages)


def test_budget_order_citations_and_what_is_left_out() -> None:
    first = passage(
        "Ana Ruiz: Why did we pick Postgres? We picked Postgres because the team already knew it well. "
        "Um, yeah. It also had the JSON support we needed for the event log.",
        ["Ana Ruiz"],
    )
    second = passage("Ben Ode: The migration took three weeks in the end, because of the old triggers.", ["Ben Ode"], 9)
    scores = [[0.9, 0.8, 0.1, 0.5], [0.6]]
    assert [len(split_sentences(p.text)) for p in (first, second)] == [4, 1]
    writer = ExtractiveAnswerWriter(answer_words=12, scorer="hand-set")  # these scores are made for the hand-set one
    answer = writer.run(query="Why did they pick Postgres?", passages=[first, second], sentence_scores=scores)["answer"]
    texts = [s.text for s in answer.sentences]
    assert texts[0] == "We picked Postgres because the team already knew it well."  # label and question left out
    assert all("?" not in t and t != "Yeah." for t in texts)
    assert answer.answer.startswith("We picked Postgres because the team already knew it well. [1]")
    assert sum(len(t.split()) for t in texts[:-1]) < 12  # stops once the budget is reached
    orders = [(s.citations[0], first.text.find(s.text[:20])) for s in answer.sentences]
    assert orders == sorted(orders)  # passage order, not score order
    empty = writer.run(query="q", passages=[first], sentence_scores=scores[:1], answer_words=0)["answer"]
    assert empty.answer is None and empty.passages == [first]


def test_counted_points_and_what_follows_the_topic_score_higher() -> None:
    text = (
        "Ana Ruiz: We looked hard at moving off Postgres. In the end we stayed, for three reasons. "
        "One, the team already knew it well after years of running it. The weather was nice that week anyway."
    )
    scores = [[0.6, 0.3, 0.2, 0.2]]
    pool = candidates([passage(text, ["Ana Ruiz"])], scores)
    assert pool[0].text == "We looked hard at moving off Postgres."  # label gone
    by_text = {c.text: dict(zip(FEATURES, c.features, strict=True)) for c in pool}
    point = by_text["The team already knew it well after years of running it."]
    aside = by_text["The weather was nice that week anyway."]
    assert point["enumeration"] == 1.0 and aside["enumeration"] == 0.0
    assert point["context"] == 0.6 and aside["context"] == 0.3  # the best of the two sentences before
    for name, scorer in SCORERS.items():  # same similarity: the counted point wins
        assert scorer().score(pool[2]) > scorer().score(pool[3]), name
