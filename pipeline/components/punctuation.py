"""Punctuation and casing restoration for transcripts without them (auto-captions, raw ASR output).

A small network trained on QMSum's training meetings (see `training/punctuation.py` and README, "Punctuation and
casing") reads the words, lower-cased and stripped of punctuation, and predicts for each word the mark that follows
it (none , . ?) and the word's own case (lower, Capitalised, UPPER, or a stored mixed form such as "iPhone"). A
word after a sentence end is capitalised. Words are never changed, added or dropped and segments keep their
times: only trailing punctuation and letter case differ, so quotes stay verbatim and the quote checker (which
compares words, ignoring case and punctuation) still finds them.

No packaged punctuation model fitted: the transformer punctuation models need a hub download and are 100× too slow
for the 5,000 words/s target on one core, so the network is ours (a word/suffix embedding, a convolution and a
two-layer bidirectional GRU; about 1.3 M parameters, stored as float16 in `pipeline/weights/punctuation.npz`). The
shipped network also reads context features from the first two layers of the packaged MiniLM encoder
(`pipeline.punctuation_context`; `NetworkShape.context`), which the package installs. A weights file may also hold
an ensemble of such networks, whose probabilities are averaged (the MiniLM features are computed once for all of
them), and MiniLM layer weights fine-tuned with them (`TUNED`), read instead of the packaged ones: the shipped file
holds two networks and MiniLM's second layer fine-tuned with both (float16, 8.3 MB in all).
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
from haystack import component

from pipeline.models import Segment, Transcript

RestoreMode = Literal["auto", "on", "off"]
RESTORE_MODES: tuple[str, ...] = ("auto", "on", "off")
PUNCTUATION = ("", ",", ".", "?")  # what follows a word; class 0 is none
CASES = ("lower", "capitalised", "upper", "mixed")
PAD, UNKNOWN = 0, 1
SUFFIX_BUCKETS = 2048
CONTEXT_DIM = 384  # MiniLM's hidden size (`pipeline.punctuation_context.DIM`)
WEIGHTS = "punctuation.npz"
TUNED = "minilm."  # prefix, in a weights file, of MiniLM context layer weights fine-tuned with the networks

_TRAILING = re.compile(r"[.,?!;:…]+$")
_SENTENCE_MARK = re.compile(r"[.!?…][\"'”’)\]]*$")
_DIGIT = re.compile(r"\d")
_LETTER = re.compile(r"[^\W\d_]")


@dataclass(frozen=True)
class NetworkShape:
    vocabulary: int
    word_dim: int = 64
    suffix_dim: int = 16
    conv_dim: int = 128
    hidden: int = 128
    layers: int = 1  # stacked bidirectional GRU layers
    dropout: float = 0.0  # on the features, in training only
    context: int = 0  # MiniLM layers read for context features (`pipeline.punctuation_context`); 0: none
    context_dim: int = 64  # their projection, beside the word and suffix embeddings


def lookup_key(word: str) -> str:
    """The vocabulary key of a word: lower case, trailing punctuation gone, every digit a 0."""
    return _DIGIT.sub("0", _TRAILING.sub("", word).lower())


def suffix_bucket(key: str) -> int:
    """A stable hash bucket of the word's last three characters (what the vocabulary misses: plurals, -ing, -ly)."""
    return zlib.crc32(key[-3:].encode("utf-8")) % SUFFIX_BUCKETS


def case_of(word: str) -> int:
    """The index in `CASES` of a word's written form (a word without letters counts as lower)."""
    letters = "".join(_LETTER.findall(word))
    if not letters or letters == letters.lower():
        return 0
    if len(letters) > 1 and letters == letters.upper():
        return 2
    if letters[0].isupper() and letters[1:] == letters[1:].lower():
        return 1
    return 3


