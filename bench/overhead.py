"""App overhead, CPU, start-up and long-text latency, each against a floor from the same run.

This machine is shared and noisy (2 cores): absolute numbers drift between runs, so every
figure is reported with a floor measured in the same run, their ratio, and PASS/MISS against
its target. Three servers, each measured from outside:

  backend  the loopback contract server (tests/contract_server.py), in this process; its log
           has each backend call's monotonic start and finish, on this process's clock
  app      `python app.py` in a subprocess of its own: owner's key BENCH_KEY, owner's limits
           off, cache off (a second one with the cache on, for hits)
  floor    `python bench/floor_app.py` in a subprocess of its own: a bare gr.Blocks whose one
           queued endpoint, /echo, returns its string (with the app's concurrency limit)

Requests go over raw HTTP, as any non-Python client's do: POST /gradio_api/call/<api_name> with
the positional arguments, then the event's SSE stream read until `event: complete`. An
`event: error`, or a take whose first output is not a file, stops the run: timing errors would
be worthless. Figures:

1. App overhead, p50. --requests rounds after --warmup, each round one request of every path
   in turn (so drift hits all alike), latency scale 0, Segmind's sample text, cache off.
   Overhead = p50 request time - p50 of a direct requests.Session().post of the same JSON body
   to the backend, the same definition for the app's /synthesize and the floor's /echo.
   Target: the app's <= 2.5x the echo's.
2. Cache hit, p50. In the same rounds, the app with the cache on, the same request each time
   (the cache filled by an untimed one first). Target: <= 3x the echo's request time.
   Then the same paths through gradio_client (Client.predict, which polls), --client-requests
   rounds, reported apart, without targets.
3. CPU per request. --clients threads send --per-client requests each, all at once, with the
   latency scale set so that the sample's backend call takes --call-seconds; CPU =
   utime+stime+cutime+cstime of the server process and its live descendants (an ffmpeg, say)
   from /proc, after minus before, / requests. Target: the app <= 25 ms; the echo alongside.
4. Cold start. A fresh process to the first HTTP 200 on /, `python app.py` and `python
   bench/floor_app.py` back to back, --startups pairs, which goes first alternating; the
   median of the pairs' ratios. Target: app / floor <= 1.1. The app's modules are compiled to
   bytecode first, as pip compiles Gradio's (a first start compiles them: about 0.12 s more).
5. Long text. A passage of about --long-chars characters (bench/long_text.py's story: varied
   sentences, so no two chunks are alike) at latency scale --long-scale, cache off; medians of
   --long-runs takes after one warm-up:
   (a) the finished take at the client (the first message whose first output is the take's
       file) minus the last backend answer of the take. Target: <= 0.3 s. The `complete`
       event, which also waits for the Live player's tail to be encoded, is reported beside.
   (b) first streamed audio at the client: from the POST to the arrival of the first segment
       of the Live output (the stream file in a `generating` message; its HLS playlist polled
       every 10 ms until it lists a segment, which is then fetched), / the backend time of the
       take's first chunk (the call whose text starts the passage). Target: <= 1.5x.
       When the app sends no Live stream (no ffmpeg, say) this is reported, not failed.

    python bench/overhead.py
    python bench/overhead.py --requests 100 --startups 3 --long-runs 5

Takes about 2 minutes at the defaults on 2 cores.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse  # noqa: E402
import compileall  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from contextlib import ExitStack  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import urljoin  # noqa: E402

import requests  # noqa: E402

from bench._common import (  # noqa: E402
    BENCH_KEY,
    SAMPLE_TEXT,
    app_client,
    contract_server,
    markdown_table,
    percentile,
    process_tree_cpu_seconds,
    request_body,
    reset_log,
    synthesize_arguments,
)
from bench.long_text import story  # noqa: E402
from components.models import CHATTERBOX  # noqa: E402
from components.settings import Settings  # noqa: E402
from tests.gradio_http import GradioCallError, call_events  # noqa: E402
from tests.served import NO_TELEMETRY, ServedProcess, served_process  # noqa: E402
from tests.contract_server import ContractServer, modelled_latency  # noqa: E402

APP = (sys.executable, "app.py")
FLOOR = (sys.executable, "bench/floor_app.py")
APP_ENVIRONMENT = dict(
    SEGMIND_API_KEY=BENCH_KEY,
    CHATTERBOX_VISITOR_CALLS_PER_HOUR="0",
    CHATTERBOX_DAILY_CALL_BUDGET="0",
)
ECHO_TEXT = "echo"
TIMEOUT = 120.0  # seconds for any one request
LIVE_POLL_SECONDS = 0.01

OVERHEAD_TARGET = 2.5  # x the echo's overhead
HIT_TARGET = 3.0  # x the echo's request time
CPU_TARGET_MS = 25.0
STARTUP_TARGET = 1.1  # x the floor's
COMPLETE_TARGET = 0.3  # seconds after the last backend answer
FIRST_AUDIO_TARGET = 1.5  # x the first chunk's backend time

DIRECT, ECHO, APP_MISS, APP_HIT = (
    "direct requests.post to the backend",
    "floor: bare Gradio /echo",
    "app /synthesize, cache off",
    "app /synthesize, cache hit",
)


# --- One request by each path -----------------------------------------------------------------


def is_file(output: Any) -> bool:
    """Whether an output is a file dict (an update, such as a skipped output, is not)."""
    return isinstance(output, dict) and bool(output.get("path") or output.get("url"))


def take_file(outputs: Sequence[Any] | None) -> dict:
    """The finished take, /synthesize's first output, as the file dict Gradio sends; raises if
    it is anything else."""
    first = outputs[0] if outputs else None
    if not is_file(first):
        raise GradioCallError(f"/synthesize's first output is not a file: {first!r}")
    return first


def raw_call(session: requests.Session, url: str, api_name: str, data: Sequence[Any]) -> list:
    """The outputs of the `complete` event of one raw HTTP call."""
    outputs = None
    for event, payload in call_events(session, url, api_name, data, TIMEOUT):
        if event == "complete":
            outputs = payload
    return outputs


def raw_take(session: requests.Session, url: str, text: str) -> dict:
    return take_file(raw_call(session, url, "synthesize", synthesize_arguments(text).values()))


def raw_echo(session: requests.Session, url: str) -> None:
    outputs = raw_call(session, url, "echo", [ECHO_TEXT])
    if outputs != [ECHO_TEXT]:
        raise GradioCallError(f"/echo answered {outputs!r}")


def direct_post(session: requests.Session, server: ContractServer) -> None:
    response = session.post(
        f"{server.url}/{CHATTERBOX.endpoint}", json=request_body(SAMPLE_TEXT),
        headers={"x-api-key": BENCH_KEY}, timeout=TIMEOUT,
    )
    response.raise_for_status()


def client_take(client: Any) -> None:
    # With download_files=False, gradio_client hands back the file dict Gradio sent.
    take_file(client.predict(**synthesize_arguments(SAMPLE_TEXT), api_name="/synthesize"))


def client_echo(client: Any) -> None:
    answer = client.predict(ECHO_TEXT, api_name="/echo")
    if answer != ECHO_TEXT:
        raise GradioCallError(f"/echo answered {answer!r}")


# --- Figures 1 and 2: sequential requests, interleaved ----------------------------------------


@dataclass(frozen=True)
class Timings:
    seconds: list[float]
    backend_calls: int

    @property
    def p50(self) -> float:
        return percentile(self.seconds, 0.5)


def backend_calls(server: ContractServer) -> int:
    return len(server.state.synthesis_requests())


def interleaved(
    server: ContractServer, paths: dict[str, Callable[[], object]], rounds: int, warmup: int
) -> dict[str, Timings]:
    """Each path once per round, in turn; the last `rounds` rounds timed, with the backend
    calls each path made in them."""
    seconds: dict[str, list[float]] = {label: [] for label in paths}
    calls = dict.fromkeys(paths, 0)
    for number in range(warmup + rounds):
        for label, path in paths.items():
            before = backend_calls(server)
            started = time.perf_counter()
            path()
            elapsed = time.perf_counter() - started
            if number >= warmup:
                seconds[label].append(elapsed)
                calls[label] += backend_calls(server) - before
    return {label: Timings(seconds[label], calls[label]) for label in paths}


# --- Figure 3: CPU per request under concurrent load ------------------------------------------


@dataclass(frozen=True)
class CpuRun:
    clients: int
    requests: int
    wall: float
    cpu: float

    @property
    def ms_per_request(self) -> float:
        return self.cpu / self.requests * 1000


def cpu_per_request(
    served: ServedProcess, request: Callable[[requests.Session], object], clients: int,
    per_client: int,
) -> CpuRun:
    """`clients` threads, started together, each sending `per_client` requests one after
    another on its own keep-alive session; the server's CPU time across them."""
    start_line = threading.Barrier(clients + 1, timeout=TIMEOUT)

    def client() -> None:
        with requests.Session() as session:
            start_line.wait()
            for _ in range(per_client):
                request(session)

    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [pool.submit(client) for _ in range(clients)]
        cpu_before = process_tree_cpu_seconds(served.process.pid)
        start_line.wait()
        started = time.monotonic()
        for future in futures:
            future.result()  # the first failure stops the run
        wall = time.monotonic() - started
    cpu = process_tree_cpu_seconds(served.process.pid) - cpu_before
    return CpuRun(clients, clients * per_client, wall, cpu)


