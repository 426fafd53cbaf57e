"""YAML without anchors and aliases, for sidecars and manifests.

PyYAML's `SafeLoader` builds no objects of arbitrary classes, but it does expand aliases: a few hundred bytes of
nested `&a [*b, *b, ...]` ("billion laughs") become gigabytes. Metadata files never need anchors, so
`StrictLoader` refuses the first anchor or alias (and so `<<` merge keys) it meets, naming its line.
"""

from __future__ import annotations

from typing import Any

import yaml


class YamlAliasError(yaml.YAMLError):
    """The document uses an anchor (`&name`) or alias (`*name`)."""

    def __init__(self, line: int) -> None:
        super().__init__(f"line {line}: YAML anchors and aliases (&name, *name) are not allowed; write the values out")
        self.line = line


class StrictLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that raises `YamlAliasError` at the first anchor or alias, before anything is expanded."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise YamlAliasError(event.start_mark.line + 1)
        return super().compose_node(parent, index)


def yaml_problem(error: BaseException) -> str:
    """One line for a YAML error: the alias message as it is, else PyYAML's text on one line, with its line."""
    if isinstance(error, YamlAliasError):
        return str(error)
    if isinstance(error, RecursionError):
        return "YAML nested too deeply"
    mark = getattr(error, "problem_mark", None)
    text = " ".join(str(getattr(error, "problem", None) or error).split())
    return f"line {mark.line + 1}: {text}" if mark is not None else text


def load_yaml(text: str) -> Any:
    """The single YAML document in `text` (anchors and aliases refused). Raises `yaml.YAMLError`, `ValueError`
    (an impossible date or number) or `RecursionError` (absurd nesting); `yaml_problem` words any of them."""
    loader = StrictLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
