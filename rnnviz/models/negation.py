"""A small hand-written negation contrast set for the sentiment models.

Negation is the lesson's own example of why recurrence matters: a bag of words
cannot tell "good" from "not good".  Each pair differs by a negation (or its
removal) and flips the label.  It is used only to *measure* models (cards,
tests); it is never used for training or model selection.
Labels follow SST-2: 1 = positive, 0 = negative.
"""

from __future__ import annotations

CONTRAST_PAIRS: tuple[tuple[tuple[str, int], tuple[str, int]], ...] = (
    (("the movie was good", 1), ("the movie was not good", 0)),
    (("the movie was bad", 0), ("the movie was not bad", 1)),
    (("it is boring", 0), ("it is never boring", 1)),
    (("i loved it", 1), ("i did n't love it", 0)),
    (("the acting is great", 1), ("the acting is not great", 0)),
    (("the plot is funny", 1), ("the plot is not funny", 0)),
    (("this film is terrible", 0), ("this film is not terrible", 1)),
    (("the story is interesting", 1), ("the story is not interesting", 0)),
    (("a dull movie", 0), ("a movie that is never dull", 1)),
    (("i liked this film", 1), ("i did n't like this film", 0)),
    (("the ending works", 1), ("the ending does n't work", 0)),
    (("it is worth seeing", 1), ("it is not worth seeing", 0)),
    (("the jokes are awful", 0), ("the jokes are n't awful", 1)),
    (("the performances are convincing", 1), ("the performances are not convincing", 0)),
    (("a very enjoyable film", 1), ("not a very enjoyable film", 0)),
    (("the script is smart", 1), ("the script is not smart", 0)),
    (("it was a waste of time", 0), ("it was not a waste of time", 1)),
    (("the film is disappointing", 0), ("the film is never disappointing", 1)),
    (("the characters are believable", 1), ("the characters are n't believable", 0)),
    (("i recommend it", 1), ("i can not recommend it", 0)),
)


def contrast_examples() -> list[tuple[str, int]]:
    """All sentences of the contrast set, flattened, with their labels."""
    return [ex for pair in CONTRAST_PAIRS for ex in pair]