# --- Figure 4: cold start ---------------------------------------------------------------------


def cold_starts(api_url: str, count: int) -> dict[str, list[float]]:
    """Seconds from a fresh process to the first HTTP 200 on /, app and floor in pairs run back
    to back, which goes first alternating (app-floor, floor-app, ...) so neither always meets
    the file cache the other warmed."""
    seconds: dict[str, list[float]] = {"app": [], "floor": []}
    starts = [("app", APP, {**APP_ENVIRONMENT, "CHATTERBOX_CACHE": "false"}), ("floor", FLOOR, {})]
    for pair in range(count):
        for name, command, environment in starts if pair % 2 == 0 else starts[::-1]:
            with served_process(command, api_url, TIMEOUT, **environment) as served:
                seconds[name].append(served.startup_seconds)
    return seconds


def paired_ratios(startups: dict[str, list[float]]) -> list[float]:
    """App / floor of each back-to-back pair: the machine's speed, which drifts by more than
    the target's margin between pairs, is nearly the same within one."""
    return [app / floor for app, floor in zip(startups["app"], startups["floor"])]


# --- Figure 5: long text, finished take and first streamed audio ------------------------------


def stream_file(outputs: Sequence[Any]) -> dict | None:
    """The Live output of a `generating` message once it is a stream (a file dict with
    is_stream); before its first audio it is a plain update, and after the take, skipped."""
    for output in outputs:
        if isinstance(output, dict) and output.get("is_stream"):
            return output
    return None


