"""Lecture-hall load test: the real Streamlit server and many concurrent sessions.

Phase 1: N sessions. Most type sentences, press Enter and wait until every heatmap shows the new
tokens, and now and then visit another view (every view: inspector, compare, trajectory, lecture,
gradients, training lab, corpus, export) and come back. --lab-sessions of them are students in the
training lab instead: they open the lab, press Train (RNN, GRU and LSTM in turn, the lab's default
settings), watch the progress (polling as the page itself asks to) and train again when a run
ends; at the deadline they close their page mid-run, so the server must stop those jobs itself.
A session is either a headless-Chromium context (--client browser; lab students need --client
websocket) or a websocket client speaking Streamlit's own protobuf protocol (--client websocket:
no rendering, so one small machine can play a whole lecture hall; timed until the server has sent
every heatmap). Reported: errors, Enter → heatmaps latency (median, p95) of the typing sessions
(while the lab's job bound is full), lab jobs submitted / queued / finished / closed mid-run, how
long after the last page closed the server's lab slots were free again, server CPU and memory.
Phase 2: rounds of fresh sessions that open the page, type once and close (every tenth also trains
an LSTM in the lab); server memory after each round shows whether memory grows with the number of
past sessions.

Bounded: every wait has a timeout, phase 1 stops starting actions after --duration seconds and is
cut off at --duration + --grace seconds; the server is stopped at the end whatever happened.

Run: python bench/load_test.py --client websocket [--sessions 30] [--lab-sessions 10] [--duration 60] [--rounds 2]
     python bench/load_test.py --url http://127.0.0.1:8080 --sessions 4   # an already running server
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import sys
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

# One way to start the server and the browser, shared with the end-to-end tests and bench_app.py.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from harness import CHROMIUM, CHROMIUM_ARGS, StreamlitServer  # noqa: E402

MODEL = "sst2-lstm"
DEFAULT_TEXT = "the movie was not good"  # what a fresh page shows (rnnviz.app.state.ViewState)
SENTENCE_INPUT = '[data-testid="stTextInput"] input[aria-label="sentence"]'
VIEW_BUTTONS = '[data-testid="stButtonGroup"] button'
FAILURES = '[data-testid="stException"], [data-testid="stAlertContentError"]'
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
# Text each view draws once it is done, so a switch is only counted when the view is really there.
VIEW_MARKERS = {
    "Inspector": "The update at this token",
    "Compare": "second sentence",
    "Trajectory": "fit the projection on",
    "Lecture": 'class="rnnviz-reading"',
    "What if": "After the last token",
    "Memory": "Retention",
    "Gradients": "Gradient flow through time",
    "Lab": "Train a small recurrent network",
    "Corpus": "Select a span of the current sentence",
    "Export": "trace (NPZ)",
}
LAB_VIEW = "Lab"
LAB_CELLS = ("RNN (tanh)", "GRU", "LSTM")  # the lab's cell radio, as the page labels its options
SLOTS_IN_USE = re.compile(r"(\d+) of (\d+) training slots are in use(?: and (\d+) waiting)?")
ACTION_TIMEOUT_MS = 90_000
POLL_MS = 100

# True once the page holds `count` heatmap traces and every one has exactly the expected x labels.
HEATMAPS_SHOW_JS = """([labels, count]) => {
    const named = plot => trace => {  // numbered columns (the side-by-side grid) are named by the x axis's ticks
        if (!Array.isArray(trace.x) || typeof trace.x[0] !== 'number') return trace.x;
        const axis = plot.layout.xaxis, first = Math.min(...trace.x);
        return trace.x.map(x => axis.ticktext[axis.tickvals.indexOf(x)] + ' ·' + (x - first));
    };
    const heatmaps = Array.from(document.querySelectorAll('.js-plotly-plot')).flatMap(plot =>
        (plot.data || []).filter(trace => trace.type === 'heatmap').map(named(plot)));
    return heatmaps.length >= count && heatmaps.every(x =>
        Array.isArray(x) && x.length === labels.length && x.every((name, i) => String(name) === labels[i]));
}"""

SUBJECTS = [
    "the movie",
    "the film",
    "this story",
    "the acting",
    "the plot",
    "the ending",
    "her performance",
    "the script",
    "the soundtrack",
    "the director 's vision",
]
VERBS = ["was", "is", "felt", "seemed", "was n't", "is not", "never felt", "was hardly"]
ADVERBS = ["", "very", "quite", "really", "surprisingly", "rather", "truly", "not at all"]
ADJECTIVES = [
    "good",
    "bad",
    "funny",
    "boring",
    "moving",
    "dull",
    "brilliant",
    "awful",
    "charming",
    "predictable",
    "gripping",
    "forgettable",
    "beautiful",
    "tedious",
    "smart",
]


def sentence_stream(seed: int):
    """Endless varied sentences (most unique, so the server's trace cache misses as with real students)."""
    rng = random.Random(seed)
    while True:
        parts = [
            rng.choice(SUBJECTS),
            rng.choice(VERBS),
            rng.choice(ADVERBS),
            rng.choice(ADJECTIVES),
        ]
        if rng.random() < 0.4:
            parts += ["but", rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(ADJECTIVES)]
        yield " ".join(p for p in parts if p)


class Expectation:
    """The x labels every heatmap must show for a sentence: the model's own tokenizer, as the app labels them."""

    def __init__(self, model: str):
        import rnnviz
        from rnnviz.analysis.inspection import inspect_text
        from rnnviz.figures import token_labels

        self._loaded = rnnviz.load(model)
        self._token_labels = token_labels
        self.heatmap_count = len(inspect_text(self._loaded, DEFAULT_TEXT).recurrent_call.quantities)

    def labels(self, text: str) -> list[str]:
        encoding = self._loaded.encode(text)
        return self._token_labels(encoding.tokens, encoding.unknown)


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending.extend(children.get(current, []))
    return tree


def rss_mib(pids: list[int]) -> float:
    """Resident memory (VmRSS) of the processes and their children, in MiB."""
    total_kib = 0
    for pid in {p for root in pids for p in process_tree(root)}:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
        except OSError:
            pass
    return total_kib / 1024


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of the processes and their children so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in {p for root in pids for p in process_tree(root)}:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / ticks


def load_note() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min) on {os.cpu_count()} CPU cores"


