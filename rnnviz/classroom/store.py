"""Rooms, their phones and their sentences, kept in SQLite so a server restart loses nothing.

One file (settings.classroom_database) holds every room; replicas on one host share it (WAL mode
lets them read while one writes). Every rule that counts (a phone's pace and share, a room's caps)
is checked inside the same write transaction that adds the sentence, so two requests at once can
never both slip under a limit, whichever process serves them.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnviz.classroom.reading import Reading
from rnnviz.classroom.rules import (
    Refused,
    RoomRules,
    new_room_code,
    new_room_secret,
    rules_from_environment,
)
from rnnviz.settings import classroom_database

SCHEMA = """
CREATE TABLE IF NOT EXISTS rooms (
    code TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    model TEXT NOT NULL,             -- the model's source: a bundled name, a folder, an entry point
    created REAL NOT NULL,
    last_used REAL NOT NULL,
    closed INTEGER NOT NULL DEFAULT 0,
    revision INTEGER NOT NULL DEFAULT 0  -- grows with every change the lecturer's list would show
);
CREATE TABLE IF NOT EXISTS phones (
    room TEXT NOT NULL REFERENCES rooms(code) ON DELETE CASCADE,
    phone TEXT NOT NULL,
    joined REAL NOT NULL,
    PRIMARY KEY (room, phone)
);
CREATE TABLE IF NOT EXISTS sentences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    room TEXT NOT NULL REFERENCES rooms(code) ON DELETE CASCADE,
    phone TEXT NOT NULL,
    received REAL NOT NULL,
    text TEXT NOT NULL,
    truncated INTEGER NOT NULL,
    model TEXT NOT NULL,
    reading TEXT NOT NULL,           -- JSON: tokens, labels, probabilities, flips, final probabilities
    final_label TEXT NOT NULL,
    final_probability REAL NOT NULL,
    flip_word TEXT,                  -- the token the final prediction was set at (NULL: never changed)
    surprise REAL NOT NULL,
    final_state BLOB NOT NULL,       -- float32 [units]
    hidden INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sentences_by_phone ON sentences (room, phone, received);