class LiveWatcher(threading.Thread):
    """Fetches a Live output as a player would, as fast as it can: polls the HLS playlist until
    it lists a segment, then GETs the first segment. `arrived` is the monotonic time its bytes
    were in; when there is none, `note` says why."""

    def __init__(self, playlist_url: str, deadline: float) -> None:
        super().__init__(name="live-watcher", daemon=True)
        self.playlist_url = playlist_url
        self.deadline = deadline
        self.arrived: float | None = None
        self.note = ""
        self.start()

    def run(self) -> None:
        try:
            with requests.Session() as session:
                self._watch(session)
        except Exception as error:  # noqa: BLE001 - reported in the table, not raised here
            self.note = f"fetching the Live stream failed ({type(error).__name__}: {error})"

    def _watch(self, session: requests.Session) -> None:
        while time.monotonic() < self.deadline:
            response = session.get(self.playlist_url, timeout=TIMEOUT)
            response.raise_for_status()
            lines = response.text.splitlines()
            segments = [line for line in lines if line and not line.startswith("#")]
            if segments:
                segment = session.get(urljoin(self.playlist_url, segments[0]), timeout=TIMEOUT)
                arrived = time.monotonic()  # without stream=True, get() returns with the body
                segment.raise_for_status()
                data = segment.content
                if len(data) > 7 and data[0] == 0xFF and data[1] & 0xF0 == 0xF0:  # ADTS sync
                    self.arrived = arrived
                else:
                    self.note = f"the first Live segment is not AAC audio ({len(data)} bytes)"
                return
            if "#EXT-X-ENDLIST" in lines:
                self.note = "the Live playlist ended without a segment"
                return
            time.sleep(LIVE_POLL_SECONDS)
        self.note = "the Live playlist listed no segment in time"