@dataclass
class Tally:
    """What the sessions measured; errors keep a short reason each."""

    enter_to_heatmaps_s: list[float] = field(default_factory=list)
    first_page_s: list[float] = field(default_factory=list)
    view_switch_s: list[float] = field(default_factory=list)
    # view → there-and-back seconds, to see which views make the slow switches
    view_switch_by_view: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    sentences: int = 0
    switches: int = 0
    sessions: int = 0
    lab_submitted: int = 0
    lab_queued: int = 0  # saw "waiting: … in line"
    lab_finished: int = 0  # ended on their own (target accuracy, steps or budget)
    lab_stopped: int = 0
    lab_open_at_close: int = 0  # still queued or training when their page closed
    lab_wait_s: list[float] = field(default_factory=list)  # Train → training began
    lab_steps_per_s: list[float] = field(
        default_factory=list
    )  # of runs that trained their whole budget


class BrowserSession:
    """One student in headless Chromium: what is timed is Enter → every heatmap drawn in the page."""

    def __init__(self, browser, url: str, expect: Expectation, tally: Tally):
        self.browser, self.url, self.expect, self.tally = browser, url, expect, tally
        self.context = self.page = None

    async def open(self) -> None:
        self.context = await self.browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = await self.context.new_page()
        self.page.set_default_timeout(ACTION_TIMEOUT_MS)
        self.page.on(
            "pageerror",
            lambda error: self.tally.errors.append(f"javascript error: {str(error)[:160]}"),
        )
        await self.page.goto(f"{self.url}/?model={MODEL}", wait_until="domcontentloaded")
        await self._heatmaps_show(DEFAULT_TEXT)
        await self._no_failure("first page")

    async def type(self, text: str) -> None:
        box = self.page.locator(SENTENCE_INPUT)
        await box.fill(text)
        await box.press("Enter")
        await self._heatmaps_show(text)
        await self._no_failure("after Enter")

    async def view(self, title: str, text: str) -> None:
        await self.page.locator(VIEW_BUTTONS, has_text=title).first.click()
        if title == "Heatmaps":
            await self._heatmaps_show(text)
        else:
            marker = VIEW_MARKERS[title]
            found = (
                self.page.locator("." + marker.split('"')[1])
                if marker.startswith("class=")
                else self.page.get_by_text(marker)
            )
            await found.first.wait_for(timeout=ACTION_TIMEOUT_MS)
            await self.page.wait_for_selector(IDLE, state="attached", timeout=ACTION_TIMEOUT_MS)
        await self._no_failure(title)

    async def close(self) -> None:
        if self.context:
            await self.context.close()

    async def _heatmaps_show(self, text: str) -> None:
        await self.page.wait_for_function(
            HEATMAPS_SHOW_JS,
            arg=[self.expect.labels(text), self.expect.heatmap_count],
            polling=POLL_MS,
            timeout=ACTION_TIMEOUT_MS,
        )

    async def _no_failure(self, where: str) -> None:
        failures = self.page.locator(FAILURES)
        if await failures.count():
            text = (await failures.first.inner_text())[:160].replace("\n", " ")
            self.tally.errors.append(f"{where}: error shown on the page: {text}")


