"""LLMAnswerWriter: answers from the passages only, with citations of passages that exist, with a real model."""

from __future__ import annotations

import pytest

from pipeline.llm.answer import (
    NO_ANSWER,
    LLMAnswerWriter,
    capped,
    compact_text,
    condensed_notes,
    ground_reply,
    passage_heading,
)
from pipeline.llm.answer_speakers import speaking
from pipeline.models import Answer, AnswerSentence, GroundingReport, Passage
from tests.llm_server import ScriptedGenerator, smollm_fixture  # noqa: F401  (fixture)


def passage(text: str, first: int, highlight: str | None = None) -> Passage:
    return Passage(
        talk_id="founder-talk",
        title="From Side Project to Company",
        text=text,
        score=1.0,
        first_segment=first,
        last_segment=first + 4,
        start=10.0 * first,
        speakers=["Maya Lindqvist"],
        highlights=[highlight] if highlight else [],
    )


PASSAGES = [
    passage(
        "We bootstrapped for two years. Consulting revenue paid the bills while the open-source project grew.",
        10,
        "Consulting revenue paid the bills while the open-source project grew.",
    ),
    passage(
        "Our first hire was a support engineer, because the community questions were eating all our time.",
        40,
        "Our first hire was a support engineer.",
    ),
]


def reply(*sentences: tuple[str, list[int]]) -> str:
    """A plain-text reply: each sentence followed by its `[n]` markers."""
    return " ".join(text + "".join(f" [{n}]" for n in cited) for text, cited in sentences)


def test_real_model_answer_cites_only_existing_passages(smollm):
    answer = LLMAnswerWriter(smollm, max_tokens=160).run(question="How was the company funded?", passages=PASSAGES)
    answer = answer["answer"]
    assert isinstance(answer, Answer) and answer.passages == PASSAGES
    assert answer.answer and answer.sentences
    assert answer.method in ("llama-cpp", "extractive")
    for sentence in answer.sentences:
        assert all(1 <= n <= len(PASSAGES) for n in sentence.citations)
        assert sentence.citations or sentence.text == NO_ANSWER
    assert answer.generation.method == "llama-cpp" and answer.generation.model.startswith("SmolLM2")
    report = answer.grounding
    assert report.citations_checked >= report.citations_dropped >= 0


SHOWN = [f"{passage_heading(p)}\n{p.text}" for p in PASSAGES]


def test_every_sentence_cites_passages_that_say_what_it_says():
    report = GroundingReport()
    text = (
        "Consulting revenue paid the bills [1][3]. They sold ice cream to tourists in Lisbon [1]. "
        "Maya said the first hire was a support engineer. [1]"
    )
    sentences, unanswerable = ground_reply(text, SHOWN, report)
    assert [(s.text, s.citations) for s in sentences] == [
        ("Consulting revenue paid the bills.", [1]),  # [3] was not shown
        ("Maya said the first hire was a support engineer.", [2]),  # found: [1] does not say it
    ]
    assert not unanswerable
    assert (report.citations_checked, report.citations_dropped, report.claims_dropped) == (4, 3, 1)


def test_a_sentence_naming_someone_no_passage_mentions_is_dropped():
    """The rest of the sentence is the passage's own words; the speaker is made up (as the prompt's former example
    role)."""
    report = GroundingReport()
    text = (
        "The Project Manager said consulting revenue paid the bills while the project grew. "
        "Maya Lindqvist's first hire was a support engineer, because community questions ate their time."
    )
    sentences, _ = ground_reply(text, SHOWN, report)
    assert [s.text for s in sentences] == [
        "Maya Lindqvist's first hire was a support engineer, because community questions ate their time."
    ]
    assert report.claims_dropped == 1


def meeting_passage(text: str, first: int, speakers: list[str]) -> Passage:
    """A QMSum-style passage: `Speaker: text` turns, the speakers in its metadata."""
    return Passage(
        talk_id="Bed002", title="Bed002", text=text, score=1.0, first_segment=first, last_segment=first + 4
    ).model_copy(update={"speakers": speakers})


MEETING = [
    meeting_passage(
        "Grad A: We should ship the remote in May, before the trade fair.\n"
        "Grad B: Yeah, the budget is tight, so the case should be cheap plastic.",
        10,
        ["Grad A", "Grad B"],
    ),
    meeting_passage(
        "Professor C: The budget is tight, so the case should be plastic.\n"
        "PhD D: I disagree, rubber feels better in the hand.",
        40,
        ["Professor C", "PhD D"],
    ),
]


