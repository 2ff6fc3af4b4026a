"""One memory budget per server process, counted in bytes: every run, upload and corpus index the
page keeps is an entry sized by the arrays it holds (rnnviz.analysis.cost.held_bytes); the least
recently used go first when the caches would pass their share of the budget, or when the session
that computed them would pass its own share. Entries nobody has used for a while, and everything of
a session whose browser has gone, are dropped by a sweep every few seconds, so that a closed hall's
memory comes back (bench/load_budget.py measures it).

Heavy page runs (a long text, a run estimated at half a second or more) pass an admission gate
that lets a few through at a time: on a small machine ten of them at once starved everyone else's
12-word sentences, which never wait at the gate.

Settings (environment): RNNVIZ_MEMORY_BUDGET_MB (default 2048: a 4 GB machine serving 30 students,
with room for the system), RNNVIZ_RUN_SECONDS (default 3: the work one run may take),
RNNVIZ_HEAVY_RUNS (default: half the cores, at least 1: heavy page runs at once).
"""

from __future__ import annotations

import ctypes
import gc
import itertools
import os
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterator

import streamlit as st
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from rnnviz.analysis.cost import Limits, held_bytes
from rnnviz.errors import RnnvizError

MEMORY_BUDGET_MB = int(os.environ.get("RNNVIZ_MEMORY_BUDGET_MB", "2048"))
RUN_SECONDS = float(os.environ.get("RNNVIZ_RUN_SECONDS", "3"))
# Of the process's budget: what the caches may hold (the rest is the interpreter, torch, Streamlit,
# the bundled models and the work in flight), what one session's entries may take, what one run may.
# 0.4: a server that has drawn every view holds about 850 MiB before any cache (bench/load_budget.py);
# with half the budget for the caches, issue 21's load peaked at 2,051 MiB of 2,048.
CACHE_SHARE = 0.4
SESSION_SHARE = 0.25  # of the caches
RUN_SHARE = 1 / 32  # of the whole budget (64 MB by default)
MAX_UPLOADS_PER_SESSION = 3
IDLE_SECONDS = 30.0  # a shared entry unused this long is dropped (recomputing a sentence is cheap)
GONE_SECONDS = (
    10.0  # a session disconnected this long loses its entries (a reload reconnects sooner)
)
SWEEP_SECONDS = 5.0
COLLECT_EVERY_SWEEPS = 6  # a full collection every 30 s, whatever was dropped
SHARED = "shared"  # the scope of entries every session may read
HEAVY_RUNS = int(os.environ.get("RNNVIZ_HEAVY_RUNS", max(1, (os.cpu_count() or 2) // 2)))
# A page run is heavy from this many tokens (drawing grows with them: a 2,000-character text's page
# is about 0.8 s of the interpreter) or this many estimated seconds of model work.
HEAVY_TOKENS = 300
HEAVY_SECONDS = 0.5
WAIT_POLL_SECONDS = 0.5  # how often a queued run updates its notice (and sees a rerun or a close)


@dataclass
class Entry:
    value: Any
    size: int
    payer: str  # the session that computed it: its share counts it
    last_used: float
    pinned: bool = False  # a model: never evicted for room (an upload goes with its session)


class MemoryBudget:
    """Entries keyed by (scope, key), least recently used first; scope is SHARED or a session id."""

    def __init__(self, cache_bytes: int, session_bytes: int, clock=time.monotonic):
        self.cache_bytes = cache_bytes
        self.session_bytes = session_bytes
        self.clock = clock
        self.entries: OrderedDict[tuple, Entry] = OrderedDict()
        self.lock = threading.RLock()
        self.computing: dict[tuple, threading.Lock] = {}
        self.gone_since: dict[str, float] = {}

    @property
    def used_bytes(self) -> int:
        with self.lock:
            return sum(entry.size for entry in self.entries.values())

    def session_used(self, session: str) -> int:
        with self.lock:
            return sum(e.size for e in self.entries.values() if e.payer == session)

    def get(self, scope: str, key: Hashable, session: str, compute: Callable[[], Any]) -> Any:
        """The value kept for (scope, key), else `compute()`d once (other callers wait) and kept."""
        full_key = (scope, key)
        with self.lock:
            found = self._touch(full_key)
            if found is not None:
                return found.value
            key_lock = self.computing.setdefault(full_key, threading.Lock())
        with key_lock:
            with self.lock:
                found = self._touch(full_key)
                if found is not None:
                    return found.value
            try:
                value = compute()
                self.put(scope, key, session, value)
            finally:
                with self.lock:
                    self.computing.pop(full_key, None)
            return value

    def put(
        self, scope: str, key: Hashable, session: str, value: Any, pinned: bool = False
    ) -> None:
        entry = Entry(value, held_bytes(value), session, self.clock(), pinned)
        with self.lock:
            self.entries[(scope, key)] = entry
            self.entries.move_to_end((scope, key))
            self._evict(session)

    def drop(self, scope: str, key: Hashable) -> None:
        with self.lock:
            self.entries.pop((scope, key), None)

    def room_for(self, session: str, size: int) -> str | None:
        """Why `size` more pinned bytes of `session` cannot be kept, or None when they can."""
        with self.lock:
            pinned = sum(e.size for e in self.entries.values() if e.pinned)
            mine = sum(e.size for e in self.entries.values() if e.pinned and e.payer == session)
        if mine + size > self.session_bytes:
            return (
                f"this session's models would hold {_mb(mine + size)}; one session may keep "
                f"{_mb(self.session_bytes)} on this server"
            )
        if pinned + size > self.cache_bytes:
            return f"the server's models already hold {_mb(pinned)} of its {_mb(self.cache_bytes)}"
        return None

    def sweep(self, active: Callable[[str], bool]) -> int:
        """Drop shared entries idle for IDLE_SECONDS and the entries of sessions gone for
        GONE_SECONDS; returns the bytes dropped."""
        now = self.clock()
        dropped = 0
        with self.lock:
            sessions = {e.payer for e in self.entries.values()} | {
                scope for scope, _ in self.entries if scope != SHARED
            }
            for session in sessions - {SHARED}:
                if active(session):
                    self.gone_since.pop(session, None)
                else:
                    self.gone_since.setdefault(session, now)
            gone = {s for s, since in self.gone_since.items() if now - since >= GONE_SECONDS}
            for full_key, entry in list(self.entries.items()):
                scope = full_key[0]
                idle = (
                    scope == SHARED and not entry.pinned and now - entry.last_used >= IDLE_SECONDS
                )
                if idle or scope in gone or (scope != SHARED and entry.payer in gone):
                    dropped += entry.size
                    del self.entries[full_key]
            for session in gone:
                self.gone_since.pop(session, None)
        return dropped

    def _touch(self, full_key: tuple) -> Entry | None:
        entry = self.entries.get(full_key)
        if entry is not None:
            entry.last_used = self.clock()
            self.entries.move_to_end(full_key)
        return entry

    def _evict(self, session: str) -> None:
        """Least recently used first: the session's own entries past its share, then anyone's past
        the caches' share (pinned uploads stay)."""
        mine = self.session_used(session)
        total = self.used_bytes
        for full_key, entry in list(self.entries.items()):
            if mine <= self.session_bytes and total <= self.cache_bytes:
                break
            if entry.pinned or full_key == next(reversed(self.entries)):
                continue  # the entry just kept is the one its caller is about to read
            if mine > self.session_bytes and entry.payer != session and total <= self.cache_bytes:
                continue
            del self.entries[full_key]
            total -= entry.size
            if entry.payer == session:
                mine -= entry.size


def _mb(count: int) -> str:
    return f"{count / 2**20:,.0f} MB"


class AdmissionGate:
    """At most `slots` heavy runs at once, the others queued in turn; light runs never wait."""

    def __init__(self, slots: int):
        self.slots = threading.Semaphore(slots)
        self.lock = threading.Lock()
        self.running = 0
        self.waiting = 0

    @contextmanager
    def admitted(
        self, heavy: bool, while_waiting: Callable[[int], None] = lambda ahead: None
    ) -> Iterator[None]:
        """Run the block now if it is light or a slot is free; else call `while_waiting(runs ahead)`
        every WAIT_POLL_SECONDS until one is (an exception from it gives up the place in the queue)."""
        if not heavy:
            yield
            return
        if not self.slots.acquire(blocking=False):
            with self.lock:
                self.waiting += 1
            try:
                while not self.slots.acquire(timeout=WAIT_POLL_SECONDS):
                    with self.lock:
                        ahead = self.running + self.waiting - 1
                    while_waiting(ahead)
            finally:
                with self.lock:
                    self.waiting -= 1
        with self.lock:
            self.running += 1
        try:
            yield
        finally:
            with self.lock:
                self.running -= 1
            self.slots.release()


HEAVY_GATE = AdmissionGate(HEAVY_RUNS)  # one per server process (this module is imported once)


def is_heavy(tokens: int, estimated_seconds: float) -> bool:
    return tokens >= HEAVY_TOKENS or estimated_seconds >= HEAVY_SECONDS


@contextmanager
def admitted(heavy: bool) -> Iterator[None]:
    """The page's run, through the server's gate: a queued run says so, and gives up its place when
    its session reruns (Streamlit stops the script at the notice's update) or has closed."""
    notice = None

    def while_waiting(ahead: int) -> None:
        nonlocal notice
        if Runtime.exists() and not _is_active(session_id()):
            st.stop()  # the tab has gone: nobody is waiting for this page
        notice = notice or st.empty()
        notice.info(
            f"Long texts are read a few at a time on this server: {ahead} ahead of yours. "
            "Short sentences go straight through.",
            icon=":material/hourglass_top:",
        )

    with HEAVY_GATE.admitted(heavy, while_waiting):
        if notice is not None:
            notice.empty()
        yield


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameters (malloc.h)
M_ARENA_MAX = -8


def _libc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None  # not glibc: nothing to tune


def _return_large_blocks_to_the_system() -> None:
    """Large arrays straight from the system and few per-thread heaps: glibc otherwise raises its
    mmap threshold to the largest block freed so far (up to 32 MB), so that a session's traces land
    in heaps spread over each script thread's arena, where freed memory stays resident."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(M_MMAP_THRESHOLD, 256 * 1024)
        libc.mallopt(M_ARENA_MAX, 2)


def _release_freed_memory() -> None:
    """Hand freed heap pages back to the system (glibc keeps them otherwise, and RSS stays high)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def _is_active(session: str) -> bool:
    return Runtime.exists() and Runtime.instance().is_active_session(session)


@st.cache_resource
def server_budget() -> MemoryBudget:
    """The process's one budget, and the thread that sweeps it."""
    _return_large_blocks_to_the_system()
    caches = int(MEMORY_BUDGET_MB * 2**20 * CACHE_SHARE)
    budget = MemoryBudget(caches, int(caches * SESSION_SHARE))

    def sweep_forever() -> None:
        for count in itertools.count(1):
            time.sleep(SWEEP_SECONDS)
            if budget.sweep(_is_active) or count % COLLECT_EVERY_SWEEPS == 0:
                # Closed sessions' objects hold cycles, and the page turns off Streamlit's collection
                # after every run: collect here now and then (only what is newer than the frozen heap).
                gc.collect()
                _release_freed_memory()

    threading.Thread(target=sweep_forever, name="rnnviz-memory-sweep", daemon=True).start()
    return budget


def session_id() -> str:
    """This browser session's id (its entries are its own and go with it)."""
    context = get_script_run_ctx()
    return context.session_id if context is not None else "no session"


def run_limits() -> Limits:
    """What one run may keep and take on this server."""
    return Limits(int(MEMORY_BUDGET_MB * 2**20 * RUN_SHARE), RUN_SECONDS)


def kept(scope: str, key: Hashable, compute: Callable[[], Any]) -> Any:
    """`compute()` kept in the server's budget under (scope, key): SHARED, or this session's own."""
    return server_budget().get(scope, key, session_id(), compute)


def count_server_model(source: str, model: Any) -> None:
    """Count a model the server loaded for every session (bundled, `--model`) in the budget: its
    bytes are not the runs' to use. Kept as long as the process (never evicted, never idle)."""
    server_budget().put(SHARED, ("model", source), SHARED, model, pinned=True)


def keep_upload(name: str, model: Any, uploads_held: int) -> None:
    """Count a session's uploaded model in the budget; refuses one too many or too large."""
    if uploads_held >= MAX_UPLOADS_PER_SESSION:
        raise RnnvizError(
            f"this session already holds {uploads_held} uploaded models, the most one session "
            "may keep here: reload the page to start afresh"
        )
    budget, session = server_budget(), session_id()
    problem = budget.room_for(session, held_bytes(model))
    if problem:
        raise RnnvizError(f"the model was not kept: {problem}")
    budget.put(session, ("upload", name), session, model, pinned=True)
