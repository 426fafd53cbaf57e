"""A talk's sentences as Haystack Documents, and their segmentation into themes over sentence embeddings.

Segmentation (see `bench/themes_qmsum.py` for how the settings were chosen): consecutive sentences are pooled
into units of about `unit_words` words; each talk is cut into contiguous blocks, either by dynamic programming
(the split minimising the units' squared distance to their block's centroid, "dp") or by TextTiling-style depth
scores on the similarity of adjacent unit windows ("tiling"). Blocks with very similar centroids are then merged
into one theme with several spans: a theme the talk comes back to, or, for an event, a theme several talks share.

When the uploader wrote chapters (`Talk.chapters`), they come first: a talk is cut at its chapter starts, and only
inside a chapter long enough for two themes does the segmentation above cut further. Neighbouring chapters are
joined only when the content says so: a chapter too short to be a theme joins the neighbour it is most alike, and
when there are more chapters than themes wanted, the most alike neighbours are joined first.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import numpy as np
from haystack import Document, component

from pipeline.components.takeaways import mean_embedding
from pipeline.models import Chapter, Span, Talk, Theme, Transcript
from pipeline.text import SPEAKER_LABEL, split_sentences

SEGMENTATION_METHODS = ("dp", "tiling")


def is_main_speaker(talk: Talk, speaker: str | None) -> bool:
    """Whether a segment's speaker is one of the talk's speakers (not someone in the audience)."""
    return speaker is None or not talk.speakers or speaker in talk.speakers


def sentence_documents(transcript: Transcript, max_words: int = 40) -> list[Document]:
    """One Document per sentence, split within each speaker's turn; a sentence may span several segments."""
    talk = transcript.talk
    documents: list[Document] = []
    segments = [segment for segment in transcript.segments if segment.text.strip()]
    turn: list = []
    for segment in [*segments, None]:
        if turn and (segment is None or segment.speaker != turn[-1].speaker):
            documents.extend(_turn_sentences(talk, turn, len(documents), max_words))
            turn = []
        if segment is not None:
            turn.append(segment)
    return documents


def _turn_sentences(talk: Talk, turn: list, position: int, max_words: int) -> list[Document]:
    text, offsets = "", []
    for segment in turn:
        text += (" " if text else "") + segment.text.strip()
        offsets.append(len(text))  # end offset of each segment in the joined text
    documents, cursor = [], 0
    for sentence in split_sentences(text, max_words=max_words):
        begin = text.find(sentence, cursor)
        if begin < 0:  # split_sentences only re-joins whitespace, so this is a safety net
            begin = cursor
        end = begin + len(sentence)
        cursor = end
        label = SPEAKER_LABEL.match(sentence)  # an all-caps `NAME: ` label left in the text by the source
        if label and label.end() < len(sentence):
            sentence, begin = sentence[label.end() :], begin + label.end()
        first = next(i for i, stop in enumerate(offsets) if begin < stop)
        last = next((i for i, stop in enumerate(offsets) if end <= stop), len(turn) - 1)
        first_segment, last_segment = turn[first], turn[max(first, last)]
        meta = {
            "talk_id": talk.id,
            "talk_title": talk.title,
            "position": position + len(documents),
            "first_segment": first_segment.index,
            "last_segment": last_segment.index,
            "start": first_segment.start,
            "end": last_segment.end,
            "speaker": first_segment.speaker or (talk.speakers[0] if len(talk.speakers) == 1 else None),
            "main_speaker": is_main_speaker(talk, first_segment.speaker),
            "youtube_id": talk.youtube_id,
            "words": len(sentence.split()),
        }
        documents.append(Document(id=f"{talk.id}:s{meta['position']}", content=sentence, meta=meta))
    return documents