@dataclass(frozen=True)
class LongTake:
    calls: int
    after_last_answer: float  # the take's file at the client - the last backend answer
    complete_after_last_answer: float  # the `complete` event - the last backend answer
    first_chunk_call: float  # backend seconds of the call for the take's first chunk
    first_audio: float | None  # from the POST to the first Live segment at the client
    note: str  # why first_audio is None

    @property
    def first_audio_ratio(self) -> float | None:
        return None if self.first_audio is None else self.first_audio / self.first_chunk_call


def long_take(session: requests.Session, server: ContractServer, url: str, text: str) -> LongTake:
    reset_log(server)
    watcher: LiveWatcher | None = None
    outputs, completed, take_arrived = None, 0.0, None
    started = time.monotonic()
    for event, payload in call_events(
        session, url, "synthesize", synthesize_arguments(text).values(), TIMEOUT
    ):
        if take_arrived is None and is_file(payload[0] if payload else None):
            take_arrived = time.monotonic()  # the Take output: the take is playable
        if event == "complete":
            completed, outputs = time.monotonic(), payload
        elif watcher is None and (live := stream_file(payload)):
            playlist = live.get("url") or f"{url}/gradio_api/stream/{live['path']}"
            watcher = LiveWatcher(playlist, started + TIMEOUT)
    take_file(outputs)
    calls = server.state.synthesis_requests()
    firsts = [call for call in calls if call.body["text"][:40] == text[:40]]
    if len(firsts) != 1:
        raise RuntimeError(f"{len(firsts)} backend calls start the passage, expected 1")
    first_audio, note = None, "the app sent no Live stream in any `generating` message"
    if watcher is not None:
        watcher.join(TIMEOUT)
        note = watcher.note
        first_audio = watcher.arrived - started if watcher.arrived is not None else None
    last_answer = max(call.finished for call in calls)
    return LongTake(
        len(calls),
        (take_arrived or completed) - last_answer,
        completed - last_answer,
        firsts[0].finished - firsts[0].started,
        first_audio,
        note,
    )


# --- Reporting --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    number: str
    measure: str
    app: str
    floor: str
    ratio: str
    value: float | None  # what is held against `limit`; None when it could not be measured
    limit: float
    unit: str  # of value and limit: "×", "ms" or "s"
    note: str = ""  # why value is None

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "NOT MEASURED"
        return "PASS" if self.value <= self.limit else "MISS"

    @property
    def target(self) -> str:
        return f"≤ {self.limit:g}{'' if self.unit == '×' else ' '}{self.unit}"

    def row(self) -> list[object]:
        return [self.number, self.measure, self.app, self.floor, self.ratio, self.target,
                self.verdict]

    def summary(self) -> str:
        if self.value is None:
            value = self.note or "no value"
        else:
            value = {"×": f"{self.value:.2f}×", "ms": f"{self.value:.1f} ms",
                     "s": f"{self.value:.3f} s"}[self.unit]
        return f"- **{self.verdict}** {self.number}. {self.measure}: {value} (target {self.target})"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def ratio(value: float, floor: float) -> float:
    return value / floor if floor > 0 else float("inf")


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' * (count != 1)}"


def latency_table(timings: dict[str, Timings], with_ratio: bool) -> str:
    """p50, p95, backend calls and overhead over the direct post of each path; with_ratio
    adds each app path's overhead ÷ the echo's."""
    direct = timings[DIRECT].p50
    echo_overhead = timings[ECHO].p50 - direct
    rows = []
    for label, t in timings.items():
        row = [label, ms(t.p50), ms(percentile(t.seconds, 0.95)), t.backend_calls,
               "—" if label == DIRECT else ms(t.p50 - direct)]
        if with_ratio:
            row.append("—" if label in (DIRECT, ECHO)
                       else f"{ratio(t.p50 - direct, echo_overhead):.2f}×")
        rows.append(row)
    headers = ["path", "p50 (ms)", "p95 (ms)", "backend calls",
               "over a direct requests.post, p50 (ms)"]
    return markdown_table(headers + ["÷ the echo's"] * with_ratio, rows)


