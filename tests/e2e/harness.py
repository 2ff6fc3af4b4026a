"""A real Streamlit server and headless Chromium, shared by the end-to-end tests and bench/bench_app.py.

Plain functions, no pytest: the benchmark imports this module too, so both drive the page the same way.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(
    "/usr/bin/chromium"
)  # Debian's build; Playwright's own browser download is blocked here
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
HEALTH_TIMEOUT_S = 60.0

SENTENCE_INPUT = '[data-testid="stTextInput"] input[aria-label="sentence"]'
# The sentence box of any model: a character model's is a text area (Ctrl+Enter reads it).
SENTENCE_BOX = f'{SENTENCE_INPUT}, [data-testid="stTextArea"] textarea[aria-label="sentence"]'
EXCEPTION = '[data-testid="stException"]'
ERROR_ALERT = (
    '[data-testid="stAlertContentError"]'  # st.error: app.py turns a failing view into one
)
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'  # Streamlit's own run-state attribute

# Columns (x length) of every heatmap trace on the page, one list per Plotly chart, in page order.
# Plotly 7 may ship arrays as {dtype, bdata, shape}; strings always arrive as lists.
HEATMAP_COLUMNS_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(plot =>
    (plot.data || []).filter(trace => trace.type === 'heatmap').map(trace => {
        const x = trace.x;
        if (Array.isArray(x) || ArrayBuffer.isView(x)) return x.length;
        const shape = spec => typeof spec.shape === 'string'  // "64, 12"
            ? spec.shape.split(',').map(Number) : spec.shape;
        if (x && x.shape) return shape(x)[0];
        const z = trace.z;
        return z && z.shape ? shape(z)[1] : (z && z[0] ? z[0].length : -1);
    })).filter(columns => columns.length > 0)"""

# Column labels of the first heatmap trace on the page (null when there is none): its x categories, or,
# where it draws at numbers (the side-by-side grid), the names its x axis's ticks give those numbers.
FIRST_HEATMAP_LABELS_JS = """() => {
    for (const plot of document.querySelectorAll('.js-plotly-plot'))
        for (const trace of plot.data || []) {
            if (trace.type !== 'heatmap' || !Array.isArray(trace.x)) continue;
            if (typeof trace.x[0] !== 'number') return trace.x.map(String);
            const axis = plot.layout.xaxis, first = Math.min(...trace.x);
            return trace.x.map(x => axis.ticktext[axis.tickvals.indexOf(x)] + ' ·' + (x - first));
        }
    return null;
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerFailed(RuntimeError):
    """The Streamlit server exited or never answered its health check."""


class StreamlitServer:
    """`python -m streamlit run <script>` from the repo root on a free port, output kept in a temp file."""

    def __init__(
        self,
        script: str | Path = "app.py",
        port: int | None = None,
        env: dict[str, str] | None = None,
    ):
        self.script = str(script)
        self.port = port or free_port()
        self.url = f"http://localhost:{self.port}"
        self._env = {**os.environ, **(env or {})}
        self._log = tempfile.NamedTemporaryFile(prefix="streamlit-", suffix=".log", delete=False)
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0  # time.perf_counter() at process start

    def start(self) -> "StreamlitServer":
        command = [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            self.script,
            "--server.headless",
            "true",
            "--server.port",
            str(self.port),
            "--browser.gatherUsageStats",
            "false",
            # Edits to the working tree while tests run must not trigger reloads mid-test.
            "--server.fileWatcherType",
            "none",
        ]
        self.started_at = time.perf_counter()
        self.process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=self._env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        return self

    def output(self) -> str:
        return Path(self._log.name).read_text(errors="replace")

    def wait_healthy(self, timeout_s: float = HEALTH_TIMEOUT_S) -> None:
        """Block until /_stcore/health answers ok; raise ServerFailed with the server's output otherwise."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerFailed(
                    f"streamlit run {self.script} exited with code {self.process.returncode} "
                    f"before becoming healthy; its output:\n{self.output()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                    if response.read().strip() == b"ok":
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise ServerFailed(
            f"streamlit run {self.script} did not answer {self.url}/_stcore/health within "
            f"{timeout_s:.0f} s; its output:\n{self.output()}"
        )

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)


def launch_chromium(playwright):
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )


def heatmap_columns(page) -> list[list[int]]:
    """x length of every heatmap trace, grouped per chart, as the browser holds them now."""
    return page.evaluate(HEATMAP_COLUMNS_JS)


def wait_for_heatmaps(
    page, columns: int | None = None, timeout_ms: float = 60_000
) -> list[list[int]]:
    """Wait until at least one heatmap is drawn and, if `columns` is given, every heatmap has that many."""
    page.wait_for_function(
        f"""(columns) => {{
            const found = ({HEATMAP_COLUMNS_JS})().flat();
            return found.length > 0 && (columns === null || found.every(c => c === columns));
        }}""",
        arg=columns,
        timeout=timeout_ms,
        polling=50,
    )
    return heatmap_columns(page)


def wait_until_idle(page, timeout_ms: float = 60_000) -> None:
    """Wait until the script run has finished (call after the change it causes is visible)."""
    page.wait_for_selector(IDLE, state="attached", timeout=timeout_ms)


def decoded_labels(labels: list[str]) -> list[str]:
    """Tokens back from x labels: rnnviz.figures.token_labels appends ' ·<position>', makes spaces
    visible and marks tokens outside the vocabulary."""
    visible = {"␣": " ", "↵": "\n", "⇥": "\t"}
    tokens = [label.rsplit(" ·", 1)[0].removesuffix("⟨unk⟩") for label in labels]
    return ["".join(visible.get(ch, ch) for ch in token) for token in tokens]


def expected_tokens(text: str, model: str | None = None) -> list[str]:
    """The tokens a page should draw one column each for: the bundled model's own tokenizer, or one
    per character when no model is involved (bench/minimal_page.py). Adapt here if that changes."""
    if model is None:
        return list(text)
    import rnnviz

    return list(rnnviz.load(model).encode(text).tokens)
