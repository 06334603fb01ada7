"""The result store: one JSON record per run, addressed by the run's key, written atomically.

Layout: <root>/<key[:2]>/<key>.json.  A record is written to a temporary file in the same
folder and renamed into place, so a killed process leaves either the whole record or none.

Records go in and come out as :class:`engine.record.Record`: ``put`` writes ``Record.to_text()``,
``get`` checks what it reads with ``Record.from_json`` once.  A record that does not parse, or is
not a record of its key (a missing or unknown field, an unknown status, a spec that is not a run
spec, a value of the wrong type), is *corrupt*: reading it gives None, as if it were missing, and
the store remembers its key and what is wrong in ``corrupt`` so that `status`, `report` and `run`
can say so; the next `run` trains it again and replaces it.  A *failed* record (the run raised)
is kept, with its error, until the next `run` retries it.

One `run` at a time writes to a store: ``lock()`` takes an exclusive, non-blocking lock on
<root>/.lock (released by the operating system if the process dies).  Readers need no lock:
renames make every record they see whole.  A ResultStore keeps the records it has read or
written, so it sees each record as it was when it first met it: one instance per command.
``save_index()`` writes the Records it read to <root>/index.pickle, which later commands read
instead of parsing and checking every JSON record again; an entry is used only while its file's
size and modification time are unchanged, and the whole index only if it was written for the
present layout of a Record (``engine.record.LAYOUT``).
"""
from __future__ import annotations

import errno
import fcntl
import gc
import json
import os
import pickle
from contextlib import contextmanager
from pathlib import Path

from engine.atomic import write_atomic
from engine.record import LAYOUT, Record, RecordError

DEFAULT_STORE = Path(".store")


class StoreBusy(Exception):
    """Another process holds the store's lock."""


class StoreUnwritable(Exception):
    """The store cannot be written (disk full, read-only, no permission)."""


def _unpickle(data: bytes):
    """pickle.loads with the cyclic garbage collector paused: unpickling thousands of records
    allocates millions of objects, none of them garbage, and each collection pass it triggers
    walks them all (0.45 s instead of 1.2 s for an index of 11,000 records)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return pickle.loads(data)
    finally:
        if enabled:
            gc.enable()


class ResultStore:
    def __init__(self, root: Path = DEFAULT_STORE):
        self.root = Path(root)
        self.corrupt: dict[str, str] = {}   # key → what is wrong, for keys read so far
        # Records read or written by this process: planning, tuning and the report read each
        # record several times, and only this process writes while it holds the lock.
        self._seen: dict[str, Record] = {}
        self._index: dict | None = None     # key → ((mtime_ns, size) of its file, Record)
        self._index_changed = False

    @property
    def index_path(self) -> Path:
        return self.root / "index.pickle"

    def _load_index(self) -> dict:
        """The consolidated index (key → ((mtime_ns, size) of its file, Record)), read once; an
        index that cannot be read is an empty one."""
        if self._index is None:
            try:
                layout, self._index = _unpickle(self.index_path.read_bytes())
                if layout != LAYOUT or not isinstance(self._index, dict):
                    self._index = {}
            except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError,
                    TypeError):
                self._index = {}
        return self._index

    def _indexed(self, key: str, path: Path) -> Record | None:
        """The record kept in the index for `key`, if its file is the one that was indexed."""
        entry = self._load_index().get(key)
        if entry is None:
            return None
        try:
            stat = path.stat()
        except OSError:
            return None
        return entry[1] if entry[0] == (stat.st_mtime_ns, stat.st_size) else None

    def save_index(self) -> None:
        """Write the consolidated index of the records read so far (one file instead of thousands of
        JSON parses next time).  An entry counts only while its record file is unchanged, so a
        stale or lost index costs time, never correctness."""
        if not self._index_changed:
            return
        try:
            write_atomic(self.index_path, pickle.dumps((LAYOUT, self._index), protocol=pickle.HIGHEST_PROTOCOL))
            self._index_changed = False
        except OSError:  # a read-only store: the next command reads the JSON files again
            pass

    def indexed_records(self) -> list[Record]:
        """The records of the consolidated index, as last indexed, without checking their files:
        for estimates only (engine/progress.py calibrates its costs on them)."""
        return [record for _, record in self._load_index().values()]

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> Record | None:
        """The record of `key`; None when it is missing or corrupt."""
        if key in self._seen:
            return self._seen[key]
        path = self.path(key)
        record = self._indexed(key, path)
        if record is not None:
            self._seen[key] = record
            return record
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            self.corrupt[key] = f"unreadable ({exc})"
            return None
        try:
            record = Record.from_json(json.loads(text), key)
        except json.JSONDecodeError as exc:
            self.corrupt[key] = f"not valid JSON ({exc.msg} at character {exc.pos})"
            return None
        except RecordError as exc:
            self.corrupt[key] = str(exc)
            return None
        self.corrupt.pop(key, None)
        self._seen[key] = record
        self._remember(key, path, record)
        return record

    def is_finished(self, key: str) -> bool:
        """Stored whole, and not failed: what `run` need not train again."""
        record = self.get(key)
        return record is not None and record.status != "failed"

    def put(self, record: Record) -> Path:
        text = record.to_text()
        try:
            path = write_atomic(self.path(record.key), text)
        except OSError as exc:
            raise StoreUnwritable(f"cannot write to the result store {self.root}: "
                                  f"{exc.strerror or exc}") from exc
        # What a later reader will see, to the letter (tuples as lists, NaN as None).
        self._seen[record.key] = Record.from_json(json.loads(text), record.key)
        self.corrupt.pop(record.key, None)
        self._remember(record.key, path, self._seen[record.key])
        return path

    def _remember(self, key: str, path: Path, record: Record) -> None:
        try:
            stat = path.stat()
        except OSError:
            return
        self._load_index()[key] = ((stat.st_mtime_ns, stat.st_size), record)
        self._index_changed = True

    @contextmanager
    def lock(self):
        """Hold the store for one writer; raise StoreBusy at once if another process has it."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            handle = open(self.root / ".lock", "a+")
        except OSError as exc:
            raise StoreUnwritable(f"cannot write to the result store {self.root}: "
                                  f"{exc.strerror or exc}") from exc
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EACCES):
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    raise StoreBusy(f"the result store {self.root} is in use by {holder}; wait for "
                                    "it to finish, or use another --store.") from None
                raise
            handle.seek(0)
            handle.truncate()
            handle.write(f"`engine run` (pid {os.getpid()})")
            handle.flush()
            yield self
        finally:
            handle.close()
