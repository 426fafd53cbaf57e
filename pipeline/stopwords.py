"""scikit-learn's English stop words (the Glasgow IR group's list) without importing scikit-learn: `import sklearn`
alone costs about a second of CPU (scipy, joblib), and the question path (`ExtractiveAnswerWriter`, through
`pipeline.components.keyphrases`) needs only this list. The list lives in a data-only module,
`sklearn/feature_extraction/_stop_words.py`, which is loaded by its path (its package's `__init__` is what is heavy);
if scikit-learn ever moves it, the usual import is used."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def _english_stop_words() -> frozenset[str]:
    spec = importlib.util.find_spec("sklearn")  # finds the package without running its __init__
    if spec is not None and spec.origin is not None:
        path = Path(spec.origin).parent / "feature_extraction" / "_stop_words.py"
        data = importlib.util.spec_from_file_location("_talks_sklearn_stop_words", path)
        if path.is_file() and data is not None and data.loader is not None:
            module = importlib.util.module_from_spec(data)
            data.loader.exec_module(module)
            words = getattr(module, "ENGLISH_STOP_WORDS", None)
            if isinstance(words, frozenset) and words:
                return words
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


ENGLISH_STOP_WORDS: frozenset[str] = _english_stop_words()
