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
