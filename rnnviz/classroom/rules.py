"""The rules of a room: how long its code is, how often a phone may send, how much a room holds.

Every limit has a message a phone can show; the numbers are one frozen `RoomRules`, which a
deployment (or a test) may change with $RNNVIZ_CLASS_RULES, a JSON object of the fields to change.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, fields, replace

from rnnviz.analysis.inspection import MAX_TEXT_CHARACTERS
from rnnviz.errors import RnnvizError

# No 0/O, 1/I/L: a code read off a projector is typed without doubt. 31 symbols, 8 of them: 8.5e11
# codes, so with a few hundred live rooms and 20 wrong guesses a minute per address, guessing one
# takes on the order of a hundred thousand years.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
PHONE_TOKEN_LENGTH = 32  # hex characters of the token a phone's page draws and keeps


@dataclass(frozen=True)
class RoomRules:
    seconds_between_sentences: float = 3.0  # per phone: one sentence every few seconds
    sentences_per_phone: int = 30  # per phone and room
    phones_per_room: int = 500
    sentences_per_room: int = 5000
    max_characters: int = MAX_TEXT_CHARACTERS  # longer sentences are cut, and the phone is told
    room_lifetime_hours: float = 12.0  # after the room's last use (a sentence, the lecturer's page)
    failed_lookups_per_minute: int = 20  # per client address: wrong codes, before a pause


def rules_from_environment() -> RoomRules:
    """The default rules, with the fields $RNNVIZ_CLASS_RULES (a JSON object) changes."""
    raw = os.environ.get("RNNVIZ_CLASS_RULES", "").strip()
    if not raw:
        return RoomRules()
    try:
        changes = json.loads(raw)
    except json.JSONDecodeError as error:
        raise RnnvizError(f"RNNVIZ_CLASS_RULES is not JSON: {error}") from None
    known = {f.name: f.type for f in fields(RoomRules)}
    if not isinstance(changes, dict) or not set(changes) <= set(known):
        raise RnnvizError(f"RNNVIZ_CLASS_RULES may set only: {', '.join(known)}")
    return replace(RoomRules(), **changes)


class Refused(RnnvizError):
    """A request the rules turn down; the message is what the phone shows."""

    def __init__(self, message: str, status: int = 429):
        super().__init__(message)
        self.status = status


def new_room_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def new_room_secret() -> str:
    """The lecturer's key: 128 random bits, in the lecturer's link only (the store keeps a hash)."""
    return secrets.token_urlsafe(16)


def normal_code(typed: str) -> str | None:
    """A typed room code in its stored form (case, spaces and dashes ignored), or None if it
    cannot be one."""
    code = "".join(typed.split()).replace("-", "").upper()
    if len(code) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in code):
        return None
    return code


def shown_code(code: str) -> str:
    """The code as the lecturer's screen writes it: two groups of four."""
    return f"{code[:4]}-{code[4:]}"


def valid_phone_token(token: object) -> bool:
    return (
        isinstance(token, str)
        and len(token) == PHONE_TOKEN_LENGTH
        and all(c in "0123456789abcdef" for c in token)
    )


def cut_text(text: str, rules: RoomRules) -> tuple[str, bool]:
    """The sentence as it is read: at most `rules.max_characters`, and whether it was cut."""
    text = text.strip()
    if not text:
        raise Refused("Type a sentence first.", status=400)
    if len(text) <= rules.max_characters:
        return text, False
    return text[: rules.max_characters], True


class LookupLimiter:
    """At most `per_minute` failed room lookups per client address in any 60 s (in this process):
    guessing codes gets nowhere, while a hall's phones behind one address, which look up a code
    that exists, are never slowed."""

    def __init__(self, per_minute: int, clock=time.monotonic):
        self.per_minute = per_minute
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(address, deque())
        while failures and failures[0] <= now - 60.0:
            failures.popleft()
        return failures

    def check(self, address: str) -> None:
        """Refuse the lookup if this address has failed too often in the last minute."""
        with self._lock:
            now = self.clock()
            if len(self._recent(address, now)) >= self.per_minute:
                raise Refused(
                    "Too many wrong room codes from this network; wait a minute and check the code."
                )

    def failed(self, address: str) -> None:
        with self._lock:
            now = self.clock()
            self._recent(address, now).append(now)
            if len(self._failures) > 10_000:  # forget the quiet addresses
                for quiet in [a for a, f in self._failures.items() if not self._recent(a, now)]:
                    del self._failures[quiet]