def column_labels(trace: dict, layout: dict) -> list[str]:
    """A heatmap trace's token labels: its x categories, or, where the side-by-side grid draws at
    numbered columns, the names its x axis's ticks give them, with their positions ("not ·3")."""
    x = trace.get("x") or []
    if x and all(isinstance(v, (int, float)) for v in x):
        axis = layout.get("xaxis", {})
        names = dict(zip(axis.get("tickvals", []), axis.get("ticktext", [])))
        return [f"{names[v]} ·{int(v - min(x))}" for v in x]
    return [str(v) for v in x]


class SocketSession:
    """One student as a websocket client speaking Streamlit's own protocol (BackMsg / ForwardMsg
    protobufs), as the browser does, but without rendering: what is timed is Enter → the server
    has sent every heatmap of the new run (script finished). Costs the client almost no CPU."""

    def __init__(self, url: str, expect: Expectation, tally: Tally):
        self.url, self.expect, self.tally = url, expect, tally
        self.socket = None
        self.page_hash = ""
        self.ids: dict[
            str, str
        ] = {}  # "sentence", "submit", "view", "button:<label>", "radio:<label>" → widget id
        self.fragment_id = (
            ""  # the fragment the page asked to rerun every so often (the lab's progress)
        )
        self.poll_s = 1.0  # … and how often: the interval the page itself asks for
        self.progress = ""  # the latest progress bar text the server sent

    async def open(self) -> None:
        from websockets.asyncio.client import connect

        stream = self.url.replace("http", "ws", 1) + "/_stcore/stream"
        self.socket = await connect(
            stream,
            subprotocols=["streamlit"],
            max_size=2**27,
            open_timeout=ACTION_TIMEOUT_MS / 1000,
        )
        await self._run([], DEFAULT_TEXT, "first page", query=f"model={MODEL}")

    async def type(self, text: str) -> None:
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        states = [
            WidgetState(id=self.ids["sentence"], string_value=text),
            WidgetState(id=self.ids["submit"], trigger_value=True),
        ]
        await self._run(states, text, "after Enter")

    async def view(self, title: str, text: str) -> str:
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        state = WidgetState(id=self.ids["view"])
        state.string_array_value.data.append(title)
        texts = await self._run([state], text if title == "Heatmaps" else None, f"view {title}")
        if title in VIEW_MARKERS and VIEW_MARKERS[title] not in texts:
            raise AssertionError(f"{title}: the view was not drawn")
        return texts

    async def train(self, cell: str) -> None:
        """In the lab: choose the cell and press Train, as one script run."""
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        self.fragment_id = ""
        states = [
            WidgetState(id=self.ids["radio:cell"], string_value=cell),
            WidgetState(id=self.ids["button:Train"], trigger_value=True),
        ]
        await self._run(states, None, "lab: Train")

    async def poll(self) -> str:
        """One rerun of the fragment the page polls with (the lab's progress); the progress text then."""
        if self.fragment_id:
            await self._run([], None, "lab: progress", fragment_id=self.fragment_id)
        return self.progress

    async def close(self) -> None:
        if self.socket:
            await self.socket.close()

    async def _run(
        self, states, text: str | None, where: str, query: str = "", fragment_id: str = ""
    ) -> str:
        """One script run: send the widget values, read every message until the script finishes, and
        check the charts (every heatmap labelled with `text`'s tokens, when given) and errors.
        Returns the run's markdown, headings, alerts and widget labels, for checking which view was drawn."""
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        message = BackMsg()
        message.rerun_script.query_string = query
        message.rerun_script.page_script_hash = self.page_hash
        message.rerun_script.widget_states.widgets.extend(states)
        if fragment_id:
            message.rerun_script.fragment_id = fragment_id
            message.rerun_script.is_auto_rerun = True
        await self.socket.send(message.SerializeToString())
        heatmap_labels, failures, texts = [], [], []
        deadline = time.monotonic() + ACTION_TIMEOUT_MS / 1000
        while True:
            reply = ForwardMsg()
            reply.ParseFromString(
                await asyncio.wait_for(
                    self.socket.recv(), timeout=max(0.1, deadline - time.monotonic())
                )
            )
            kind = reply.WhichOneof("type")
            if kind == "new_session":
                self.page_hash = reply.new_session.page_script_hash
            elif kind == "auto_rerun":
                self.fragment_id, self.poll_s = (
                    reply.auto_rerun.fragment_id,
                    reply.auto_rerun.interval,
                )
            elif kind == "delta" and reply.delta.WhichOneof("type") == "new_element":
                element = reply.delta.new_element
                shown = element.WhichOneof("type")
                if shown in ("markdown", "heading", "alert"):
                    texts.append(getattr(element, shown).body)
                elif shown == "progress":
                    self.progress = element.progress.text
                    texts.append(self.progress)
                elif shown:
                    texts.append(getattr(getattr(element, shown), "label", ""))
                if shown == "text_input" and element.text_input.label == "sentence":
                    self.ids["sentence"] = element.text_input.id
                elif shown == "button" and element.button.is_form_submitter:
                    self.ids["submit"] = element.button.id
                elif shown == "button":
                    self.ids[f"button:{element.button.label}"] = element.button.id
                elif shown == "radio":
                    self.ids[f"radio:{element.radio.label}"] = element.radio.id
                elif shown == "button_group":
                    self.ids["view"] = element.button_group.id
                elif shown == "plotly_chart":
                    spec = json.loads(element.plotly_chart.spec)
                    heatmap_labels += [
                        column_labels(trace, spec.get("layout", {}))
                        for trace in spec.get("data", [])
                        if trace.get("type") == "heatmap"
                    ]
                elif shown == "exception" or (shown == "alert" and element.alert.format == 1):
                    failures.append(
                        (element.exception.message if shown == "exception" else element.alert.body)[
                            :160
                        ]
                    )
            elif kind == "script_finished":
                if reply.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    continue
                break
        if failures:
            raise AssertionError(f"{where}: error shown on the page: {failures[0]}")
        if text is not None:
            expected = self.expect.labels(text)
            if len(heatmap_labels) < self.expect.heatmap_count or any(
                x != expected for x in heatmap_labels
            ):
                raise AssertionError(f"{where}: the heatmaps do not show the new sentence's tokens")
        return "\n".join(t for t in texts if isinstance(t, str))


