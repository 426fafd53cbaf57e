"""Answers written by an LLM from the retrieved passages only, every sentence citing them as `[n]` (1-based)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from haystack import component

from pipeline.components.answer import DEFAULT_SCORER, SCORERS, candidates, select
from pipeline.llm.answer_speakers import missing_speakers, speaking
from pipeline.llm.base import Generator
from pipeline.llm.prompts import prompt_messages
from pipeline.llm.recap_checks import is_specific, overlap, repeats
from pipeline.models import Answer, AnswerSentence, GroundingReport, Passage, format_timestamp
from pipeline.text import clean_sentence, split_sentences

NO_ANSWER = "The passages do not answer this question."
#: What the model replies when the passages do not answer the question (`prompts/answer_system.jinja`).
NO_ANSWER_REPLY = "NO ANSWER"
#: A citation marker as the model writes it: `[2]`, `[1, 3]`, `[Passage 2]`.
_MARKER = re.compile(r"\s*\[\s*(?:passages?\s*)?(\d+(?:\s*(?:,|and|&)\s*\d+)*)\s*\]", re.I)
#: Markers written after a sentence's closing mark ("... May. [2]"), moved before it.
_MARKERS_AFTER_END = re.compile(r"([.!?])((?:\s*\[\s*(?:passages?\s*)?\d[\d,&\sand]*\])+)", re.I)
#: A sentence ends at `.`/`!`/`?` (after its markers) followed by space, or at a line end.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
#: A list bullet or number a model may start a line with despite the prompt.
_BULLET = re.compile(r"^(?:[-*•]|\d+[.)])\s+")
_TURN = re.compile(r"^([^:\n]{1,60}):\s+(.*)$")
_WORD = re.compile(r"[a-z0-9']+")
_NAME_WORD = re.compile(r"[A-Za-z][\w'-]*")
_POSSESSIVE = re.compile(r"'s?$")
#: Passages a sentence cites at most when the citations are found rather than written by the model.
MAX_CITATIONS = 2
#: Turns shorter than this after cleaning ("Yeah.", "Wood, wood.") are backchannels the model need not read.
MIN_TURN_WORDS = 3


def answer_text(sentences: list[AnswerSentence]) -> str:
    """The sentences as one text with their `[n]` markers."""
    return " ".join(sentence.text + "".join(f" [{n}]" for n in sentence.citations) for sentence in sentences)


def passage_heading(passage: Passage) -> str:
    parts = [passage.title]
    if passage.start is not None:
        parts.append(format_timestamp(passage.start))
    if passage.speakers:
        parts.append(", ".join(passage.speakers))
    return " · ".join(parts)


def compact_text(passage: Passage) -> str:
    """The passage as the model reads it: each turn (`Speaker: text` lines of a passage naming its speakers) with
    fillers and repeated words dropped (`clean_sentence`), backchannel turns of fewer than `MIN_TURN_WORDS` words
    left out (all kept if that leaves none). Fewer tokens to read, and the model copies fewer "uh"s."""
    turns = []
    for line in passage.text.splitlines():
        match = _TURN.match(line.strip())
        speaker, body = match.groups() if match and match.group(1) in passage.speakers else (None, line)
        body = clean_sentence(body)
        if body:
            turns.append((speaker, body))
    kept = [turn for turn in turns if len(turn[1].split()) >= MIN_TURN_WORDS] or turns
    return "\n".join(f"{speaker}: {body}" if speaker else body for speaker, body in kept) or passage.text


@dataclass(frozen=True)
class Note:
    """One sentence the model reads in the condensed mode (`condensed_notes`): a passage's sentence picked by the
    extractive writer's scorer, cleaned, with its speaker (None when not known) and its passage's number (1-based)."""

    number: int
    speaker: str | None
    text: str
    score: float

    @property
    def line(self) -> str:
        return f"{self.speaker}: {self.text}" if self.speaker else self.text


def sentence_speakers(passage: Passage) -> list[str | None]:
    """The speaker of each of the passage's sentences (in `split_sentences` order): the label of the `Speaker: text`
    turn it is in (a speaker of the passage, `speaking`), else the passage's only speaker, else None."""
    known = speaking(passage)
    only = next(iter(known)) if len(known) == 1 else None
    result: list[str | None] = []
    for line in passage.text.splitlines():
        match = _TURN.match(line.strip())
        speaker = match.group(1) if match and match.group(1) in known else only
        result += [speaker] * len(split_sentences(line))
    return result


