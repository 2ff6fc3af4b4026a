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


def token_labels(tokens: list[str], unknown: list[bool] | None = None) -> list[str]:
    """Readable, unique axis labels: spaces and newlines visible, unknown marked, position appended."""
    unknown = unknown or [False] * len(tokens)
    labels = []
    for i, (token, is_unknown) in enumerate(zip(tokens, unknown)):
        visible = token.replace(" ", "␣").replace("\n", "↵").replace("\t", "⇥").replace("\r", "␍")
        visible = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in visible) or "∅"
        labels.append(f"{visible}{UNKNOWN_MARK if is_unknown else ''} ·{i}")
    return labels


def token_text(label: str) -> str:
    """A token's label without its position: what an axis writes under a column."""
    return label.rsplit(" ·", 1)[0]