def apply_case(word: str, case: int, mixed_forms: dict[str, str]) -> str:
    """The word in case `case`; its letters stay the same letters (see `_same_word`)."""
    if case == 1:
        return _capitalise(word)
    if case == 2:
        return _same_word(word, word.upper())
    if case == 3:
        form = mixed_forms.get(word.lower())
        return _same_word(word, form) if form is not None else _capitalise(word)
    return word


def _capitalise(word: str) -> str:
    for position, char in enumerate(word):
        if char.isalpha():
            return _same_word(word, word[:position] + char.upper() + word[position + 1 :])
    return word


def _same_word(word: str, cased: str) -> str:
    """`cased` when it differs from `word` in letter case only; else `word` ("ß".upper() is "SS": another word)."""
    return cased if len(cased) == len(word) and cased.lower() == word.lower() else word


def build_network(shape: NetworkShape) -> Any:
    """The torch module (torch imported here, so importing this module stays light)."""
    import torch
    from torch import nn

    class PunctuationNetwork(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.context_layers = shape.context
            self.words = nn.Embedding(shape.vocabulary, shape.word_dim, padding_idx=PAD)
            self.suffixes = nn.Embedding(SUFFIX_BUCKETS, shape.suffix_dim)
            inputs = shape.word_dim + shape.suffix_dim
            if shape.context:
                self.context = nn.Linear(CONTEXT_DIM, shape.context_dim)
                inputs += shape.context_dim
            self.conv = nn.Conv1d(inputs, shape.conv_dim, kernel_size=5, padding=2)
            self.gru = nn.GRU(
                shape.conv_dim, shape.hidden, num_layers=shape.layers, batch_first=True, bidirectional=True,
                dropout=shape.dropout if shape.layers > 1 else 0.0,
            )  # fmt: skip
            self.drop = nn.Dropout(shape.dropout)
            self.punctuation = nn.Linear(2 * shape.hidden + shape.conv_dim, len(PUNCTUATION))
            self.case = nn.Linear(2 * shape.hidden + shape.conv_dim, len(CASES))

        def forward(
            self, word_ids: torch.Tensor, suffix_ids: torch.Tensor, context: torch.Tensor | None = None
        ) -> tuple[torch.Tensor, torch.Tensor]:
            parts = [self.words(word_ids), self.suffixes(suffix_ids)]
            if shape.context:
                assert context is not None, "this network reads MiniLM context features"
                parts.append(self.context(context))
            x = torch.cat(parts, dim=-1)
            local = self.drop(torch.relu(self.conv(self.drop(x).transpose(1, 2))).transpose(1, 2))
            context, _ = self.gru(local)
            features = self.drop(torch.cat([context, local], dim=-1))
            return self.punctuation(features), self.case(features)

    return PunctuationNetwork()


class PunctuationModel:
    """The trained network (or networks, whose probabilities are averaged) with its vocabulary: `restore(words)`
    gives the same words, punctuated and cased."""

    window = 128  # words predicted per network row
    margin = 24  # context words on each side of a row, not predicted there
    rows_per_batch = 128  # rows the network sees at once (bounds memory on a huge transcript)

    def __init__(
        self, network: Any | list[Any], vocabulary: list[str], mixed_forms: dict[str, str], boundary_threshold: float,
        context_weights: dict[str, np.ndarray] | None = None,
    ) -> None:  # fmt: skip
        """`context_weights`: MiniLM context layer weights fine-tuned with the networks (transformers `BertModel`
        names, e.g. "encoder.layer.1.output.dense.weight"), read instead of the packaged ones; None: none."""
        # several networks (an ensemble, sharing the vocabulary): their probabilities are averaged
        self.networks = [n.eval() for n in (network if isinstance(network, list) else [network])]
        layers = {int(getattr(n, "context_layers", 0)) for n in self.networks}
        if len(layers) > 1:
            raise ValueError("the networks of an ensemble must read the same MiniLM context layers")
        self.context_layers = layers.pop()
        self.context_weights = context_weights or None
        self._encoder: Any = None
        self.index = {word: i for i, word in enumerate(vocabulary)}
        self.mixed_forms = mixed_forms
        self.boundary_threshold = boundary_threshold

    @classmethod
    def load(cls, path: Path | None = None) -> PunctuationModel:
        """From an `.npz` written by `save` (default: the one shipped in `pipeline/weights/`)."""
        import torch

        if path is None:
            with resources.as_file(resources.files("pipeline") / "weights" / WEIGHTS) as packaged:
                return cls.load(Path(packaged))
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["__meta__"]))
            names = [k for k in data.files if k != "__meta__" and not k.startswith(TUNED)]
            state = {k: torch.from_numpy(data[k].astype(np.float32)) for k in names}
            tuned = {k[len(TUNED) :]: data[k].astype(np.float32) for k in data.files if k.startswith(TUNED)}
        if "members" not in meta:  # one network, its parameters under their own names
            network = build_network(NetworkShape(**meta["shape"]))
            network.load_state_dict(state)
            return cls(network, meta["vocabulary"], meta["mixed_forms"], float(meta["boundary_threshold"]), tuned)
        networks = []
        for member, shape in enumerate(meta["members"]):  # an ensemble: member k's parameters under "k.name"
            network = build_network(NetworkShape(**shape))
            prefix = f"{member}."
            network.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})
            networks.append(network)
        return cls(networks, meta["vocabulary"], meta["mixed_forms"], float(meta["boundary_threshold"]), tuned)

    @staticmethod
    def save(
        path: Path, network: Any | list[Any], shape: NetworkShape | list[NetworkShape], vocabulary: list[str],
        mixed_forms: dict[str, str], boundary_threshold: float, provenance: dict[str, Any],
        context_weights: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        """One network and its shape, or an ensemble: a list of networks and a list of their shapes; with the
        MiniLM context layer weights fine-tuned with them, if any (stored under `TUNED`, float16 as the rest)."""
        meta: dict[str, Any] = {
            "vocabulary": vocabulary,
            "mixed_forms": mixed_forms,
            "boundary_threshold": boundary_threshold,
            "provenance": provenance,
        }
        if isinstance(network, list):
            assert isinstance(shape, list) and len(shape) == len(network)
            meta["members"] = [s.__dict__ for s in shape]
            states = {f"{k}.{name}": v for k, n in enumerate(network) for name, v in n.state_dict().items()}
        else:
            assert isinstance(shape, NetworkShape)
            meta["shape"] = shape.__dict__
            states = network.state_dict()
        states = {**states, **{TUNED + k: v for k, v in (context_weights or {}).items()}}
        arrays = {
            k: np.asarray(v.detach().cpu() if hasattr(v, "detach") else v).astype(np.float16) for k, v in states.items()
        }
        np.savez_compressed(path, __meta__=np.array(json.dumps(meta)), **arrays)

    def features(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        keys = [lookup_key(w) for w in words]
        word_ids = np.fromiter((self.index.get(k, UNKNOWN) for k in keys), dtype=np.int64, count=len(keys))
        suffix_ids = np.fromiter((suffix_bucket(k) for k in keys), dtype=np.int64, count=len(keys))
        return word_ids, suffix_ids

    def context_features(self, words: list[str]) -> np.ndarray | None:
        """The MiniLM context features of `words` (lower-cased, as the network learnt them), or None when the
        networks read none; the encoder is loaded on first use."""
        if not self.context_layers:
            return None
        if self._encoder is None:
            from pipeline.punctuation_context import ContextEncoder

            self._encoder = ContextEncoder(self.context_layers, tuned=self.context_weights)
        return self._encoder.encode([w.lower() for w in words])

    def predict(self, words: list[str], context: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per word: the probabilities of each following mark (n × 4) and of each case (n × 4). `context`: the
        words' context features when already computed (training caches them), else computed here if needed."""
        import torch

        n = len(words)
        if n == 0:
            return np.zeros((0, len(PUNCTUATION))), np.zeros((0, len(CASES)))
        word_ids, suffix_ids = self.features(words)
        if context is None:
            context = self.context_features(words)
        starts = list(range(0, n, self.window))
        width = self.window + 2 * self.margin
        rows_w = np.zeros((len(starts), width), dtype=np.int64)
        rows_s = np.zeros((len(starts), width), dtype=np.int64)
        rows_c = None if context is None else np.zeros((len(starts), width, context.shape[1]), dtype=np.float32)
        for row, start in enumerate(starts):
            lo, hi = max(0, start - self.margin), min(n, start + self.window + self.margin)
            offset = lo - (start - self.margin)
            rows_w[row, offset : offset + hi - lo] = word_ids[lo:hi]
            rows_s[row, offset : offset + hi - lo] = suffix_ids[lo:hi]
            if rows_c is not None and context is not None:
                rows_c[row, offset : offset + hi - lo] = context[lo:hi]
        punct_parts, case_parts = [], []
        inner = slice(self.margin, self.margin + self.window)
        with torch.inference_mode():
            for first in range(0, len(starts), self.rows_per_batch):
                rows = slice(first, first + self.rows_per_batch)
                words_in, suffixes_in = torch.from_numpy(rows_w[rows]), torch.from_numpy(rows_s[rows])
                context_in = None if rows_c is None else torch.from_numpy(rows_c[rows])
                punct_sum, case_sum = 0.0, 0.0
                for network in self.networks:
                    punct, case = network(words_in, suffixes_in, context_in)
                    punct_sum = punct_sum + torch.softmax(punct[:, inner], dim=-1)
                    case_sum = case_sum + torch.softmax(case[:, inner], dim=-1)
                count = len(self.networks)
                punct_parts.append((punct_sum / count).reshape(-1, len(PUNCTUATION)).numpy())
                case_parts.append((case_sum / count).reshape(-1, len(CASES)).numpy())
        return np.concatenate(punct_parts)[:n], np.concatenate(case_parts)[:n]

    def restore(
        self, words: list[str], sentence_ends: set[int] | frozenset[int] = frozenset(),
        probabilities: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> list[str]:  # fmt: skip
        """The words with the predicted mark after each and the predicted case; `sentence_ends` are positions
        known to end a sentence (a change of speaker). A word that already has capitals keeps them.
        `probabilities`: `predict`'s output for these words when already computed (to try thresholds)."""
        bare = [_TRAILING.sub("", w) or w for w in words]
        punct, case = probabilities if probabilities is not None else self.predict(bare)
        out: list[str] = []
        start, last = True, len(bare) - 1
        for i, word in enumerate(bare):
            if case_of(word) == 0:  # lower case in the input: the model decides; otherwise the source did
                word = apply_case(word, int(case[i].argmax()), self.mixed_forms)
            if start:
                word = _capitalise(word)
            boundary = punct[i, 2] + punct[i, 3] >= self.boundary_threshold or i in sentence_ends or i == last
            mark = ("?" if punct[i, 3] > punct[i, 2] else ".") if boundary else ("," if punct[i, 1] >= 0.5 else "")
            out.append(word + mark)
            start = boundary
        return out


def needs_restoration(
    transcript: Transcript, min_marks_per_100_words: float = 2.0, min_capitalised: float = 0.03
) -> bool:
    """True for English (or unknown-language) text without real punctuation or casing: fewer than
    `min_marks_per_100_words` sentence marks per 100 words (written English has 5-8) or fewer than `min_capitalised` of
    its words capitalised ("I" and sentence starts alone give about 8%). Auto-captions are all lower case and
    unpunctuated. The model learnt English only, so a talk known to be in another language is left as it is."""
    language = (transcript.talk.language or "en").lower()
    if not language.startswith("en"):
        return False
    tokens = [token for segment in transcript.segments for token in segment.text.split()]
    if len(tokens) < 5:
        return False
    marks = sum(1 for token in tokens if _SENTENCE_MARK.search(token))
    capitalised = sum(1 for token in tokens if case_of(token) != 0)
    return 100 * marks / len(tokens) < min_marks_per_100_words or capitalised / len(tokens) < min_capitalised


def restore_segments(model: PunctuationModel, segments: list[Segment]) -> list[Segment]:
    """The segments with restored text, restored across segment boundaries (a sentence may span several); each
    keeps its own words, times and speaker. A change of speaker ends a sentence."""
    words: list[str] = []
    owners: list[int] = []
    ends: set[int] = set()
    previous_speaker: str | None = None
    for position, segment in enumerate(segments):
        tokens = segment.text.split()
        if tokens and words and segment.speaker and previous_speaker and segment.speaker != previous_speaker:
            ends.add(len(words) - 1)
        words += tokens
        owners += [position] * len(tokens)
        if tokens and segment.speaker:
            previous_speaker = segment.speaker
    restored = model.restore(words, ends)
    texts: list[list[str]] = [[] for _ in segments]
    for owner, word in zip(owners, restored, strict=True):
        texts[owner].append(word)
    return [
        segment.model_copy(update={"text": " ".join(texts[position])}) if texts[position] else segment.model_copy()
        for position, segment in enumerate(segments)
    ]


@component
class PunctuationRestorer:
    """Restores punctuation and casing of a transcript that has none (see module doc); with `mode="auto"` only
    when `needs_restoration` says so, `"on"` always, `"off"` never. `restored` tells whether it did; the talk's
    `punctuation` records it (`"restored"`, or `"original"`).

    Usage example:
    ```python
    from pipeline.components.punctuation import PunctuationRestorer
    from pipeline.models import Segment, Talk, Transcript

    restorer = PunctuationRestorer(mode="auto")
    restorer.warm_up()
    transcript = Transcript(
        talk=Talk(id="t"),
        segments=[
            Segment(index=0, text="so what is pricing really", start=0.0, end=2.1),
            Segment(index=1, text="i think it is the first thing a customer learns about you", start=2.1, end=5.0),
        ],
    )
    result = restorer.run(transcript=transcript)
    print(result["restored"], [segment.text for segment in result["transcript"].segments])
    # True ['So what is pricing really?', 'I think it is the first thing a customer learns about you.']
    ```
    """

    def __init__(self, mode: RestoreMode = "auto", weights: str | None = None) -> None:
        """:param mode: "auto" (restore when the text has no punctuation or casing), "on" or "off".
        :param weights: an `.npz` from `training/punctuation.py`; default: the packaged one."""
        if mode not in RESTORE_MODES:
            raise ValueError(f"restore mode must be auto, on or off, not {mode!r}")
        self.mode = mode
        self.weights = weights
        self._model: PunctuationModel | None = None

    def warm_up(self) -> None:
        """Loads the network; the MiniLM layers it reads load on the first restoration, so an ingest of talks that
        need none (punctuated text, mode "auto") never pays for them."""
        if self._model is None and self.mode != "off":
            self._model = PunctuationModel.load(Path(self.weights) if self.weights else None)

    @component.output_types(transcript=Transcript, restored=bool)
    def run(self, transcript: Transcript) -> dict[str, Any]:
        """
        :param transcript: the cleaned talk.
        :returns: `transcript`, a copy (restored, or as given) whose talk records its `punctuation`, and `restored`,
            whether punctuation was restored.
        """
        restore = self.mode == "on" or (self.mode == "auto" and needs_restoration(transcript))
        if not restore:  # a talk restored before (and stored so) stays marked restored
            talk = transcript.talk.model_copy(update={"punctuation": transcript.talk.punctuation or "original"})
            return {"transcript": transcript.model_copy(update={"talk": talk}), "restored": False}
        self.warm_up()
        assert self._model is not None
        segments = restore_segments(self._model, transcript.segments)
        talk = transcript.talk.model_copy(update={"punctuation": "restored"})
        return {"transcript": transcript.model_copy(update={"talk": talk, "segments": segments}), "restored": True}
