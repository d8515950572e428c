"""The studio's job store: one SQLite table of job records and a folder of files per job.

A record holds what a job is (its settings, the names its inputs had), where it stands
(state, steps, timings) and, when it failed, the one line that says why. The files beside it
are the decoded inputs, the latest snapshot, the result and its settings sidecar, each
written atomically. Files are named by the job's id and a fixed set of names, never by
anything a request sent.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

QUEUED = "queued"
RUNNING = "running"
DONE = "done"  # every step ran
STOPPED = "stopped"  # stopped by its owner; the image so far is its result
FAILED = "failed"
INTERRUPTED = "interrupted"  # the server went down while it ran; its last snapshot is kept
FINISHED = (DONE, STOPPED, FAILED, INTERRUPTED)

JOB_ID = re.compile(r"[0-9a-f]{16}")
# Every file a job folder may hold: inputs, the 'continue from here' start, the snapshot, the
# result, its thumbnail and its settings sidecar.
STYLE_FILE = re.compile(r"style-\d{1,2}\.png")
FIXED_FILES = ("content.png", "init.png", "latest.png", "result.png", "thumbnail.jpg", "settings.json")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    state TEXT NOT NULL,
    settings TEXT NOT NULL,
    names TEXT NOT NULL,
    styles INTEGER NOT NULL,
    parent TEXT,
    device TEXT,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    step INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    seconds REAL NOT NULL DEFAULT 0,
    error TEXT
)
"""
_COLUMNS = (
    "seq",
    "id",
    "state",
    "settings",
    "names",
    "styles",
    "parent",
    "device",
    "created",
    "started",
    "finished",
    "step",
    "total",
    "seconds",
    "error",
)


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, flush it, and rename it over ``path``:
    a reader or a crash never sees half a file."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class JobStore:
    """Job records in ``root/jobs.sqlite3``, files in ``root/jobs/<id>/``; safe to use from
    the server's threads and its workers at once."""

    def __init__(self, root: Path):
        self.root = Path(root)
        (self.root / "jobs").mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.root / "jobs.sqlite3", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def recover(self) -> list[str]:
        """Mark the jobs a killed server left running as interrupted; their snapshots stay."""
        with self._lock:
            ids = [row[0] for row in self._db.execute("SELECT id FROM jobs WHERE state = ?", (RUNNING,))]
            self._db.execute(
                "UPDATE jobs SET state = ?, finished = ?, error = ? WHERE state = ?",
                (INTERRUPTED, time.time(), "the server stopped while this job ran", RUNNING),
            )
        return ids

    def create(
        self,
        settings: dict[str, Any],
        names: dict[str, Any],
        inputs: dict[str, bytes],
        parent: str | None = None,
    ) -> str:
        """A queued job: its input files are written first, so a queued record always has them."""
        job_id = secrets.token_hex(8)
        folder = self.folder(job_id)
        folder.mkdir()
        for name, data in inputs.items():
            write_atomically(self.path(job_id, name), data)
        styles = sum(1 for name in inputs if STYLE_FILE.fullmatch(name))
        with self._lock:
            self._db.execute(
                "INSERT INTO jobs (id, state, settings, names, styles, parent, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (job_id, QUEUED, json.dumps(settings), json.dumps(names), styles, parent, time.time()),
            )
        return job_id

    def get(self, job_id: str) -> dict[str, Any] | None:
        if not JOB_ID.fullmatch(job_id):
            return None
        rows = self._select("WHERE id = ?", (job_id,))
        return rows[0] if rows else None

    def jobs(self, limit: int = 200) -> list[dict[str, Any]]:
        """The newest first."""
        return self._select("ORDER BY seq DESC LIMIT ?", (limit,))

    def queued(self) -> list[dict[str, Any]]:
        """Waiting jobs in the order they run."""
        return self._select("WHERE state = ? ORDER BY seq", (QUEUED,))

    def claim(self, job_id: str, device: str) -> bool:
        """Queued -> running on ``device``; False when the job is no longer queued (stopped)."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE jobs SET state = ?, device = ?, started = ? WHERE id = ? AND state = ?",
                (RUNNING, device, time.time(), job_id, QUEUED),
            )
        return cursor.rowcount == 1

    def cancel(self, job_id: str) -> bool:
        """Queued -> stopped before it ran; False when it is not queued."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE jobs SET state = ?, finished = ? WHERE id = ? AND state = ?",
                (STOPPED, time.time(), job_id, QUEUED),
            )
        return cursor.rowcount == 1

    def progress(self, job_id: str, step: int, total: int, seconds: float) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET step = ?, total = ?, seconds = ? WHERE id = ?",
                (step, total, seconds, job_id),
            )

    def finish(
        self, job_id: str, state: str, step: int, total: int, seconds: float, error: str | None = None
    ) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET state = ?, step = ?, total = ?, seconds = ?, error = ?, finished = ? "
                "WHERE id = ?",
                (state, step, total, seconds, error, time.time(), job_id),
            )

    def folder(self, job_id: str) -> Path:
        if not JOB_ID.fullmatch(job_id):
            raise ValueError(f"not a job id: {job_id!r}")
        return self.root / "jobs" / job_id

    def path(self, job_id: str, name: str) -> Path:
        """A job's file; ``name`` is one of the fixed names (FIXED_FILES, style-N.png)."""
        if name not in FIXED_FILES and not STYLE_FILE.fullmatch(name):
            raise ValueError(f"not a job file: {name!r}")
        return self.folder(job_id) / name

    def write(self, job_id: str, name: str, data: bytes) -> None:
        write_atomically(self.path(job_id, name), data)

    def _select(self, where: str, parameters: tuple) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM jobs {where}", parameters).fetchall()
        records = []
        for row in rows:
            record = dict(zip(_COLUMNS, row))
            record["settings"] = json.loads(record["settings"])
            record["names"] = json.loads(record["names"])
            records.append(record)
        return records
