"""Speaker labels as captioners write them: `>> NAME:`, `NAME:` and bare `>>` speaker-change marks."""

from __future__ import annotations

import re

_NAME = r"[A-Z][\w.'\-]*(?:\s+[A-Z][\w.'\-]*){0,3}"
_LABEL = re.compile(rf"^\s*(?:>>+|-)?\s*(?P<name>{_NAME})\s*:\s+(?P<text>.*)$", re.DOTALL)
_LABEL_UPPER = re.compile(r"^\s*(?:>>+|-)?\s*(?P<name>[A-Z][A-Z.'\- ]{1,40}[A-Z.])\s*:\s*(?P<text>.*)$", re.DOTALL)
_NOT_NAMES = {"note", "update", "edit", "warning", "question", "answer", "q", "a", "http", "https"}


def split_speaker(text: str, *, allow_mixed_case: bool) -> tuple[str | None, str]:
    """(speaker, rest) when the text starts with a speaker label, else (None, text).

    Caption files mark speakers in capitals (`>> PRIYA RAMAN: ...`), so there only an all-caps label counts;
    plain-text turn files (`Maya Lindqvist: ...`) allow mixed case.
    """
    for pattern in (_LABEL_UPPER, _LABEL) if allow_mixed_case else (_LABEL_UPPER,):
        match = pattern.match(text)
        if match and match.group("name").strip().lower() not in _NOT_NAMES:
            return normalise_name(match.group("name")), match.group("text").strip()
    return None, text


def normalise_name(name: str) -> str:
    """`PRIYA RAMAN` → `Priya Raman`; names already in mixed case are kept."""
    name = " ".join(name.split())
    return name.title() if name.isupper() else name
