"""Keyphrase titles and keywords for themes.

Keywords: n-gram candidates ranked by embedding similarity to the theme and class-based TF-IDF across the themes
(so they tell themes apart), picked for diversity by MMR.

Titles: phrases a writer could keep as a section heading, taken verbatim from the talk. Candidates are the
theme's n-grams, grammatical patterns from the talk's sentences (gerund phrases such as "writing things down",
"when to scale", "from side project to company") and the parts of the talk's own title ("Open Source",
"Bootstrapping"). Each is scored by the class-based TF-IDF of its content words' stems in the theme (so
"scale", "scaling" and "scaled" count together, and a word the whole talk uses names no theme), with a bonus for
patterns and title parts, a penalty for generic nouns ("customers", "people"), and the embedding similarity to
the theme. Titles are then given out best first, so that no two themes share one.

Why not KeyBERT: it ranks one document's n-grams by embedding similarity (with MMR), which is one of the signals here;
what names a theme is what sets it apart from the talk's other themes (class-based TF-IDF across them), spoken-language
patterns and the talk's own title, none of which KeyBERT models. Stems come from snowballstemmer."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import snowballstemmer
from haystack import Document, component, default_from_dict, default_to_dict
from haystack.core.serialization import component_to_dict
from haystack.utils.deserialization import deserialize_component_inplace

from pipeline.embedding import document_embedder
from pipeline.models import Theme
from pipeline.stopwords import ENGLISH_STOP_WORDS


# Spoken fillers, hedges, vague nouns and common verbs: never the first or last word of a keyphrase.
def word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


SPOKEN_STOP_WORDS = word_set(
    """
    um umm uh uhh erm er ah hmm mm mhm oh okay ok yeah yes yep nope right alright well like really actually
    basically honestly literally obviously maybe probably just pretty quite kind sort lot lots bit thing things
    stuff way ways time times gonna wanna gotta let lets guess mean means meant know knew known think thinking
    thought say said says saying tell told talk talking talked go goes going went gone get gets got getting
    come comes came coming make makes made making take takes took taken want wanted wants need needed needs
    look looked looking see saw seen try tried trying use used using start started starting ask asked asking
    feel felt work worked working happen happened put keep kept give gave run ran read wrote write turn turned
    good great nice sure whole able same different certain other own big little new old real huge lots
    people person guys everyone everybody anyone somebody someone nobody day days week weeks month months year
    years today tomorrow yesterday now question questions answer slide slides point points example part parts
    idea ideas reason reasons problem number numbers percent actual ahead anyway instead already still almost
    enough exactly especially genuinely having being doing sat written wrote built bought brought found held left
    lost met paid sent spent stood taught understood won began begun broke broken chose chosen drove fell forgot
    grew grown knew led rose spoke threw became become hit set cut shut quit stop stopped tried happens does did
    done stuck wrong funny depend depends morning afternoon evening night list answers thanks thank hey hello hi
    bye welcome
    """
)
STOP_WORDS = frozenset(ENGLISH_STOP_WORDS) | SPOKEN_STOP_WORDS
# Function words a keyphrase may hold inside ("state of mind", "open source as a strategy").
CONNECTORS = frozenset({"of", "for", "without", "as", "with", "in", "on", "a", "an", "the"})
FILLER_PHRASES = ("you know", "kind of", "sort of", "i mean", "a lot", "you see")
_CHUNK_BREAK = re.compile(r"[,;:!?()\"“”…—–\[\]]|\.(?!\d)|\s-\s")
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’\-]*(?:\.\d+)?")
# Nouns too general to name a theme on their own ("Customers"); fine inside a longer title.
GENERIC_WORDS = word_set(
    """
    customer customers people person company companies team teams thing things product products tool tools user
    users money business world stuff project projects version versions feature features everyone life pay paying
    paid
    """
)
# Words ending in -ing that are not gerunds, or too vague to open a title ("going", "thinking").
NOT_GERUNDS = word_set(
    """
    thing something nothing anything everything morning evening during bring string king ring spring sing wing
    ceiling interesting amazing boring exciting willing going doing thinking talking trying looking coming getting
    having telling asking wondering saying happening according including following
    """
)
BE_FORMS = word_set("am are was were be been we're they're you're i'm it's that's he's she's")
# Small words a gerund phrase may hold or end on ("writing things down", "keeping a team aligned", "saying no").
DETERMINERS = word_set("a an the your our their my its this that every")
PARTICLES = word_set("down up out off no yes back together")
CLAUSE_WORDS = word_set("and but so because is was are were when if which")
FILLER_WORDS = word_set(
    "um umm uh uhh erm er ah hmm mm mhm oh okay ok yeah yep like really actually basically honestly"
)
# Verbs that can carry a theme ("writing things down", "hiring"): stop words for keyphrases, not for stems.
THEME_VERBS = word_set("write wrote written read paid spent built bought grew grown")
STEM_STOP_WORDS = STOP_WORDS - THEME_VERBS
_STEMMER = snowballstemmer.stemmer("english")
IRREGULAR_STEMS = {
    "wrote": "write",
    "written": "write",
    "paid": "pay",
    "built": "build",
    "bought": "buy",
    "grew": "grow",
    "grown": "grow",
    "spent": "spend",
    "kept": "keep",
    "ran": "run",
}
TITLE_PATTERN_BONUS = 0.1
TITLE_PART_BONUS = 0.15
ELSEWHERE_PENALTY = 0.165
MAX_TITLE_WORDS = 5


@lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """The word's Snowball (Porter 2) English stem, so that inflections pool ("scale", "scaling", "scaled" →
    "scale"; "hiring", "hires" → "hire"; "alignment", "aligned" → "align"); irregular past forms of the verbs that
    carry themes ("wrote", "paid") map to their present's stem. Cached: a recap stems each of a talk's words many
    times over (a pure-Python stemmer: half the titling time of the founder talk's recap before)."""
    w = word.lower().replace("’", "'").removesuffix("'s")
    if w in IRREGULAR_STEMS:
        return IRREGULAR_STEMS[w]
    if len(w) <= 3 or not w.isalpha():
        return w
    return _STEMMER.stemWord(w)


def is_content(word: str) -> bool:
    """Whether a word (no hyphens) carries content: not a stop word or filler, a number or a very short word."""
    return (
        len(word) > 2 and word.isalpha() and word.lower() not in STEM_STOP_WORDS and stem(word) not in STEM_STOP_WORDS
    )


def content_stems(text: str) -> list[str]:
    """Stems of the content words of a text."""
    return [stem(part) for token in _TOKEN.findall(text) for part in token.split("-") if is_content(part)]


def stem_tfidf(counts: list[Counter[str]], words: list[int]) -> list[dict[str, float]]:
    """c-TF-IDF of each stem in each theme: its count in the theme times log(1 + mean theme words / its count in
    the talk). Generic nouns count a third."""
    totals: Counter[str] = Counter()
    for theme_counts in counts:
        totals.update(theme_counts)
    average = float(np.mean([max(1, w) for w in words])) if words else 1.0
    generic = {stem(w) for w in GENERIC_WORDS}
    return [
        {
            key: c * math.log(1 + average / totals[key]) * (0.35 if key in generic else 1.0)
            for key, c in theme_counts.items()
        }
        for theme_counts in counts
    ]


def pattern_phrases(texts: list[str]) -> Counter[str]:
    """Title-like phrases, verbatim: gerund phrases ("writing things down", "keeping a team aligned", "saying
    no"), "when/how/why to X" ("when to scale") and "from X to Y" ("from side project to company")."""
    found: Counter[str] = Counter()
    for text in texts:
        for chunk in _CHUNK_BREAK.split(text):
            tokens = _TOKEN.findall(chunk)
            lows = [t.lower().replace("’", "'") for t in tokens]
            for i, low in enumerate(lows):
                if _is_gerund(low) and (i == 0 or lows[i - 1] not in BE_FORMS):
                    found.update(_continuations(tokens, i, i + 1))
                elif low in {"when", "how", "why"} and lows[i + 1 : i + 2] == ["to"] and i + 2 < len(tokens):
                    verb = lows[i + 2]
                    if verb.isalpha() and verb not in ENGLISH_STOP_WORDS and verb not in {"be", "do", "get", "go"}:
                        found.update(_continuations(tokens, i, i + 2, extra=1))
                        found.update(_continuations(tokens, i, i + 3))
                elif low == "from":
                    found.update(_from_to(tokens, lows, i))
    return found


def _is_gerund(low: str) -> bool:
    return len(low) >= 6 and low.endswith("ing") and low.isalpha() and low not in NOT_GERUNDS


def _continuations(tokens: list[str], first: int, start: int, extra: int = 4) -> list[str]:
    """Phrases tokens[first:j] for j after `start`, over small words, content words and participles, each
    ending on a content word, a particle or a participle."""
    phrases = []
    for j in range(start, min(len(tokens), start + extra)):
        low = tokens[j].lower().replace("’", "'")
        participle = low.endswith("ed") and low.isalpha() and len(low) > 4
        noun = low.isalpha() and low not in ENGLISH_STOP_WORDS and low not in FILLER_WORDS
        if not (noun or low in CONNECTORS or low in DETERMINERS or low in PARTICLES):
            break
        following = tokens[j + 1].lower() if j + 1 < len(tokens) else ""
        if (noun or low in PARTICLES or participle) and (not following or following in CLAUSE_WORDS):
            phrases.append(" ".join(tokens[first : j + 1]))  # a whole clause, not "putting the docs [next to]"
    return phrases


def _from_to(tokens: list[str], lows: list[str], i: int) -> list[str]:
    for k in range(i + 2, min(len(tokens), i + 4)):
        if lows[k] == "to":
            if all(_is_edge_word(t) for t in tokens[i + 1 : k]) and k + 1 < len(tokens):
                return [" ".join(tokens[i : k + 2])] if _is_edge_word(tokens[k + 1]) else []
            return []
    return []


def title_parts(title: str) -> list[str]:
    """A talk title's parts ("From Side Project to Company: Open Source, Bootstrapping, and Staying Aligned" →
    "From Side Project to Company", "Open Source", "Bootstrapping", "Staying Aligned")."""
    parts = []
    for piece in re.split(r"[:;,–—|]", title):
        piece = re.sub(r"^\s*(?:and|&)\s+", "", piece.strip())
        parts.extend(p.strip() for p in re.split(r"\s+(?:and|&)\s+", piece) if p.strip())
    return parts


def case_map(texts: list[str]) -> dict[str, str]:
    """How the talk writes each word inside a sentence: its capitalised form for names ("Apache", "Friday"),
    else lower case. Words only seen at the start of a sentence are taken as lower case."""
    forms: dict[str, Counter[str]] = defaultdict(Counter)
    for text in texts:
        for chunk in re.split(r"(?<=[.!?])\s+", text):
            for token in _TOKEN.findall(chunk)[1:]:
                forms[token.lower()][token] += 1
    out = {}
    for low, seen in forms.items():
        capital = sum(n for form, n in seen.items() if form[:1].isupper())
        if capital > seen[low]:
            out[low] = max(seen.items(), key=lambda item: item[1])[0]
    return out


def title_case(phrase: str, names: dict[str, str]) -> str:
    """Lower case except names and acronyms, first letter capitalised ("Open Source" → "Open source")."""
    words = []
    for word in phrase.split():
        low = word.lower()
        if word == "I" or sum(ch.isupper() for ch in word) > 1 or low in names:
            words.append(names.get(low, word))
        else:
            words.append(low)
    return as_title(" ".join(words))


def stem_key(phrase: str) -> tuple[str, ...]:
    return tuple(stem(part) for part in phrase.replace("-", " ").split())


@dataclass
class Candidates:
    """Keyphrase candidates of one theme: counts by normalised key, and the surface forms seen for each."""

    counts: Counter[tuple[str, ...]] = field(default_factory=Counter)
    surfaces: dict[tuple[str, ...], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    words: int = 0


def phrase_key(text: str) -> tuple[str, ...]:
    """Lower case, hyphens as spaces, last word singular ("Open-source tools" → ("open", "source", "tool"))."""
    words = text.lower().replace("’", "'").replace("-", " ").split()
    if words and len(words[-1]) > 3 and words[-1].endswith("s") and not words[-1].endswith(("ss", "us", "is")):
        words[-1] = words[-1][:-3] + "y" if words[-1].endswith("ies") else words[-1][:-1]
    return tuple(words)


def prune_subsumed(counts: Counter[tuple[str, ...]], share: float = 0.5) -> set[tuple[str, ...]]:
    """Phrases that mostly occur inside a longer candidate ("alive" in "default alive"): dropped as keywords."""
    inside: Counter[tuple[str, ...]] = Counter()  # the count of the most frequent longer phrase holding each one
    for key, count in counts.items():
        for size in range(1, len(key)):
            for i in range(len(key) - size + 1):
                part = key[i : i + size]
                inside[part] = max(inside[part], count)
    return {key for key, count in counts.items() if inside[key] >= share * count}


def _is_edge_word(token: str) -> bool:
    """Whether a token may open or close a keyphrase."""
    low = token.lower().replace("’", "'")
    if "'" in low or low in STOP_WORDS or (len(low) < 2 and not low.isdigit()):
        return False
    if (low.endswith("ly") or low.endswith("ed")) and len(low) > 4:
        return False
    return any(ch.isalpha() for ch in low) or "." in low


def _is_inner_word(token: str) -> bool:
    return _is_edge_word(token) or token.lower() in CONNECTORS


def extract_candidates(texts: list[str], max_words: int = 4) -> Candidates:
    """Every phrase of 1..`max_words` words inside a clause whose edge words are content words, whose inner
    words are content words or connectors (at most two), and that holds no filler phrase."""
    found = Candidates()
    for text in texts:
        found.words += len(text.split())
        for chunk in _CHUNK_BREAK.split(text):
            tokens = _TOKEN.findall(chunk)
            for i in range(len(tokens)):
                if not _is_edge_word(tokens[i]):
                    continue
                for j in range(i, min(len(tokens), i + max_words)):
                    if j > i and not _is_inner_word(tokens[j]):
                        break
                    if not _is_edge_word(tokens[j]):
                        continue
                    words = tokens[i : j + 1]
                    if sum(w.lower() in CONNECTORS for w in words) > 2:
                        break
                    surface = " ".join(words)
                    padded = f" {surface.lower()} "
                    if any(f" {filler} " in padded for filler in FILLER_PHRASES):
                        continue
                    key = phrase_key(surface)
                    found.counts[key] += 1
                    found.surfaces[key][surface] += 1
    return found


def class_tfidf(per_class: list[Candidates]) -> list[dict[tuple[str, ...], float]]:
    """c-TF-IDF of each phrase in each class (theme): its frequency in the class, times the share of its
    occurrences that fall in this class (so a phrase spread over all themes names none of them), times
    log(1 + mean class words / its total count)."""
    totals: Counter[tuple[str, ...]] = Counter()
    for candidates in per_class:
        totals.update(candidates.counts)
    average = np.mean([max(1, c.words) for c in per_class])
    return [
        {key: count * (count / totals[key]) * math.log(1 + average / totals[key]) for key, count in c.counts.items()}
        for c in per_class
    ]


def display_form(surfaces: Counter[str]) -> str:
    """The most frequent surface form (ties: the one with most capitals, e.g. a proper noun)."""
    return max(surfaces.items(), key=lambda item: (item[1], sum(ch.isupper() for ch in item[0][1:])))[0]


def as_title(phrase: str) -> str:
    return phrase[:1].upper() + phrase[1:]


def mmr(scores: np.ndarray, similarity: np.ndarray, k: int, diversity: float) -> list[int]:
    """Maximal marginal relevance: up to `k` indices, each the best trade-off of score and novelty."""
    chosen: list[int] = []
    remaining = list(range(len(scores)))
    while remaining and len(chosen) < k:
        if chosen:
            penalty = similarity[np.ix_(remaining, chosen)].max(axis=1)
            values = (1 - diversity) * scores[remaining] - diversity * penalty
        else:
            values = scores[remaining]
        best = remaining[int(np.argmax(values))]
        chosen.append(best)
        remaining.remove(best)
    return chosen


def _talk_means(documents: list[Document]) -> dict[str, np.ndarray]:
    by_talk: dict[str, list[Document]] = defaultdict(list)
    for document in documents:
        by_talk[document.meta["talk_id"]].append(document)
    return {
        talk: np.asarray([d.embedding for d in docs], dtype=np.float64).mean(axis=0) for talk, docs in by_talk.items()
    }


def _direction(documents: list[Document], talk_means: dict[str, np.ndarray]) -> np.ndarray:
    """What a theme is about: the mean of its centroid and of what sets it apart from its talks (both unit)."""
    if not documents:
        return np.zeros(next(iter(talk_means.values())).shape) if talk_means else np.zeros(1)
    mean = np.asarray([d.embedding for d in documents], dtype=np.float64).mean(axis=0)
    apart = mean - np.mean([talk_means[t] for t in {d.meta["talk_id"] for d in documents}], axis=0)
    return 0.5 * (mean / (np.linalg.norm(mean) or 1.0) + apart / (np.linalg.norm(apart) or 1.0))


def _length_bonus(key: tuple[str, ...]) -> float:
    """Longer phrases are more specific: x1 for one word, x1.5 for two, x2 for three or more."""
    return 1 + 0.5 * min(len(key) - 1, 2)


def _overlap(a: frozenset[str], b: frozenset[str]) -> bool:
    return a <= b or b <= a


def _overlaps(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether one phrase's content words are all in the other's."""
    sa, sb = set(a) - CONNECTORS, set(b) - CONNECTORS
    return sa <= sb or sb <= sa


@component
class KeyphraseTitler:
    """Gives each theme a keyphrase title (a clean 1-4 word phrase, distinct across themes) and keywords.

    Usage example:
    ```python
    from pipeline.components.keyphrases import KeyphraseTitler
    from pipeline.components.segmenter import SentenceSplitter, ThemeSegmenter
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
    themes = KeyphraseTitler().run(themes=segmented["themes"], documents=segmented["documents"])["themes"]
    print([(theme.title, theme.keywords[:2]) for theme in themes])
    # [('Apache licence', ['Apache licence', 'contributors']), ('Customer wins', ['Pricing', 'past the trial'])]
    ```
    """

    def __init__(
        self,
        keywords: int = 6,
        max_words: int = 4,
        candidates: int = 30,
        diversity: float = 0.5,
        similarity_weight: float = 0.5,
        title_candidates: int = 12,
        title_similarity_weight: float = 1.0,
        embedder: Any = None,
    ) -> None:
        """
        :param keywords: keywords per theme (the title is one of them).
        :param max_words: longest keyphrase.
        :param candidates: phrases per theme, by c-TF-IDF, that are embedded and ranked.
        :param diversity: MMR trade-off between score (0) and novelty (1).
        :param similarity_weight: weight of embedding similarity against normalised c-TF-IDF in the score.
        :param title_candidates: title candidates per theme, by lexical score, that are embedded and ranked.
        :param title_similarity_weight: weight of embedding similarity added to a title candidate's lexical score.
        :param embedder: the document embedder for candidate phrases (default: the packaged model's,
            `pipeline.embedding.document_embedder()`); it shows in pipeline dumps.
        """
        if keywords < 1 or max_words < 1 or candidates < 1:
            raise ValueError("keywords, max_words and candidates must be at least 1")
        self.keywords = keywords
        self.max_words = max_words
        self.candidates = candidates
        self.diversity = diversity
        self.similarity_weight = similarity_weight
        self.title_candidates = title_candidates
        self.title_similarity_weight = title_similarity_weight
        self.embedder = embedder if embedder is not None else document_embedder()

    def warm_up(self) -> None:
        self.embedder.warm_up()

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(
            self,
            keywords=self.keywords,
            max_words=self.max_words,
            candidates=self.candidates,
            diversity=self.diversity,
            similarity_weight=self.similarity_weight,
            title_candidates=self.title_candidates,
            title_similarity_weight=self.title_similarity_weight,
            embedder=component_to_dict(self.embedder, "embedder"),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeyphraseTitler:
        deserialize_component_inplace(data["init_parameters"], key="embedder")
        return default_from_dict(cls, data)

    @component.output_types(themes=list[Theme])
    def run(self, themes: list[Theme], documents: list[Document]) -> dict[str, Any]:
        """
        :param themes: the themes, in the order `meta["theme"]` numbers them.
        :param documents: the embedded sentence Documents, each with its `meta["theme"]` (`ThemeSegmenter`'s).
        :returns: `themes`, copies with their `title` and `keywords`.
        """
        self.warm_up()
        by_theme: dict[int, list[Document]] = defaultdict(list)
        for document in documents:
            by_theme[document.meta["theme"]].append(document)
        speakers = {part.lower() for d in documents for part in str(d.meta.get("speaker") or "").split()}
        per_theme = [
            extract_candidates([d.content or "" for d in by_theme[t]], self.max_words) for t in range(len(themes))
        ]
        tfidf = class_tfidf(per_theme)
        pools = [self._pool(per_theme[t], tfidf[t], speakers) for t in range(len(themes))]
        texts = [display_form(per_theme[t].surfaces[key]) for t in range(len(themes)) for key in pools[t]]
        embedded = self.embedder.run(documents=[Document(content=text) for text in texts])["documents"] if texts else []
        # a talk with no keyphrase candidates at all ("Thank you. Thank you so much.") embeds nothing
        vectors = np.asarray([d.embedding for d in embedded], dtype=np.float64) if texts else np.zeros((0, 1))
        talk_means = _talk_means(documents)
        ranked, offset = [], 0
        for t in range(len(themes)):
            size = len(pools[t])
            direction = _direction(by_theme[t], talk_means)
            ranked.append(self._rank(direction, per_theme[t], tfidf[t], pools[t], vectors[offset : offset + size]))
            offset += size
        titles = self._titles(themes, by_theme, documents, talk_means, speakers)
        # no title candidate survived (a very short theme): its best keyword, else no title
        titles = [
            title or (as_title(keywords[0][0]) if keywords else "")
            for title, keywords in zip(titles, ranked, strict=True)
        ]
        out = [
            theme.model_copy(update={"title": title, "keywords": [k for k, _ in keywords]})
            for theme, title, keywords in zip(themes, titles, ranked, strict=True)
        ]
        return {"themes": out}

    def _titles(
        self,
        themes: list[Theme],
        by_theme: dict[int, list[Document]],
        documents: list[Document],
        talk_means: dict[str, np.ndarray],
        speakers: set[str],
    ) -> list[str]:
        """A title per theme: the best-scoring candidate (see the module doc) not overlapping a better one, naming
        none of the `speakers` (lower-cased words of their names)."""
        texts = [[d.content or "" for d in by_theme[t]] for t in range(len(themes))]
        stems = stem_tfidf(
            [Counter(s for text in theme for s in content_stems(text)) for theme in texts],
            [sum(len(text.split()) for text in theme) for theme in texts],
        )
        everywhere = pattern_phrases([d.content or "" for d in documents])
        parts = Counter(
            part
            for title in dict.fromkeys(str(d.meta.get("talk_title") or "") for d in documents)
            for part in title_parts(title)
        )
        names = case_map([d.content or "" for d in documents])
        options: list[list[tuple[str, float, frozenset[str]]]] = []  # per theme: (surface, lexical score, stems)
        for t in range(len(themes)):
            local = extract_candidates(texts[t], self.max_words)
            surfaces: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)
            bonuses: dict[tuple[str, ...], float] = {}
            for key, seen in local.surfaces.items():
                if not set(key) & speakers:
                    for surface, count in seen.items():
                        surfaces[stem_key(surface)][surface] += count
            # patterns said elsewhere in the talk ("when to scale" in the agenda) count less than the theme's own
            for found, bonus in (
                (pattern_phrases(texts[t]), TITLE_PATTERN_BONUS),
                (everywhere, TITLE_PATTERN_BONUS - ELSEWHERE_PENALTY),
                (parts, TITLE_PART_BONUS),
            ):
                for surface, count in found.items():
                    key = stem_key(surface)
                    if len(key) <= MAX_TITLE_WORDS and not set(surface.lower().split()) & speakers:
                        surfaces[key][surface] += count
                        bonuses[key] = max(bonuses.get(key, -1.0), bonus)
            options.append(self._title_options(surfaces, bonuses, stems[t]))
        flat = [(t, i) for t in range(len(themes)) for i in range(len(options[t]))]
        if flat:
            embedded = self.embedder.run(documents=[Document(content=options[t][i][0]) for t, i in flat])["documents"]
            vectors = np.asarray([d.embedding for d in embedded], dtype=np.float64)
        scored: list[tuple[float, int, str, frozenset[str]]] = []
        for row, (t, i) in enumerate(flat):
            surface, lexical, keys = options[t][i]
            similarity = float(vectors[row] @ _direction(by_theme[t], talk_means))
            scored.append((lexical + self.title_similarity_weight * similarity, t, surface, keys))
        scored.sort(key=lambda item: (-item[0], item[1], item[2]))
        titles = [""] * len(themes)
        taken: list[frozenset[str]] = []
        for strict in (True, False):
            for rank, (_, t, surface, keys) in enumerate(scored):
                if titles[t] or any(_overlap(keys, other) for other in taken):
                    continue
                # a phrase that fits another theme better (it, or one holding it, scores higher there) is its title
                if strict and any(other[1] != t and _overlap(keys, other[3]) for other in scored[:rank]):
                    continue
                titles[t] = title_case(surface, names)
                taken.append(keys)
        return titles

    def _title_options(
        self, surfaces: dict[tuple[str, ...], Counter[str]], bonuses: dict[tuple[str, ...], float], scores: dict
    ) -> list[tuple[str, float, frozenset[str]]]:
        """The theme's best title candidates by lexical score, as (surface, score, content stems)."""
        top = max(scores.values(), default=0.0) or 1.0
        ranked = []
        for key, seen in surfaces.items():
            surface = display_form(seen) if bonuses.get(key, 0.0) < TITLE_PART_BONUS else max(seen, key=str.istitle)
            content = [w for w in surface.replace("-", " ").split() if is_content(w)]
            if not content or len(surface.split()) > MAX_TITLE_WORDS:
                continue
            relevance = [scores.get(stem(w), 0.0) / top for w in content]
            if min(relevance) <= 0:
                continue  # a word the theme never uses
            specific = [r for w, r in zip(content, relevance, strict=True) if w.lower() not in GENERIC_WORDS]
            if not specific:
                continue
            lexical = 0.4 * max(specific) + 0.6 * sum(specific) / len(specific)
            repeats = sum(seen.values())
            lexical += bonuses.get(key, 0.0) + 0.05 * min(len(key) - 1, 2) + 0.05 * math.log2(repeats)
            if len(key) == 1 and bonuses.get(key, 0.0) < TITLE_PART_BONUS:
                lexical -= 0.25  # one word names a theme less well than a phrase, unless the talk's title uses it
            ranked.append((surface, lexical, frozenset(stem(w) for w in content)))
        ranked.sort(key=lambda item: (-item[1], item[0]))
        return ranked[: self.title_candidates]

    def _pool(
        self, candidates: Candidates, tfidf: dict[tuple[str, ...], float], speakers: set[str]
    ) -> list[tuple[str, ...]]:
        """The theme's best `candidates` phrases by c-TF-IDF (repeated ones, when there are enough), none holding a
        word of the `speakers`' names."""
        dropped = prune_subsumed(candidates.counts)
        allowed = [key for key in candidates.counts if key not in dropped and not set(key) & speakers]
        repeated = [key for key in allowed if candidates.counts[key] >= 2]
        pool = repeated if len(repeated) >= self.keywords else allowed
        return sorted(pool, key=lambda key: -tfidf[key] * _length_bonus(key))[: self.candidates]

    def _rank(
        self,
        direction: np.ndarray,
        candidates: Candidates,
        tfidf: dict[tuple[str, ...], float],
        pool: list[tuple[str, ...]],
        vectors: np.ndarray,
    ) -> list[tuple[str, float]]:
        """The theme's keywords, best first, as (display form, score)."""
        if not pool:
            return []
        texts = [display_form(candidates.surfaces[key]) for key in pool]
        similarity = vectors @ direction
        weights = np.asarray([tfidf[key] * _length_bonus(key) for key in pool])
        scores = self.similarity_weight * similarity + (1 - self.similarity_weight) * weights / (weights.max() or 1.0)
        picked: list[int] = []
        for index in mmr(scores, vectors @ vectors.T, len(pool), self.diversity):
            if not any(_overlaps(pool[index], pool[other]) for other in picked):
                picked.append(index)
            if len(picked) == self.keywords:
                break
        return [(texts[i], float(scores[i])) for i in picked]