@dataclass(frozen=True)
class Results:
    raw: dict[str, Timings]
    through_client: dict[str, Timings]
    cpu_app: CpuRun
    cpu_floor: CpuRun
    startups: dict[str, list[float]]
    takes: list[LongTake]
    passage: str
    sample_call_scale: float
    concurrency_limit: int


def targets(results: Results) -> list[Target]:
    raw, takes = results.raw, results.takes
    direct = raw[DIRECT].p50
    app_overhead, echo_overhead = raw[APP_MISS].p50 - direct, raw[ECHO].p50 - direct
    app_start, floor_start = (statistics.median(results.startups[n]) for n in ("app", "floor"))
    start_ratio = statistics.median(paired_ratios(results.startups))
    cpu_app, cpu_floor = results.cpu_app.ms_per_request, results.cpu_floor.ms_per_request
    after_last = statistics.median(take.after_last_answer for take in takes)
    first_call = statistics.median(take.first_chunk_call for take in takes)
    streamed = all(take.first_audio is not None for take in takes)
    first_audio = statistics.median(take.first_audio for take in takes) if streamed else None
    first_ratio = statistics.median(take.first_audio_ratio for take in takes) if streamed else None
    return [
        Target("1", "app overhead p50, raw HTTP (over a direct requests.post)",
               f"{ms(app_overhead)} ms", f"{ms(echo_overhead)} ms (echo)",
               f"{ratio(app_overhead, echo_overhead):.2f}×",
               ratio(app_overhead, echo_overhead), OVERHEAD_TARGET, "×"),
        Target("2", "cache hit p50, raw HTTP",
               f"{ms(raw[APP_HIT].p50)} ms", f"{ms(raw[ECHO].p50)} ms (echo)",
               f"{ratio(raw[APP_HIT].p50, raw[ECHO].p50):.2f}×",
               ratio(raw[APP_HIT].p50, raw[ECHO].p50), HIT_TARGET, "×"),
        Target("3", f"CPU per request, {results.cpu_app.clients} concurrent clients",
               f"{cpu_app:.1f} ms", f"{cpu_floor:.1f} ms (echo)",
               f"{ratio(cpu_app, cpu_floor):.2f}×", cpu_app, CPU_TARGET_MS, "ms"),
        Target("4", "cold start, median of the pairs' ratios", f"{app_start:.2f} s",
               f"{floor_start:.2f} s (bare Blocks)", f"{start_ratio:.2f}×",
               start_ratio, STARTUP_TARGET, "×"),
        Target("5a", "long text: finished take after the last backend answer, median",
               f"{after_last:.3f} s", "the last backend answer", "—",
               after_last, COMPLETE_TARGET, "s"),
        Target("5b", "long text: first streamed audio at the client, median",
               "—" if first_audio is None else f"{first_audio:.3f} s",
               f"{first_call:.3f} s (first chunk's call)",
               "—" if first_ratio is None else f"{first_ratio:.2f}×",
               first_ratio, FIRST_AUDIO_TARGET, "×",
               "; ".join(sorted({take.note for take in takes if take.note}))),
    ]


