"""talks: conference talks → searchable, themed, citable knowledge."""

import os

# Before any Haystack import: no telemetry, and nothing fetched from a model hub at run time.
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Haystack imports torch as soon as it is imported; torch is imported for real only when something uses it (a torch
# model: ingest, recap, the torch query encoder), so `talks ask` with the ONNX encoder and `talks list` skip it.
from pipeline.deferred import defer_import

defer_import("torch")

__all__ = ["Library", "Step", "TalksError"]


def __getattr__(name: str):
    """`from pipeline import Library` (the library API, `pipeline.api`), imported on first use so that
    `import pipeline` stays cheap."""
    if name in __all__:
        from pipeline import api

        return getattr(api, name)
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
