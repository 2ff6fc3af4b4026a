"""Command-line interface: ``rnnviz train ...``, ``rnnviz models``.

Subcommands register themselves in :data:`COMMANDS` (name → function that adds
its parser), so further commands (``trace``, ``app``) can be added without
touching the existing ones.  User errors (:class:`RnnvizError`) print one line
on stderr and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import Callable

from rnnviz.core.quantities import CELL_KINDS
from rnnviz.errors import RnnvizError

Register = Callable[[argparse._SubParsersAction], None]
COMMANDS: dict[str, Register] = {}


def command(name: str) -> Callable[[Register], Register]:
    def deco(fn: Register) -> Register:
        COMMANDS[name] = fn
        return fn

    return deco


@command("train")
def _register_train(sub: argparse._SubParsersAction) -> None:
    from rnnviz.training.data import DEFAULT_DATA_DIR
    from rnnviz.training.recipes import RECIPES

    p = sub.add_parser(
        "train",
        help="train a bundled model from its recipe, or a classifier on your own CSV/TSV",
        description="Recipes: "
        + ", ".join(RECIPES)
        + ". Use 'custom' with --data for your own file.",
    )
    p.add_argument("recipe", choices=[*RECIPES, "custom"], help="recipe name, or 'custom'")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help=f"folder holding sst2/ and tinyshakespeare/ (default: {DEFAULT_DATA_DIR})",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: pretrained/<recipe> for recipes; required for custom)",
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    g = p.add_argument_group("custom")
    g.add_argument("--data", type=Path, help="CSV or TSV file with a header row (custom only)")
    g.add_argument("--text-column", default="text")
    g.add_argument("--label-column", default="label")
    g.add_argument("--name", default=None, help="model name (default: the file's stem)")
    g.add_argument("--cell", dest="cell_kind", choices=CELL_KINDS, default="lstm")
    g.add_argument("--epochs", type=int, default=5)
    g.add_argument("--hidden-size", type=int, default=128)
    g.add_argument("--batch-size", type=int, default=64)
    g.add_argument(
        "--lr", type=float, default=2e-3, help="peak learning rate (cosine-decayed to lr/20)"
    )
    g.add_argument("--val-fraction", type=float, default=0.1)
    g.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_train)


def _cmd_train(args: argparse.Namespace) -> int:
    from rnnviz.training.recipes import RECIPES
    from rnnviz.training.runs import run_custom, run_recipe

    cmd = "rnnviz " + " ".join(shlex.quote(a) for a in args.argv)
    if args.recipe == "custom":
        if args.data is None or args.out is None:
            raise RnnvizError("'rnnviz train custom' needs --data FILE and --out FOLDER")
        res = run_custom(
            args.data,
            args.out,
            text_column=args.text_column,
            label_column=args.label_column,
            name=args.name,
            cell_kind=args.cell_kind,
            val_fraction=args.val_fraction,
            seed=args.seed,
            max_epochs=args.epochs,
            hidden_size=args.hidden_size,
            batch_size=args.batch_size,
            lr=args.lr,
            progress=not args.no_progress,
            threads=args.threads,
            command=cmd,
        )
    else:
        recipe = RECIPES[args.recipe]
        # --out, --data-dir, --threads and --no-progress do not change what is trained, so the card
        # records the canonical command (the data's sha256 and the thread count are recorded separately)
        res = run_recipe(
            recipe, args.data_dir, args.out, progress=not args.no_progress, threads=args.threads
        )
    shown = {k: v for k, v in res.metrics.items() if not isinstance(v, (list, dict))}
    print(
        f"wrote {res.folder} in {res.seconds:.0f} s: "
        + ", ".join(f"{k}={v}" for k, v in shown.items())
    )
    return 0


_TABLE_METRICS = [
    ("dev_accuracy", "dev acc"),
    ("test_accuracy", "test acc"),
    ("contrast_accuracy", "negation"),
    ("val_loss_nats_per_char", "val loss (nats/char)"),
    ("training_seconds", "train s"),
]


@command("models")
def _register_models(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list bundled models with their metrics")
    p.add_argument(
        "--markdown", action="store_true", help="print a Markdown table with reproducing commands"
    )
    p.set_defaults(func=_cmd_models)


def models_table() -> list[list[str]]:
    """Rows (header first) of the bundled-model table, read from each model's config.json."""
    from rnnviz.models.architectures import PRETRAINED_DIR, bundled_names, read_config

    rows = [["name", "task", "cell", "layers", "hidden", *[h for _, h in _TABLE_METRICS]]]
    for name in bundled_names():
        cfg, _ = read_config(PRETRAINED_DIR / name)
        layers = f"{cfg.num_layers}{' bi' if cfg.bidirectional else ''}"
        rows.append(
            [
                name,
                cfg.task,
                cfg.cell_kind,
                layers,
                str(cfg.hidden_size),
                *[_fmt(cfg.metrics.get(k)) for k, _ in _TABLE_METRICS],
            ]
        )
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


