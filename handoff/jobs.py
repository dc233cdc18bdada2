"""Background model jobs for trainers: retrain with the accepted corrections, compare with the current model.

Each job runs the ordinary CLI (``python -m bot train`` / ``python -m bot test --compare``) as a child process
under ``nice``; progress is the number of output lines against the usual count, and the last lines are kept.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
#: about how many lines ``bankbot train`` / ``test --compare`` print (progress is lines seen / this, capped)
EXPECTED_LINES = {"retrain": 12, "compare": 8}


class JobKind(StrEnum):
    """What a trainer can start."""

    RETRAIN = "retrain"
    COMPARE = "compare"


class JobState(StrEnum):
    """Where a job is."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass
class Job:
    """One background job."""

    id: int
    kind: JobKind
    started_at: float
    state: JobState = JobState.RUNNING
    lines: list[str] = field(default_factory=list)
    finished_at: float | None = None
    model_dir: str | None = None
    report: dict[str, Any] | None = None
    proc: asyncio.subprocess.Process | None = None

    @property
    def progress(self) -> float:
        """0..1 (1 only when finished)."""
        if self.state != JobState.RUNNING:
            return 1.0
        return min(0.95, 0.05 + len(self.lines) / EXPECTED_LINES[self.kind.value])

    def as_dict(self) -> dict[str, Any]:
        """JSON view."""
        return {"id": self.id, "kind": self.kind.value, "state": self.state.value, "progress": round(self.progress, 2),
                "started_at": self.started_at, "finished_at": self.finished_at, "log": self.lines[-12:],
                "model_dir": self.model_dir, "report": self.report}


class JobRunner:
    """Runs at most one job at a time per kind; keeps the history of this process."""

    def __init__(self) -> None:
        """No jobs yet."""
        self._jobs: dict[int, Job] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def all(self) -> list[Job]:
        """Newest first."""
        return sorted(self._jobs.values(), key=lambda j: -j.id)

    def get(self, job_id: int) -> Job | None:
        """One job."""
        return self._jobs.get(job_id)

    def start(self, kind: JobKind, corrections: list[dict[str, str]]) -> Job:
        """Start a job (a running job of the same kind is returned instead of starting a second one)."""
        running = next((j for j in self._jobs.values() if j.kind == kind and j.state == JobState.RUNNING), None)
        if running is not None:
            return running
        job = Job(id=len(self._jobs) + 1, kind=kind, started_at=time.time())
        self._jobs[job.id] = job
        task = asyncio.get_running_loop().create_task(self._run(job, corrections))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    def cancel(self, job_id: int) -> None:
        """Stop a running job."""
        job = self._jobs.get(job_id)
        if job is not None and job.state == JobState.RUNNING and job.proc is not None:
            job.state = JobState.CANCELLED
            job.proc.kill()

    def _models_dir(self) -> Path:
        from bot.config import load_settings

        return Path(load_settings().models_dir)

    def _command(self, job: Job, corrections: list[dict[str, str]]) -> list[str]:
        base = ["nice", "-n", "10", sys.executable, "-m", "bot"]
        if job.kind == JobKind.RETRAIN:
            out = self._models_dir() / f"candidate-{int(job.started_at)}"
            job.model_dir = str(out)
            args = [*base, "train", "--out", str(out)]
            if corrections:
                by_intent: dict[str, list[str]] = {}
                for c in corrections:
                    by_intent.setdefault(c["intent"], []).append(c["text"])
                doc = {"version": "3.1", "nlu": [{"intent": k, "examples": "".join(f"- {t}\n" for t in v)}
                                                 for k, v in by_intent.items()]}
                extra = Path(tempfile.mkdtemp(prefix="bankbot-corrections-")) / "corrections.yml"
                extra.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
                args += ["--data", "data/nlu", str(extra)]
            return args
        from bot.config import load_settings
        from bot.nlu.registry import resolve_model

        candidate = next((j.model_dir for j in self.all() if j.kind == JobKind.RETRAIN and j.state == JobState.DONE),
                         None)
        if candidate is None:
            raise ValueError("retrain first: there is no new model to compare")
        current = str(resolve_model(load_settings()))
        job.model_dir = candidate
        out = Path(tempfile.mkdtemp(prefix="bankbot-compare-"))
        job.report = {"folder": str(out)}
        return [*base, "test", "--compare", current, candidate, "--out", str(out)]

    async def _run(self, job: Job, corrections: list[dict[str, str]]) -> None:
        try:
            cmd = self._command(job, corrections)
        except (ValueError, OSError) as exc:
            job.lines.append(str(exc))
            job.state, job.finished_at = JobState.FAILED, time.time()
            return
        job.proc = await asyncio.create_subprocess_exec(*cmd, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
                                                        stderr=asyncio.subprocess.STDOUT,
                                                        env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
        assert job.proc.stdout is not None
        async for raw in job.proc.stdout:
            job.lines.append(raw.decode("utf-8", "replace").rstrip()[:300])
        rc = await job.proc.wait()
        job.finished_at = time.time()
        if job.state == JobState.CANCELLED:
            return
        job.state = JobState.DONE if rc == 0 else JobState.FAILED
        if job.kind == JobKind.COMPARE and job.report and rc == 0:
            path = Path(job.report["folder"]) / "compare.json"
            if path.is_file():
                job.report = json.loads(path.read_text(encoding="utf-8"))