def report(args: argparse.Namespace, results: Results) -> None:
    print(f"## Per request, raw HTTP ({plural(args.requests, 'round')} after {args.warmup} "
          "warm-up; latency scale 0, Segmind's sample text)\n")
    print(latency_table(results.raw, with_ratio=False))
    print("\nEach round sends one request by every path in turn, one after another. Raw HTTP = "
          "POST /gradio_api/call/<api_name>, then its SSE stream read to `event: complete`. "
          "The app's cache is off except for hits (filled by an untimed request first).\n")
    print(f"## Per request, through gradio_client, which polls "
          f"({plural(args.client_requests, 'round')} after {args.warmup} warm-up; no targets)\n")
    print(latency_table(results.through_client, with_ratio=True))

    print(f"\n## CPU per request: {args.clients} concurrent clients × {args.per_client} "
          f"requests, raw HTTP (latency scale {results.sample_call_scale:.4f}: the sample's call "
          f"takes {args.call_seconds:g} s; cache off)\n")
    print(markdown_table(
        ["server", "requests", "wall (s)", "CPU (s)", "CPU per request (ms)"],
        [[name, run.requests, f"{run.wall:.2f}", f"{run.cpu:.2f}", f"{run.ms_per_request:.1f}"]
         for name, run in (("app", results.cpu_app), ("floor (echo)", results.cpu_floor))],
    ))
    print("\nCPU = utime + stime + cutime + cstime from /proc of the server process and of its "
          "descendants still running, after minus before. Both queue with concurrency limit "
          f"{results.concurrency_limit} (the app's).\n")

    print(f"## Cold start: fresh process to the first HTTP 200 on /, "
          f"{plural(args.startups, 'pair')} of runs back to back, which goes first alternating\n")
    print(markdown_table(
        ["command", "median (s)", "min (s)", "max (s)"],
        [[f"`python {command[1]}`", f"{statistics.median(times):.2f}", f"{min(times):.2f}",
          f"{max(times):.2f}"]
         for command, times in ((APP, results.startups["app"]),
                                (FLOOR, results.startups["floor"]))],
    ))
    pairs = paired_ratios(results.startups)
    floor_times = results.startups["floor"]
    print(f"\nApp ÷ floor, pair by pair: {', '.join(f'{r:.2f}' for r in pairs)} (median "
          f"{statistics.median(pairs):.2f}). The target is judged on this median: the floor "
          f"alone took from {min(floor_times):.2f} s to {max(floor_times):.2f} s in this run, as "
          "the shared machine's load drifts, while the two starts of a pair meet nearly the same "
          "machine.\n")

    takes = results.takes
    print(f"\n## Long text: {len(results.passage):,} characters, {takes[0].calls} backend calls, "
          f"latency scale {args.long_scale:g}, cache off ({plural(args.long_runs, 'run')} after "
          "1 warm-up)\n")
    print(markdown_table(
        ["run", "finished take after the last backend answer (s)",
         "`complete` after it (s)",
         "first Live audio at the client (s)", "first chunk's backend call (s)", "ratio"],
        [[number, f"{take.after_last_answer:.3f}", f"{take.complete_after_last_answer:.3f}",
          "—" if take.first_audio is None else f"{take.first_audio:.3f}",
          f"{take.first_chunk_call:.3f}",
          "—" if take.first_audio_ratio is None else f"{take.first_audio_ratio:.2f}×"]
         for number, take in enumerate(takes, 1)],
    ))
    notes = sorted({take.note for take in takes if take.note})
    print("\nFinished take = the first message whose first output is the take's file (it plays "
          "and downloads from then on); `complete` also waits for the Live player's tail, the "
          "chunks that completed the take, to be encoded after it. "
          "First Live audio = from the POST to the first segment's bytes, fetched as soon as "
          "the Live output's HLS playlist lists it (polled every "
          f"{LIVE_POLL_SECONDS * 1000:.0f} ms)."
          + "".join(f" **Not measured: {note}.**" for note in notes))

    rows = targets(results)
    print("\n## Targets (each floor measured in this run)\n")
    print(markdown_table(["#", "measure", "app", "floor", "ratio", "target", "verdict"],
                         [target.row() for target in rows]))
    print("\nOverhead = p50 request time − p50 of a direct requests.post of the same body to the "
          "backend, the same for the app and the echo.\n")
    for target in rows:
        print(target.summary())


