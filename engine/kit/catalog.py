"""Message catalogues: every fixed word of the report, per language.

Catalogues live in ``templates/messages/<language>.yaml`` as nested
mappings; a message is addressed by its dotted key (``'verdict.supported'``).
``es`` (the course's language, the default) and ``en`` must define exactly the
same keys; ``tests/test_report_render.py`` checks it.

An optimizer rule names itself in every language (``OptimizerRule.label``); ``load_catalog`` adds
those names under ``labels.optimizer``, where an entry of the catalogue overrides them.

A message may contain ``str.format`` fields (``'Figura {number}'``) that
``message(catalog, key, number=3)`` fills.  Without keyword arguments the
text is returned as written (braces untouched).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from engine.config.load import FAST_SAFE_LOADER

__all__ = ["DEFAULT_LANGUAGE", "Catalog", "MESSAGES_DIR", "flat_keys", "load_catalog", "message", "with_rule_labels"]

DEFAULT_LANGUAGE = "es"
MESSAGES_DIR = Path(__file__).resolve().parents[2] / "templates" / "messages"


class Catalog(dict):
    """A ``dict`` of messages that remembers which file it came from."""

    def __init__(self, data: dict, *, language: str, source: Path):
        super().__init__(data)
        self.language = language
        self.source = Path(source)


def load_catalog(language: str, messages_dir: Path | None = None) -> Catalog:
    """Read ``<messages_dir>/<language>.yaml`` (default: ``templates/messages``).

    Raises ``FileNotFoundError`` naming the file for an unknown language and
    ``ValueError`` if the file is not a mapping with string leaves.
    """
    if not isinstance(language, str) or not language.isidentifier():
        raise ValueError(f"language must be a short code such as 'es' or 'en', got {language!r}")
    directory = Path(messages_dir) if messages_dir is not None else MESSAGES_DIR
    path = directory / f"{language}.yaml"
    if not path.is_file():
        available = sorted(p.stem for p in directory.glob("*.yaml"))
        raise FileNotFoundError(
            f"no message catalogue for language {language!r}: {path} does not exist "
            f"(available: {', '.join(available) or 'none'})"
        )
    with path.open(encoding="utf-8") as handle:
        data = yaml.load(handle, Loader=FAST_SAFE_LOADER)
    if not isinstance(data, dict):
        raise ValueError(f"message catalogue {path} must be a mapping, got {type(data).__name__}")
    for key, value in flat_keys(data).items():
        if not isinstance(value, str):
            raise ValueError(f"message {key!r} in {path} must be a string, got {type(value).__name__}")
    return Catalog(with_rule_labels(data, language), language=language, source=path)


def with_rule_labels(data: dict, language: str) -> dict:
    """`data` with ``labels.optimizer`` completed by each optimizer rule's own name in `language`
    (``OptimizerRule.label``): an entry of the catalogue overrides it, and names the variants that
    are not rules (``gd``, ``sgd-1``).  A catalogue without ``labels`` is left as it is."""
    from engine.optim import OPTIMIZERS

    labels = data.get("labels")
    if not isinstance(labels, dict):
        return data
    own = {name: rule.label[language] for name, rule in OPTIMIZERS.items() if language in rule.label}
    return {**data, "labels": {**labels, "optimizer": {**own, **(labels.get("optimizer") or {})}}}


def flat_keys(data: dict, prefix: str = "") -> dict[str, object]:
    """Flatten a nested mapping to ``{'a.b.c': leaf}``."""
    flat: dict[str, object] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_keys(value, prefix=f"{name}."))
        else:
            flat[name] = value
    return flat


def message(catalog, key: str, **fmt) -> str:
    """Look up a dotted ``key`` in ``catalog`` and fill ``{fields}`` from ``fmt``.

    A missing key (or a key naming a group rather than a message) raises
    ``KeyError`` naming the key and the catalogue file.
    """
    source = getattr(catalog, "source", "<catalogue>")
    node = catalog
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"message {key!r} is missing from {source}")
        node = node[part]
    if not isinstance(node, str):
        raise KeyError(f"message {key!r} in {source} is a group of messages, not a message")
    if fmt:
        try:
            return node.format(**fmt)
        except (KeyError, IndexError) as error:
            raise KeyError(f"message {key!r} in {source} needs field {error} that was not given") from None
    return node
