"""Training runs end to end on tiny data written here, in seconds; CLI behaviour."""

from __future__ import annotations

import json
import math
import random
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import rnnviz
from rnnviz.analysis.predict import class_probabilities_per_step, next_token_distribution
from rnnviz.cli import main, models_table
from rnnviz.training.data import sha256_of
from rnnviz.training.recipes import RECIPES
from rnnviz.training.runs import run_recipe

POS = ["good", "great", "fun", "moving", "smart"]
NEG = ["bad", "dull", "boring", "awful", "flat"]


def _sentiment_rows(n: int, seed: int) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        y = rng.randint(0, 1)
        rows.append(
            (
                f"the film is {rng.choice(POS if y else NEG)} and {rng.choice(['long', 'short', 'new'])}",
                y,
            )
        )
    return rows


def _write_sst2(root: Path) -> Path:
    (root / "sst2").mkdir(parents=True)
    for name, n, seed in (("train", 300, 0), ("dev", 60, 1), ("test", 60, 2)):
        lines = ["sentence\tlabel"] + [f"{t} \t{y}" for t, y in _sentiment_rows(n, seed)]
        (root / "sst2" / f"{name}.tsv").write_text("\n".join(lines) + "\n")
    return root


def test_classifier_recipe_trains_end_to_end_and_writes_a_loadable_model(tmp_path):
    data = _write_sst2(tmp_path / "data")
    recipe = replace(
        RECIPES["sst2-bilstm"], embedding_dim=8, hidden_size=8, max_epochs=4, batch_size=16, lr=1e-2
    )
    res = run_recipe(recipe, data, tmp_path / "out", progress=False)
    m = rnnviz.load(tmp_path / "out")
    assert m.config.bidirectional and m.config.num_layers == 2
    assert m.config.metrics["dev_accuracy"] >= 0.9  # the synthetic task is trivially separable
    assert 0.0 <= m.config.metrics["contrast_accuracy"] <= 1.0
    card = (tmp_path / "out" / "README.md").read_text()
    assert sha256_of(data / "sst2" / "train.tsv") in card
    assert "rnnviz train sst2-bilstm" in card and "seed: 0" in card and "training time" in card
    assert class_probabilities_per_step(m, "the film is good").shape == (4, 2)
    # the card states this run's own time (a speed goal is a bench/ figure, not a test)
    assert f"training time: {res.metrics['training_seconds']} s" in card
    assert res.metrics["training_seconds"] == round(res.seconds, 1)


def test_training_is_reproducible_with_the_same_seed(tmp_path):
    data = _write_sst2(tmp_path / "data")
    recipe = replace(
        RECIPES["sst2-gru"], embedding_dim=6, hidden_size=6, max_epochs=1, batch_size=32
    )
    run_recipe(recipe, data, tmp_path / "a", progress=False)
    run_recipe(recipe, data, tmp_path / "b", progress=False)
    a, b = rnnviz.load(tmp_path / "a"), rnnviz.load(tmp_path / "b")
    for k, v in a.module.state_dict().items():
        assert torch.equal(v, b.module.state_dict()[k]), k
    assert a.config.metrics["dev_accuracy"] == b.config.metrics["dev_accuracy"]


def test_greedy_soup_averages_only_checkpoints_that_keep_dev_accuracy():
    from rnnviz.training.classifier import evaluate_classifier, greedy_soup

    torch.manual_seed(0)
    module = _TinyClassifier()
    good = {k: v.clone() for k, v in module.state_dict().items()}
    # a checkpoint that inverts the decision: averaging it in would ruin dev accuracy
    flipped = {k: -v for k, v in good.items()}
    nearby = {k: v * 1.5 for k, v in good.items()}
    dev = [([1], 1), ([2], 0), ([1], 1), ([2], 0)]
    module.load_state_dict(good)
    best = evaluate_classifier(module, dev)["accuracy"]
    assert best == 1.0
    epochs = greedy_soup(module, [(1.0, 3.0, good), (0.0, 1.0, flipped), (1.0, 4.0, nearby)], dev)
    assert epochs == [3.0, 4.0]  # the flipped checkpoint was tried and left out
    for k, v in module.state_dict().items():
        assert torch.allclose(v, (good[k] + nearby[k]) / 2), k
    assert evaluate_classifier(module, dev)["accuracy"] >= best


