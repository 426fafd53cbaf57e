"""Post-checks of an LLM recap's text, applied in code whatever the prompt said (see `LLMRecapper`).

- `check_takeaway`: a takeaway must state something its cited span says (content words shared with it), must not
  open with "The speaker / <name> emphasizes / discusses / highlights …" (rewritten to the point itself when the
  framing is followed by "that …", else rejected) and must not be about "the importance of X". A citation wider than
  a few segments is narrowed to the segments that share most words with the takeaway.
- `check_rewrite`: the same for a takeaway rewritten from one picked sentence (its citation is that sentence's),
  checked against that sentence, and stating no number the sentence does not.
- `repeats`: near-duplicates across themes (rapidfuzz).
- `title_problem`: a theme title that is no title, names nothing its excerpt says, or shares a content word with
  another theme's title (`titles_overlap`).
- `snap_quote`: a quote grown to whole sentences of the talk (or None when that makes it too long).

    problem, text, cited = check_takeaway("Maya emphasizes that prices rose to $49.", (12, 12), transcript, ["Maya"])
"""

from __future__ import annotations

import re

from rapidfuzz import fuzz
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from pipeline.components.quotes import TalkText, locate, normalise
from pipeline.models import Quote, Transcript
from pipeline.text import words

# Verbs that frame a point as something the speaker does, in any tense ("emphasizes", "highlighted", "talks about").
FRAMING_VERBS = (
    "emphasi[sz](?:es|ed|e)",
    "discuss(?:es|ed)?",
    "highlight(?:s|ed)?",
    "stress(?:es|ed)?",
    "talk(?:s|ed)? about",
    "mention(?:s|ed)?",
    "explain(?:s|ed)?",
    "note(?:s|d)?",
    "share(?:s|d)?",
    "describe(?:s|d)?",
    "underscore(?:s|d)?",
    "point(?:s|ed)? out",
    "reflect(?:s|ed)? on",
    "address(?:es|ed)?",
    "explore(?:s|d)?",
    "touch(?:es|ed)? on",
    "focus(?:es|ed)? on",
    "argue(?:s|d)?",
    "suggest(?:s|ed)?",
    "believe(?:s|d)?",
    "say(?:s)?",
    "said",
    "state(?:s|d)?",
    "outline(?:s|d)?",
    "recall(?:s|ed)?",
    "conclude(?:s|d)?",
    "add(?:s|ed)?",
    "acknowledge(?:s|d)?",
    "advise(?:s|d)?",
    "recommend(?:s|ed)?",
    "observe(?:s|d)?",
    "reveal(?:s|ed)?",
    "provide(?:s|d)?",
    "offer(?:s|ed)?",
    "present(?:s|ed)?",
    "warn(?:s|ed)?",
)
VAGUE_PHRASES = re.compile(
    r"\b(?:the (?:importance|significance|role|value|need|benefits?|power) of|"
    r"(?:its|their) (?:importance|significance)|various aspects|key (?:insights?|themes?)|"
    r"valuable lessons?)\b",
    re.I,
)
# Words that carry no point of their own: sklearn's English stop words plus spoken filler and framing words.
FILLER = frozenset(
    "speaker speakers talk talks discuss discusses discussed emphasize emphasizes highlight highlights importance "
    "important also really just like thing things lot way going get got make makes made know think yeah okay "
    "say says said".split()
)
NUMBER_WORDS = frozenset(
    "one two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty sixty seventy eighty "
    "ninety hundred thousand million billion percent half dozen first second third".split()
)
MAX_CITED = 4  # segments a takeaway may cite before its citation is narrowed