"""


@dataclass(frozen=True)
class Room:
    code: str
    model: str
    created: float
    last_used: float
    closed: bool
    revision: int


@dataclass(frozen=True)
class StoredSentence:
    """A sentence as the lecturer's list shows it (the per-token reading stays in the database)."""

    id: int
    phone: str
    received: float
    text: str
    truncated: bool
    model: str
    final_label: str
    final_probability: float
    flip_word: str | None  # the token the final prediction was set at (the last change), if any
    surprise: float
    final_state: np.ndarray
    hidden: bool


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ClassStore:
    """The rooms in one SQLite file; safe to share between threads (one connection per thread)."""

    def __init__(self, path: Path | str, rules: RoomRules | None = None, clock=time.time):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.rules = rules or RoomRules()
        self.clock = clock
        self._local = threading.local()
        self._db().executescript(SCHEMA)  # idempotent; executescript commits on its own

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "PRAGMA synchronous=NORMAL"
            )  # WAL + NORMAL: a crash of the process loses nothing
            db.execute("PRAGMA foreign_keys=ON")
            self._local.db = db
        return db

    def _write(self):
        return _Transaction(self._db())

    # -- rooms ---------------------------------------------------------------------------------

    def _expired(self, last_used: float, now: float) -> bool:
        return last_used < now - self.rules.room_lifetime_hours * 3600

    def _room(self, db: sqlite3.Connection, code: str, now: float) -> Room | None:
        row = db.execute("SELECT * FROM rooms WHERE code = ?", (code,)).fetchone()
        if row is None or self._expired(row["last_used"], now):
            return None
        return Room(
            row["code"],
            row["model"],
            row["created"],
            row["last_used"],
            bool(row["closed"]),
            row["revision"],
        )

    def create_room(self, model: str) -> tuple[Room, str]:
        """A new room reading with `model`; returns it and the lecturer's secret (kept only hashed)."""
        now = self.clock()
        secret = new_room_secret()
        with self._write() as db:
            self._purge_expired(db, now)
            while True:
                code = new_room_code()
                if db.execute("SELECT 1 FROM rooms WHERE code = ?", (code,)).fetchone() is None:
                    break
            db.execute(
                "INSERT INTO rooms (code, secret_hash, model, created, last_used) VALUES (?, ?, ?, ?, ?)",
                (code, _hash(secret), model, now, now),
            )
            return self._room(db, code, now), secret

    def lecturer_room(self, code: str, secret: str) -> Room | None:
        """The room if `secret` is its lecturer's and it has not expired (closed rooms too); opening
        it counts as a use."""
        now = self.clock()
        with self._write() as db:
            row = db.execute("SELECT secret_hash FROM rooms WHERE code = ?", (code,)).fetchone()
            if row is None or not hmac.compare_digest(row["secret_hash"], _hash(secret)):
                return None
            if self._room(db, code, now) is None:
                return None
            db.execute("UPDATE rooms SET last_used = ? WHERE code = ?", (now, code))
            return self._room(db, code, now)

    def phone_room(self, code: str) -> Room | None:
        """The room a join link names, if it exists and has not expired (closed rooms too)."""
        return self._room(self._db(), code, self.clock())

    def set_model(self, code: str, model: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE rooms SET model = ?, revision = revision + 1 WHERE code = ?", (model, code)
            )

    def close_room(self, code: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE rooms SET closed = 1, revision = revision + 1 WHERE code = ?", (code,)
            )

    def _purge_expired(self, db: sqlite3.Connection, now: float) -> None:
        cutoff = now - self.rules.room_lifetime_hours * 3600
        db.execute("DELETE FROM rooms WHERE last_used < ?", (cutoff,))

    # -- phones --------------------------------------------------------------------------------

    def _open_room(self, db: sqlite3.Connection, code: str, now: float) -> Room:
        room = self._room(db, code, now)
        if room is None:
            raise Refused("This room has ended (rooms close 12 hours after their last use).", 404)
        if room.closed:
            raise Refused("The lecturer has closed this room.", 403)
        return room

    def _join(self, db: sqlite3.Connection, code: str, phone: str, now: float) -> None:
        if db.execute(
            "SELECT 1 FROM phones WHERE room = ? AND phone = ?", (code, phone)
        ).fetchone():
            return
        (phones,) = db.execute("SELECT COUNT(*) FROM phones WHERE room = ?", (code,)).fetchone()
        if phones >= self.rules.phones_per_room:
            raise Refused(f"This room is full ({self.rules.phones_per_room} phones).", 403)
        db.execute("INSERT INTO phones (room, phone, joined) VALUES (?, ?, ?)", (code, phone, now))
        db.execute("UPDATE rooms SET revision = revision + 1 WHERE code = ?", (code,))

    def join(self, code: str, phone: str) -> Room:
        """Count the phone in (once); refused when the room is closed, ended or full."""
        now = self.clock()
        with self._write() as db:
            room = self._open_room(db, code, now)
            self._join(db, code, phone, now)
            return room

    def phones_joined(self, code: str) -> int:
        return (
            self._db().execute("SELECT COUNT(*) FROM phones WHERE room = ?", (code,)).fetchone()[0]
        )

    # -- sentences -----------------------------------------------------------------------------

    def _check_sentence(self, db: sqlite3.Connection, code: str, phone: str, now: float) -> Room:
        rules = self.rules
        room = self._open_room(db, code, now)
        self._join(db, code, phone, now)
        last, sent = db.execute(
            "SELECT MAX(received), COUNT(*) FROM sentences WHERE room = ? AND phone = ?",
            (code, phone),
        ).fetchone()
        if sent >= rules.sentences_per_phone:
            raise Refused(f"You have sent {sent} sentences, this room's limit per phone.")
        if last is not None and now - last < rules.seconds_between_sentences:
            wait = rules.seconds_between_sentences - (now - last)
            raise Refused(
                f"One sentence every {rules.seconds_between_sentences:g} s: wait {wait:.0f} s more."
                if wait >= 1
                else f"One sentence every {rules.seconds_between_sentences:g} s: wait a moment."
            )
        (in_room,) = db.execute("SELECT COUNT(*) FROM sentences WHERE room = ?", (code,)).fetchone()
        if in_room >= rules.sentences_per_room:
            raise Refused(f"This room holds {rules.sentences_per_room} sentences and is full.", 403)
        return room

    def check_sentence(self, code: str, phone: str) -> Room:
        """Refuse early (before the model runs) what `add_sentence` would refuse now."""
        with self._write() as db:  # joining on the way is a write
            return self._check_sentence(db, code, phone, self.clock())

    def add_sentence(
        self, code: str, phone: str, text: str, truncated: bool, reading: Reading
    ) -> int:
        """Keep a read sentence, checking every rule again in the same transaction; returns its id."""
        now = self.clock()
        record = {
            "tokens": list(reading.tokens),
            "labels": list(reading.labels),
            "probabilities": list(reading.probabilities),
            "flips": list(reading.flips),
            "final_probabilities": reading.final_probabilities,
        }
        with self._write() as db:
            self._check_sentence(db, code, phone, now)
            cursor = db.execute(
                "INSERT INTO sentences (room, phone, received, text, truncated, model, reading, "
                "final_label, final_probability, flip_word, surprise, final_state) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    code,
                    phone,
                    now,
                    text,
                    int(truncated),
                    reading.model,
                    json.dumps(record),
                    reading.final_label,
                    reading.final_probability,
                    None if reading.flip_token is None else reading.tokens[reading.flip_token],
                    reading.surprise,
                    np.asarray(reading.final_state, dtype=np.float32).tobytes(),
                ),
            )
            db.execute(
                "UPDATE rooms SET last_used = ?, revision = revision + 1 WHERE code = ?",
                (now, code),
            )
            return int(cursor.lastrowid)

    def sentences(self, code: str) -> list[StoredSentence]:
        """Every sentence of the room, hidden ones included, oldest first."""
        rows = (
            self._db()
            .execute("SELECT * FROM sentences WHERE room = ? ORDER BY id", (code,))
            .fetchall()
        )
        return [_sentence(row) for row in rows]

    def set_hidden(self, code: str, sentence_id: int, hidden: bool) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE sentences SET hidden = ? WHERE room = ? AND id = ?",
                (int(hidden), code, sentence_id),
            )
            db.execute("UPDATE rooms SET revision = revision + 1 WHERE code = ?", (code,))


def _sentence(row: sqlite3.Row) -> StoredSentence:
    return StoredSentence(
        id=row["id"],
        phone=row["phone"],
        received=row["received"],
        text=row["text"],
        truncated=bool(row["truncated"]),
        model=row["model"],
        final_label=row["final_label"],
        final_probability=row["final_probability"],
        flip_word=row["flip_word"],
        surprise=row["surprise"],
        final_state=np.frombuffer(row["final_state"], dtype=np.float32),
        hidden=bool(row["hidden"]),
    )


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT (ROLLBACK on an exception): the write lock is taken at once, so a
    check and the write it allows see the same rows."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind, value, traceback) -> None:
        self.db.execute("ROLLBACK" if kind else "COMMIT")


@functools.cache
def _store(path: str, rules: RoomRules) -> ClassStore:
    return ClassStore(path, rules)


def class_store() -> ClassStore:
    """The process's store, at the configured place with the configured rules."""
    return _store(str(classroom_database()), rules_from_environment())