class _TinyClassifier(torch.nn.Module):
    """Token 1 means class 1, token 2 class 0: a bag-of-embeddings classifier to exercise the soup."""

    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(3, 2)
        with torch.no_grad():
            self.emb.weight.copy_(torch.tensor([[0.0, 0.0], [-1.0, 1.0], [1.0, -1.0]]))

    def forward(self, ids, lengths):
        return self.emb(ids).sum(1)


def test_a_soup_recipe_reports_the_single_best_and_the_averaged_epochs(tmp_path):
    data = _write_sst2(tmp_path / "data")
    recipe = replace(
        RECIPES["sst2-gru"],
        embedding_dim=8,
        hidden_size=8,
        max_epochs=3,
        batch_size=16,
        lr=1e-2,
        soup_candidates=4,
    )
    run_recipe(recipe, data, tmp_path / "out", progress=False)
    metrics = rnnviz.load(tmp_path / "out").config.metrics
    assert 1 <= len(metrics["soup_epochs"]) <= 4
    assert metrics["dev_accuracy"] >= metrics["best_single_dev_accuracy"] - 1e-9


def test_language_model_recipe_trains_end_to_end(tmp_path):
    (tmp_path / "data" / "tinyshakespeare").mkdir(parents=True)
    (tmp_path / "data" / "tinyshakespeare" / "input.txt").write_text(
        "to be or not to be, that is the question.\n" * 40
    )
    recipe = replace(
        RECIPES["shakespeare-char-lstm"],
        embedding_dim=8,
        hidden_size=16,
        seq_len=16,
        batch_size=8,
        max_steps=150,
        eval_every=50,
        lr=1e-2,
        min_lr=1e-3,
    )
    run_recipe(recipe, tmp_path / "data", tmp_path / "lm", progress=False)
    m = rnnviz.load(tmp_path / "lm")
    assert m.config.task == "language_model"
    history_loss = m.config.metrics["val_loss_nats_per_char"]
    assert history_loss < 2.0  # repetitive text: far below uniform (~2.8 nats over 17 symbols)
    assert next_token_distribution(m, "to be").shape == (5, m.config.vocab_size)


@pytest.mark.parametrize("suffix, sep", [(".csv", ","), (".tsv", "\t")])
def test_custom_csv_classifier_via_cli(tmp_path, suffix, sep, capsys):
    rng = random.Random(0)
    topics = {
        "sports": ["match", "goal", "team"],
        "world": ["election", "treaty", "war"],
        "tech": ["chip", "app", "ai"],
    }
    lines = [f"title{sep}topic"]
    for _ in range(240):
        topic = rng.choice(list(topics))
        lines.append(f"new {rng.choice(topics[topic])} news today{sep}{topic}")
    f = tmp_path / f"ag{suffix}"
    f.write_text("\n".join(lines) + "\n")
    rc = main(
        [
            "train",
            "custom",
            "--data",
            str(f),
            "--text-column",
            "title",
            "--label-column",
            "topic",
            "--out",
            str(tmp_path / "ag"),
            "--epochs",
            "6",
            "--hidden-size",
            "16",
            "--batch-size",
            "16",
            "--lr",
            "1e-2",
            "--no-progress",
        ]
    )
    assert rc == 0
    assert "val_accuracy" in capsys.readouterr().out
    m = rnnviz.load(tmp_path / "ag")
    assert m.config.labels == ["sports", "tech", "world"]
    assert m.config.metrics["val_accuracy"] >= 0.9
    assert "--text-column title" in (tmp_path / "ag" / "README.md").read_text()


def test_cli_errors_are_one_line_and_exit_2(tmp_path, capsys):
    rc = main(
        [
            "train",
            "sst2-lstm",
            "--data-dir",
            str(tmp_path / "nowhere"),
            "--out",
            str(tmp_path / "x"),
        ]
    )
    err = capsys.readouterr().err
    assert (
        rc == 2 and err.count("\n") == 1 and "data file not found" in err and "Traceback" not in err
    )
    f = tmp_path / "d.csv"
    f.write_text("text,label\nhello,a\n")
    rc = main(
        ["train", "custom", "--data", str(f), "--text-column", "body", "--out", str(tmp_path / "y")]
    )
    assert rc == 2 and "no column 'body'" in capsys.readouterr().err
    rc = main(["train", "custom", "--data", str(f)])
    assert rc == 2 and "needs --data FILE and --out FOLDER" in capsys.readouterr().err