@component
class SentenceSplitter:
    """Splits transcripts into sentence Documents (`meta`: talk, segment range, times, speaker, position).

    Usage example:
    ```python
    from pipeline.components.segmenter import SentenceSplitter
    from pipeline.models import Segment, Talk, Transcript

    transcript = Transcript(
        talk=Talk(id="demo", speakers=["Ada"]),
        segments=[
            Segment(index=0, text="We picked Apache. Companies can", start=0.0, end=4.0),
            Segment(index=1, text="contribute without a lawyer.", start=4.0, end=7.0),
        ],
    )
    documents = SentenceSplitter().run(transcripts=[transcript])["documents"]
    print([(d.content, d.meta["first_segment"], d.meta["last_segment"]) for d in documents])
    # [('We picked Apache.', 0, 0), ('Companies can contribute without a lawyer.', 0, 1)]
    ```
    """

    def __init__(self, max_words: int = 40) -> None:
        """:param max_words: longer unpunctuated runs (auto-captions) are cut into pieces of at most this many."""
        if max_words < 5:
            raise ValueError("max_words must be at least 5")
        self.max_words = max_words

    @component.output_types(documents=list[Document])
    def run(self, transcripts: list[Transcript]) -> dict[str, Any]:
        """
        :param transcripts: the talks, cleaned.
        :returns: `documents`, one a sentence, talk after talk, in the order said.
        """
        return {"documents": [doc for t in transcripts for doc in sentence_documents(t, self.max_words)]}


def unit_ranges(word_counts: list[int], unit_words: int) -> list[tuple[int, int]]:
    """Consecutive sentences pooled into units of at least `unit_words` words, as [first, last) ranges."""
    ranges: list[tuple[int, int]] = []
    first, total = 0, 0
    for i, count in enumerate(word_counts):
        total += count
        if total >= unit_words:
            ranges.append((first, i + 1))
            first, total = i + 1, 0
    if first < len(word_counts):
        if ranges and total < unit_words / 2:
            ranges[-1] = (ranges[-1][0], len(word_counts))
        else:
            ranges.append((first, len(word_counts)))
    return ranges


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


def segment_costs(vectors: np.ndarray, min_size: int = 1) -> np.ndarray:
    """cost[i, j]: squared distance of units i..j-1 to their centroid (inf for blocks shorter than `min_size`)."""
    n = len(vectors)
    sums = np.vstack([np.zeros((1, vectors.shape[1])), np.cumsum(vectors, axis=0)])
    squares = np.concatenate([[0.0], np.cumsum(np.einsum("ij,ij->i", vectors, vectors))])
    gram = sums @ sums.T
    norms = np.diag(gram)
    lengths = np.arange(n + 1)[None, :] - np.arange(n + 1)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = (norms[None, :] + norms[:, None] - 2 * gram) / lengths
    cost = squares[None, :] - squares[:, None] - spread
    cost[lengths < max(1, min_size)] = np.inf
    return cost


