"""Splits a transcript into overlapping windows of whole segments, each a Haystack `Document`."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from haystack import Document, component

from pipeline.models import Chunk, Segment, Transcript

_BACKCHANNEL_WORDS = frozenset(
    "yeah yes yep yup mm mmm hmm mm-hmm uh-huh um uh oh ah okay ok right alright sure no huh".split()
)


def is_backchannel(text: str) -> bool:
    """A turn that only acknowledges ("Mm-hmm.", "Yeah, okay."): no content of its own."""
    tokens = re.findall(r"[\w'-]+", text.lower())
    return 0 < len(tokens) <= 3 and all(token in _BACKCHANNEL_WORDS for token in tokens)


def chunk_id(talk_id: str, first_segment: int, last_segment: int) -> str:
    return f"{talk_id}:{first_segment}-{last_segment}"


def format_turns(segments: list[Segment], with_speakers: bool) -> str:
    """Segment texts joined; with speakers, a `Name: ` label opens each change of speaker."""
    parts: list[str] = []
    previous: str | None = None
    for segment in segments:
        if not segment.text:
            continue
        if with_speakers and segment.speaker and segment.speaker != previous:
            parts.append(("\n" if parts else "") + f"{segment.speaker}: {segment.text}")
        else:
            parts.append(segment.text)
        previous = segment.speaker or previous
    return " ".join(parts).replace(" \n", "\n")


def chunk_to_document(chunk: Chunk, transcript: Transcript, main_speaker: str | None) -> Document:
    talk = transcript.talk
    meta = {
        "talk_id": talk.id,
        "title": talk.display_title,
        "event": talk.event,
        "youtube_id": talk.youtube_id,
        "first_segment": chunk.first_segment,
        "last_segment": chunk.last_segment,
        "start": chunk.start,
        "end": chunk.end,
        "speakers": chunk.speakers,
        "speaker": main_speaker,
    }
    return Document(id=chunk.id, content=chunk.text, meta=meta)


@component
class TranscriptChunker:
    """Windows of about `words` words over whole segments, each overlapping the one before by about `overlap`.

    A window never cuts inside a segment. Sources split segments longer than 100 words at load (see
    `pipeline.sources.limits`), so a window stays within `words` words; a longer segment (in a transcript stored
    before that) becomes a window of its own whose text is cut to `words` words of at most `max_word_chars`
    characters each, so no chunk outgrows the chunk size. Works on unpunctuated captions: it counts words, not
    sentences. Each `Document.meta` records the talk, first and last
    segment index, start and end seconds and speakers. With `skip_backchannels`, turns that only acknowledge
    ("Mm-hmm.", "Yeah.") stay inside the window's segment range but are left out of its text and word count.

    Usage example:
    ```python
    from pipeline.components.chunker import TranscriptChunker
    from pipeline.models import Segment, Talk, Transcript

    lines = ["We picked the Apache licence.", "Mm-hmm.", "Companies can contribute without a lawyer.", "Yes."] * 5
    transcript = Transcript(
        talk=Talk(id="demo", title="Why Apache"),
        segments=[Segment(index=i, text=line, start=4.0 * i, end=4.0 * i + 4) for i, line in enumerate(lines)],
    )
    documents = TranscriptChunker(words=20, overlap=5).run(transcript=transcript)["documents"]
    print(documents[0].id, documents[0].meta["start"], documents[0].meta["end"])  # demo:0-5 0.0 24.0
    ```
    """

    def __init__(
        self, words: int = 165, overlap: int = 55, skip_backchannels: bool = True, max_word_chars: int = 100
    ) -> None:
        if words < 10:
            raise ValueError("words must be at least 10")
        if not 0 <= overlap < words:
            raise ValueError("overlap must be at least 0 and less than words")
        self.words = words
        self.overlap = overlap
        self.skip_backchannels = skip_backchannels
        self.max_word_chars = max_word_chars

    @component.output_types(documents=list[Document])
    def run(self, transcript: Transcript) -> dict[str, Any]:
        """
        :param transcript: the cleaned talk.
        :returns: `documents`, one `Document` a window, in order, with the window's place in `meta`.
        """
        return {"documents": self.chunk(transcript)}

    def chunk(self, transcript: Transcript) -> list[Document]:
        segments = [segment for segment in transcript.segments if segment.text]
        with_speakers = len({segment.speaker for segment in segments if segment.speaker}) > 1
        sizes = [0 if self._skipped(segment) else len(segment.text.split()) for segment in segments]
        result: list[Document] = []
        first = 0
        while first < len(segments):
            last, total = first, sizes[first]
            while last + 1 < len(segments) and total + sizes[last + 1] <= self.words:
                last += 1
                total += sizes[last]
            window = segments[first : last + 1]
            if any(sizes[first : last + 1]):
                result.append(self._document(transcript, window, with_speakers))
            if last + 1 >= len(segments):
                break
            first = self._next_start(sizes, first, last)
        return result

    def _next_start(self, sizes: list[int], first: int, last: int) -> int:
        """The first segment of the next window: as far back from `last` as `overlap` words allow."""
        start, tail = last + 1, 0
        while start - 1 > first and tail + sizes[start - 1] <= self.overlap:
            start -= 1
            tail += sizes[start]
        return start

    def _bounded(self, text: str) -> str:
        """A lone segment's text, or its first `words` words (each cut to `max_word_chars`) when longer than that."""
        tokens = text.split()
        if len(tokens) <= self.words and len(text) <= self.words * (self.max_word_chars + 1):
            return text
        return " ".join(token[: self.max_word_chars] for token in tokens[: self.words])

    def _skipped(self, segment: Segment) -> bool:
        return self.skip_backchannels and is_backchannel(segment.text)

    def _document(self, transcript: Transcript, window: list[Segment], with_speakers: bool) -> Document:
        spoken = [segment for segment in window if not self._skipped(segment)]
        words_by_speaker: Counter[str] = Counter()
        for segment in spoken:
            if segment.speaker:
                words_by_speaker[segment.speaker] += len(segment.text.split())
        speakers = list(dict.fromkeys(s.speaker for s in spoken if s.speaker))
        main_speaker = words_by_speaker.most_common(1)[0][0] if words_by_speaker else None
        text = format_turns(spoken, with_speakers)
        chunk = Chunk(
            id=chunk_id(transcript.talk.id, window[0].index, window[-1].index),
            talk_id=transcript.talk.id,
            text=self._bounded(text) if len(spoken) == 1 else text,  # only a lone segment can outgrow a window
            first_segment=window[0].index,
            last_segment=window[-1].index,
            start=window[0].start,
            end=window[-1].end,
            speakers=speakers,
        )
        return chunk_to_document(chunk, transcript, main_speaker)
