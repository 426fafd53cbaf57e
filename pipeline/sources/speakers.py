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


# Words that mark a channel as an organisation's, an event's or a show's rather than a person's.
_ORGANISATION_WORDS = {
    "academy", "channel", "club", "coding", "college", "community", "company", "con", "conf", "conference",
    "conferences", "corp", "day", "days", "dev", "developers", "devs", "edu", "education", "events", "fest",
    "festival", "forum", "foundation", "group", "hq", "inc", "institute", "lab", "labs", "live", "llc", "ltd",
    "media", "meetup", "network", "news", "official", "online", "org", "podcast", "school", "show", "society",
    "studio", "studios", "summit", "talks", "team", "tech", "tutorials", "tv", "university", "videos", "week",
    "workshop",
}  # fmt: skip
_NAME_PARTICLES = {"van", "von", "de", "der", "den", "da", "di", "del", "la", "le", "du", "dos", "bin", "al", "ter"}
_NAME_SHAPE = re.compile(r"U\.|Ul+(?:['’\-]U?l+)*|U['’]Ul+")  # Ada, J., Jean-Luc, O'Brien (U upper, l lower)


def channel_speaker(channel: str | None) -> str | None:
    """The channel as a talk's speaker when it reads as a person's name ("Maya Lindqvist", "Guido van Rossum",
    "Ada McGee"): two to four words, each capitalised (or a name particle such as "van"), no digits, none a word
    organisations, events and shows use ("Conf", "Summit", "Talks", "Media", "Tech", ...). A conference's or a
    company's channel ("PyCon US", "GOTO Conferences", "Google for Developers", "Fireship") is not the speaker of
    its talks: None then. A heuristic: it can take a show's two-word name for a person's."""
    words = (channel or "").split()
    if not 2 <= len(words) <= 4 or words[0].lower() in _NAME_PARTICLES:
        return None
    for word in words:
        if word.lower().strip(".") in _ORGANISATION_WORDS:
            return None
        if word not in _NAME_PARTICLES and not _is_name_word(word):
            return None
    return " ".join(words)


def _is_name_word(word: str) -> bool:
    for prefix in ("Mc", "Mac"):  # McGee, MacLeod (but not PyCon)
        if word.startswith(prefix) and word[len(prefix) : len(prefix) + 1].isupper():
            word = word[len(prefix) :]
            break
    shape = "".join("U" if c.isupper() else "l" if c.islower() else c for c in word)
    return _NAME_SHAPE.fullmatch(shape) is not None