def condensed_notes(
    question: str,
    passages: list[Passage],
    sentence_scores: list[list[float]] | None,
    words: int,
    scorer: str = DEFAULT_SCORER,
) -> list[Note]:
    """The passages' sentences the extractive answer writer's scorer rates best for `question`, about `words` words
    (the same candidates, scores and redundancy-penalised selection as `ExtractiveAnswerWriter`, a longer budget), in
    the order they were said (passages by talk and start, sentences by place), each with its speaker and passage
    number. `sentence_scores` are the highlighter's (each passage's sentences' similarity to the question); without
    them every similarity counts 0 and the other features (the question's words, cue words, the fitted word rates,
    the passage's rank, ...) rank the sentences alone."""
    if sentence_scores is None:
        sentence_scores = [[0.0] * len(split_sentences(passage.text)) for passage in passages]
    chosen_scorer = SCORERS[scorer]()
    pool = candidates(passages, sentence_scores, query=question, scorer=chosen_scorer)
    values = {id(candidate): chosen_scorer.score(candidate) for candidate in pool}
    chosen = select(pool, list(values.values()), words, redundancy=chosen_scorer.redundancy)
    speakers = [sentence_speakers(passage) for passage in passages]

    def said(candidate) -> tuple:
        passage = passages[candidate.number - 1]
        return passage.talk_id, passage.first_segment, candidate.position

    notes = []
    for candidate in sorted(chosen, key=said):
        named = speakers[candidate.number - 1]
        speaker = named[candidate.position] if candidate.position < len(named) else None
        notes.append(Note(candidate.number, speaker, candidate.text, values[id(candidate)]))
    return notes


def capped(sentences: list[AnswerSentence], max_words: int) -> list[AnswerSentence]:
    """The first sentences that fit in `max_words` words (always the first one): QMSum-like answers are ~65 words,
    and a small model that goes on mostly repeats itself."""
    kept, words = [], 0
    for sentence in sentences:
        words += len(sentence.text.split())
        if kept and words > max_words:
            break
        kept.append(sentence)
    return kept


def reply_sentences(text: str) -> list[str]:
    """The reply's sentences, each with its citation markers: markers written after the closing mark move before
    it, bullets go, and a sentence ends at `.`/`!`/`?` or at a line end."""
    text = _MARKERS_AFTER_END.sub(lambda match: f"{match.group(2)}{match.group(1)}", text.strip())
    lines = (_BULLET.sub("", line.strip()) for line in text.splitlines())
    return [sentence for line in lines for sentence in _SENTENCE_END.split(line) if sentence]


def supporting(text: str, shown: list[str]) -> list[int]:
    """The passages (1-based numbers into `shown`) that say what `text` says (`is_specific`: at least 3 of its
    content words and 40% of them in the passage), most shared words first."""
    found = [(overlap(text, passage)[0], n) for n, passage in enumerate(shown, start=1) if is_specific(text, passage)]
    return [number for _, number in sorted(found, key=lambda item: -item[0])]


def unknown_names(text: str, shown: list[str]) -> list[str]:
    """The capitalised words inside `text` (names and titles: not its first word, not all-capital acronyms, a
    possessive's "'s" left out) that none of the `shown` passages says, headings and speakers included: a speaker the
    model made up, e.g. "The Project Manager suggested …" in a meeting without one, copied from the prompt's former
    example (4 of 137 QMSum val answers). The word check of `supporting` does not see it, since the rest of such a
    sentence is the passages' own."""
    said = set(_WORD.findall(" ".join(shown).lower()))
    capitalised = [word for word in _NAME_WORD.findall(text)[1:] if word[0].isupper() and not word.isupper()]
    return [word for word in capitalised if not set(_WORD.findall(_POSSESSIVE.sub("", word).lower())) <= said]


