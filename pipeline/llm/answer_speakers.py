"""Who an LLM answer sentence says spoke, and whether the passages it cites carry that speaker.

"Grad B disagreed and said the mike was fine [1]" attributes words to Grad B: passage [1] must have Grad B speaking
in it (its speakers, from the segments, or a `Grad B: ` turn in its text), not merely name Grad B somewhere among
the passages shown. An attribution is a known speaker's name (or a distinctive part of it: "Maya" for "Maya
Lindqvist", "B" for "Grad B") next to a speech or stance verb of a fixed list ("said", "proposed", "disagreed",
"thinks", "did not want", "was suggested by", "according to", "Maya's proposal"), or opening it as a turn label
("Grad B: …"). Anything else is not an attribution: pronouns and plurals ("they", "the team"), a name without such
a verb, a word that is no known speaker (a made-up speaker is `unknown_names`' business; a made-up label put
together from the speakers' own names, "Grad C" beside Grad B and Professor C, is this check's, as no passage can
carry it).

The verbs are a short explicit list matched next to the name, not a parser: finding the subject of "said" properly
needs a dependency parser (spaCy, Stanza), whose models cannot be downloaded here, and a list keeps the check
conservative (it misses attributions rather than inventing them).

    speakers = [{"Ann", "Bob"}, {"Carol"}]  # who speaks in passages [1] and [2]
    attributed("Carol said we ship in May.", {"Ann", "Bob", "Carol"})  # [("Carol", {"Carol"})]
    missing_speakers("Carol said we ship in May.", [1], speakers)  # ["Carol"]: [1] does not carry her
"""

from __future__ import annotations

import re
from functools import lru_cache

from pipeline.models import Passage

#: Speech and stance verbs, every form listed (no stemmer: "object", "report" or "talk" as nouns must not match).
#: Base forms count only after an auxiliary ("did not agree", "would like"), so "the Marketing report" is no verb.
_VERB_FORMS = """
say says said saying · tell tells told telling · ask asks asked asking · answer answers answered answering
reply replies replied replying · respond responds responded responding · explain explains explained explaining
describe describes described describing · mention mentions mentioned mentioning · note notes noted noting
state states stated stating · claim claims claimed claiming · add adds added adding · argue argues argued arguing
propose proposes proposed proposing · suggest suggests suggested suggesting
recommend recommends recommended recommending · insist insists insisted insisting · agree agrees agreed agreeing
disagree disagrees disagreed disagreeing · object objects objected objecting · oppose opposes opposed opposing
support supports supported supporting · think thinks thought thinking · believe believes believed believing
feel feels felt feeling · want wants wanted wanting · prefer prefers preferred preferring · hope hopes hoped hoping
worry worries worried worrying · doubt doubts doubted doubting · decide decides decided deciding
conclude concludes concluded concluding · confirm confirms confirmed confirming · admit admits admitted admitting
acknowledge acknowledges acknowledged acknowledging · emphasize emphasizes emphasized emphasizing
emphasise emphasises emphasised emphasising · stress stresses stressed stressing
highlight highlights highlighted highlighting · raise raises raised raising
question questions questioned questioning · complain complains complained complaining · warn warns warned warning
announce announces announced announcing · report reports reported reporting · present presents presented presenting
introduce introduces introduced introducing · discuss discusses discussed discussing · talk talks talked talking
speak speaks spoke speaking · comment comments commented commenting · remark remarks remarked remarking
express expresses expressed expressing · clarify clarifies clarified clarifying
summarize summarizes summarized summarizing · summarise summarises summarised summarising
accept accepts accepted accepting · reject rejects rejected rejecting · request requests requested requesting
urge urges urged urging · promise promises promised promising · point points pointed pointing
like likes liked liking
"""
_FORMS = [group.split() for line in _VERB_FORMS.splitlines() for group in line.split("·") if group.strip()]
_BASE = {forms[0] for forms in _FORMS}
_FINITE = {form for forms in _FORMS for form in forms[1:]}
_PARTICIPLES = {form for form in _FINITE if form.endswith("ed")} | {"said", "told", "thought", "felt", "spoken"}
#: Words allowed between the name and its verb: "Grad A then proposed", "Maya also strongly disagreed".
_ADVERBS = (
    "also then later later on further again initially first finally firmly strongly clearly briefly specifically "
    "personally still just both all immediately quickly repeatedly explicitly even instead openly"
).split()
#: An auxiliary before a base form or a participle: "did not agree", "has suggested", "would prefer".
_AUXILIARIES = "did does do would will could can should might may must had has have".split()
#: "Maya's proposal": a stance noun after a speaker's possessive.
_NOUNS = (
    "suggestion suggestions proposal proposals idea ideas view views opinion opinions point points argument "
    "arguments question questions concern concerns request requests recommendation recommendations decision "
    "decisions position comment comments answer answers response explanation presentation preference objection "
    "objections claim claims"
).split()
#: A `Speaker: text` line of a passage.
_TURN = re.compile(r"^([^:\n]{1,60}):\s+\S", re.M)
#: What a speaker label looks like: up to 4 words, each capitalised (or a number, as in "Speaker 2").
_LABEL = re.compile(r"[A-Z0-9][\w.'-]*(?: [A-Z0-9][\w.'-]*){0,3}")
#: One-letter parts that are English words before they are labels: the article "A" and the pronoun "I".
_NOT_LABELS = frozenset({"A", "I"})


