"""Process memory for the benchmarks, read from Linux ``/proc``."""

from __future__ import annotations

from pathlib import Path


def status_kb(pid: int, field: str = "VmRSS") -> int:
    """One memory line of ``/proc/<pid>/status`` in kB (``VmRSS``, ``RssAnon``, ``RssFile``, ...); 0 if absent."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def rss_mb(pid: int, with_children: bool = False) -> float:
    """Resident memory of ``pid`` in MB (unrounded); with ``with_children``, plus its direct children's
    (a child that is gone counts 0)."""
    total = status_kb(pid)
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if with_children and children.is_file():
        for child in children.read_text().split():
            try:
                total += status_kb(int(child))
            except OSError:
                continue
    return total / 1024
