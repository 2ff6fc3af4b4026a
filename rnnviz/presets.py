"""Example inputs per task: the lesson's negation pairs and Shakespeare lines.

A pair is written "first  ⟷  second": choosing it fills the sentence and the comparison.
"""

from __future__ import annotations

PAIR = "  ⟷  "

SENTIMENT = [
    f"the movie was not good{PAIR}the movie was good",
    f"the movie was not bad{PAIR}the movie was bad",
    f"it is never boring{PAIR}it is boring",
    f"i did n't love it{PAIR}i loved it",
    f"not a very enjoyable film{PAIR}a very enjoyable film",
    f"it was not a waste of time{PAIR}it was a waste of time",
    "the acting is great , but the plot is thin and the ending is n't worth the wait",
]

SHAKESPEARE = [
    "First Citizen:\nBefore we proceed any further, hear me speak.",
    "ROMEO:\nBut, soft! what light through yonder window breaks?",
    "KING RICHARD III:\nNow is the winter of our discontent\nMade glorious summer by this sun of York;",
    "My favourite dish is sushi. So, my favourite cuisine is",
]


def presets_for(task: str) -> list[str]:
    return {"classifier": SENTIMENT, "language_model": SHAKESPEARE}.get(task, [])


def first_text(task: str, second: bool = False) -> str:
    """The first example of a task (or its pair's second half, else the same text again)."""
    first, _, other = presets_for(task)[0].partition(PAIR)
    return (other or first) if second else first