async def follow_lab_job(session: SocketSession, tally: Tally, deadline: float) -> str:
    """Poll a submitted job as the page does until it ends or `deadline` passes; its last progress text."""
    submitted, began = time.perf_counter(), None
    queued = False
    text = session.progress
    while time.perf_counter() < deadline:
        text = await session.poll()
        if "waiting: " in text and not queued:
            queued = True
            tally.lab_queued += 1
        if began is None and "— step" in text:
            began = time.perf_counter()
            tally.lab_wait_s.append(began - submitted)
        if ": done —" in text or ": stopped —" in text:
            return text
        if ": failed —" in text:
            raise AssertionError(f"lab job failed: {text[:120]}")
        await asyncio.sleep(session.poll_s)
    return text


def count_lab_end(text: str, tally: Tally) -> None:
    if ": done —" in text:
        tally.lab_finished += 1
        found = re.search(r"step (\d+), ([\d.]+) s", text)
        if (
            found and "RNN" in text and float(found.group(2)) > 0
        ):  # the RNN trains its whole 2,000 steps or budget
            tally.lab_steps_per_s.append(int(found.group(1)) / float(found.group(2)))
    elif ": stopped —" in text:
        tally.lab_stopped += 1
    else:
        tally.lab_open_at_close += 1


async def lab_student(make_session, seed: int, deadline: float, tally: Tally) -> None:
    """A student in the training lab: train the three cells in turn, watching each run, until the
    deadline; the page then closes, whatever runs or waits (the server has to notice)."""
    session = make_session()
    try:
        start = time.perf_counter()
        await session.open()
        tally.first_page_s.append(time.perf_counter() - start)
        tally.sessions += 1
        await session.view(LAB_VIEW, DEFAULT_TEXT)
        turn = seed
        while time.perf_counter() < deadline:
            await session.train(LAB_CELLS[turn % len(LAB_CELLS)])
            tally.lab_submitted += 1
            count_lab_end(await follow_lab_job(session, tally, deadline), tally)
            turn += 1
    except Exception as error:  # noqa: BLE001 — counted and reported
        tally.errors.append(
            f"lab session {seed}: {type(error).__name__}: {(str(error).splitlines() or [''])[0][:120]}"
        )
    finally:
        await session.close()


