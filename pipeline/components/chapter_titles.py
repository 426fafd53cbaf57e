"""Chapter titles as theme titles: where a theme is one of the uploader's chapters, the chapter's title (the
uploader's own words) names it instead of the extracted keyphrase title."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from haystack import Document, component

from pipeline.models import Theme, Transcript


@component
class ChapterTitler:
    """Gives a theme its chapter's title when the two fit: at least `theme_share` of the theme's words are in that
    chapter, and the theme holds at least `chapter_share` of the chapter's words (so one chapter names at most one
    theme). Themes that span several talks, and talks without chapters, keep their titles. Keywords are kept.

    Reads the `chapter` each sentence Document is in (set by `ThemeSegmenter` from `Talk.chapters`).

    Usage example:
    ```python
    from pipeline.components.chapter_titles import ChapterTitler
    from pipeline.components.segmenter import SentenceSplitter, ThemeSegmenter
    from pipeline.embedding import document_embedder
    from pipeline.models import Chapter, Segment, Talk, Transcript

    lines = [
        "We picked the Apache licence because companies can contribute without asking a lawyer first.",
        "A permissive licence is not a gift, it is how you get contributors you never met.",
        "The licence question came up in every sales call during our first year.",
        "Pricing was the second thing we got wrong, and we got it wrong twice.",
        "We charged per seat, and small teams never made it past the trial.",
        "Usage based pricing is the only model where the customer wins when you win.",
    ]
    transcript = Transcript(
        talk=Talk(id="demo", chapters=[Chapter(start=0, title="The licence"), Chapter(start=30, title="Pricing")]),
        segments=[Segment(index=i, text=line, start=10.0 * i, end=10.0 * i + 10) for i, line in enumerate(lines)],
    )
    embedder = document_embedder()
    embedder.warm_up()
    sentences = embedder.run(documents=SentenceSplitter().run(transcripts=[transcript])["documents"])["documents"]
    segmented = ThemeSegmenter(unit_words=15, min_theme_words=40).run(
        documents=sentences, transcripts=[transcript], theme_count=2
    )
    themes, documents = segmented["themes"], segmented["documents"]
    titled = ChapterTitler().run(themes=themes, documents=documents, transcripts=[transcript])
    print([theme.title for theme in titled["themes"]])  # ['The licence', 'Pricing']
    ```
    """

    def __init__(self, theme_share: float = 0.8, chapter_share: float = 0.6) -> None:
        """
        :param theme_share: the part of a theme's words that must lie in the chapter.
        :param chapter_share: the part of the chapter's words the theme must hold.
        """
        if not (0 < theme_share <= 1 and 0 < chapter_share <= 1):
            raise ValueError("theme_share and chapter_share must be in (0, 1]")
        self.theme_share = theme_share
        self.chapter_share = chapter_share

    @component.output_types(themes=list[Theme])
    def run(self, themes: list[Theme], documents: list[Document], transcripts: list[Transcript]) -> dict[str, Any]:
        """
        :param themes: the themes, titled or not, in the order `meta["theme"]` numbers them.
        :param documents: the sentence Documents with their `meta["theme"]` and `meta["chapter"]`.
        :param transcripts: the talks, whose `Talk.chapters` hold the titles.
        :returns: `themes`, a copy of each theme that fits a chapter, with the chapter's title.
        """
        titles = {}  # in time order, as `chapter_numbers` numbers them
        for transcript in transcripts:
            ordered = sorted(transcript.talk.chapters, key=lambda chapter: chapter.start)
            titles[transcript.talk.id] = [chapter.title for chapter in ordered]
        in_theme: dict[int, dict[tuple[str, int], int]] = defaultdict(lambda: defaultdict(int))
        in_chapter: dict[tuple[str, int], int] = defaultdict(int)
        for document in documents:
            chapter = document.meta.get("chapter")
            if chapter is None:
                continue
            key = (document.meta["talk_id"], int(chapter))
            words = int(document.meta.get("words") or len((document.content or "").split()))
            in_chapter[key] += words
            in_theme[document.meta["theme"]][key] += words
        out: list[Theme] = []
        for number, theme in enumerate(themes):
            counts = in_theme.get(number, {})
            total = sum(counts.values())
            title = theme.title
            if counts and len(theme.talk_ids) <= 1:
                key, words = max(counts.items(), key=lambda item: item[1])
                talk_titles = titles.get(key[0], [])
                fits = words >= self.theme_share * total and words >= self.chapter_share * in_chapter[key]
                if fits and key[1] < len(talk_titles):
                    title = talk_titles[key[1]]
            out.append(theme if title == theme.title else theme.model_copy(update={"title": title}))
        return {"themes": out}
