"""The lab's background jobs: `TrainingJob` trains (rnnviz.training.lab_run.train) in a thread whose
progress the page polls, and `LabScheduler` shares a server's cores among many sessions: at most a
fixed number of jobs train at once (RNNVIZ_LAB_JOBS, by default half the usable cores), the rest
queue in order, and the jobs of sessions that have ended are stopped.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable

from rnnviz.errors import RnnvizError
from rnnviz.training.lab_model import LabConfig
from rnnviz.training.lab_run import LabResult, Progress, train

_JOB_NUMBERS = itertools.count(1)
TRAINING_NICENESS = 10


def lower_this_threads_priority() -> None:
    """Where the OS allows it (Linux: a thread's own nice value), let the CPU serve the pages first:
    when cores are short, a training thread then waits, not the sessions reading heatmaps."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), TRAINING_NICENESS)
    except (AttributeError, OSError):
        pass


class TrainingJob:
    """`train` in a background thread; the page polls `snapshot()` and may `stop()` it.

    Created with `start=False` (by LabScheduler) it waits, state "queued", until `start()`; a job
    stopped while it waits never trains. `on_end` is called once, from whichever thread ends the job."""

    def __init__(
        self,
        config: LabConfig,
        start: bool = True,
        on_end: Callable[["TrainingJob"], None] | None = None,
    ):
        self.config = config
        self.number = next(_JOB_NUMBERS)  # unique in this process (unlike id(), never reused)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ended = threading.Event()
        self._stop_reason = ""
        self._on_end = on_end
        self._progress = Progress(config, state="queued")
        self._result: LabResult | None = None
        self.started_at: float | None = None  # time.monotonic() when training began
        self.ended_at: float | None = None  # … and when the job ended (trained, stopped or failed)
        self._thread = threading.Thread(
            target=self._run, name=f"rnnviz-lab-{config.cell}", daemon=True
        )
        if start:
            self.start()

    def start(self) -> bool:
        """Begin training; False when the job was stopped while it waited (or has started already)."""
        with self._lock:
            if self._progress.state != "queued":
                return False
            self._progress = Progress(self.config)
            self.started_at = time.monotonic()
        self._thread.start()
        return True

    def _publish(self, progress: Progress) -> None:
        # The final (finished) progress is published by _run together with the result: the page
        # reruns once on "finished" and must then find the trained model, not a moment before it.
        if not progress.finished:
            with self._lock:
                self._progress = progress

    def _run(self) -> None:
        lower_this_threads_priority()
        try:
            result = train(self.config, self._publish, self._stop)
            final = result.progress
            if final.state == "stopped" and self._stop_reason:
                final = replace(final, reason=self._stop_reason)
                result = replace(result, progress=final)
        except Exception as error:  # shown on the page as a message, not a traceback
            result, final = (
                None,
                replace(self.snapshot(), state="failed", reason=f"{type(error).__name__}: {error}"),
            )
        with self._lock:
            self._result, self._progress = result, final
        self._end()

    def _end(self) -> None:
        self.ended_at = time.monotonic()
        self._ended.set()
        if self._on_end:
            self._on_end(self)

    def snapshot(self) -> Progress:
        with self._lock:
            return self._progress

    @property
    def result(self) -> LabResult | None:
        with self._lock:
            return self._result

    def stop(self, reason: str = "stopped") -> None:
        """Ask the run to end after its current step (at once, if it is still waiting)."""
        with self._lock:
            self._stop_reason = self._stop_reason or reason
            self._stop.set()
            waiting = self._progress.state == "queued"
            if waiting:
                self._progress = replace(
                    self._progress, state="stopped", reason=f"{reason} before it started"
                )
        if waiting:
            self._end()

    def wait(self, timeout: float | None = None) -> Progress:
        """Block until the job has ended (or `timeout` seconds passed); the progress then."""
        self._ended.wait(timeout)
        return self.snapshot()


LAB_JOBS_VARIABLE = "RNNVIZ_LAB_JOBS"


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers narrow), else os.cpu_count()."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def lab_job_slots(environ: dict[str, str] | None = None) -> tuple[int, str]:
    """How many lab jobs may train at once in this process, and a note when RNNVIZ_LAB_JOBS was unusable.

    Default max(1, usable cores // 2): each job trains on one core (torch intra-op threads are 1 in
    the app), and the other half keeps the page answering every session."""
    default = max(1, usable_cores() // 2)
    value = (os.environ if environ is None else environ).get(LAB_JOBS_VARIABLE, "").strip()
    if not value:
        return default, ""
    if value.isdigit() and 1 <= int(value) <= 1024:
        return int(value), ""
    return (
        default,
        f"{LAB_JOBS_VARIABLE}={value!r} is not a whole number from 1 to 1024; using {default}",
    )


@dataclass(frozen=True)
class QueueCounts:
    """The scheduler now: jobs training and waiting, the bound, and totals since the server started."""

    running: int
    waiting: int
    slots: int
    submitted: int
    queued: int  # jobs that had to wait for a slot
    finished: int  # ended on their own: target accuracy, step limit or time budget
    stopped: int  # stopped by their session, before or during training
    orphaned: int  # of those, stopped because their session ended


class LabScheduler:
    """At most `slots` training jobs at once, server-wide; the others wait in order of submission.

    Each job may come with `alive`, a function saying whether the session that owns it still exists
    (the page passes Streamlit's own `Runtime.is_active_session`). A watcher thread checks it every
    `watch_every_s`; a job whose owner has been gone for `orphan_grace_s` (a closed tab, an expired
    session; the grace lets a dropped connection reconnect) is stopped, or leaves the queue."""

    def __init__(self, slots: int, orphan_grace_s: float = 10.0, watch_every_s: float = 1.0):
        if slots < 1:
            raise RnnvizError(f"the lab needs at least one job slot, got {slots}")
        self.slots = slots
        self.orphan_grace_s = orphan_grace_s
        self.watch_every_s = watch_every_s
        self._lock = threading.Lock()
        self._running: list[TrainingJob] = []
        self._waiting: list[TrainingJob] = []
        self._alive: dict[int, Callable[[], bool]] = {}
        self._gone_since: dict[int, float] = {}
        self._totals = {"submitted": 0, "queued": 0, "finished": 0, "stopped": 0, "orphaned": 0}
        self._watcher: threading.Thread | None = None

    def submit(self, config: LabConfig, alive: Callable[[], bool] | None = None) -> TrainingJob:
        """A job for `config`: training at once when a slot is free, else waiting its turn."""
        job = TrainingJob(config, start=False, on_end=self._ended)
        with self._lock:
            self._totals["submitted"] += 1
            if alive is not None:
                self._alive[id(job)] = alive
                self._start_watcher()
            if len(self._running) < self.slots:
                self._running.append(job)
                starts = True
            else:
                self._waiting.append(job)
                self._totals["queued"] += 1
                starts = False
        if starts:
            job.start()
        return job

    def place(self, job: TrainingJob) -> int | None:
        """1 for the next job to start, 2 for the one after it, …; None when `job` is not waiting."""
        with self._lock:
            return self._waiting.index(job) + 1 if job in self._waiting else None

    def counts(self) -> QueueCounts:
        with self._lock:
            return QueueCounts(len(self._running), len(self._waiting), self.slots, **self._totals)

    def _ended(self, job: TrainingJob) -> None:
        """A job ended (finished, stopped, failed, or left the queue): free its slot for the next in line."""
        state = job.snapshot().state
        with self._lock:
            if job in self._running:
                self._running.remove(job)
            if job in self._waiting:
                self._waiting.remove(job)
            self._alive.pop(id(job), None)
            self._gone_since.pop(id(job), None)
            self._totals["stopped" if state == "stopped" else "finished"] += 1
            starting = []
            while self._waiting and len(self._running) < self.slots:
                starting.append(self._waiting.pop(0))
                self._running.append(starting[-1])
        for next_job in starting:
            next_job.start()

    def _start_watcher(self) -> None:
        """Called under the lock; the watcher ends by itself once no job has an owner to check."""
        if self._watcher is None:
            self._watcher = threading.Thread(
                target=self._watch, name="rnnviz-lab-watcher", daemon=True
            )
            self._watcher.start()

    def _watch(self) -> None:
        while True:
            time.sleep(self.watch_every_s)
            with self._lock:
                if not self._alive:
                    self._watcher = None
                    return
            for job in self._orphans(time.monotonic()):
                with self._lock:
                    self._totals["orphaned"] += 1
                job.stop("stopped: its session ended")

    def _orphans(self, now: float) -> list[TrainingJob]:
        """Jobs whose session has been gone for the grace period (each returned once)."""
        with self._lock:
            jobs = [(job, self._alive.get(id(job))) for job in self._running + self._waiting]
        orphans = []
        for job, alive in jobs:
            if alive is None:
                continue
            try:
                gone = not alive()
            except Exception:  # noqa: BLE001 — a failing check must not end the watcher
                gone = False
            with self._lock:
                if not gone:
                    self._gone_since.pop(id(job), None)
                elif now - self._gone_since.setdefault(id(job), now) >= self.orphan_grace_s:
                    self._alive.pop(id(job), None)
                    orphans.append(job)
        return orphans