def _stem(word: str) -> str:
    """A crude stem: a common suffix and a final "e" off, then the first 5 letters ("pricing", "prices" → "pric";
    "customers" → "custo"): enough to compare a paraphrase with its source, without a stemmer dependency (NLTK
    is not a runtime dependency of the package)."""
    for suffix in ("ings", "ing", "ies", "ed", "es", "s", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word[:5]


def content_stems(text: str) -> set[str]:
    """The stems of a text's content words: no stop words or filler, at least 3 letters, or any number."""
    kept = set()
    for word in words(text):
        if word.isdigit() or word in NUMBER_WORDS:
            kept.add(word)
        elif len(word) >= 3 and word not in ENGLISH_STOP_WORDS and word not in FILLER:
            kept.add(_stem(word))
    return kept


def framing_pattern(names: list[str]) -> re.Pattern[str]:
    """ "The speaker / Maya Lindqvist / Maya / she (, the founder of X,) (also) emphasizes / discusses / …" at a
    sentence's start."""
    who = ["the speaker", "the presenter", "the talk", "the author", "she", "he", "they"]
    for name in names:
        parts = name.split()
        who += [name, *(part for part in parts if len(part) > 2)]
    subjects = "|".join(re.escape(w) for w in sorted(set(who), key=len, reverse=True))
    verbs = "|".join(FRAMING_VERBS)
    return re.compile(
        rf"^(?:{subjects})(?:'s)?(?:,[^,]{{1,60}},)?\s+(?:also\s+|then\s+|further\s+)?(?:{verbs})\b[\s,:]*(that\b\s*)?",
        re.I,
    )


def strip_framing(text: str, pattern: re.Pattern[str]) -> tuple[str | None, bool]:
    """(text, rewritten): the point itself when the framing is followed by "that …"; None when framed otherwise."""
    found = pattern.match(text)
    if found is None:
        return text, False
    if not found.group(1):
        return None, False
    rest = text[found.end() :].strip()
    if len(rest.split()) < 4:
        return None, False
    return rest[:1].upper() + rest[1:], True


def overlap(text: str, spoken: str) -> tuple[int, int]:
    """(content stems of `text` also in `spoken`, content stems of `text`)."""
    mine = content_stems(text)
    return len(mine & content_stems(spoken)), len(mine)


def is_specific(text: str, spoken: str) -> bool:
    """Whether a takeaway states something its cited span says: at least 3 content words in common with it and at
    least 40% of its own (a number counts as a content word)."""
    shared, total = overlap(text, spoken)
    return shared >= 3 and shared >= 0.4 * total


def spoken_text(transcript: Transcript, first: int, last: int) -> str:
    return " ".join(s.text for s in transcript.segments[first : last + 1])


def narrow_citation(text: str, first: int, last: int, transcript: Transcript) -> tuple[int, int]:
    """A citation wider than `MAX_CITED` segments narrowed to the run of at most `MAX_CITED` segments inside it
    sharing most content words with the takeaway (the earliest on ties)."""
    if last - first + 1 <= MAX_CITED:
        return first, last
    best = (-1, first, first + MAX_CITED - 1)
    for start in range(first, last - MAX_CITED + 2):
        end = start + MAX_CITED - 1
        shared = overlap(text, spoken_text(transcript, start, end))[0]
        if shared > best[0]:
            best = (shared, start, end)
    return best[1], best[2]


def check_takeaway(
    text: str,
    cited: tuple[int, int],
    transcript: Transcript,
    names: list[str],
    allowed: list[tuple[int, int]] | None = None,
) -> tuple[str | None, str, tuple[int, int]]:
    """(problem or None, the takeaway's text, its citation): the checks of the module docstring. `allowed` are the
    segment ranges (the theme's spans) the citation must lie in."""
    text = " ".join(text.split())
    first, last = sorted(cited)
    if first < 0 or last >= len(transcript.segments):
        return "citation outside the talk", text, (first, last)
    if allowed is not None and not any(a <= first and last <= b for a, b in allowed):
        return "citation outside its theme", text, (first, last)
    stripped, _ = strip_framing(text, framing_pattern(names))
    if stripped is None:
        return "opens with 'the speaker discusses …'", text, (first, last)
    text = stripped
    if VAGUE_PHRASES.search(text):
        return "vague ('the importance of …')", text, (first, last)
    first, last = narrow_citation(text, first, last, transcript)
    if not is_specific(text, spoken_text(transcript, first, last)):
        return "says too little of its cited span", text, (first, last)
    return None, text, (first, last)


def numbers_in(text: str) -> set[str]:
    """The numbers of a text, as digits or number words ("forty", "nine", "49")."""
    return {w for w in words(text) if w.isdigit() or w in NUMBER_WORDS}


def names_someone_else(text: str, sentence: str, names: list[str], speaker: str | None) -> bool:
    """Whether `text` names one of the talk's speakers that neither says `sentence` (`speaker`) nor is named in it
    ("I was writing code at night" said by Maya, rewritten as "Lena Park was writing code at night")."""
    mine, said = set(words(text)), set(words(sentence))
    for name in names:
        parts = {part for part in words(name) if len(part) > 2}
        if name != speaker and parts & mine and not parts & said:
            return True
    return False


def check_rewrite(
    text: str, sentence: str, names: list[str], max_words: int = 40, speaker: str | None = None
) -> tuple[str | None, str]:
    """(problem or None, the takeaway's text) for a takeaway written from one picked sentence of the talk (its
    citation is that sentence's span by construction): no "The speaker discusses …" framing (rewritten to the point
    when followed by "that …"), nothing vague, no number the sentence does not say, no speaker of the talk but the
    one saying it (`speaker`) or one it names, at most `max_words` words, and at least 3 content words shared with
    the sentence (40% of its own)."""
    text = " ".join(text.split())
    stripped, _ = strip_framing(text, framing_pattern(names))
    if stripped is None:
        return "opens with 'the speaker discusses …'", text
    text = stripped
    if VAGUE_PHRASES.search(text):
        return "vague ('the importance of …')", text
    if numbers_in(text) - numbers_in(sentence):
        return "states a number its sentence does not", text
    if names_someone_else(text, sentence, names, speaker):
        return "names someone its sentence does not", text
    if len(text.split()) > max_words:
        return "longer than one takeaway", text
    if not is_specific(text, sentence):
        return "says too little of its sentence", text
    return None, text


def repeats(text: str, written: list[str], threshold: float = 85.0) -> bool:
    """Whether a takeaway says what one already written says (any theme): rapidfuzz token-set similarity of the
    normalised texts at least `threshold`, with the same numbers."""
    new = normalise(text)
    numbers = {w for w in new.split() if w.isdigit() or w in NUMBER_WORDS}
    for old in map(normalise, written):
        same_numbers = numbers == {w for w in old.split() if w.isdigit() or w in NUMBER_WORDS}
        if same_numbers and (fuzz.token_set_ratio(new, old) >= threshold or fuzz.ratio(new, old) >= 88):
            return True
    return False


def title_words(title: str) -> set[str]:
    return {_stem(w) for w in words(title) if len(w) >= 3 and w not in ENGLISH_STOP_WORDS}


def title_problem(title: str, excerpt: str, others: list[str]) -> str | None:
    """Why a theme title cannot be used, or None: too long, a copied instruction, naming nothing the excerpt says,
    or sharing a content word with another theme's title."""
    mine = {w for w in title_words(title) if w not in FILLER}
    if not 1 <= len(title.split()) <= 10 or "/" in title or "…" in title:
        return "not a short title"
    if VAGUE_PHRASES.search(title):
        return "vague ('the importance of …')"
    if not mine & content_stems(excerpt):
        return "names nothing the excerpt says"
    if titles_overlap(title, others):
        return "shares a word with another theme's title"
    return None


def titles_overlap(title: str, others: list[str]) -> bool:
    """Whether a theme title shares a content word with another theme's title ("Starting a Company" and
    "Scaling a Company")."""
    mine = title_words(title)
    return any(mine & title_words(other) for other in others)


_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")


def sentence_bounds(text: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of the sentences of `text` (ends at `.`/`!`/`?` before a capital)."""
    bounds, start = [], 0
    for found in _SENTENCE_END.finditer(text):
        bounds.append((start, found.start() + len(found.group().rstrip())))
        start = found.end()
    if start < len(text):
        bounds.append((start, len(text.rstrip())))
    return bounds


def snap_quote(quote: Quote, text: TalkText, max_words: int = 45) -> Quote | None:
    """The quote grown to the whole sentences of the talk it lies in, or None when it cannot be found or the
    sentences would be longer than `max_words`. The caller verifies the result (speaker, segment, time)."""
    found = locate(normalise(quote.text), text, 90.0)
    if found is None:
        return None
    first, last = text.original_span(found[0], found[1])
    bounds = sentence_bounds(text.original)
    starts = [s for s, e in bounds if s <= first < e]
    ends = [e for s, e in bounds if s < last <= e]
    if not starts or not ends:
        return None
    snapped = text.original[starts[-1] : ends[0]].strip()
    if len(snapped.split()) > max_words or snapped.rstrip("\"'”’)")[-1:] not in ".!?…":
        return None
    return quote.model_copy(update={"text": snapped})
