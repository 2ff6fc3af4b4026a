"""The training recipes that reproduce every bundled model.

A :class:`Recipe` pins everything that determines a bundled model: data files,
architecture, optimiser settings and the seed.  ``rnnviz train <recipe>``
(rnnviz.training.runs.run_recipe) re-runs it and writes weights, config and a model
card whose numbers come from this very run, so the published metrics are
reproducible, not remembered.

Early stopping keeps the weights of the best validation score (SST-2 dev or
the last 10 % of Tiny Shakespeare) and stops after ``patience`` evaluations
without improvement.  The test split is evaluated once, after training.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Recipe:
    """Everything that determines one bundled model."""

    name: str
    description: str
    task: str  # "classifier" | "language_model"
    cell: str
    data_files: dict[str, str]  # split -> path relative to the data dir
    embedding_dim: int
    hidden_size: int
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    pooling: str = (
        "last"  # classifier head on the final hidden state, or the mean / max of the outputs
    )
    lr: float = 1e-3
    min_lr: float = (
        1e-3  # cosine decay from lr to min_lr over max_steps (LM) / max_epochs (classifier)
    )
    weight_decay: float = 0.0
    clip: float = 1.0
    batch_size: int = 64
    seed: int = 0
    # classifier
    max_epochs: int = 10
    patience: int = 3  # evaluations without dev improvement before stopping
    evals_per_epoch: int = 1
    # Probability of replacing each training token by <unk>.  Every training word is in the
    # vocabulary, so without this the <unk> embedding is never trained although ~6 % of dev
    # tokens are unknown; it also keeps the model from leaning on any single word.
    word_dropout: float = 0.0
    # Words seen fewer times in train are read as <unk>: a smaller embedding table, and <unk> learnt from rare words.
    min_freq: int = 1
    # Greedy checkpoint soup (Wortsman et al. 2022, "Model soups"): keep the weights of the
    # ``soup_candidates`` best dev evaluations; starting from the best, average in each next one
    # only while the dev accuracy of the average does not drop.  0 ships the single best.
    soup_candidates: int = 0
    labels: tuple[str, ...] = ()
    # How the weights are stored: "float16" halves the file (the models share a 25 MB budget); the
    # reported metrics are then measured on the float16-rounded weights that ship.
    weights_dtype: str = "float32"
    # Data sets without a dev split (AG News): this seeded share of train.tsv is held out as dev.
    dev_fraction: float = 0.0
    selection: str = ""  # how the hyper-parameters were chosen, for the card
    # language model
    seq_len: int = 128
    max_steps: int = 3000
    eval_every: int = 250
    val_fraction: float = 0.1


SST2_FILES = {"train": "sst2/train.tsv", "dev": "sst2/dev.tsv", "test": "sst2/test.tsv"}
SST2_LABELS = ("negative", "positive")
AGNEWS_FILES = {"train": "agnews/train.tsv", "test": "agnews/test.tsv"}
AGNEWS_LABELS = ("World", "Sports", "Business", "Sci/Tech")
DEV_SPLIT_SEED = 0  # which rows of a data set without a dev split are held out as dev

AGNEWS_SELECTION = (
    "on the 10 % of train.tsv held out as dev only (one fixed split), one run per setting: a head on the final "
    "hidden state learnt slowly (RNN dev 0.517, LSTM 0.791 after 6 epochs), a head on the mean of the outputs "
    "did not (RNN 0.800, LSTM 0.848 at lr 2e-3/3e-3, dropout 0.4/0.5, 6 epochs); lr 5e-3 and 10 epochs with "
    "embedding 64, dropout 0.3, word dropout 0.05 gave RNN 0.879 and LSTM 0.872, with embedding 128, dropout "
    "0.5, word dropout 0.1 RNN 0.888 and LSTM 0.890 (kept, stored as float16). The RNN's seed is the best of "
    "seeds 0, 1, 2 on dev (0.888, 0.893, 0.888); the LSTM ran with seed 0 only. Test was read by this run "
    "(docs/models.md lists the two earlier runs whose test was also read)."
)

# The two news recipes (the lesson's RNN-vs-LSTM contrast) share one set of settings, chosen on the
# dev part; only the cell and the seed differ.
AGNEWS_SETTINGS = dict(
    task="classifier",
    data_files=AGNEWS_FILES,
    labels=AGNEWS_LABELS,
    pooling="mean",
    embedding_dim=128,
    hidden_size=128,
    dropout=0.5,
    word_dropout=0.1,
    min_freq=2,
    lr=5e-3,
    min_lr=1e-4,
    batch_size=64,
    max_epochs=10,
    patience=8,
    evals_per_epoch=2,
    dev_fraction=0.1,
    weights_dtype="float16",
    selection=AGNEWS_SELECTION,
)

RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in [
        Recipe(
            name="shakespeare-char-lstm",
            description="Character-level LSTM language model (2x256) trained on Tiny Shakespeare.",
            task="language_model",
            cell="lstm",
            data_files={"text": "tinyshakespeare/input.txt"},
            embedding_dim=64,
            hidden_size=256,
            num_layers=2,
            dropout=0.1,
            lr=2e-3,
            min_lr=1e-4,
            batch_size=64,
            seq_len=128,
            max_steps=3500,
            eval_every=250,
            patience=4,
            seed=0,
        ),
        Recipe(
            name="sst2-lstm",
            description="Word-level LSTM sentiment classifier (SST-2), linear head on the final hidden state.",
            task="classifier",
            cell="lstm",
            data_files=SST2_FILES,
            labels=SST2_LABELS,
            embedding_dim=128,
            hidden_size=256,
            dropout=0.5,
            word_dropout=0.1,
            lr=3e-3,
            min_lr=1e-4,
            batch_size=64,
            max_epochs=8,
            patience=6,
            evals_per_epoch=3,
            seed=0,
            weights_dtype="float16",
            selection="8 settings (the previous recipe and 7 variants of embedding 64/128, hidden 128/256, dropout "
            "0.4/0.5, word dropout 0.1/0.2, lr 1e-3/2e-3/3e-3 and epochs), each trained once with seed 0 "
            "and compared on dev accuracy only (0.833–0.850); this is the best. Test was read once, after "
            "the choice.",
        ),
        Recipe(
            name="sst2-bilstm",
            description="2-layer bidirectional LSTM sentiment classifier (SST-2); the lesson's best model.",
            task="classifier",
            cell="lstm",
            data_files=SST2_FILES,
            labels=SST2_LABELS,
            embedding_dim=64,
            hidden_size=128,
            num_layers=2,
            bidirectional=True,
            dropout=0.3,
            word_dropout=0.05,
            lr=2e-3,
            min_lr=1e-4,
            batch_size=64,
            max_epochs=10,
            patience=9,
            evals_per_epoch=3,
            seed=0,
        ),
        Recipe(
            name="sst2-gru",
            description="Word-level GRU sentiment classifier (SST-2), same size as sst2-lstm.",
            task="classifier",
            cell="gru",
            data_files=SST2_FILES,
            labels=SST2_LABELS,
            embedding_dim=64,
            hidden_size=128,
            dropout=0.4,
            word_dropout=0.1,
            lr=2e-3,
            min_lr=1e-4,
            batch_size=64,
            max_epochs=6,
            patience=6,
            evals_per_epoch=3,
            seed=0,
        ),
        Recipe(
            name="agnews-lstm",
            description="Word-level LSTM news-topic classifier (AG News: World, Sports, Business, Sci/Tech), "
            "linear head on the mean of its outputs.",
            cell="lstm",
            seed=0,
            **AGNEWS_SETTINGS,
        ),
        Recipe(
            name="agnews-rnn",
            description="Vanilla tanh RNN news-topic classifier (AG News: World, Sports, Business, Sci/Tech), "
            "linear head on the mean of its outputs, as the lesson writes it.",
            cell="rnn",
            seed=1,  # the best of seeds 0-2 on the dev part
            **AGNEWS_SETTINGS,
        ),
        Recipe(
            name="sst2-rnn",
            description="Vanilla tanh RNN sentiment classifier (SST-2); the lesson's simple RNN.",
            task="classifier",
            cell="rnn",
            data_files=SST2_FILES,
            labels=SST2_LABELS,
            embedding_dim=64,
            hidden_size=128,
            dropout=0.4,
            word_dropout=0.1,
            lr=1e-3,
            min_lr=1e-4,
            batch_size=64,
            max_epochs=6,
            patience=6,
            evals_per_epoch=3,
            seed=0,
        ),
    ]
}
