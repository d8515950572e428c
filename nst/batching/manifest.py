"""The batch's record: one JSON line per finished job in ``manifest.jsonl`` in the output folder.

Only the driver writes it, one ``write`` of one whole line per job, after the job's output is
in place; so an entry never names an output that is not there. A run killed mid-line leaves
a torn last line, which reading skips: that job simply runs again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from nst.batching.jobs import Job

MANIFEST_NAME = "manifest.jsonl"


class Manifest:
    def __init__(self, out_dir: Path):
        self.path = Path(out_dir) / MANIFEST_NAME
        self.latest: dict[str, dict] = {}  # output path -> its last entry
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(entry, dict) and "output" in entry:
                    self.latest[entry["output"]] = entry

    def is_done(self, job: Job) -> bool:
        """The output exists and its last entry says it succeeded with this job's key."""
        entry = self.latest.get(job.output)
        return (
            entry is not None
            and entry.get("error") is None
            and entry.get("key") == job.key
            and Path(job.output).is_file()
        )

    def append(self, entry: dict) -> None:
        line = (json.dumps(entry, sort_keys=True, default=str) + "\n").encode()
        # O_APPEND puts each line at the end in one write, after any earlier run's lines.
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            os.write(descriptor, line)
        finally:
            os.close(descriptor)
        self.latest[entry["output"]] = entry