def speaking(passage: Passage) -> set[str]:
    """Who speaks in `passage`: its speakers (from its segments; a one-speaker talk's speaker is every segment's),
    else the labels of its `Speaker: text` turns (a passage made without speakers; labels of ingested passages
    are their segments' speakers anyway)."""
    if passage.speakers:
        return set(passage.speakers)
    return {label.strip() for label in _TURN.findall(passage.text) if _LABEL.fullmatch(label.strip())}


def _alternation(words: list[str]) -> str:
    return "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))


@lru_cache(maxsize=64)
def _patterns(known: frozenset[str]) -> tuple[re.Pattern, re.Pattern, dict[str, frozenset[str]], dict]:
    """The attribution pattern for these speakers, the pattern of one name, and the speakers each name means: a
    whole name (in any case when of several words: "the project manager") its speaker, a part of one (as written)
    every speaker whose name has it."""
    parts: dict[str, set[str]] = {}
    for speaker in known:
        tokens = speaker.split()
        for size in range(1, len(tokens)):
            for start in range(len(tokens) - size + 1):
                part = " ".join(tokens[start : start + size])
                if part[0].isupper() and part not in _NOT_LABELS:
                    parts.setdefault(part, set()).add(speaker)
    wholes = {_key(speaker): frozenset({speaker}) for speaker in known}
    spaced = [speaker for speaker in known if " " in speaker]
    exact = list(parts) + [speaker for speaker in known if " " not in speaker]  # "Marketing", "B": as written
    alternatives = ([f"(?i:{_alternation(spaced)})"] if spaced else []) + ([_alternation(exact)] if exact else [])
    name = rf"(?<![\w'-])(?:{'|'.join(alternatives)})(?![\w-])"
    names = rf"{name}(?:\s*,\s*(?:the\s+)?{name})*(?:\s*,?\s+and\s+(?:the\s+)?{name})?"
    adverbs = rf"(?:\s+(?:{_alternation(_ADVERBS)}))*"
    auxiliary = rf"\s+(?:{_alternation(_AUXILIARIES)})(?:\s+not|n't)?{adverbs}"
    finite, base = _alternation(sorted(_FINITE)), _alternation(sorted(_BASE))
    participle = _alternation(sorted(_PARTICIPLES))
    inverted = "said|says|asked|added|explained|argued|noted|replied"
    pattern = re.compile(
        rf"(?P<subject>{names})(?:{adverbs}\s+(?:{finite})|{auxiliary}\s+(?:{base}|{participle}))\b"
        rf"|(?P<owner>{names})['’]s?\s+(?:{_alternation(_NOUNS)})\b"
        rf"|\b(?:{participle})\s+by\s+(?:the\s+)?(?P<agent>{names})"
        rf"|\b(?i:according)\s+to\s+(?:the\s+)?(?P<source>{names})"
        rf"|[,\"“”]\s*(?:{inverted})\s+(?:the\s+)?(?P<speaker>{names})"
        rf"|^(?P<label>{names}):\s",  # a turn copied as the passages show it: "Grad B: rubber feels better."
    )
    return pattern, re.compile(name), wholes, {part: frozenset(speakers) for part, speakers in parts.items()}


def _key(name: str) -> str:
    return name.lower() if " " in name else name


def attributed(text: str, known: set[str]) -> list[tuple[str, frozenset[str]]]:
    """The speakers `text` says spoke, of the `known` ones: (the name as written, the speakers it can mean) for each
    name next to a speech or stance verb ("Grad" means every grad; "Maya" means Maya Lindqvist). A name put
    together from parts of theirs that is none of them ("Grad C" beside Grad B and Professor C) means no one."""
    if not known:
        return []
    pattern, name, wholes, parts = _patterns(frozenset(known))
    found: list[tuple[str, frozenset[str]]] = []
    for match in pattern.finditer(text):
        group = next(key for key, value in match.groupdict().items() if value is not None)
        for named in name.finditer(match.group(group)):
            written, at = named.group(), match.start(group) + named.start()
            if written in _NOT_LABELS and at == 0:
                continue  # "A proposed change …": the article opening the sentence, not speaker A
            meaning = wholes.get(_key(written))
            before = text[:at].split()[-1:]
            if meaning is None and before and before[0][0].isupper():
                if before[0] not in parts and before[0] not in wholes:
                    continue  # a part of a longer name: "Anna" in "Anna Berg" is not Anna Lee
                written, meaning = f"{before[0]} {written}", frozenset()
            meaning = meaning if meaning is not None else parts[written]
            if (written, meaning) not in found:
                found.append((written, meaning))
    return found


def missing_speakers(text: str, cited: list[int], speakers: list[set[str]]) -> list[str]:
    """The speakers `text` says spoke (`attributed`, of those speaking in any passage) whom none of its `cited`
    passages (1-based into `speakers`, who speaks in each) carries; a name that can mean several speakers needs
    one of them."""
    carried = set().union(*(speakers[n - 1] for n in cited if 1 <= n <= len(speakers)))
    known = set().union(*speakers) if speakers else set()
    return [
        " or ".join(sorted(meaning)) or f"{written} (no speaker of the passages)"
        for written, meaning in attributed(text, known)
        if not meaning & carried
    ]