async def lab_slots_in_use(make_session) -> tuple[int, int, int]:
    """(slots in use, slots, jobs waiting) as a fresh session's lab page states them."""
    session = make_session()
    try:
        await session.open()
        texts = await session.view(LAB_VIEW, DEFAULT_TEXT)
    finally:
        await session.close()
    found = SLOTS_IN_USE.search(texts)
    if not found:
        raise AssertionError("the lab page did not say how many training slots are in use")
    return int(found.group(1)), int(found.group(2)), int(found.group(3) or 0)


async def student(make_session, seed: int, deadline: float, tally: Tally) -> None:
    """One lecture-hall session: type sentences until the deadline, visiting another view about one time
    in three. A failed action is counted and the student goes on; three failures in a row end the session."""
    rng = random.Random(seed)
    sentences = sentence_stream(seed)
    session = make_session()
    failures_in_a_row = 0
    try:
        start = time.perf_counter()
        await session.open()
        tally.first_page_s.append(time.perf_counter() - start)
        tally.sessions += 1
        current = DEFAULT_TEXT
        while time.perf_counter() < deadline and failures_in_a_row < 3:
            text = next(sentences)
            if session.expect.labels(text) == session.expect.labels(current):
                continue
            try:
                start = time.perf_counter()
                await session.type(text)
                tally.enter_to_heatmaps_s.append(time.perf_counter() - start)
                tally.sentences += 1
                current = text
                if rng.random() < 0.35 and time.perf_counter() < deadline:
                    start = time.perf_counter()
                    other = rng.choice(list(VIEW_MARKERS))
                    await session.view(other, current)
                    await session.view("Heatmaps", current)
                    tally.view_switch_s.append(time.perf_counter() - start)
                    tally.view_switch_by_view.setdefault(other, []).append(tally.view_switch_s[-1])
                    tally.switches += 1
                failures_in_a_row = 0
            except Exception as error:  # noqa: BLE001 — counted; the student types the next sentence
                failures_in_a_row += 1
                tally.errors.append(
                    f"{type(error).__name__}: {(str(error).splitlines() or [''])[0][:120]}"
                )
            await asyncio.sleep(rng.uniform(0.5, 2.0))  # reading the result before typing again
    except Exception as error:  # noqa: BLE001 — every failure is counted and reported, the others go on
        tally.errors.append(
            f"session {seed} ended: {type(error).__name__}: {(str(error).splitlines() or [''])[0][:120]}"
        )
    finally:
        await session.close()


