"""Command-line interface: ``rnnviz train ...``, ``rnnviz models``.

Subcommands register themselves in :data:`COMMANDS` (name → function that adds
its parser), so further commands (``trace``, ``app``) can be added without
touching the existing ones.  User errors (:class:`RnnvizError`) print one line
on stderr and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Callable

from .errors import RnnvizError

Register = Callable[[argparse._SubParsersAction], None]
COMMANDS: dict[str, Register] = {}


def command(name: str) -> Callable[[Register], Register]:
    def deco(fn: Register) -> Register:
        COMMANDS[name] = fn
        return fn
    return deco


@command("train")
def _register_train(sub: argparse._SubParsersAction) -> None:
    from .train import DEFAULT_DATA_DIR, RECIPES

    p = sub.add_parser("train", help="train a bundled model from its recipe, or a classifier on your own CSV/TSV",
                       description="Recipes: " + ", ".join(RECIPES) + ". Use 'custom' with --data for your own file.")
    p.add_argument("recipe", choices=[*RECIPES, "custom"], help="recipe name, or 'custom'")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                   help=f"folder holding sst2/ and tinyshakespeare/ (default: {DEFAULT_DATA_DIR})")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: pretrained/<recipe> for recipes; required for custom)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    g = p.add_argument_group("custom")
    g.add_argument("--data", type=Path, help="CSV or TSV file with a header row (custom only)")
    g.add_argument("--text-column", default="text")
    g.add_argument("--label-column", default="label")
    g.add_argument("--name", default=None, help="model name (default: the file's stem)")
    g.add_argument("--cell", choices=["lstm", "gru", "rnn"], default="lstm")
    g.add_argument("--epochs", type=int, default=5)
    g.add_argument("--hidden-size", type=int, default=128)
    g.add_argument("--batch-size", type=int, default=64)
    g.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (cosine-decayed to lr/20)")
    g.add_argument("--val-fraction", type=float, default=0.1)
    g.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_train)


def _cmd_train(args: argparse.Namespace) -> int:
    from .train import RECIPES, run_custom, run_recipe

    cmd = "rnnviz " + " ".join(shlex.quote(a) for a in args.argv)
    if args.recipe == "custom":
        if args.data is None or args.out is None:
            raise RnnvizError("'rnnviz train custom' needs --data FILE and --out FOLDER")
        res = run_custom(args.data, args.out, text_column=args.text_column, label_column=args.label_column,
                         name=args.name, cell=args.cell, val_fraction=args.val_fraction, seed=args.seed,
                         max_epochs=args.epochs, hidden_size=args.hidden_size, batch_size=args.batch_size,
                         lr=args.lr, progress=not args.no_progress,
                         threads=args.threads, command=cmd)
    else:
        recipe = RECIPES[args.recipe]
        # --out, --data-dir, --threads and --no-progress do not change what is trained, so the card
        # records the canonical command (the data's sha256 and the thread count are recorded separately)
        res = run_recipe(recipe, args.data_dir, args.out, progress=not args.no_progress, threads=args.threads)
    shown = {k: v for k, v in res.metrics.items() if not isinstance(v, (list, dict))}
    print(f"wrote {res.folder} in {res.seconds:.0f} s: " + ", ".join(f"{k}={v}" for k, v in shown.items()))
    return 0


_TABLE_METRICS = [
    ("dev_accuracy", "dev acc"), ("test_accuracy", "test acc"), ("contrast_accuracy", "negation"),
    ("val_loss_nats_per_char", "val loss (nats/char)"), ("training_seconds", "train s"),
]


@command("models")
def _register_models(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list bundled models with their metrics")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table with reproducing commands")
    p.set_defaults(func=_cmd_models)


def models_table() -> list[list[str]]:
    """Rows (header first) of the bundled-model table, read from each model's config.json."""
    from .models import PRETRAINED_DIR, bundled_names, read_config

    rows = [["name", "task", "cell", "layers", "hidden", *[h for _, h in _TABLE_METRICS]]]
    for name in bundled_names():
        cfg, _ = read_config(PRETRAINED_DIR / name)
        layers = f"{cfg.num_layers}{' bi' if cfg.bidirectional else ''}"
        rows.append([name, cfg.task, cfg.cell, layers, str(cfg.hidden_size),
                     *[_fmt(cfg.metrics.get(k)) for k, _ in _TABLE_METRICS]])
    return rows


def _fmt(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}" if v < 100 else f"{v:.0f}"
    return str(v)


def _cmd_models(args: argparse.Namespace) -> int:
    rows = models_table()
    if len(rows) == 1:
        print("no bundled models found")
        return 0
    if args.markdown:
        rows = [r + ["reproduce"] for r in rows]
        for r in rows[1:]:
            r[-1] = f"`rnnviz train {r[0]}`"
        print("| " + " | ".join(rows[0]) + " |")
        print("|" + "---|" * len(rows[0]))
        for r in rows[1:]:
            print("| " + " | ".join(r) + " |")
        return 0
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for j, r in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if j == 0:
            print("  ".join("-" * w for w in widths))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnnviz", description="See inside recurrent neural networks.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMANDS.values():
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv  # recorded verbatim in model cards as the reproducing command
    try:
        return int(args.func(args) or 0)
    except RnnvizError as e:
        print(f"rnnviz: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rnnviz: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