def measure(args: argparse.Namespace) -> Results:
    concurrency_limit = Settings.from_env().concurrency_limit
    floor_command = (*FLOOR, "--concurrency-limit", str(concurrency_limit))
    sample_call_scale = args.call_seconds / modelled_latency(SAMPLE_TEXT, 1.0)
    passage = story(lambda text: len(text) <= args.long_chars)

    with contract_server(0.0) as server, ExitStack() as stack:
        # pip compiled Gradio's modules to bytecode when it installed them; the app's are
        # compiled here alike, or with PYTHONDONTWRITEBYTECODE set (as on this machine) every
        # start of the app would compile them from source again, and the floor's never.
        compileall.compile_dir(Path(__file__).resolve().parent.parent / "components", quiet=2)
        startups = cold_starts(server.url, args.startups)  # first, with nothing else serving
        floor = stack.enter_context(served_process(floor_command, server.url, TIMEOUT))
        app = stack.enter_context(served_process(
            APP, server.url, TIMEOUT, **APP_ENVIRONMENT, CHATTERBOX_CACHE="false"))
        cached_app = stack.enter_context(served_process(
            APP, server.url, TIMEOUT, **APP_ENVIRONMENT, CHATTERBOX_CACHE="true"))
        session = stack.enter_context(requests.Session())
        try:
            raw_take(session, cached_app.url, SAMPLE_TEXT)  # fills the cache: later ones hit
            raw = interleaved(server, {
                DIRECT: lambda: direct_post(session, server),
                ECHO: lambda: raw_echo(session, floor.url),
                APP_MISS: lambda: raw_take(session, app.url, SAMPLE_TEXT),
                APP_HIT: lambda: raw_take(session, cached_app.url, SAMPLE_TEXT),
            }, args.requests, args.warmup)
            clients = {}
            for name, served in (("floor", floor), ("app", app), ("hit", cached_app)):
                clients[name] = app_client(served.url)
                stack.callback(clients[name].close)
            through_client = interleaved(server, {
                DIRECT: lambda: direct_post(session, server),
                ECHO: lambda: client_echo(clients["floor"]),
                APP_MISS: lambda: client_take(clients["app"]),
                APP_HIT: lambda: client_take(clients["hit"]),
            }, args.client_requests, args.warmup)

            server.state.latency_scale = sample_call_scale
            cpu_app = cpu_per_request(app, lambda s: raw_take(s, app.url, SAMPLE_TEXT),
                                      args.clients, args.per_client)
            cpu_floor = cpu_per_request(floor, lambda s: raw_echo(s, floor.url),
                                        args.clients, args.per_client)

            server.state.latency_scale = args.long_scale
            long_take(session, server, app.url, passage)  # warm-up: the first Live encoder
            takes = [long_take(session, server, app.url, passage) for _ in range(args.long_runs)]
        except Exception:
            for name, served in (("app", app), ("app with cache", cached_app), ("floor", floor)):
                print(f"--- the end of the {name}'s log ---\n{served.log_tail()}", file=sys.stderr)
            raise
    return Results(raw, through_client, cpu_app, cpu_floor, startups, takes, passage,
                   sample_call_scale, concurrency_limit)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=40,
                        help="timed rounds of sequential raw HTTP requests (figures 1, 2)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds before them")
    parser.add_argument("--client-requests", type=int, default=20,
                        help="timed rounds through gradio_client")
    parser.add_argument("--clients", type=int, default=20,
                        help="concurrent clients for CPU per request (figure 3)")
    parser.add_argument("--per-client", type=int, default=5, help="requests per client")
    parser.add_argument("--call-seconds", type=float, default=0.3,
                        help="backend time of the sample's call during figure 3")
    parser.add_argument("--startups", type=int, default=7,
                        help="cold starts of each, app and floor (figure 4)")
    parser.add_argument("--long-chars", type=int, default=2000,
                        help="length of the long passage (figure 5)")
    parser.add_argument("--long-scale", type=float, default=0.02,
                        help="latency scale for the long passage")
    parser.add_argument("--long-runs", type=int, default=3, help="timed long takes, median kept")
    args = parser.parse_args()
    for name in ("requests", "client_requests", "clients", "per_client", "startups", "long_runs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.warmup < 0 or args.call_seconds <= 0 or args.long_scale < 0:
        parser.error("--warmup and --long-scale must not be negative, --call-seconds positive")
    os.environ.update(NO_TELEMETRY)  # for gradio_client in this process too

    print(f"`{shlex.join(['python', *sys.argv])}`\n")
    print(f"Python {platform.python_version()}, {os.cpu_count()} cores; on the PATH the servers "
          f"inherit, ffmpeg: {shutil.which('ffmpeg') or 'none'}, ffprobe: "
          f"{shutil.which('ffprobe') or 'none'}.\n")
    report(args, measure(args))


if __name__ == "__main__":
    main()