async def short_visit(
    make_session, seed: int, tally: Tally, gate: asyncio.Semaphore, lab: bool = False
) -> None:
    """Phase 2: open a fresh session, type one sentence (with `lab`, also train an LSTM), close it."""
    async with gate:
        session = make_session()
        try:
            await session.open()
            start = time.perf_counter()
            await session.type(next(sentence_stream(seed)))
            tally.enter_to_heatmaps_s.append(time.perf_counter() - start)
            tally.sessions += 1
            if lab:
                await session.view(LAB_VIEW, DEFAULT_TEXT)
                await session.train("LSTM")
                tally.lab_submitted += 1
                count_lab_end(
                    await follow_lab_job(
                        session, tally, time.perf_counter() + ACTION_TIMEOUT_MS / 1000
                    ),
                    tally,
                )
        except Exception as error:  # noqa: BLE001
            tally.errors.append(
                f"{type(error).__name__}: {(str(error).splitlines() or [''])[0][:160]}"
            )
        finally:
            await session.close()


def print_lab(tally: Tally) -> None:
    if not tally.lab_submitted:
        return
    print(
        f"  lab jobs: {tally.lab_submitted} submitted, {tally.lab_queued} waited in the queue, "
        f"{tally.lab_finished} finished, {tally.lab_stopped} stopped, {tally.lab_open_at_close} still queued or "
        f"training when their page closed"
    )
    print(f"  lab: Train → training began: {quantiles(tally.lab_wait_s)}")
    if tally.lab_steps_per_s:
        print(
            f"  lab: RNN runs trained at {statistics.median(tally.lab_steps_per_s):.0f} steps/s (median of "
            f"{len(tally.lab_steps_per_s)}; alone on this machine ~110 steps/s, bench/bench_lab.py)"
        )


