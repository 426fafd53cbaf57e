"""Removes caption artefacts from a transcript's segments, keeping their indices, times and speakers."""

from __future__ import annotations

import html
import re
from typing import Any

from haystack import component

from pipeline.models import Transcript
from pipeline.text import SPACE_BEFORE_PUNCTUATION

_NOISE = re.compile(
    r"\[(?:music|applause|laughter|laughs|cheering|inaudible|crosstalk|silence|noise|background noise|"
    r"foreign|blank_audio|no audio|sound|beep)\]|"
    r"\((?:music|applause|laughter|laughs|inaudible|crosstalk)\)|[♪♫]+",
    re.IGNORECASE,
)
_TAG = re.compile(r"</?[A-Za-z][^>]*>|<\d{2}:\d{2}[^>]*>")
_CHANGE_MARK = re.compile(r"(^|\s)>>+\s*")


def clean_text(text: str, drop_patterns: list[re.Pattern[str]] | None = None) -> str:
    """Caption text without tags, entities, `[Music]`-style noise, `>>` marks and doubled whitespace."""
    text = html.unescape(_TAG.sub(" ", text))
    text = _NOISE.sub(" ", text)
    for pattern in drop_patterns or []:
        text = pattern.sub(" ", text)
    text = _CHANGE_MARK.sub(" ", text)
    text = " ".join(text.split())
    return SPACE_BEFORE_PUNCTUATION.sub(r"\1", text)


@component
class TranscriptCleaner:
    """Cleans every segment's text. A segment left empty stays, with empty text, so indices never shift.

    Usage example:
    ```python
    from pipeline.components.cleaner import TranscriptCleaner
    from pipeline.models import Segment, Talk, Transcript

    transcript = Transcript(
        talk=Talk(id="demo"),
        segments=[
            Segment(index=0, text="[Music] >> So we kept the &amp; <i>Apache</i> licence ."),
            Segment(index=1, text="♪♪"),
        ],
    )
    cleaned = TranscriptCleaner().run(transcript=transcript)["transcript"]
    print([segment.text for segment in cleaned.segments])  # ['So we kept the & Apache licence.', '']
    ```
    """

    def __init__(self, extra_noise_patterns: list[str] | None = None) -> None:
        """:param extra_noise_patterns: further regular expressions whose matches are removed."""
        self.extra_noise_patterns = list(extra_noise_patterns or [])
        self._compiled = [re.compile(pattern, re.IGNORECASE) for pattern in self.extra_noise_patterns]

    @component.output_types(transcript=Transcript)
    def run(self, transcript: Transcript) -> dict[str, Any]:
        """
        :param transcript: the talk as loaded from its source.
        :returns: `transcript`, a copy whose segments hold the cleaned text.
        """
        segments = [
            segment.model_copy(update={"text": clean_text(segment.text, self._compiled)})
            for segment in transcript.segments
        ]
        return {"transcript": transcript.model_copy(update={"segments": segments})}
