"""Prose recaps without a language model (`talks recap --style prose`): a post made of the recap's own parts.

The intro is the recap's opening sentence (talk, event, date, speakers, themes); the questions are the talk's own
questions (one a theme at most: the speaker's "So how do you pay people when the product is free?"); each theme
becomes a section of connected takeaways with their times, in up to two paragraphs, with its verified quotes
(grown to whole sentences, as the LLM recap's are) woven in by the template. The LLM writes its own paragraphs
instead (`pipeline.llm.recap`), on the same `Prose` model.

    recap = Recapper().recap_transcript(transcript)
    recap.prose = extractive_prose(recap, transcript)
"""

from __future__ import annotations

import re

from pipeline.components.quotes import TalkText, verify_quotes
from pipeline.llm.recap_checks import snap_quote
from pipeline.models import Prose, ProseSection, Quote, Span, Talk, TalkRecap, Theme, Transcript, format_timestamp
from pipeline.recap import talk_intro
from pipeline.text import clean_sentence, split_sentences, words

WH_WORDS = ("how", "why", "what", "when", "which", "who", "where", "should", "do", "does", "is", "can", "would")
NOT_ASKED = re.compile(r"\b(?:hear me|introduce yourself|a question or two|any questions)\b", re.I)


def _section_span(theme: Theme) -> Span | None:
    if not theme.spans:
        return None
    first, last = theme.spans[0], theme.spans[-1]
    return first.model_copy(update={"last_segment": last.last_segment, "end": last.end})


def _who(talk: Talk) -> str:
    return talk.speakers[0] if len(talk.speakers) == 1 else "the speakers"


def extractive_section(theme: Theme, talk: Talk) -> ProseSection:
    """A theme as a section: a lead naming where in the talk it starts, then its takeaways with their times, in
    two paragraphs when it has more than two takeaways."""
    span = _section_span(theme)
    rest = theme.title[1:]  # "Open source" → "open source"; a title in title case keeps its capitals
    title = theme.title[:1].lower() + rest if rest == rest.lower() else theme.title
    where = f" at {format_timestamp(span.start)}" if span and span.start is not None else ""
    who = _who(talk)
    lead = f"{who[:1].upper()}{who[1:]} turns to {title}{where}."
    sentences = []
    for takeaway in theme.takeaways:
        start = takeaway.citations[0].start if takeaway.citations else None
        text = takeaway.text.rstrip()
        if start is not None:  # the time goes before the closing mark: "… in Brazil (00:02:42)."
            body, mark = (text[:-1], text[-1]) if text[-1:] in ".!?" else (text, ".")
            text = f"{body} ({format_timestamp(start)}){mark}"
        sentences.append(text)
    half = (len(sentences) + 1) // 2 if len(sentences) > 2 else len(sentences)
    paragraphs = [" ".join([lead, *sentences[:half]])]
    if sentences[half:]:
        paragraphs.append(" ".join(sentences[half:]))
    return ProseSection(title=theme.title, paragraphs=paragraphs, quotes=list(theme.quotes), span=span)


def talk_questions(recap: TalkRecap, transcript: Transcript, limit: int = 4) -> list[str]:
    """The talk's own questions, the best one a theme: a question of 6 to 20 words inside the theme's spans,
    preferring "how/why/what…" questions and ones sharing a word with the theme's title or keywords."""
    found: list[str] = []
    for theme in recap.themes:
        spans = [(s.first_segment, s.last_segment) for s in theme.spans if s.talk_id == transcript.talk.id]
        keys = set(words(" ".join([theme.title, *theme.keywords])))
        best: tuple[float, str] | None = None
        for first, last in spans:
            spoken = " ".join(s.text for s in transcript.segments[first : last + 1])
            for sentence in split_sentences(spoken):
                question = clean_sentence(sentence.split(":")[-1]) if sentence.endswith("?") else ""
                size = len(question.split())
                if not 6 <= size <= 20 or NOT_ASKED.search(question) or question in found:
                    continue
                opening = words(question)[0]
                if opening not in WH_WORDS:  # reported speech ("Say, hey, … are you sure?") is not a question asked
                    continue
                score = 2.0 * (opening in WH_WORDS[:5]) + 0.5 * len(keys & set(words(question)))
                if best is None or score > best[0]:
                    best = (score, question)
        if best is not None:
            found.append(best[1])
    return found[:limit]


def whole_sentence_quotes(quotes: list[Quote], transcript: Transcript) -> list[Quote]:
    """The quotes grown to the whole sentences they lie in and verified again; those that cannot be are left out."""
    text = TalkText.of(transcript)
    snapped = [whole for quote in quotes if (whole := snap_quote(quote, text)) is not None]
    return verify_quotes(snapped, [transcript])[0]


def extractive_prose(recap: TalkRecap, transcript: Transcript) -> Prose:
    """The recap as a post: intro, the questions the talk answers, a section per theme (see the module doc)."""
    intro = talk_intro(recap.talk, recap.themes) if recap.themes else recap.overview
    sections = []
    for theme in recap.themes:
        section = extractive_section(theme, recap.talk)
        section.quotes = whole_sentence_quotes(section.quotes, transcript)
        sections.append(section)
    return Prose(intro=intro, questions=talk_questions(recap, transcript), sections=sections)
