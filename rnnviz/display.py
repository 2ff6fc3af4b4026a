"""How tokens and numbers are written for a person: one display label per token, plain decimals."""

from __future__ import annotations

UNKNOWN_MARK = "⟨unk⟩"

_SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def readable_number(value: float, digits: int = 3) -> str:
    """A number as a person reads it: plain decimals (0.928) in everyday ranges, else 1.2 × 10⁻⁸."""
    value = float(value)
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:.{digits}g}" if abs(value) < 1 else f"{value:,.{max(digits - 1, 0)}f}"
    mantissa, exponent = f"{value:.{max(digits - 2, 0)}e}".split("e")
    return f"{mantissa} × 10{str(int(exponent)).translate(_SUPERSCRIPTS)}"


POSITION_MARK = " ·"  # between a token and its position in a label: "not ·3"


def token_display(token: str, unknown: bool = False) -> str:
    """A token as a person reads it: spaces, newlines and control characters visible, unknown marked."""
    visible = token.replace(" ", "␣").replace("\n", "↵").replace("\t", "⇥").replace("\r", "␍")
    visible = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in visible) or "∅"
    return f"{visible}{UNKNOWN_MARK if unknown else ''}"


def token_labels(tokens: list[str], unknown: list[bool] | None = None) -> list[str]:
    """Unique axis labels: each token's display with its position appended ("not ·3")."""
    unknown = unknown or [False] * len(tokens)
    return [
        f"{token_display(token, is_unknown)}{POSITION_MARK}{i}"
        for i, (token, is_unknown) in enumerate(zip(tokens, unknown))
    ]


def token_text(label: str) -> str:
    """A label of `token_labels` without its position: what an axis writes under a column."""
    return label.rsplit(POSITION_MARK, 1)[0]