@command("trace")
def _register_trace(sub: argparse._SubParsersAction) -> None:
    from rnnviz.analysis.inspection import MAX_TEXT_CHARACTERS

    p = sub.add_parser(
        "trace",
        help="run a text through a model and show its tokens, prediction and states",
        description=f"Texts of up to {MAX_TEXT_CHARACTERS} characters.",
    )
    p.add_argument("text", help="the text to run (quote it)")
    p.add_argument(
        "--model", required=True, help="bundled model name (see `rnnviz models`) or a model folder"
    )
    p.add_argument(
        "--json", action="store_true", help="print one JSON object (schema in README.md)"
    )
    p.add_argument(
        "--top-k", type=int, default=5, help="classes / next tokens / units to show (default 5)"
    )
    p.set_defaults(func=_cmd_trace)


def _cmd_trace(args: argparse.Namespace) -> int:
    import json

    from rnnviz.analysis.inspection import inspect_text
    from rnnviz.core.exactness import run_exactness
    from rnnviz.exports.trace_report import trace_json, trace_summary
    from rnnviz.models.architectures import load

    loaded = load(args.model)
    run = inspect_text(loaded, args.text)
    if args.json:
        payload = trace_json(run, args.top_k)
        measured = run_exactness(loaded, run)
        payload["exactness"] = {
            "max_abs_error": measured.max_abs_error,
            "max_scaled_error": measured.max_scaled_error,
            "exact": measured.exact,
        }
        json.dump(payload, sys.stdout, allow_nan=False)
        sys.stdout.write("\n")
    else:
        print(trace_summary(loaded, run, args.top_k))
    return 0


@command("app")
def _register_app(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "app",
        help="open the app in the browser (streamlit)",
        description="Starts the Streamlit server on app.py; extra options go to streamlit.",
    )
    p.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="FOLDER|MODULE:FUNCTION",
        help="also offer this model: a folder (model.safetensors + config.json) or a Python entry "
        "point returning an rnnviz.CustomModel or LoadedModel; repeatable",
    )
    p.add_argument("--port", type=int, default=8501)
    p.set_defaults(func=_cmd_app, streamlit_options=[])


def _cmd_app(args: argparse.Namespace) -> int:
    import subprocess

    from rnnviz.models.architectures import load
    from rnnviz.models.custom import load_entry_point
    from rnnviz.models.uploads import MAX_WEIGHTS_BYTES

    for source in args.model:  # fail here, with the loader's message, rather than inside the page
        if ":" in source and not Path(source).is_dir():
            load_entry_point(source)
        else:
            load(source)
    # the page and the classroom's routes, inside the package: a wheel install has them too
    page = Path(__file__).resolve().parent / "app" / "serve.py"
    ours = {
        "--server.port": str(args.port),
        # .streamlit/config.toml says the same, but only where the server starts in the checkout
        "--server.maxUploadSize": str(MAX_WEIGHTS_BYTES // 2**20),
        "--browser.gatherUsageStats": "false",
        "--runner.postScriptGC": "false",
        "--server.disconnectedSessionTTL": "30",  # a closed tab's memory is freed sooner (budget)
    }
    given = {option.split("=", 1)[0] for option in args.streamlit_options}
    command = [sys.executable, "-m", "streamlit", "run", str(page)]
    for option, value in ours.items():
        if option not in given:  # the user's own value wins
            command += [option, value]
    command += [*args.streamlit_options, "--"]
    for source in args.model:
        command += ["--model", str(Path(source).resolve()) if Path(source).is_dir() else source]
    # Python's own small-object heap keeps a 1 MiB arena for every few objects that outlive a long
    # run; with the system allocator those pages are handed back by the budget's sweep (malloc_trim):
    # bench/load_budget.py, 30 sessions of 2,000 characters, 60 s later +17 % of warm RSS against +3 %.
    environment = {"PYTHONMALLOC": "malloc", **os.environ}  # the user's own value wins
    return subprocess.call(command, env=environment)


@command("export")
def _register_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write an offline HTML lecture pack for a list of sentences",
        description="One self-contained HTML file (plotly.js inlined, no server needed): per sentence "
        "the prediction after each token, a step-through of the cell and the heatmaps.",
    )
    p.add_argument("sentences", nargs="*", help="sentences (quote each one)")
    p.add_argument(
        "--model", required=True, help="bundled model name (see `rnnviz models`) or a model folder"
    )
    p.add_argument("--out", type=Path, required=True, help="the HTML file to write")
    p.add_argument("--file", type=Path, help="also read sentences from this file, one per line")
    p.add_argument("--layer", type=int, default=0)
    p.add_argument("--direction", choices=["forward", "backward"], default="forward")
    p.add_argument(
        "--units-shown",
        type=int,
        default=64,
        help="heatmap rows: the first units by index (default 64)",
    )
    p.add_argument(
        "--unit", type=int, default=0, help="the unit shown beside the means in the step-through"
    )
    p.set_defaults(func=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    from rnnviz.exports.lecture_pack import read_sentences, write_lecture_pack

    sentences = list(args.sentences) + (read_sentences(args.file) if args.file else [])
    out = write_lecture_pack(
        args.model,
        args.out,
        sentences,
        layer=args.layer,
        direction=args.direction,
        units_shown=args.units_shown,
        unit=args.unit,
    )
    print(
        f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB, {len(sentences)} sentences): open it "
        "in any browser, offline"
    )
    return 0