def test_models_command_lists_every_bundled_model_with_metrics(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in RECIPES:
        assert name in out
    header, *rows = models_table()
    assert "test acc" in header and len(rows) == len(RECIPES)


def test_every_bundled_model_has_a_recipe_that_matches_its_config():
    for name, recipe in RECIPES.items():
        cfg = json.loads(
            (Path(rnnviz.models.architectures.PRETRAINED_DIR) / name / "config.json").read_text()
        )["model"]
        assert (
            cfg["cell"],
            cfg["hidden_size"],
            cfg["num_layers"],
            cfg["bidirectional"],
            cfg["embedding_dim"],
        ) == (
            recipe.cell,
            recipe.hidden_size,
            recipe.num_layers,
            recipe.bidirectional,
            recipe.embedding_dim,
        )


# ---- the one training loop (rnnviz.training.loop), against steps written out by hand ----


def _regression_setup(seed: int = 0):
    torch.manual_seed(seed)
    module = torch.nn.Linear(3, 1)
    data = [(torch.randn(4, 3), torch.randn(4, 1)) for _ in range(6)]
    return module, data


def test_the_loop_takes_the_same_steps_as_sgd_written_out_by_hand_with_schedule_and_clipping():
    from rnnviz.training.loop import cosine_lr, train_loop

    module, data = _regression_setup()
    by_hand = {k: v.clone() for k, v in module.state_dict().items()}
    for step, (x, y) in enumerate(data):
        w, b = by_hand["weight"].clone().requires_grad_(), by_hand["bias"].clone().requires_grad_()
        loss = ((x @ w.T + b - y) ** 2).mean()
        gw, gb = torch.autograd.grad(loss, (w, b))
        norm = torch.sqrt(gw.pow(2).sum() + gb.pow(2).sum())
        scale = min(1.0, 0.5 / (float(norm) + 1e-6))  # clip_grad_norm_ to 0.5
        lr = 0.1 + 0.5 * (0.3 - 0.1) * (1 + math.cos(math.pi * step / 6))  # cosine 0.3 → 0.1
        by_hand = {"weight": w.detach() - lr * scale * gw, "bias": b.detach() - lr * scale * gb}
    seen = []
    end = train_loop(
        module,
        torch.optim.SGD(module.parameters(), lr=1.0),
        data,
        lambda batch: ((module(batch[0]) - batch[1]) ** 2).mean(),
        max_steps=100,
        clip=0.5,
        learning_rate=lambda step: cosine_lr(step, 6, 0.3, 0.1),
        on_step=lambda step, loss: seen.append(step),
    )
    assert (end.steps, end.reason, seen) == (6, "data", [1, 2, 3, 4, 5, 6])
    for k, v in module.state_dict().items():
        torch.testing.assert_close(v, by_hand[k], rtol=1e-5, atol=1e-6)


def test_the_loop_ends_at_max_steps_at_a_checkpoint_that_says_so_or_at_a_stop_request():
    import threading

    from rnnviz.training.loop import KeepBest, train_loop

    def run(**kwargs):
        module, data = _regression_setup()
        optimizer = torch.optim.SGD(module.parameters(), lr=0.01)
        loss_of = lambda batch: ((module(batch[0]) - batch[1]) ** 2).mean()  # noqa: E731
        return train_loop(module, optimizer, data, loss_of, **kwargs)

    checked = []
    end = run(max_steps=5, checkpoint_after=lambda s: s % 2 == 0, checkpoint=checked.append)
    assert (end.steps, end.reason, checked) == (5, "steps", [2, 4, 5])  # and after the last step
    end = run(checkpoint_after=lambda s: True, checkpoint=lambda s: s == 3)
    assert (end.steps, end.reason) == (3, "checkpoint")
    stop = threading.Event()
    stop.set()
    assert run(stop=stop) == type(end)(0, "stopped")  # stopped before the first step: none taken
    # early stopping: patience 2 ends on the second evaluation in a row without improvement
    module = torch.nn.Linear(1, 1)
    best = KeepBest(patience=2, higher_is_better=True)
    scores = [0.5, 0.7, 0.6, 0.7]
    ends = [best.update(module, score, at) for at, score in enumerate(scores)]
    assert ends == [False, False, False, True] and (best.score, best.at) == (0.7, 1)