def grounded(text: str, passages: list[Passage]) -> tuple[list[tuple[str, list[int]]], GroundingReport]:
    report = GroundingReport()
    shown = [f"{passage_heading(p)}\n{p.text}" for p in passages]
    sentences, _ = ground_reply(text, shown, report, speakers=[speaking(p) for p in passages])
    return [(s.text, s.citations) for s in sentences], report


def test_words_attributed_to_a_speaker_must_cite_a_passage_where_that_speaker_speaks():
    """QMSum-style turns: the passages support each sentence's words, but only some carry its speaker."""
    text = reply(
        ("Professor C said the remote should ship in May, before the trade fair.", [1]),  # Grad A said it
        ("Grad A wants to ship the remote before the trade fair in May.", [1]),
        ("Professor C argued the budget is tight, so the case should be plastic.", [1]),  # [2] carries C
        ("B disagreed and said rubber feels better in the hand.", [2]),  # PhD D said it
        ("D disagreed: rubber feels better in the hand.", [2]),
        ("Grad C agreed that rubber feels better in the hand.", [2]),  # Grad C is made of two speakers' names
        ("Grad A: rubber feels better in the hand.", [2]),  # a turn label
    )
    answer = LLMAnswerWriter(ScriptedGenerator(replies=[text])).write(Answer(question="What?", passages=MEETING))
    assert [(s.text, s.citations) for s in answer.sentences] == [
        ("Grad A wants to ship the remote before the trade fair in May.", [1]),
        ("Professor C argued the budget is tight, so the case should be plastic.", [2]),
        ("D disagreed: rubber feels better in the hand.", [2]),
    ]
    report = answer.grounding
    assert (report.citations_checked, report.citations_dropped, report.claims_dropped) == (7, 1, 4)
    assert [reason.split(": ")[-1] for reason in report.fallbacks] == [
        "Professor C not speaking in [1]",
        "Grad B not speaking in [2]",
        "Grad C (no speaker of the passages) not speaking in [2]",
        "Grad A not speaking in [2]",
    ]
    assert speaking(MEETING[0].model_copy(update={"speakers": []})) == {"Grad A", "Grad B"}  # the turns' labels


def test_in_talks_of_one_speaker_each_the_talk_must_be_the_named_speakers():
    """No turns in the text: each talk's passages carry its one speaker (the segments' speaker)."""
    pricing = passage("We moved to usage-based pricing after the seat-based plan confused our customers.", 5)
    pricing = pricing.model_copy(update={"talk_id": "pricing", "title": "Pricing", "speakers": ["Jonas Berg"]})
    text = reply(
        ("Jonas Berg said consulting revenue paid the bills while the open-source project grew.", [1]),
        ("Maya explained that they bootstrapped for two years on consulting revenue.", [1]),
        ("Jonas thinks the seat-based plan confused customers, so they moved to usage-based pricing.", [2]),
    )
    sentences, report = grounded(text, [PASSAGES[0], pricing])
    assert sentences == [
        ("Maya explained that they bootstrapped for two years on consulting revenue.", [1]),
        ("Jonas thinks the seat-based plan confused customers, so they moved to usage-based pricing.", [2]),
    ]
    assert report.claims_dropped == 1 and "Jonas Berg not speaking in [1]" in report.fallbacks[0]


def test_a_speaker_named_without_a_speech_verb_or_as_the_object_is_no_attribution():
    text = reply(
        ("Grad A asked Professor C to ship the remote in May, before the trade fair.", [1]),
        ("The cheap plastic case fits Professor C's budget, which is tight.", [1]),
        ("They said the budget is tight, so the case should be plastic.", [2]),
        ("PhD D said we should ship the remote in May, before the trade fair.", [1]),
    )
    sentences, report = grounded(text, MEETING)
    assert sentences == [
        ("Grad A asked Professor C to ship the remote in May, before the trade fair.", [1]),
        ("The cheap plastic case fits Professor C's budget, which is tight.", [1]),
        ("They said the budget is tight, so the case should be plastic.", [2]),
    ]
    assert report.claims_dropped == 1 and "PhD D not speaking in [1]" in report.fallbacks[0]


def test_list_replies_are_read_as_sentences_without_repeats():
    report = GroundingReport()
    text = (
        "- Consulting revenue paid the bills.\n- Consulting revenue paid all the bills [1].\n2. First hire was support"
    )
    sentences, _ = ground_reply(text, SHOWN, report)
    assert [(s.text, s.citations) for s in sentences] == [
        ("Consulting revenue paid the bills.", [1]),
        ("First hire was support.", [2]),
    ]
    assert report.claims_dropped == 0