@command("corpus")
def _register_corpus(sub: argparse._SubParsersAction) -> None:
    from rnnviz.analysis.corpus import MAX_CORPUS_CHARACTERS, REFERENCE_CORPORA

    references = ", ".join(sum(REFERENCE_CORPORA.values(), ()))
    p = sub.add_parser(
        "corpus",
        help="compute and cache a model's corpus statistics; print gate saturation and top units",
        description=f"FILE: a UTF-8 text file (one sentence per line for classifiers, any text for the "
        f"character LM; at most {MAX_CORPUS_CHARACTERS:,} characters) or a reference corpus "
        f"name ({references}). Results are cached in ~/.cache/rnnviz/corpus.",
    )
    p.add_argument("file", metavar="FILE", help="text file, or a reference corpus name")
    p.add_argument(
        "--model", required=True, help="bundled model name (see `rnnviz models`) or a model folder"
    )
    p.add_argument(
        "--layer",
        type=int,
        default=None,
        help="layer whose hidden state is indexed (default: the last)",
    )
    p.add_argument("--direction", choices=["forward", "backward"], default="forward")
    p.add_argument("--top-k", type=int, default=5, help="units shown per feature (default 5)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress line")
    p.set_defaults(func=_cmd_corpus)


def _cmd_corpus(args: argparse.Namespace) -> int:
    from rnnviz.analysis.corpus import (
        REFERENCE_CORPORA,
        corpus_index,
        read_corpus_file,
        reference_corpus,
        summarize,
    )
    from rnnviz.analysis.corpus_stats import FEATURE_LABELS
    from rnnviz.models.architectures import load

    loaded = load(args.model)
    names = sum(REFERENCE_CORPORA.values(), ())
    corpus = (
        reference_corpus(args.file)
        if args.file in names
        else read_corpus_file(args.file, loaded.config.task)
    )
    layer = loaded.config.num_layers - 1 if args.layer is None else args.layer

    def progress(done: int, total: int) -> None:
        if not args.no_progress:
            print(
                f"\r{done:,} / {total:,} tokens",
                end="" if done < total else "\n",
                file=sys.stderr,
                flush=True,
            )

    index = corpus_index(loaded, corpus, layer, args.direction, progress=progress)
    summary = summarize(index, args.top_k)
    source = "cache" if index.from_cache else f"computed in {index.seconds:.1f} s"
    print(
        f"{loaded.name} on {corpus.name}: {index.num_tokens:,} tokens, {len(index.offsets) - 1:,} segments ({source})"
    )
    print("gate saturation (mean fraction of timesteps per unit): left < 0.1, right > 0.9")
    for layer_index, direction, gate, left, right in summary.saturation:
        print(
            f"  layer {layer_index} {direction:8s} {gate:12s} left {left:6.1%}  right {right:6.1%}"
        )
    print(f"top units of layer {layer} {args.direction} h per token feature (Pearson ρ):")
    for feature, units in summary.top_units.items():
        print(
            f"  {FEATURE_LABELS[feature]:28s} "
            + "  ".join(f"{unit} ({rho:+.2f})" for unit, rho in units)
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnviz", description="See inside recurrent neural networks."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMANDS.values():
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # `rnnviz app` passes options it does not know (--server.port 8633, --theme.base dark) to streamlit.
    args, extra = parser.parse_known_args(argv)
    if extra and getattr(args, "func", None) is not _cmd_app:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.streamlit_options = extra
    args.argv = argv  # recorded verbatim in model cards as the reproducing command
    try:
        return int(args.func(args) or 0)
    except RnnvizError as e:
        print(f"rnnviz: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rnnviz: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `rnnviz trace --json ... | head`
        sys.stdout = open(os.devnull, "w")
        return 0


if __name__ == "__main__":
    sys.exit(main())
