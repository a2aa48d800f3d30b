"""Helpers shared by the benchmark scripts: the loopback server, settings, the app served in
this process (tests/served.py serves it from a subprocess), a process tree's CPU time,
checking the tone-burst speech the app returns, stats and tables.

Not a benchmark itself. The scripts put the repository root on sys.path before importing this.
Nothing here imports gradio at module level: a script calls enter_app_environment() first.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace

import soundfile as sf

from components.models import CHATTERBOX
from components.settings import Settings
from tests.contract_server import ContractServer, ContractState, speech_mismatch
from tests.served import free_port, isolated_environment

BENCH_KEY = "bench-key"
# Segmind's sample request text (85 characters), also the page's default text. A copy of
# components.ui.SAMPLE_TEXT, because importing that module imports gradio, which must wait
# until a benchmark has set up the environment.
SAMPLE_TEXT = (
    "Welcome to Chatterbox TTS, where your text turns into captivating audio effortlessly."
)


@contextmanager
def contract_server(latency_scale: float) -> Iterator[ContractServer]:
    """A ContractServer on 127.0.0.1, an ephemeral port, accepting BENCH_KEY; stopped on exit."""
    state = ContractState(valid_keys={BENCH_KEY}, latency_scale=latency_scale)
    server = ContractServer(0, state)
    report_error = server.handle_error

    def handle_error(request: object, client_address: object) -> None:
        # A client that hangs up on a scripted fault (a trickle, a huge body) is the point of
        # the fault, not an error worth a traceback.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            report_error(request, client_address)

    server.handle_error = handle_error
    server.start()
    try:
        yield server
    finally:
        server.stop()


def reset_log(server: ContractServer) -> None:
    """Forget recorded requests and the in-flight peak, so the next run is measured alone."""
    with server.state.lock:
        server.state.requests.clear()
        server.state.peak_in_flight = server.state.in_flight


def bench_settings(server: ContractServer, cache_dir: str, **overrides: object) -> Settings:
    """Settings aimed at the loopback server: cache off, owner's limits off, quick retries;
    `overrides` replace any of these."""
    values: dict[str, object] = dict(
        api_key=BENCH_KEY,
        api_base=server.url,
        connect_timeout=2.0,
        read_timeout=60.0,
        backoff_seconds=0.01,
        max_backoff_seconds=0.5,
        cache_enabled=False,
        cache_dir=cache_dir,
        visitor_calls_per_hour=0,
        daily_call_budget=0,
    )
    return replace(Settings(), **{**values, **overrides})


def request_body(text: str) -> dict:
    """The JSON body the app sends for `text` with Segmind's default voice and parameters."""
    return {"text": text, **CHATTERBOX.defaults()}


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear-interpolated percentile (fraction in 0..1) of a non-empty sequence."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def ms(values: Sequence[float], fraction: float) -> str:
    """percentile() of seconds, as whole milliseconds; "—" when there are none."""
    return f"{percentile(values, fraction) * 1000:.0f}" if values else "—"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table; columns of words left-aligned, of numbers right."""

    def wordy(cell: object) -> bool:
        text = str(cell)
        return bool(text) and not (text[0].isdigit() or text[0] in "≈—-+")

    align = ["---" if any(wordy(row[i]) for row in rows) else "---:" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def enter_app_environment(api_url: str, workdir: str) -> None:
    """Aim this process at `api_url` and keep its files in `workdir`, before gradio or `app` is
    imported: `import app` builds a demo from the environment, and components.ui makes its
    take folder in the temp dir when imported."""
    os.environ.pop("SEGMIND_API_KEY", None)
    os.environ.update(isolated_environment(api_url, workdir), CHATTERBOX_CACHE="false")
    tempfile.tempdir = workdir


@contextmanager
def served_app(settings: Settings) -> Iterator[str]:
    """build_demo(settings) served on 127.0.0.1 at a free port; yields its URL, closed on exit."""
    from app import build_demo

    demo = build_demo(settings)
    demo.launch(
        prevent_thread_lock=True, quiet=True, server_name="127.0.0.1", server_port=free_port()
    )
    try:
        yield demo.local_url
    finally:
        with contextlib.redirect_stdout(sys.stderr):  # Gradio prints "Closing server ..."
            demo.close()


def _cpu_ticks_and_parent(pid: int) -> tuple[int, int]:
    """(utime + stime + cutime + cstime, parent pid) from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as stat:
        text = stat.read()
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) ", which may hold spaces
    return sum(int(value) for value in fields[11:15]), int(fields[1])


def process_tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by process `pid`: its own, its ended children's (cutime and
    cstime), and those of its descendants still running (such as an ffmpeg it started)."""
    usage: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                usage[int(entry)] = _cpu_ticks_and_parent(int(entry))
            except (OSError, ValueError, IndexError):
                pass  # ended while listed
    children: dict[int, list[int]] = {}
    for child, (_, parent) in usage.items():
        children.setdefault(parent, []).append(child)
    ticks, pending = 0, [pid]
    while pending:
        current = pending.pop()
        ticks += usage.get(current, (0, 0))[0]
        pending += children.get(current, [])
    return ticks / os.sysconf("SC_CLK_TCK")


def app_client(url: str, download_files: str | bool = False):
    """A quiet gradio_client.Client for the app at `url` (no analytics); with
    `download_files` a folder, output files are downloaded there as a real caller gets them."""
    from gradio_client import Client

    return Client(url, verbose=False, download_files=download_files, analytics_enabled=False)


def synthesize_arguments(text: str, **overrides: object) -> dict:
    """Every argument of the app's /synthesize endpoint: Segmind's defaults, no reference
    voice, the fixed seed, the owner's key; `overrides` replace any of them."""
    return {
        "text": text,
        "reference_audio": None,
        "reference_audio_url": "",
        **CHATTERBOX.defaults(),
        "random_seed": False,
        "api_key": "",
        **overrides,
    }


def clip_mismatch(path: str, text: str, seed: int) -> str | None:
    """speech_mismatch() of the audio file at `path` (downmixed)."""
    samples, sample_rate = sf.read(path, dtype="float32", always_2d=True)
    return speech_mismatch(samples.mean(axis=1), sample_rate, text, seed)