def ground_reply(
    text: str,
    shown: list[str],
    report: GroundingReport,
    cut_off: bool = False,
    speakers: list[set[str]] | None = None,
) -> tuple[list[AnswerSentence], bool]:
    """The grounded sentences of a plain-text reply to passages `shown` (`[1]` is the first), and whether the model
    said the passages do not answer (`NO ANSWER`).

    Every sentence is checked against the passages: it cites those of the `[n]` markers the model wrote that
    support it (`supporting`), else the passages that do (at most `MAX_CITATIONS`); a sentence no passage supports
    is dropped, and so is one naming someone or something no shown passage says (`unknown_names`), one that repeats a
    kept sentence or, with `cut_off` (the reply hit the token limit), an unfinished last sentence. Markers of
    passages not shown or not supporting their sentence count as dropped citations in `report`.

    With `speakers` (who speaks in each shown passage, `speaking`), a sentence saying a speaker of the passages
    said, proposed or thought something ("Ann disagreed …") must cite a passage carrying that speaker
    (`missing_speakers`): else it cites the supporting passages that do (its markers not carrying the speaker
    count as dropped citations), or, with none, it is dropped, the reason in `report.fallbacks`."""
    sentences = reply_sentences(text)
    if cut_off and sentences and not sentences[-1].rstrip().endswith((".", "!", "?")):
        report.fallbacks.append("answer: the reply was cut off at the token limit; its last sentence left out")
        sentences = sentences[:-1]
    kept: list[AnswerSentence] = []
    unanswerable = False
    for sentence in sentences:
        marked = [int(n) for group in _MARKER.findall(sentence) for n in re.findall(r"\d+", group)]
        marked = list(dict.fromkeys(marked))
        body = " ".join(_MARKER.sub("", sentence).split())
        body = re.sub(r"\s+([.,;:!?])", r"\1", body).strip()
        if not body.strip(".!?"):
            continue
        if body.rstrip(".").upper() == NO_ANSWER_REPLY:
            unanswerable = True
            continue
        support = supporting(body, shown)
        confirmed = [n for n in marked if n in support]
        report.citations_checked += len(marked)
        report.citations_dropped += len(marked) - len(confirmed)
        if not support or unknown_names(body, shown):
            report.claims_dropped += 1
            continue
        cited = confirmed or support[:MAX_CITATIONS]
        if speakers is not None and (missing := missing_speakers(body, cited, speakers)):
            named = len(missing_speakers(body, [], speakers))
            carrying = [n for n in support if len(missing_speakers(body, [n], speakers)) < named][:MAX_CITATIONS]
            if not carrying or missing_speakers(body, carrying, speakers):
                report.claims_dropped += 1
                where = ", ".join(f"[{n}]" for n in cited)
                report.fallbacks.append(f'answer: dropped "{body}": {" and ".join(missing)} not speaking in {where}')
                continue
            report.citations_dropped += len([n for n in confirmed if n not in carrying])
            cited = carrying
        if not repeats(body, [sentence.text for sentence in kept]):
            body = body if body.endswith((".", "!", "?")) else f"{body}."
            kept.append(AnswerSentence(text=body, citations=cited))
    return kept, unanswerable and not kept


def extractive_sentences(passages: list[Passage], limit: int = 3) -> list[AnswerSentence]:
    """A fallback answer when none was written: the best highlighted sentence of each of the first passages."""
    return [
        AnswerSentence(text=passage.highlights[0], citations=[number])
        for number, passage in enumerate(passages[:limit], start=1)
        if passage.highlights
    ]