def quantiles(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    median = statistics.median(ordered)
    return (
        f"median {median:6.2f} s   p95 {p95:6.2f} s   max {ordered[-1]:6.2f} s   (n={len(ordered)})"
    )


def print_errors(tally: Tally) -> None:
    print(f"  errors: {len(tally.errors)}")
    for reason in sorted(set(tally.errors))[:10]:
        print(f"    {tally.errors.count(reason)} × {reason}")


async def main(args: argparse.Namespace) -> None:
    expect = Expectation(MODEL)
    env = {"RNNVIZ_LAB_JOBS": str(args.lab_jobs)} if args.lab_jobs else {}
    if args.session_ttl is not None:  # Streamlit keeps a closed session this long, for a reconnect
        env["STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL"] = str(args.session_ttl)
    server = None if args.url else StreamlitServer(env=env).start()
    url = args.url or server.url
    pids = [server.process.pid] if server else []
    memory: list[tuple[str, float]] = []  # (moment, MiB), printed as a table at the end

    def measure(moment: str) -> None:
        if pids:
            memory.append((moment, rss_mib(pids)))

    print(
        f"machine at start: {load_note()}; the cores are shared with whatever else runs (e.g. model training)"
    )
    timed = (
        "headless Chromium, one context per session: timed until the page has drawn every heatmap"
        if args.client == "browser"
        else "Streamlit websocket protocol, no rendering: timed until the server has sent every heatmap"
    )
    print(f"client: {args.client} ({timed})")
    try:
        async with AsyncExitStack() as stack:
            if args.client == "browser" and args.lab_sessions:
                raise SystemExit("lab students need --client websocket (or pass --lab-sessions 0)")
            if args.client == "browser":
                from playwright.async_api import async_playwright

                playwright = await stack.enter_async_context(async_playwright())
                browser = await playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
                )
                stack.push_async_callback(browser.close)
                make_session = lambda tally: BrowserSession(browser, url, expect, tally)  # noqa: E731
            else:
                make_session = lambda tally: SocketSession(url, expect, tally)  # noqa: E731
            if server:
                start = time.perf_counter()
                server.wait_healthy()
                print(f"server {url} healthy after {time.perf_counter() - start:.1f} s")
                measure("healthy, before any session")
            warm = Tally()
            await short_visit(lambda: make_session(warm), -1, warm, asyncio.Semaphore(1))
            if warm.errors:
                print("warm-up session failed:")
                print_errors(warm)
            measure("after one warm-up session (model loaded)")
            cpu_before = cpu_seconds(pids)

            tally = Tally()
            phase_start = time.perf_counter()
            deadline = phase_start + args.duration

            lab_seeds = (
                {round(k * args.sessions / args.lab_sessions) for k in range(args.lab_sessions)}
                if args.lab_sessions
                else set()
            )
            typing_tally = tally  # Enter → heatmaps is measured on the sessions that type, not on the lab students
            lab_tally = Tally()

            async def late_student(seed: int) -> None:
                await asyncio.sleep(
                    args.ramp * seed / max(args.sessions, 1)
                )  # students arrive over --ramp seconds
                if (
                    seed in lab_seeds
                ):  # the k-th lab student starts with cell k mod 3, so all three cells run
                    await lab_student(
                        lambda: make_session(lab_tally),
                        sorted(lab_seeds).index(seed),
                        deadline,
                        lab_tally,
                    )
                else:
                    await student(lambda: make_session(typing_tally), seed, deadline, typing_tally)

            try:
                await asyncio.wait_for(
                    asyncio.gather(*[late_student(seed) for seed in range(args.sessions)]),
                    timeout=args.duration + args.grace,
                )
            except asyncio.TimeoutError:
                tally.errors.append(f"phase 1 cut off at {args.duration + args.grace:.0f} s")
            phase_s = time.perf_counter() - phase_start
            server_cpu = cpu_seconds(pids) - cpu_before
            measure(f"after phase 1 ({args.sessions} sessions, now closed)")
            lab_count = len(lab_seeds)
            print(
                f"\nphase 1: {args.sessions} concurrent sessions (arriving over {args.ramp:.0f} s) until "
                f"{args.duration:.0f} s, {args.sessions - lab_count} typing and {lab_count} training in the lab; "
                f"all finished after {phase_s:.0f} s"
            )
            print(
                f"  sessions that loaded the page: {tally.sessions + lab_tally.sessions} of {args.sessions}"
            )
            print(
                f"  sentences typed and shown: {tally.sentences}   view switches (there and back): {tally.switches}"
            )
            print(
                f"  first page → heatmaps:   {quantiles(tally.first_page_s + lab_tally.first_page_s)}"
            )
            print(
                f"  Enter → all heatmaps:    {quantiles(tally.enter_to_heatmaps_s)}   (typing sessions)"
            )
            print(f"  other view and back:     {quantiles(tally.view_switch_s)}")
            for other, seconds in sorted(
                tally.view_switch_by_view.items(), key=lambda item: -max(item[1])
            ):
                print(f"    {other:<12} and back: {quantiles(seconds)}")
            print_lab(lab_tally)
            if pids:
                print(
                    f"  server CPU: {server_cpu:.0f} s in {phase_s:.0f} s = {server_cpu / phase_s:.2f} cores on average"
                )
            tally.errors += lab_tally.errors
            print_errors(tally)
            print(f"  machine at the end of phase 1: {load_note()}")
            if (
                lab_count
            ):  # the pages closed mid-run: the server must stop their jobs and empty its queue
                closed_at = time.perf_counter()
                in_use = None
                while time.perf_counter() - closed_at < 90:
                    in_use = await lab_slots_in_use(lambda: make_session(Tally()))
                    if in_use[0] == 0 and in_use[2] == 0:
                        break
                    await asyncio.sleep(1)
                print(
                    f"  lab slots after the last page closed: {in_use[0]} of {in_use[1]} in use, {in_use[2]} waiting, "
                    f"{time.perf_counter() - closed_at:.0f} s later"
                )
                if in_use[0] or in_use[2]:
                    tally.errors.append("lab jobs of closed pages still hold their slots")
                    print("  ERROR: jobs of closed pages were not stopped")

            if args.rounds:
                print(
                    f"\nphase 2: {args.rounds} rounds of {args.round_size} fresh sessions "
                    "(open, type once, close; every tenth also trains an LSTM in the lab), "
                    f"{args.parallel_visits} at a time"
                )
            past = args.sessions + 1
            for round_index in range(args.rounds):
                if (
                    args.session_ttl is not None
                ):  # the previous round's closed sessions are evicted by now
                    await asyncio.sleep(args.session_ttl + 5)
                visits = Tally()
                gate = asyncio.Semaphore(args.parallel_visits)
                round_start = time.perf_counter()
                await asyncio.gather(
                    *[
                        short_visit(
                            lambda: make_session(visits),
                            10_000 * (round_index + 1) + k,
                            visits,
                            gate,
                            lab=args.lab_sessions > 0 and k % 10 == 0,
                        )
                        for k in range(args.round_size)
                    ]
                )
                past += args.round_size
                measure(f"after phase 2 round {round_index + 1} ({past} sessions so far)")
                print(
                    f"  round {round_index + 1}: {visits.sessions} of {args.round_size} sessions completed in "
                    f"{time.perf_counter() - round_start:.0f} s; Enter → heatmaps "
                    f"{quantiles(visits.enter_to_heatmaps_s)}"
                )
                print_lab(visits)
                print_errors(visits)

        if memory:
            print("\nserver memory (VmRSS of the streamlit process and its children)")
            for moment, mib in memory:
                print(f"  {moment:<52} {mib:7.0f} MiB")
            warm_mib = memory[1][1] if len(memory) > 1 else memory[0][1]
            print(
                f"  growth from warm-up to the end: {memory[-1][1] - warm_mib:+.0f} MiB over {past - 1} more sessions"
            )
        print(f"\nmachine at the end: {load_note()}")
    finally:
        if server:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--client",
        choices=["browser", "websocket"],
        default="browser",
        help="headless Chromium contexts (renders, heavy on the client) or websocket clients (light)",
    )
    parser.add_argument("--sessions", type=int, default=30, help="concurrent sessions in phase 1")
    parser.add_argument(
        "--lab-sessions",
        type=int,
        default=10,
        help="of those, students training in the lab (websocket client)",
    )
    parser.add_argument(
        "--lab-jobs",
        type=int,
        help="RNNVIZ_LAB_JOBS for the server started here (default: its own)",
    )
    parser.add_argument(
        "--duration", type=float, default=60, help="seconds phase-1 sessions keep typing"
    )
    parser.add_argument(
        "--ramp",
        type=float,
        default=10,
        help="phase-1 sessions arrive spread over this many seconds",
    )
    parser.add_argument(
        "--grace", type=float, default=120, help="phase 1 is cut off this long after --duration"
    )
    parser.add_argument("--rounds", type=int, default=2, help="phase 2: rounds of fresh sessions")
    parser.add_argument("--round-size", type=int, default=30, help="phase 2: sessions per round")
    parser.add_argument(
        "--parallel-visits", type=int, default=10, help="phase 2: sessions open at once"
    )
    parser.add_argument(
        "--session-ttl",
        type=int,
        help="server.disconnectedSessionTTL for the server started here "
        "(Streamlit: 120 s); given, phase 2 waits that long before each round, so memory after a "
        "round holds what sessions leave behind, not closed sessions kept for a reconnect",
    )
    parser.add_argument(
        "--url", help="test this running server instead of starting one (no memory figures)"
    )
    asyncio.run(main(parser.parse_args()))
