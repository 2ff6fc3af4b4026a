"""The offline lecture pack: one HTML file that shows, without a server, exactly what the model recorded."""

from __future__ import annotations

import base64
import html
import json
import re
import subprocess
import sys

import numpy as np
import plotly.offline
import pytest
import torch

import rnnviz
from rnnviz.analysis.inspection import inspect_text
from rnnviz.errors import RnnvizError
from rnnviz.exports.lecture_pack import build_lecture_pack, read_sentences
from rnnviz.figures import PLOT_DECIMALS, token_labels
from rnnviz.models.architectures import ModelConfig, build_module, save
from rnnviz.models.tokenizers import CharTokenizer

SENTENCES = ["the movie was not good", 'a <script>alert("x")</script> & <b>bold</b> film']
UNITS_SHOWN = 40
FIGURE_BLOCK = re.compile(
    r'<script type="application/json" class="rnnviz-figure" data-target="([^"]+)">(.*?)</script>',
    re.S,
)


@pytest.fixture(scope="module")
def sentiment():
    return rnnviz.load("sst2-lstm")


@pytest.fixture(scope="module")
def pack(sentiment) -> str:
    return build_lecture_pack(sentiment, SENTENCES, units_shown=UNITS_SHOWN)


def embedded_figures(page: str) -> dict[str, dict]:
    """target id → the figure JSON the page renders there."""
    return {target: json.loads(data) for target, data in FIGURE_BLOCK.findall(page)}


def as_array(value) -> np.ndarray:
    """Plotly 7 ships numeric arrays as {dtype, bdata (base64), shape}; older versions as lists."""
    if isinstance(value, dict) and "bdata" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        return array.reshape([int(n) for n in str(value.get("shape", len(array))).split(",")])
    return np.asarray(value)


def sections(page: str) -> list[str]:
    return re.findall(r'<section class="sentence".*?</section>', page, re.S)


def test_pack_is_self_contained_with_plotly_js_inlined_exactly_once(pack):
    assert pack.count(plotly.offline.get_plotlyjs()) == 1
    assert not re.search(r"<script[^>]+src=", pack), "no external scripts"
    assert not re.search(r"<link[^>]+href=", pack), "no external stylesheets"
    assert "cdn.plot.ly/plotly" not in pack.replace(plotly.offline.get_plotlyjs(), "")


def test_one_section_per_sentence_listing_the_tokens_the_model_read(pack, sentiment):
    found = sections(pack)
    assert len(found) == len(SENTENCES)
    for section, sentence in zip(found, SENTENCES):
        tokens = re.findall(r'<span class="(?:known|unknown)">(.*?)</span>', section)
        expected = inspect_text(sentiment, sentence).tokens
        assert [html.unescape(t) for t in tokens] == expected


def test_every_heatmap_in_the_page_holds_the_recorded_values_of_its_quantity(pack, sentiment):
    shown = embedded_figures(pack)
    for index, sentence in enumerate(SENTENCES, 1):
        run = inspect_text(sentiment, sentence)
        labels = token_labels(run.tokens, run.encoding.unknown)
        assert run.recurrent_call.quantities == (
            "input_gate",
            "forget_gate",
            "cell_gate",
            "output_gate",
            "cell",
            "hidden",
        )
        for quantity in run.recurrent_call.quantities:
            heatmap = shown[f"s{index}-{quantity}"]["data"][0]
            assert heatmap["type"] == "heatmap"
            assert heatmap["x"] == labels
            assert heatmap["y"] == [str(u) for u in range(UNITS_SHOWN)]
            expected = run.states(0, "forward", quantity)[:, :UNITS_SHOWN].T  # [units shown, time]
            np.testing.assert_array_equal(as_array(heatmap["z"]), expected)


def test_prediction_figure_holds_the_probability_of_each_class_after_every_token(pack, sentiment):
    run = inspect_text(sentiment, SENTENCES[0])
    lines = embedded_figures(pack)["s1-prediction"]["data"]
    assert [line["name"] for line in lines] == ["negative", "positive"]
    for k, line in enumerate(lines):
        # as the hover shows it (%{y:.3f}): rounded to PLOT_DECIMALS
        np.testing.assert_array_equal(
            as_array(line["y"]), np.round(run.predictions[:, k].astype(np.float64), PLOT_DECIMALS)
        )
    assert run.top_outcomes(4, 1)[0][0] == "negative", (
        "the sentence the pack is about: 'not good' flips to negative"
    )