def dp_segmentations(vectors: np.ndarray, max_blocks: int, min_size: int = 1) -> dict[int, tuple[list[int], float]]:
    """For each k ≤ `max_blocks`: the block starts (after 0) of the best split into k blocks, and its cost."""
    n = len(vectors)
    cost = segment_costs(vectors, min_size)
    best = cost[0].copy()  # best[j]: cost of units 0..j-1 in k blocks
    back: list[np.ndarray] = []
    results: dict[int, tuple[list[int], float]] = {1: ([], float(best[n]))}
    for k in range(2, min(max_blocks, n // max(1, min_size)) + 1):
        totals = best[:, None] + cost  # totals[i, j]: k-1 blocks up to i, then block i..j-1
        back.append(np.argmin(totals, axis=0))
        best = totals[back[-1], np.arange(n + 1)]
        if not np.isfinite(best[n]):
            break
        starts, j = [], n
        for pointers in reversed(back):
            j = int(pointers[j])
            starts.append(j)
        results[k] = (sorted(starts), float(best[n]))
    return results


def choose_block_count(vectors: np.ndarray, splits: dict, min_size: int, min_excess: float, trials: int = 3) -> int:
    """The number of blocks by how much better than chance the splits are: each block count's drop in spread
    (as a share of the 1-block spread) minus the mean drop on the same units shuffled, less `min_excess` per
    extra block; the count where that is highest."""
    rng = np.random.default_rng(0)
    limit = max(splits)
    null = np.zeros(limit + 1)
    for _ in range(trials):
        shuffled = dp_segmentations(vectors[rng.permutation(len(vectors))], limit, min_size)
        base = shuffled[1][1] or 1.0
        for k in range(1, limit + 1):
            null[k] += 1 - shuffled.get(k, shuffled[max(shuffled)])[1] / base
    null /= trials
    base = splits[1][1] or 1.0
    scores = {k: (1 - cost / base) - null[k] - min_excess * (k - 1) for k, (_, cost) in splits.items()}
    return max(scores, key=lambda k: (round(scores[k], 9), -k))


def depth_scores(vectors: np.ndarray, window: int) -> np.ndarray:
    """TextTiling depth of each gap (before unit 1..n-1) in the similarity of the windows either side."""
    n = len(vectors)
    if n < 2:
        return np.zeros(0)
    sims = np.empty(n - 1)
    for gap in range(1, n):
        left = vectors[max(0, gap - window) : gap].mean(axis=0)
        right = vectors[gap : gap + window].mean(axis=0)
        sims[gap - 1] = left @ right / ((np.linalg.norm(left) * np.linalg.norm(right)) or 1.0)
    if len(sims) >= 3:
        sims = np.convolve(np.pad(sims, 1, mode="edge"), np.ones(3) / 3, mode="valid")
    depths = np.empty_like(sims)
    for i, value in enumerate(sims):
        depths[i] = (sims[: i + 1].max() - value) + (sims[i:].max() - value)
    return depths


def tiling_starts(vectors: np.ndarray, window: int, min_size: int, blocks: int | None, cutoff: float) -> list[int]:
    """Block starts at the deepest similarity valleys: `blocks - 1` of them, or those deeper than
    mean + `cutoff` × std of the depths; no two closer than `min_size` units."""
    depths = depth_scores(vectors, window)
    if not len(depths):
        return []
    threshold = depths.mean() + cutoff * depths.std()
    chosen: list[int] = []
    for gap in np.argsort(-depths):
        start = int(gap) + 1
        if blocks is not None and len(chosen) >= blocks - 1:
            break
        if blocks is None and depths[gap] <= threshold:
            break
        if start < min_size or len(vectors) - start < min_size:
            continue
        if all(abs(start - other) >= min_size for other in chosen):
            chosen.append(start)
    return sorted(chosen)


def block_affinities(
    means: np.ndarray,
    talks: list[int],
    talk_means: np.ndarray,
    event_mean: np.ndarray,
    recur_similarity: float,
    cross_similarity: float,
) -> np.ndarray:
    """How far above its merge threshold each pair of blocks is. Within a talk, blocks are compared after
    taking away the talk's mean sentence (what all its blocks share); across talks, after taking away the mean
    sentence of all talks. Neighbouring blocks of one talk get -inf: the segmentation set them apart."""
    talk_ids = np.asarray(talks)
    within = normalise_rows(means - talk_means[talk_ids])
    across = normalise_rows(means - event_mean)
    same = talk_ids[:, None] == talk_ids[None, :]
    scores = np.where(same, within @ within.T - recur_similarity, across @ across.T - cross_similarity)
    adjacent = same & (np.abs(np.arange(len(means))[:, None] - np.arange(len(means))[None, :]) == 1)
    scores[adjacent] = -np.inf
    return scores


def merge_blocks(affinities: np.ndarray, target: int | None = None) -> list[int]:
    """Average-linkage grouping of blocks while the best pair of groups has a positive mean affinity, or, with
    `target`, until `target` groups are left (neighbouring blocks then allowed). Returns each block's group."""
    groups = [[i] for i in range(len(affinities))]
    finite = np.where(np.isfinite(affinities), affinities, np.nan)
    while len(groups) > 1 and (target is None or len(groups) > target):
        best, pair = -np.inf, None
        for x in range(len(groups)):
            for y in range(x + 1, len(groups)):
                cell = affinities[np.ix_(groups[x], groups[y])]
                if target is not None:
                    score = float(np.nanmean(finite[np.ix_(groups[x], groups[y])])) if np.isfinite(cell).any() else -1e9
                else:
                    score = float(cell.mean())
                if score > best:
                    best, pair = score, (x, y)
        if pair is None or (target is None and best < 0):
            break
        x, y = pair
        groups[x] = sorted(groups[x] + groups[y])
        del groups[y]
    labels = [0] * len(affinities)
    for number, group in enumerate(groups):
        for block in group:
            labels[block] = number
    return labels


@component
class ThemeSegmenter:
    """Cuts each talk's embedded sentences into contiguous blocks and groups the blocks into themes.

    Outputs the documents with `meta["theme"]` (index into `themes`) and `meta["block"]`, and the themes (spans
    and talk ids; titles still empty), ordered by first appearance. For one talk, `theme_count=N` gives exactly N
    contiguous themes (fewer when the talk is too short); otherwise the number of blocks follows the talk's
    length (at most one per `min_theme_words` words) and its similarity structure, and non-adjacent blocks
    that are very alike become one theme. For several talks, blocks alike across talks become one theme, and
    `theme_count=N` merges down to N.

    Usage example:
    ```python
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
    print([(span.first_segment, span.last_segment) for theme in segmented["themes"] for span in theme.spans])
    # [(0, 1), (2, 5)]
    ```
    """

    def __init__(
        self,
        method: str = "dp",
        unit_words: int = 40,
        min_theme_words: int = 400,
        max_themes: int = 8,
        min_excess: float = 0.008,
        window: int = 3,
        cutoff: float = 0.0,
        recur_similarity: float = 0.3,
        cross_talk_similarity: float = 0.35,
        max_units: int = 1000,
    ) -> None:
        """
        :param method: "dp" (optimal split by within-block spread) or "tiling" (TextTiling depth scores).
        :param unit_words: sentences are pooled into units of at least this many words.
        :param min_theme_words: a block has at least this many words (about three minutes of speech).
        :param max_themes: at most this many blocks per talk when the number is automatic.
        :param min_excess: ("dp") what each extra block must gain over chance (see `choose_block_count`).
        :param window: ("tiling") units compared on either side of a gap.
        :param cutoff: ("tiling") a gap is a boundary when its depth exceeds mean + cutoff × std.
        :param recur_similarity: similarity (talk mean removed) at which non-adjacent blocks are one theme.
        :param cross_talk_similarity: similarity (event mean removed) at which blocks of two talks are one theme.
        :param max_units: a talk longer than `max_units` × `unit_words` words gets longer units, so segmenting it
            stays bounded in time and memory (a 3-hour talk has about 700 units of 40 words).
        """
        if method not in SEGMENTATION_METHODS:
            raise ValueError(f"method must be one of {', '.join(SEGMENTATION_METHODS)}")
        if min(unit_words, min_theme_words, max_themes, window, max_units) < 1:
            raise ValueError("unit_words, min_theme_words, max_themes, window and max_units must be at least 1")
        self.method = method
        self.unit_words = unit_words
        self.min_theme_words = min_theme_words
        self.max_themes = max_themes
        self.min_excess = min_excess
        self.window = window
        self.cutoff = cutoff
        self.recur_similarity = recur_similarity
        self.cross_talk_similarity = cross_talk_similarity
        self.max_units = max_units

    @component.output_types(documents=list[Document], themes=list[Theme])
    def run(
        self, documents: list[Document], transcripts: list[Transcript], theme_count: int | None = None
    ) -> dict[str, Any]:
        """
        :param documents: the talks' sentence Documents (`SentenceSplitter`'s), embedded.
        :param transcripts: the talks, in order (spans take their segments' times from them).
        :param theme_count: the number of themes wanted; None for automatic.
        :returns: `documents`, copies with `meta["theme"]` and `meta["block"]` (and `meta["chapter"]` when the talk
            has chapters), and `themes`, untitled, with their spans and talk ids.
        """
        themes = theme_count
        if themes is not None and themes < 1:
            raise ValueError("theme_count must be at least 1")
        by_talk: dict[str, list[Document]] = defaultdict(list)
        for document in documents:
            by_talk[document.meta["talk_id"]].append(document)
        ordered = [t for t in transcripts if by_talk.get(t.talk.id)]
        if not ordered:
            return {"documents": [], "themes": []}
        single = len(ordered) == 1
        blocks: list[list[Document]] = []
        talks: list[int] = []
        talk_means = []
        chapters: dict[str | None, int] = {}  # sentence id → the uploader's chapter it is in
        for number, transcript in enumerate(ordered):
            talk_docs = sorted(by_talk[transcript.talk.id], key=lambda d: d.meta["position"])
            talk_means.append(mean_embedding(talk_docs))
            chapter_of = chapter_numbers(talk_docs, transcript.talk.chapters)
            chapters.update({doc.id: chapter for doc, chapter in zip(talk_docs, chapter_of, strict=False)})
            for first, last in self.chaptered_blocks(talk_docs, chapter_of, themes if single else None):
                blocks.append(talk_docs[first:last])
                talks.append(number)
        if single and themes is not None:
            labels = list(range(len(blocks)))
        else:
            means = np.stack([mean_embedding(block) for block in blocks])
            event_mean = np.asarray([d.embedding for d in documents], dtype=np.float64).mean(axis=0)
            affinities = block_affinities(
                means, talks, np.stack(talk_means), event_mean, self.recur_similarity, self.cross_talk_similarity
            )
            labels = merge_blocks(affinities, themes)
        first_seen = list(dict.fromkeys(labels))  # blocks are in talk order, so this is order of appearance
        labels = [first_seen.index(label) for label in labels]
        out_docs: list[Document] = []
        for number, (block, label) in enumerate(zip(blocks, labels, strict=True)):
            for doc in block:
                meta = {**doc.meta, "theme": label, "block": number}
                if doc.id in chapters:
                    meta["chapter"] = chapters[doc.id]
                out_docs.append(Document(id=doc.id, content=doc.content, meta=meta, embedding=doc.embedding))
        segments = {t.talk.id: t.segments for t in ordered}
        found = [
            _theme([b for b, label in zip(blocks, labels, strict=True) if label == theme], blocks, segments)
            for theme in range(len(first_seen))
        ]
        return {"documents": out_docs, "themes": found}

    def chaptered_blocks(
        self, documents: list[Document], chapter_of: list[int], requested: int | None = None
    ) -> list[tuple[int, int]]:
        """[first, last) sentence ranges of one talk's blocks, never across a chapter boundary unless the content
        says so (see the module docstring); without chapters, `blocks`."""
        starts = [i for i in range(1, len(chapter_of)) if chapter_of[i] != chapter_of[i - 1]]
        if not starts:
            return self.blocks(documents, requested)
        groups = list(itertools.pairwise([0, *starts, len(documents)]))
        words = [int(d.meta.get("words") or len((d.content or "").split())) for d in documents]
        total = sum(words)
        limit = requested or max(1, min(self.max_themes, total // self.min_theme_words))
        shortest = max(self.unit_words, self.min_theme_words // 4)

        def size(group: tuple[int, int]) -> int:
            return sum(words[group[0] : group[1]])

        while len(groups) > 1:
            short = [n for n, group in enumerate(groups) if size(group) < shortest]
            if not short and len(groups) <= limit:
                break
            centroids = [_centroid(documents[a:b]) for a, b in groups]
            likeness = [float(centroids[n] @ centroids[n + 1]) for n in range(len(groups) - 1)]
            if short:  # the shortest chapter joins the neighbour it is most alike
                n = min(short, key=lambda k: size(groups[k]))
                pair = max((p for p in (n - 1, n) if 0 <= p < len(likeness)), key=lambda p: likeness[p])
            else:  # too many chapters: join the most alike neighbours
                pair = max(range(len(likeness)), key=lambda p: likeness[p])
            groups[pair : pair + 2] = [(groups[pair][0], groups[pair + 1][1])]
        extra = {n: 0 for n in range(len(groups))}
        budget = (requested or limit) - len(groups)
        while budget > 0:  # more themes than chapters: cut the chapters with the most words per block
            n = max(extra, key=lambda k: size(groups[k]) / (extra[k] + 1))
            if requested is None and size(groups[n]) / (extra[n] + 1) < 2 * self.min_theme_words:
                break
            extra[n] += 1
            budget -= 1
        found: list[tuple[int, int]] = []
        for n, (first, last) in enumerate(groups):
            inner = [(0, last - first)]
            if extra[n] and requested is None:
                inner = self.blocks(documents[first:last])  # as many as the chapter's content shows, up to its budget
                if len(inner) > extra[n] + 1:
                    inner = self.blocks(documents[first:last], extra[n] + 1)
            elif extra[n]:
                inner = self.blocks(documents[first:last], extra[n] + 1)
            found += [(first + a, first + b) for a, b in inner]
        return found

    def blocks(self, documents: list[Document], requested: int | None = None) -> list[tuple[int, int]]:
        """[first, last) sentence ranges of one talk's contiguous blocks: `requested` of them, or automatic."""
        words = [int(d.meta.get("words") or len((d.content or "").split())) for d in documents]
        total = sum(words)
        if not documents:
            return []
        # the dynamic programme is quadratic in units: a very long talk gets fewer, longer units
        unit_words = max(self.unit_words, -(-total // self.max_units))
        units = unit_ranges(words, unit_words)
        limit = requested or max(1, min(self.max_themes, total // self.min_theme_words))
        min_size = max(1, round(self.min_theme_words / max(unit_words, total / len(units))))
        if requested:
            min_size = max(1, min(min_size, len(units) // requested))
        if limit == 1 or len(units) < 2 * min_size:
            return [(0, len(documents))]
        vectors = normalise_rows(np.stack([_centroid(documents[a:b]) for a, b in units]))
        if self.method == "dp":
            splits = dp_segmentations(vectors, limit, min_size)
            count = max(splits) if requested else choose_block_count(vectors, splits, min_size, self.min_excess)
            starts = splits[count][0]
        else:
            starts = tiling_starts(vectors, self.window, min_size, requested, self.cutoff)[: limit - 1]
        bounds = [0, *[units[s][0] for s in starts], len(documents)]
        return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


def chapter_numbers(documents: list[Document], chapters: list[Chapter], tolerance: float = 1.0) -> list[int]:
    """The chapter each sentence is in (by its start time; a sentence starting up to `tolerance` seconds before a
    chapter counts as in it, as caption cues start a little early), or [] when the talk has no usable chapters."""
    starts = sorted(chapter.start for chapter in chapters)
    times = [d.meta.get("start") for d in documents]
    if len(starts) < 2 or any(time is None for time in times):
        return []
    return [max(0, sum(1 for start in starts if time + tolerance >= start) - 1) for time in times]


def _centroid(documents: list[Document]) -> np.ndarray:
    """A unit's direction: its sentences' embeddings weighted by the square root of their length."""
    vectors = np.asarray([d.embedding for d in documents], dtype=np.float64)
    weights = np.sqrt([max(1, int(d.meta.get("words") or 1)) for d in documents])
    mean = (vectors * weights[:, None]).sum(axis=0)
    return mean / (np.linalg.norm(mean) or 1.0)


def _theme(own_blocks: list[list[Document]], all_blocks: list[list[Document]], segments: dict) -> Theme:
    """A theme with one span per run of its blocks; a span ends before the segment where its talk's next block
    begins (a sentence can end inside the segment that opens the next block)."""
    spans: list[Span] = []
    for block in own_blocks:
        talk_id = block[0].meta["talk_id"]
        talk_segments = segments[talk_id]
        first, last = block[0].meta["first_segment"], block[-1].meta["last_segment"]
        following = [
            b[0].meta["first_segment"]
            for b in all_blocks
            if b[0].meta["talk_id"] == talk_id and b[0].meta["position"] > block[-1].meta["position"]
        ]
        if following and min(following) <= last:
            last = max(first, min(following) - 1)
        if spans and spans[-1].talk_id == talk_id and spans[-1].last_segment + 1 >= first:
            spans[-1] = spans[-1].model_copy(update={"last_segment": last, "end": talk_segments[last].end})
            continue
        spans.append(
            Span(
                talk_id=talk_id,
                first_segment=first,
                last_segment=last,
                start=talk_segments[first].start,
                end=talk_segments[last].end,
            )
        )
    return Theme(title="", spans=spans, talk_ids=list(dict.fromkeys(span.talk_id for span in spans)))
