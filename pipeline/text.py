"""Sentence splitting that copes with unpunctuated auto-captions (no NLTK), and word helpers."""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_WORD = re.compile(r"[\w']+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def split_sentences(text: str, max_words: int = 40) -> list[str]:
    """Sentences at `.`/`!`/`?` before a capital; a run longer than `max_words` (unpunctuated captions) is cut
    into even pieces of at most `max_words` words."""
    pieces: list[str] = []
    for line in text.splitlines():
        for sentence in _SENTENCE_END.split(line.strip()):
            tokens = sentence.split()
            if not tokens:
                continue
            parts = -(-len(tokens) // max_words)
            size = -(-len(tokens) // parts)
            pieces.extend(" ".join(tokens[i : i + size]) for i in range(0, len(tokens), size))
    return pieces


_FILLER_SOUNDS = re.compile(r"(?:^|(?<=[\s,.;:!?]))(?:um+|uh+|erm+|ah+|hmm+|mm+|mhm)(?:[,.]|(?=\s|$))", re.I)
_COMMA_FILLERS = re.compile(r",?\s*\b(?:you know|i mean|you see)\b(?:,|(?=\s*[.!?]|\s*$))", re.I)
_LEADING_FILLERS = re.compile(r"^(?:you know|i mean|like),\s*", re.I)
_LIKE_FILLER = re.compile(r",\s*(?:like|sort of|kind of),", re.I)
_LIKE_BEFORE_COMMA = re.compile(r"(?<=\s)like,\s+(?!\w+ing\b)", re.I)
_HEDGES = re.compile(r"(?<!\ba )(?<!\bthe )(?<!\bthat )(?<!\bthis )(?<!\bwhat )(?<!\bsome )\b(?:sort|kind) of\s+", re.I)
_REPEATS = re.compile(r"(?<![\w'’])(\w+(?:['’]\w+)?(?:\s+\w+)?)(?:,?\s+\1(?![\w'’]))+", re.I)
_LEADING_WORDS = re.compile(
    r"^(?:(?:and|so|but|okay|ok|now|well|oh|right|yeah|yes|also|then|anyway|one|two|three|four|five|first|second|"
    r"third|fourth|fifth|firstly|secondly|lastly|finally)\b[,]?\s+)+",
    re.I,
)
SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([,.;:!?])")
_DOUBLE_PUNCT = re.compile(r"([,;:])\s*[,;:]+")
#: An all-caps `NAME: ` speaker label left in a text by its source.
SPEAKER_LABEL = re.compile(r"^(?:>>\s*)?[A-ZÀ-Þ][A-ZÀ-Þ.'\- ]{1,40}:\s+")
#: A sentence's closing punctuation, closing quotes and brackets after it.
SENTENCE_END = re.compile(r"[.!?…][\"'”’)]*$")


def clean_sentence(text: str) -> str:
    """A spoken sentence as written prose: no speaker label, fillers ("um", "you know", "like," "I mean",
    "sort of"), repeated words or leading "and/so/okay"; capitalised, ending in punctuation."""
    text = SPEAKER_LABEL.sub("", " ".join(text.split()))
    text = SPACE_BEFORE_PUNCTUATION.sub(r"\1", text)
    text = _FILLER_SOUNDS.sub(" ", text)
    text = _COMMA_FILLERS.sub("", text)
    text = _LIKE_FILLER.sub("", text)
    text = _LIKE_BEFORE_COMMA.sub("", text)
    text = _HEDGES.sub("", text)
    text = _LEADING_FILLERS.sub("", text.strip(" ,"))
    for _ in range(2):
        text = _REPEATS.sub(r"\1", text)
    text = " ".join(text.split())
    text = SPACE_BEFORE_PUNCTUATION.sub(r"\1", text)
    text = _DOUBLE_PUNCT.sub(r"\1", text)
    text = _LEADING_WORDS.sub("", text).strip(" ,;:-")
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    if text[-1] in ",;:-":
        text = text[:-1].rstrip()
    if text[-1] not in ".!?\"'”":
        text += "."
    return text
