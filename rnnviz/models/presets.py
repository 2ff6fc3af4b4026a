"""Example inputs per task: the lesson's negation pairs, Shakespeare lines and news headlines.

A pair is written "first  ⟷  second": choosing it fills the sentence and the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

PAIR = "  ⟷  "

# A long review from SST-2's test split (41 tokens, none unknown) for the vanishing-gradient lesson: the
# predicted class's ‖∂y/∂h_t‖ at the first token over that at the last is 1.4 × 10⁻¹⁰ on sst2-rnn, 0.08
# on sst2-lstm and 0.14 on sst2-gru (README, "Vanishing gradients"; tests/test_retention.py checks it).
VANISHING_GRADIENT_TEXT = (
    "a tender and touching drama , based on the true story of a troubled african-american 's quest to "
    "come to terms with his origins , reveals the yearning we all have in our hearts for acceptance "
    "within the family circle ."
)

SENTIMENT = [
    f"the movie was not good{PAIR}the movie was good",
    f"the movie was not bad{PAIR}the movie was bad",
    f"it is never boring{PAIR}it is boring",
    f"i did n't love it{PAIR}i loved it",
    f"not a very enjoyable film{PAIR}a very enjoyable film",
    f"it was not a waste of time{PAIR}it was a waste of time",
    "the acting is great , but the plot is thin and the ending is n't worth the wait",
    VANISHING_GRADIENT_TEXT,
]

SHAKESPEARE = [
    "First Citizen:\nBefore we proceed any further, hear me speak.",
    "ROMEO:\nBut, soft! what light through yonder window breaks?",
    "KING RICHARD III:\nNow is the winter of our discontent\nMade glorious summer by this sun of York;",
    "My favourite dish is sushi. So, my favourite cuisine is",
]


# AG News style: a headline and the start of its story, as the models read them (title + description);
# two per class, then pairs whose topic turns on a few words (the prediction curve shows where).
NEWS_LABELS = ("World", "Sports", "Business", "Sci/Tech")
NEWS = [
    "Rebels agree to ceasefire talks in Sudan Government and rebel leaders will meet in Nigeria next week, "
    "the African Union said on Tuesday, as aid agencies warned of famine in Darfur.",
    "Iraq election date set despite attacks Iraqi officials said national elections will go ahead in January "
    "even as car bombs killed dozens in Baghdad and Mosul.",
    "Yankees rally past Red Sox in ninth Derek Jeter singled home the winning run as New York came back from "
    "three runs down to beat Boston 5-4 on Sunday night.",
    "Federer cruises into US Open semifinals Top seed Roger Federer beat Andre Agassi in straight sets to "
    "reach the last four at Flushing Meadows.",
    "Oil prices climb as OPEC weighs output cut Crude futures rose above $50 a barrel on Monday, pushing "
    "stocks lower as investors worried about inflation and slower profits.",
    "Wal-Mart sales rise less than expected The world's largest retailer said same-store sales grew 2 percent "
    "in November, below Wall Street forecasts, and its shares fell.",
    "Microsoft patches critical Windows flaw The software maker released a security update for Internet "
    "Explorer after researchers found a hole that lets viruses take over a PC.",
    "NASA probe sends back images of Saturn moon The Cassini spacecraft flew past Titan and returned the "
    "sharpest pictures yet of its haze-covered surface, scientists said.",
    f"Google shares jump after strong quarterly profit{PAIR}Google launches desktop search software",
    f"Olympic stadium costs push Greece deficit higher{PAIR}Olympic champion wins gold in Athens stadium",
]


def presets_for(task: str, labels: tuple[str, ...] | list[str] = ()) -> list[str]:
    """Examples for a model: news headlines for a classifier with the AG News classes, else by task."""
    if task == "classifier" and tuple(labels) == NEWS_LABELS:
        return NEWS
    return {"classifier": SENTIMENT, "language_model": SHAKESPEARE}.get(task, [])


def first_text(task: str, labels: tuple[str, ...] | list[str] = (), second: bool = False) -> str:
    """The first example for a model, or with `second` the text to compare it with: its pair's second
    half, else the next example of the same kind (another headline, another line of Shakespeare)."""
    presets = presets_for(task, labels)
    first, _, other = presets[0].partition(PAIR)
    if not second:
        return first
    return other or (presets[1].partition(PAIR)[0] if len(presets) > 1 else first)


@dataclass(frozen=True)
class WhatIfExample:
    """A bundled model's lesson edit for the What if view: set to 0, from token `step` on, the
    `quantity` of the `top` units whose ablation moves the prediction most (layer, direction), on
    `text`; `before` and `after` are the predictions after the last token that a rerun gives
    (tests/test_whatif_examples.py reruns every one)."""

    text: str
    step: int
    token: str  # the token at `step`, for the wording
    quantity: str  # "cell" or "hidden": what the edit sets
    top: int
    before: str
    after: str
    text2: str = ""  # the comparison text the example also fills ("" keeps the current one)
    layer: int = 0
    direction: str = "forward"


# Found by searching each model's own presets (every token, k in 5, 10, 20, 40, the cell and the hidden
# state) for the smallest edit that turns the prediction; each reruns as stated in the tests.
WHATIF_EXAMPLES = {
    "sst2-lstm": WhatIfExample(
        "the movie was not good", 3, "not", "cell", 40, "negative", "positive", "the movie was good"
    ),
    "sst2-gru": WhatIfExample(
        "the movie was not good",
        3,
        "not",
        "hidden",
        20,
        "negative",
        "positive",
        "the movie was good",
    ),
    "sst2-rnn": WhatIfExample(
        "the movie was not good",
        3,
        "not",
        "hidden",
        20,
        "negative",
        "positive",
        "the movie was good",
    ),
    # on "the movie was not good" no k up to 40 in any layer or direction turns sst2-bilstm's prediction
    "sst2-bilstm": WhatIfExample(
        "not a very enjoyable film",
        0,
        "not",
        "hidden",
        5,
        "negative",
        "positive",
        "a very enjoyable film",
    ),
    "agnews-lstm": WhatIfExample(
        "Google shares jump after strong quarterly profit",
        3,
        "after",
        "cell",
        10,
        "Business",
        "Sci/Tech",
        "Google launches desktop search software",
    ),
    "agnews-rnn": WhatIfExample(
        "Google shares jump after strong quarterly profit",
        1,
        "shares",
        "hidden",
        40,
        "Business",
        "Sci/Tech",
        "Google launches desktop search software",
    ),
    "shakespeare-char-lstm": WhatIfExample(
        "My favourite dish is sushi. So, my favourite cuisine is", 21, "s", "cell", 5, "\n", " "
    ),
}