def test_a_reply_cut_off_at_the_token_limit_loses_only_its_unfinished_sentence():
    text = "Consulting revenue paid the bills while the project grew. Their first hire was a su"
    generator = ScriptedGenerator(replies=[text])
    generator.chat = _finishing(generator.chat, "length")
    answer = LLMAnswerWriter(generator).write(Answer(question="How was it funded?", passages=PASSAGES))
    assert answer.answer == "Consulting revenue paid the bills while the project grew. [1]"
    assert answer.method == "llama-cpp"
    assert answer.grounding.claims_dropped == 0 and "cut off" in answer.grounding.fallbacks[0]


def _finishing(chat, reason: str):
    def wrapped(*args, **kwargs):
        generation = chat(*args, **kwargs)
        generation.finish_reason = reason
        return generation

    return wrapped


def test_a_reply_without_a_valid_citation_falls_back_to_the_extractive_answer():
    for text in ("They sold ice cream to tourists in Lisbon [1].", "I think it was consulting.", "{", ""):
        generator = ScriptedGenerator(replies=[text])
        answer = LLMAnswerWriter(generator).write(Answer(question="How was it funded?", passages=PASSAGES))
        assert answer.method == "extractive" and len(generator.calls) == 1
        assert [s.citations for s in answer.sentences] == [[1], [2]]
        assert answer.answer.startswith("Consulting revenue paid the bills") and "[1]" in answer.answer
        assert "no sentence of the reply is supported" in answer.grounding.fallbacks[-1]

    extractive = [AnswerSentence(text="Our first hire was a support engineer.", citations=[2])]
    given = Answer(question="Who came first?", passages=PASSAGES, sentences=extractive, method="extractive")
    answer = LLMAnswerWriter(ScriptedGenerator(replies=["{"])).write(given)
    assert answer.sentences == extractive and answer.method == "extractive"  # the extractive answer it was given


def test_model_saying_unanswerable_is_respected():
    for text in ("NO ANSWER", "No answer."):
        generator = ScriptedGenerator(replies=[text])
        answer = LLMAnswerWriter(generator).write(Answer(question="Who won the 1998 World Cup?", passages=PASSAGES))
        assert answer.answer == NO_ANSWER and answer.method == "llama-cpp"


def test_no_passages_means_no_model_call():
    generator = ScriptedGenerator()
    answer = LLMAnswerWriter(generator).run(question="Anything?", passages=[])["answer"]
    assert answer.answer == NO_ANSWER and generator.calls == []


def test_passages_that_do_not_fit_the_context_are_left_out_and_recorded():
    long = [passage(" ".join(f"word{n}" for n in range(600)) + ".", 10 * i) for i in range(6)]
    generator = ScriptedGenerator(replies=[reply(("Word1, word2 and word3 were said.", [1, 6]))])
    generator.config = generator.config.model_copy(update={"n_ctx": 3000})
    writer = LLMAnswerWriter(generator, max_tokens=200, max_passages=6)
    answer = writer.write(Answer(question="What?", passages=long))
    shown = generator.calls[0][-1].text.count("\n[")
    assert 1 <= shown < 6
    assert answer.sentences[0].citations == [1] and answer.grounding.citations_dropped == 1
    assert f"passages {shown + 1}–6 left out" in answer.grounding.fallbacks[0]


def test_the_model_reads_the_best_passages_compacted_in_the_order_they_were_said():
    turns = "Ann: Um, we we should ship in May.\nBob: Yeah.\nAnn: Uh, because the the demo is in June."
    meeting = passage(turns, 30).model_copy(update={"speakers": ["Ann", "Bob"]})
    assert compact_text(meeting) == "Ann: We should ship in May.\nAnn: Because the demo is in June."
    ranked = [passage("Later we hired.", 40), meeting, passage("Never shown.", 5)]
    generator = ScriptedGenerator(replies=[reply(("Ann said they should ship before the demo in June.", [2, 3]))])
    answer = LLMAnswerWriter(generator, max_passages=2).write(Answer(question="When?", passages=ranked))
    prompt = generator.calls[0][-1].text
    assert "Never shown" not in prompt and prompt.index("[2]") < prompt.index("[1]")  # time order, rank numbers
    assert answer.sentences[0].citations == [2] and answer.grounding.citations_dropped == 1


