"""Helpers shared by the benchmark scripts: the loopback server, settings, stats and tables.

Not a benchmark itself. The scripts put the repository root on sys.path before importing this.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from components.parameters import defaults
from components.settings import Settings
from tests.contract_server import ContractServer, ContractState

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_KEY = "bench-key"
# Segmind's sample request text (85 characters), also the page's default text. A copy of
# components.ui.SAMPLE_TEXT, because importing that module imports gradio, which must wait
# until a benchmark has set up the environment.
SAMPLE_TEXT = (
    "Welcome to Chatterbox TTS, where your text turns into captivating audio effortlessly."
)


def isolated_environment(api_url: str, workdir: str) -> dict[str, str]:
    """os.environ for an app that talks only to `api_url` and writes only under `workdir`:
    no developer's key, no analytics, the cache, Gradio's files and temp files in `workdir`."""
    env = {name: value for name, value in os.environ.items() if name != "SEGMIND_API_KEY"}
    env.update(
        GRADIO_ANALYTICS_ENABLED="False",
        HF_HUB_OFFLINE="1",
        SEGMIND_API_URL=api_url,
        CHATTERBOX_CACHE_DIR=os.path.join(workdir, "cache"),
        GRADIO_TEMP_DIR=os.path.join(workdir, "gradio"),
        TMPDIR=workdir,
    )
    return env


@contextmanager
def contract_server(latency_scale: float) -> Iterator[ContractServer]:
    """A ContractServer on 127.0.0.1, an ephemeral port, accepting BENCH_KEY; stopped on exit."""
    state = ContractState(valid_keys={BENCH_KEY}, latency_scale=latency_scale)
    server = ContractServer(0, state).start()
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
    """Settings aimed at the loopback server: cache off, owner's limits off, quick retries."""
    return replace(
        Settings(),
        api_key=BENCH_KEY,
        api_url=server.url,
        connect_timeout=2.0,
        read_timeout=60.0,
        backoff_seconds=0.01,
        max_backoff_seconds=0.5,
        cache_enabled=False,
        cache_dir=cache_dir,
        visitor_calls_per_hour=0,
        daily_call_budget=0,
        **overrides,
    )


def request_body(text: str) -> dict:
    """The JSON body the app sends for `text` with Segmind's default voice and parameters."""
    return {"text": text, **defaults()}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear-interpolated percentile (fraction in 0..1) of a non-empty sequence."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table; columns of words left-aligned, of numbers right."""

    def wordy(cell: object) -> bool:
        text = str(cell)
        return bool(text) and not (text[0].isdigit() or text[0] in "≈—-+")

    align = ["---" if any(wordy(row[i]) for row in rows) else "---:" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