def test_step_through_has_one_frame_per_token_revealing_the_text_and_the_gate_means(
    pack, sentiment
):
    run = inspect_text(sentiment, SENTENCES[0])
    figure = embedded_figures(pack)["s1-steps"]
    frames = figure["frames"]
    assert [frame["name"] for frame in frames] == [str(t) for t in range(5)]
    assert [step["args"][0] for step in figure["layout"]["sliders"][0]["steps"]] == [
        [str(t)] for t in range(5)
    ]
    forget = run.states(0, "forward", "forget_gate")
    for t, frame in enumerate(frames):
        title = frame["layout"]["title"]["text"]
        assert title.startswith(" ".join(run.tokens[:t] + [f"<b>[{run.tokens[t]}]</b>"]))
        label, p = run.top_outcomes(t, 1)[0]
        assert f"prediction: {label} ({p:.0%})" in title
        forget_box = next(
            a["text"] for a in frame["layout"]["annotations"] if a["text"].startswith("<b>f</b>")
        )
        # a gate is in [0, 1]: two decimals, no sign
        assert (
            f"mean {forget[t].mean():.2f}" in forget_box
            and f"unit {forget[t, 0]:.2f}" in forget_box
        )


def test_markup_typed_in_a_sentence_is_shown_as_text_never_run(pack):
    assert "<b>bold" not in pack and "<script>alert" not in pack
    second = sections(pack)[1]
    assert (
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt; film"
        in second
    )
    figures_in_page = len(embedded_figures(pack))
    assert pack.count("<script") == 1 + figures_in_page + 1, (
        "plotly.js, the figure blocks and the render script only"
    )
    title = embedded_figures(pack)["s2-steps"]["frames"][-1]["layout"]["title"]["text"]
    assert "&lt;" in title and "<script" not in title, (
        "Plotly text is escaped too (it would read <b> as markup)"
    )


def test_language_model_pack_shows_the_chosen_layer_and_next_characters(tmp_path):
    tokenizer = CharTokenizer.build("abcdefgh ijklmnop\n")
    config = ModelConfig(
        name="tiny-lm",
        description="test",
        task="language_model",
        cell_kind="lstm",
        vocab_size=tokenizer.vocab_size,
        embedding_dim=4,
        hidden_size=6,
        num_layers=2,
    )
    torch.manual_seed(0)
    loaded = rnnviz.load(save(tmp_path / "tiny-lm", config, tokenizer, build_module(config)))
    page = build_lecture_pack(loaded, ["abc def"], layer=1)
    shown = embedded_figures(page)
    run = inspect_text(loaded, "abc def")
    np.testing.assert_array_equal(
        as_array(shown["s1-hidden"]["data"][0]["z"]), run.states(1, "forward", "hidden").T
    )
    assert shown["s1-prediction"]["layout"]["title"]["text"].startswith("top-5 next characters")
    assert len(shown["s1-steps"]["frames"]) == 7


@pytest.mark.parametrize(
    "sentences, options, message",
    [
        ([], {}, "no sentences"),
        (["good", "  "], {}, "sentence 2: the text is empty"),
        (["good"], {"layer": 1}, "layer 1 does not exist"),
        (["good"], {"direction": "backward"}, "direction 'backward' does not exist"),
        (["good"], {"unit": 999}, "unit 999 does not exist"),
        (["good"], {"units_shown": 0}, "at least 1"),
    ],
)
def test_bad_requests_are_refused_with_a_message_naming_the_problem(
    sentiment, sentences, options, message
):
    with pytest.raises(RnnvizError, match=re.escape(message)):
        build_lecture_pack(sentiment, sentences, **options)


def test_sentence_file_has_one_sentence_per_line_and_skips_blank_lines(tmp_path):
    path = tmp_path / "s.txt"
    path.write_text("the movie was good\n\n  \nit was not bad\n", encoding="utf-8")
    assert read_sentences(path) == ["the movie was good", "it was not bad"]


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "rnnviz.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_writes_one_section_per_sentence_from_arguments_and_file(tmp_path):
    (tmp_path / "more.txt").write_text("it was not bad\n", encoding="utf-8")
    out = tmp_path / "pack.html"
    result = _cli(
        "export",
        "--model",
        "sst2-lstm",
        "--out",
        str(out),
        "the movie was good",
        "--file",
        str(tmp_path / "more.txt"),
    )
    assert result.returncode == 0, result.stderr
    assert "2 sentences" in result.stdout
    page = out.read_text(encoding="utf-8")
    assert len(sections(page)) == 2 and "it was not bad" in page


@pytest.mark.parametrize(
    "args, message",
    [
        (["export", "--model", "sst2-lstm", "--out", "{tmp}/p.html"], "no sentences"),
        (["export", "--model", "no-such-model", "--out", "{tmp}/p.html", "good"], "no-such-model"),
        (
            [
                "export",
                "--model",
                "sst2-lstm",
                "--out",
                "{tmp}/p.html",
                "--file",
                "{tmp}/missing.txt",
            ],
            "cannot read",
        ),
        (
            ["export", "--model", "sst2-lstm", "--out", "{tmp}/no/such/dir/p.html", "good"],
            "cannot write",
        ),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_code_2(tmp_path, args, message):
    result = _cli(*[a.format(tmp=tmp_path) for a in args])
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