def test_answers_are_capped_at_whole_sentences():
    sentences = [AnswerSentence(text=" ".join(["word"] * n), citations=[1]) for n in (50, 30, 30)]
    assert [len(s.text.split()) for s in capped(sentences, 90)] == [50, 30]
    assert len(capped(sentences[:1], 10)) == 1  # the first sentence is always kept


def test_extractive_is_no_generator_and_the_writer_needs_one():
    from pipeline.llm.factory import create_generator
    from pipeline.llm.settings import GeneratorConfig

    assert create_generator(GeneratorConfig()) is None
    with pytest.raises(ValueError, match="LLM"):
        LLMAnswerWriter(create_generator(GeneratorConfig(backend="extractive")))


CONDENSED = [  # ranked: [1] is said after [2]
    meeting_passage(
        "Professor C: The budget is tight, so the case should be plastic. We also talked about the weather last week.\n"
        "PhD D: I disagree, rubber feels better in the hand.",
        40,
        ["Professor C", "PhD D"],
    ),
    meeting_passage(
        "Grad A: We should ship the remote in May, before the trade fair.\nGrad B: Okay.", 10, ["Grad A", "Grad B"]
    ),
]
CONDENSED_SCORES = [[0.9, 0.0, 0.8], [0.9, 0.0]]


def test_condensed_notes_are_the_scorers_best_sentences_in_the_order_said_with_speakers():
    notes = condensed_notes("What case?", CONDENSED, CONDENSED_SCORES, words=25)
    assert [(note.number, note.line) for note in notes] == [
        (2, "Grad A: We should ship the remote in May, before the trade fair."),
        (1, "Professor C: The budget is tight, so the case should be plastic."),
        (1, "PhD D: I disagree, rubber feels better in the hand."),
    ]
    assert len(condensed_notes("What case?", CONDENSED, CONDENSED_SCORES, words=200)) == 4  # "Okay." never
    assert len(condensed_notes("What case?", CONDENSED, None, words=200)) == 4  # no similarities: still ranked
    talk = passage("We bootstrapped for two years. Consulting revenue paid the bills while the project grew.", 10)
    assert [note.speaker for note in condensed_notes("Funding?", [talk], None, words=50)] == ["Maya Lindqvist"] * 2


def test_condensed_answers_read_the_notes_and_are_checked_against_what_was_shown():
    text = reply(
        ("Grad A said they should ship the remote in May, before the trade fair.", [1]),
        ("Professor C said the case should be plastic because the budget is tight.", [1]),
        ("They also talked about the weather last week.", [1]),  # in passage [1], but not among the notes
        ("Grad B said that rubber feels better in the hand.", [1]),  # Grad B speaks in [2], no note of theirs
        ("PhD D disagreed and said rubber feels better in the hand.", []),
    )
    generator = ScriptedGenerator(replies=[text])
    writer = LLMAnswerWriter(generator, condense_words=25, max_passages=2)
    answer = writer.write(Answer(question="What case?", passages=CONDENSED), sentence_scores=CONDENSED_SCORES)
    prompt = generator.calls[0][-1].text
    assert "[2] Grad A: We should ship the remote in May" in prompt
    assert prompt.index("[2] Grad A") < prompt.index("[1] Professor C") < prompt.index("[1] PhD D")
    assert "weather" not in prompt and "Okay" not in prompt and "Passages" not in prompt
    assert [(s.text, s.citations) for s in answer.sentences] == [
        ("Grad A said they should ship the remote in May, before the trade fair.", [2]),
        ("Professor C said the case should be plastic because the budget is tight.", [1]),
        ("PhD D disagreed and said rubber feels better in the hand.", [1]),
    ]
    report = answer.grounding
    assert (report.citations_checked, report.citations_dropped, report.claims_dropped) == (4, 2, 2)
    assert report.fallbacks == [
        'answer: dropped "Grad B said that rubber feels better in the hand.": Grad B not speaking in [1]'
    ]


def test_condensed_mode_shows_whole_passages_when_no_sentence_can_stand_alone():
    generator = ScriptedGenerator(replies=["NO ANSWER"])
    short = [passage("Yes. Okay, fine. Right.", 10)]
    answer = LLMAnswerWriter(generator, condense_words=180).write(Answer(question="What?", passages=short))
    assert "Passages (in the order they were said)" in generator.calls[0][-1].text and answer.answer == NO_ANSWER
    with pytest.raises(ValueError, match="condense_words"):
        LLMAnswerWriter(generator, condense_words=-1)
