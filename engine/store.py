"""The result store: one JSON record per run, addressed by the run's key, written atomically.

Layout: <root>/<key[:2]>/<key>.json.  A record is written to a temporary file in the same
folder and renamed into place, so a killed process leaves either the whole record or none.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

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
        target = self.path(record["key"])
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(record, fh, allow_nan=False, separators=(",", ":"))
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)  # mkstemp creates 0600; a store may be shared read-only
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target
