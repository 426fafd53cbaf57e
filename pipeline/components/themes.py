"""Quotes for themes: memorable verbatim candidates picked from each theme's sentences, and (after the
`QuoteVerifier` has grounded them) placed back into their themes, with the talk's key quotes.

The rest of theme extraction lives beside this module: `segmenter` (sentences and themes), `keyphrases`
(titles and keywords) and `takeaways`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import numpy as np
from haystack import Document, component

from pipeline.components.keyphrases import phrase_key, word_set
from pipeline.components.quotes import normalise
from pipeline.components.takeaways import _CONTEXT_OPENERS, is_punctuated
from pipeline.models import Quote, Theme
from pipeline.text import SENTENCE_END

_LEADING = re.compile(r"^(?:(?:and|so|but|okay|ok|now|well|oh|yeah|also|anyway)\b,?\s+)+", re.I)
_CLAUSE_STARTS = re.compile(r"(?::\s+|\bis that\s+|\bis this:\s+|\bwas that\s+)")
_FILLER = re.compile(r"\b(?:um+|uh+|erm|you know|i mean|kind of|sort of)\b|,\s*like,", re.I)
_REPEAT = re.compile(r"\b(\w+(?:'\w+)?(?:\s+\w+)?),?\s+\1\b", re.I)
_CONTRAST = re.compile(
    r"\b(?:is not|isn't|are not|aren't|don't|doesn't|never)\b.*\b(?:but|it's|is|will)\b|\bnot\b[^.]*,\s*but\b|"
    r"\bif\b[^,]+,\s*\w+|\bthe (?:best|worst|only|most|cheapest|fastest)\b",
    re.I,
)
_GENERAL = word_set(
    "you your you're never always every everyone everybody nobody nothing is isn't are don't won't can't not "
    "best most only if"
)
_NARRATIVE = word_set("was were had did we'd i'd got went said told asked")
_DEFINITION = re.compile(
    r"\b(?:a|an|the|your|every)\s+(?:\w+\s+){0,2}?(?:is|isn't|are)\s+(?:a|an|the|not|never|your)\b", re.I
)
_ENUMERATION = re.compile(r"^(?:the\s+)?(?:first|second|third|fourth|fifth|one|two|three|four|five)\b", re.I)
_NUMBER = re.compile(
    r"\d|\b(?:hundred|thousand|million|billion|twenty|thirty|forty|fifty|sixty|seventy|eighty)\b", re.I
)


def quote_candidates(documents: list[Document], index: int) -> list[str]:
    """Verbatim pieces of sentence `index` worth quoting: the sentence without leading "and/so/okay", the
    clause after a colon or "is that", and either of these joined to a short next sentence of the same turn."""
    text = (documents[index].content or "").strip()
    pieces = [_LEADING.sub("", text)]
    for match in _CLAUSE_STARTS.finditer(text):
        clause = text[match.end() :].strip()
        if len(clause.split()) >= 3:
            pieces.append(clause)
    following = documents[index + 1] if index + 1 < len(documents) else None
    if (
        following is not None
        and following.meta.get("speaker") == documents[index].meta.get("speaker")
        and following.meta["position"] == documents[index].meta["position"] + 1
        and len((following.content or "").split()) <= 15
        and not (following.content or "").strip().endswith("?")
    ):
        pieces += [f"{piece} {following.content.strip()}" for piece in list(pieces) if len(piece.split()) <= 12]
    return list(dict.fromkeys(p for p in pieces if p))


def memorability(text: str) -> float:
    """How quotable a piece of speech is: short, general ("you", "never", "is not ... but", "X is a Y"), with a
    word said twice ("scale what works, don't scale..."), present tense, no fillers or false starts, and not
    opening with a word that points back at something said before."""
    tokens = [t.strip(".,:;!?\"'") for t in text.lower().split()]
    count = len(tokens)
    score = 1 - max(0, abs(count - 16) - 6) / 20
    score += min(1.0, 0.2 * len(set(tokens) & _GENERAL))
    score += 0.4 if _CONTRAST.search(text) else 0.0
    score += 0.3 if _DEFINITION.search(text) else 0.0
    content = [t for t in tokens if len(t) >= 4 and t not in _GENERAL]
    score += 0.3 if count <= 20 and len(content) > len(set(content)) else 0.0
    score -= min(0.45, 0.15 * sum(t in _NARRATIVE for t in tokens))
    score -= 0.15 if _NUMBER.search(text) else 0.0
    score -= 0.6 if _FILLER.search(text) or _REPEAT.search(text) else 0.0
    score -= 0.4 if tokens and tokens[0] in _CONTEXT_OPENERS else 0.0
    score -= 0.3 if _ENUMERATION.search(text) else 0.0
    score -= 0.3 if text.rstrip().endswith("?") else 0.0
    return score


@component
class QuotePicker:
    """Proposes 1-3 quotes per theme (8-40 words, said by the talk's speakers, memorable and on the theme),
    best first across all themes. They are candidates: run them through `QuoteVerifier` before output.

    Usage example:
    ```python
    from pipeline.components.segmenter import SentenceSplitter, ThemeSegmenter
    from pipeline.components.themes import QuotePicker
    from pipeline.embedding import document_embedder
    from pipeline.models import Segment, Talk, Transcript

    lines = [
        "We picked the Apache licence because companies can contribute without asking a lawyer first.",
        "A permissive licence is not a gift, it is how you get contributors you never met.",
        "The licence question came up in every sales call during our first year.",
        "Pricing was the second thing we got wrong, and we got it wrong twice.",
        "We charged per seat, and small teams never made it past the trial.",
        "Usage based pricing is the only model where the customer wins when you win.",
    ]
    transcript = Transcript(
        talk=Talk(id="demo", title="Why Apache", speakers=["Ada"]),
        segments=[Segment(index=i, text=line, start=10.0 * i, end=10.0 * i + 10) for i, line in enumerate(lines)],
    )
    embedder = document_embedder()
    embedder.warm_up()
    sentences = embedder.run(documents=SentenceSplitter().run(transcripts=[transcript])["documents"])["documents"]
    segmented = ThemeSegmenter(unit_words=15, min_theme_words=40).run(
        documents=sentences, transcripts=[transcript], theme_count=2
    )
    quotes = QuotePicker().run(themes=segmented["themes"], documents=segmented["documents"])["quotes"]
    print([(quote.text, quote.segment) for quote in quotes])
    # [('A permissive licence is not a gift, it is how you get contributors you never met.', 1),
    #  ('Usage based pricing is the only model where the customer wins when you win.', 5)]
    ```
    """

    def __init__(self, max_per_theme: int = 3, words_per_quote: int = 600, min_words: int = 8, max_words: int = 40):
        """
        :param max_per_theme: most quotes per theme.
        :param words_per_quote: a theme gets one quote per this many words (at least one), up to the maximum.
        :param min_words: shortest quote.
        :param max_words: longest quote.
        """
        if max_per_theme < 1 or not 1 <= min_words <= max_words:
            raise ValueError("need max_per_theme >= 1 and 1 <= min_words <= max_words")
        self.max_per_theme = max_per_theme
        self.words_per_quote = words_per_quote
        self.min_words = min_words
        self.max_words = max_words

    @component.output_types(quotes=list[Quote])
    def run(self, themes: list[Theme], documents: list[Document]) -> dict[str, Any]:
        """
        :param themes: the themes, in the order `meta["theme"]` numbers them (their keywords weigh in).
        :param documents: the embedded sentence Documents, each with its `meta["theme"]` (`ThemeSegmenter`'s).
        :returns: `quotes`, candidate quotes, best first.
        """
        by_theme: dict[int, list[Document]] = defaultdict(list)
        for document in documents:
            by_theme[document.meta["theme"]].append(document)
        scored: list[tuple[float, Quote]] = []
        for number, theme in enumerate(themes):
            per_talk: dict[str, list[Document]] = defaultdict(list)
            for document in sorted(by_theme[number], key=_order):
                per_talk[document.meta["talk_id"]].append(document)
            for talk_docs in per_talk.values():  # a theme shared by several talks is quoted from each
                scored.extend(self.pick(talk_docs, theme.keywords, len(per_talk)))
        scored.sort(key=lambda item: -item[0])
        return {"quotes": [quote for _, quote in scored]}

    def pick(self, documents: list[Document], keywords: list[str], shared_by: int = 1) -> list[tuple[float, Quote]]:
        """(score, quote) candidates from one talk's sentences of a theme, best first."""
        if not documents:
            return []
        centroid = np.asarray([d.embedding for d in documents], dtype=np.float64).mean(axis=0)
        centroid /= np.linalg.norm(centroid) or 1.0
        keys = [" ".join(phrase_key(k)) for k in keywords]
        punctuated = is_punctuated(documents)
        options: list[tuple[float, str, Document]] = []
        for index, document in enumerate(documents):
            if not document.meta.get("main_speaker", True) or (document.content or "").strip().endswith("?"):
                continue
            relevance = float(np.asarray(document.embedding) @ centroid)
            whole = _LEADING.sub("", (document.content or "").strip())
            for piece in quote_candidates(documents, index):
                if not self.min_words <= len(piece.split()) <= self.max_words:
                    continue
                if punctuated and not SENTENCE_END.search(piece):
                    continue  # a fragment of a sentence cut at a caption boundary
                punchline = 0.3 if not piece.startswith(whole[:20]) and piece in whole else 0.0
                normal = " " + normalise(piece) + " "
                on_topic = min(0.1, 0.05 * sum(f" {key} " in normal for key in keys if key))
                options.append((memorability(piece) + relevance + on_topic + punchline, piece, document))
        options.sort(key=lambda option: -option[0])
        words = sum(int(d.meta.get("words") or 0) for d in documents)
        wanted = max(1, min(self.max_per_theme, round(words / self.words_per_quote)))
        if shared_by > 1:
            wanted = max(1, min(wanted, self.max_per_theme // shared_by))
        chosen: list[tuple[float, Quote]] = []
        seen: list[set[str]] = []
        for score, piece, document in options:
            tokens = set(normalise(piece).split())
            if any(len(tokens & other) >= 0.5 * min(len(tokens), len(other)) for other in seen):
                continue  # the same words again (a repeated caption cue, or a clause of a quote already chosen)
            seen.append(tokens)
            meta = document.meta
            quote = Quote(
                text=piece,
                talk_id=meta["talk_id"],
                speaker=meta.get("speaker"),
                start=meta.get("start"),
                segment=meta["first_segment"],
                last_segment=meta["last_segment"],
            )
            chosen.append((score, quote))
            if len(chosen) == wanted:
                break
        return chosen


@component
class QuotePlacer:
    """Puts grounded quotes back into the themes they were said in (keeping their order, best first) and picks
    the key quotes: the best quote of each theme, best first.

    Usage example:
    ```python
    from pipeline.components.quotes import QuoteVerifier
    from pipeline.components.segmenter import SentenceSplitter, ThemeSegmenter
    from pipeline.components.themes import QuotePicker, QuotePlacer
    from pipeline.embedding import document_embedder
    from pipeline.models import Segment, Talk, Transcript

    lines = [
        "We picked the Apache licence because companies can contribute without asking a lawyer first.",
        "A permissive licence is not a gift, it is how you get contributors you never met.",
        "The licence question came up in every sales call during our first year.",
        "Pricing was the second thing we got wrong, and we got it wrong twice.",
        "We charged per seat, and small teams never made it past the trial.",
        "Usage based pricing is the only model where the customer wins when you win.",
    ]
    transcript = Transcript(
        talk=Talk(id="demo", title="Why Apache", speakers=["Ada"]),
        segments=[Segment(index=i, text=line, start=10.0 * i, end=10.0 * i + 10) for i, line in enumerate(lines)],
    )
    embedder = document_embedder()
    embedder.warm_up()
    sentences = embedder.run(documents=SentenceSplitter().run(transcripts=[transcript])["documents"])["documents"]
    segmented = ThemeSegmenter(unit_words=15, min_theme_words=40).run(
        documents=sentences, transcripts=[transcript], theme_count=2
    )
    themes, documents = segmented["themes"], segmented["documents"]
    quotes = QuotePicker().run(themes=themes, documents=documents)["quotes"]
    quotes = QuoteVerifier().run(quotes=quotes, transcript=transcript)["quotes"]
    placed = QuotePlacer(key_quotes=1).run(themes=themes, quotes=quotes, documents=documents)
    print([len(theme.quotes) for theme in placed["themes"]], placed["key_quotes"][0].segment)  # [1, 1] 1
    ```
    """

    def __init__(self, key_quotes: int = 5) -> None:
        self.key_quotes = key_quotes

    @component.output_types(themes=list[Theme], key_quotes=list[Quote])
    def run(self, themes: list[Theme], quotes: list[Quote], documents: list[Document]) -> dict[str, Any]:
        """
        :param themes: the themes, in the order `meta["theme"]` numbers them.
        :param quotes: the grounded quotes, best first (`QuoteVerifier`'s).
        :param documents: the sentence Documents with their `meta["theme"]`, which place a quote.
        :returns: `themes`, copies holding their quotes, and `key_quotes`, the best of each theme, best first.
        """
        by_talk: dict[str, list[Document]] = defaultdict(list)
        for document in documents:
            by_talk[document.meta["talk_id"]].append(document)
        placed: dict[int, list[Quote]] = defaultdict(list)
        for quote in quotes:
            number = theme_of_quote(quote, themes, by_talk.get(quote.talk_id or "", []))
            if number is not None:
                placed[number].append(quote)
        out = [theme.model_copy(update={"quotes": placed[n]}) for n, theme in enumerate(themes)]
        best = [placed[n][0] for n in range(len(themes)) if placed[n]]
        best.sort(key=quotes.index)
        return {"themes": out, "key_quotes": best[: self.key_quotes]}


def theme_of_quote(quote: Quote, themes: list[Theme], documents: list[Document]) -> int | None:
    """The theme of the sentence the quote starts in (by segment and opening words), else of the span holding
    its segment."""
    opening = " ".join(normalise(quote.text).split()[:4])
    holding = [d for d in documents if d.meta["first_segment"] <= quote.segment <= d.meta["last_segment"]]
    for document in holding:
        if opening and opening in normalise(document.content or ""):
            return document.meta["theme"]
    for number, theme in enumerate(themes):
        for span in theme.spans:
            if span.talk_id == quote.talk_id and span.first_segment <= quote.segment <= span.last_segment:
                return number
    return holding[0].meta["theme"] if holding else None


def _order(document: Document) -> tuple[str, int]:
    return document.meta["talk_id"], document.meta["position"]