@component
class LLMAnswerWriter:
    """Writes the answer to a question from its best `max_passages` passages with an LLM: about `words` words in 3 to
    `max_sentences` sentences (kept to whole sentences within `max_words`); says so when the passages do not answer.

    The model replies in plain sentences, each ending with the passages it comes from as `[n]` markers (no JSON: no
    tokens spent on its syntax, and a reply cut off at `max_tokens` loses only its unfinished last sentence).
    Citations of passages the model was not shown are removed and counted, and a sentence left with none is dropped;
    so is one saying a speaker said something that no passage it could cite has that speaker saying (`ground_reply`);
    a reply with no cited sentence (and no `NO ANSWER`) falls back to the extractive answer (the one `Searcher.ask`
    wrote, else the passages' highlighted sentences), recorded in `grounding.fallbacks`.

    `write(answer)` does the same for an `Answer` that already holds its passages (e.g. from `Searcher.ask`).

    With `condense_words` (0, off, by default) the model reads no whole passages ("condense, then rewrite"): it reads
    the sentences of the first `max_passages` passages that the extractive writer's fitted scorer rates best, about
    `condense_words` words in the order they were said, each with its speaker and passage number (`condensed_notes`;
    pass the highlighter's `sentence_scores` to `run`/`write` for the similarity feature), and condenses them into its
    answer. The checks are the same, against what it was shown: a sentence cites the passages whose shown sentences
    support it, and a speaker it names must speak in a shown sentence of a passage it cites.

    Usage example:
    ```python
    from pipeline.llm.answer import LLMAnswerWriter
    from pipeline.llm.factory import create_generator
    from pipeline.llm.settings import GeneratorConfig
    from pipeline.models import Passage

    text = "We picked the Apache licence so that companies can contribute without asking a lawyer first."
    passage = Passage(talk_id="demo", title="Why Apache", text=text, score=0.8, first_segment=0, last_segment=3)
    # smollm2-135m: the small model packaged for tests; qwen2.5-1.5b (`talks models install`) writes real answers
    generator = create_generator(GeneratorConfig(backend="llama-cpp", model="smollm2-135m", n_ctx=2048))
    writer = LLMAnswerWriter(generator, max_tokens=128)
    writer.warm_up()
    answer = writer.run(question="Why did they pick Apache?", passages=[passage])["answer"]
    print(answer.answer)  # sentences citing the passages as [n] (the checks are in `answer.grounding`)
    ```
    """

    def __init__(
        self,
        generator: Generator,
        max_sentences: int = 5,
        max_tokens: int | None = 256,
        max_passages: int = 3,
        max_words: int = 100,
        words: int = 70,
        condense_words: int = 0,
    ) -> None:
        if generator is None:
            raise ValueError("LLMAnswerWriter needs an LLM generator (llama-cpp or openai), not extractive")
        if min(max_sentences, max_passages, max_words, words) < 1:
            raise ValueError("max_sentences, max_passages, max_words and words must be at least 1")
        if condense_words < 0:
            raise ValueError("condense_words must not be negative")
        self.generator = generator
        self.max_sentences = max_sentences
        self.max_tokens = max_tokens
        self.max_passages = max_passages
        self.max_words = max_words
        self.words = words
        self.condense_words = condense_words

    def warm_up(self) -> None:
        self.generator.warm_up()

    @component.output_types(answer=Answer)
    def run(
        self, question: str, passages: list[Passage], sentence_scores: list[list[float]] | None = None
    ) -> dict[str, Any]:
        """
        :param question: the question.
        :param passages: the retrieved passages, best first (`[1]` is the first).
        :param sentence_scores: the highlighter's, for each passage each sentence's similarity to the question (read
            with `condense_words` only, see `condensed_notes`).
        :returns: `answer`, the `Answer` with the written text, its cited sentences, `generation` and `grounding`.
        """
        return {"answer": self.write(Answer(question=question, passages=passages), sentence_scores)}

    def write(self, answer: Answer, sentence_scores: list[list[float]] | None = None) -> Answer:
        """A copy of `answer` (question and passages, e.g. from `Searcher.ask`) with the written answer
        (`sentence_scores`: see `run`)."""
        started = time.perf_counter()
        report = GroundingReport()
        if not answer.passages:
            sentences, method = [AnswerSentence(text=NO_ANSWER)], "retrieval"
        else:
            self.warm_up()
            condensed = self._condensed(answer, sentence_scores, report) if self.condense_words else None
            if condensed is not None:
                messages, texts, speakers = condensed
            else:
                messages, shown = self._messages(answer.question, answer.passages, report)
                texts = [f"{passage_heading(passage)}\n{passage.text}" for passage in answer.passages[:shown]]
                speakers = [speaking(passage) for passage in answer.passages[:shown]]
            generation = self.generator.chat(messages, max_tokens=self.max_tokens, label="answer")
            cut_off = generation.finish_reason == "length"
            sentences, unanswerable = ground_reply(generation.text, texts, report, cut_off=cut_off, speakers=speakers)
            method = self.generator.method
            if not sentences and not unanswerable:
                report.fallbacks.append("answer: no sentence of the reply is supported by a passage it was shown")
                extractive = answer.sentences if answer.method == "extractive" else []
                sentences, method = extractive or extractive_sentences(answer.passages), "extractive"
            else:
                sentences = capped(sentences, self.max_words)
            sentences = sentences or [AnswerSentence(text=NO_ANSWER)]
        return answer.model_copy(
            update={
                "answer": answer_text(sentences),
                "sentences": sentences,
                "method": method,
                "generation": self.generator.info(time.perf_counter() - started),
                "grounding": report,
            }
        )

    def _messages(self, question: str, passages: list[Passage], report: GroundingReport) -> tuple[list, int]:
        """The prompt with the best `max_passages` passages, or as many as fit the context beside the reply, shown
        compacted (`compact_text`) in the order they were said, each under its rank `[n]`."""
        reply_tokens = self.max_tokens or self.generator.config.max_tokens
        best = passages[: self.max_passages]
        for shown in range(len(best), 0, -1):
            ranked = list(enumerate(best[:shown], start=1))
            ranked.sort(key=lambda item: (item[1].talk_id, item[1].first_segment))
            items = [{"number": n, "heading": passage_heading(p), "text": compact_text(p)} for n, p in ranked]
            messages = prompt_messages(
                "answer",
                question=question,
                passages=items,
                count=shown,
                max_sentences=self.max_sentences,
                words=self.words,
            )
            needed = self.generator.count_message_tokens(messages) + reply_tokens + self.generator.safety_margin
            if needed <= self.generator.context_tokens:
                break
        if shown < len(best):
            report.fallbacks.append(f"answer: passages {shown + 1}–{len(best)} left out to fit the context")
        return messages, shown

    def _condensed(
        self, answer: Answer, sentence_scores: list[list[float]] | None, report: GroundingReport
    ) -> tuple[list, list[str], list[set[str]]] | None:
        """The condensed mode's prompt (`condense_words` > 0): the best `condense_words` words of sentences of the
        first `max_passages` passages (`condensed_notes`), in the order they were said, each as `[n] Speaker: text`;
        the lowest-scored notes left out while the prompt does not fit the context. Also what the support checks
        read: for each passage, the notes the model was shown from it (a passage none was shown from supports no
        sentence) and their speakers (a note of no known speaker counts every speaker of its passage; a last entry,
        which no sentence can cite, holds all the passages' speakers, so that one with no note shown is still known).
        None when no sentence of the passages can stand alone (the whole passages are shown instead)."""
        passages = answer.passages[: self.max_passages]
        scores = sentence_scores[: len(passages)] if sentence_scores is not None else None
        if scores is not None and len(scores) < len(passages):
            scores = None
        notes = condensed_notes(answer.question, passages, scores, self.condense_words)
        if not notes:
            return None
        reply_tokens = self.max_tokens or self.generator.config.max_tokens
        left_out = 0
        while True:
            messages = prompt_messages(
                "answer_notes",
                question=answer.question,
                notes=[{"number": note.number, "text": note.line} for note in notes],
                max_sentences=self.max_sentences,
                words=self.words,
            )
            needed = self.generator.count_message_tokens(messages) + reply_tokens + self.generator.safety_margin
            if needed <= self.generator.context_tokens or len(notes) == 1:
                break
            notes.remove(min(notes, key=lambda note: note.score))
            left_out += 1
        if left_out:
            report.fallbacks.append(f"answer: {left_out} notes left out to fit the context")
        texts = ["\n".join(note.line for note in notes if note.number == n) for n in range(1, len(passages) + 1)]
        speakers = [
            {note.speaker for note in notes if note.number == n and note.speaker}
            | (speaking(passage) if any(note.number == n and not note.speaker for note in notes) else set())
            for n, passage in enumerate(passages, start=1)
        ]
        # every speaker of the passages, as an entry no sentence can cite: a speaker of a passage with no note of
        # theirs shown is still a speaker ("Grad B said …" must cite a passage where a note of Grad B's was shown)
        speakers.append(set().union(*(speaking(passage) for passage in passages)))
        return messages, texts, speakers
