"""The result store: one JSON record per run, addressed by the run's key, written atomically.

Layout: <root>/<key[:2]>/<key>.json.  A record is written to a temporary file in the same
folder and renamed into place, so a killed process leaves either the whole record or none.
"""
from __future__ import annotations

import json
from pathlib import Path

from engine.atomic import write_atomic

DEFAULT_STORE = Path(".store")


class ResultStore:
    def __init__(self, root: Path = DEFAULT_STORE):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def has(self, key: str) -> bool:
        return self.path(key).is_file()

    def get(self, key: str) -> dict | None:
        try:
            return json.loads(self.path(key).read_text())
        except FileNotFoundError:
            return None

    def put(self, record: dict) -> Path:
        return write_atomic(self.path(record["key"]),
                            json.dumps(record, allow_nan=False, separators=(",", ":")))
