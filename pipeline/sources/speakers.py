"""Speaker labels as captioners write them: `>> NAME:`, `NAME:` and bare `>>` speaker-change marks."""

from __future__ import annotations

import re

_LABEL = re.compile(
    r"^\s*(?:>>+|-)?\s*(?P<name>[^\W\d_][\w.'’\-]*(?:[ ][\w.'’\-]+){0,3})\s*:\s*(?P<text>.*)$", re.DOTALL
)
_NOT_NAMES = {"note", "update", "edit", "warning", "question", "answer", "http", "https", "so", "and", "but"}


def split_speaker(text: str, *, allow_mixed_case: bool) -> tuple[str | None, str]:
    """(speaker, rest) when the text starts with a speaker label, else (None, text).

    Caption files mark speakers in capitals (`>> PRIYA RAMAN: ...`), so there only an all-caps label counts;
    plain-text turn files (`Maya Lindqvist: ...`) also allow names whose every word is capitalised.
    """
    match = _LABEL.match(text)
    if not match:
        return None, text
    name = match.group("name").strip()
    if name.lower() in _NOT_NAMES:
        return None, text
    capitalised = all(word[0].isupper() for word in name.split())
    if name.isupper() or (allow_mixed_case and capitalised):
        return normalise_name(name), match.group("text").strip()
    return None, text


def normalise_name(name: str) -> str:
    """`PRIYA RAMAN` → `Priya Raman`; names already in mixed case are kept."""
    name = " ".join(name.split())
    return name.title() if name.isupper() else name
