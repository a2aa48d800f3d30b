"""Load: many visitors at once, a queue overflow, bad inputs and backend faults, through the app.

Everything runs in this process on loopback: the contract server (tests/contract_server.py),
whose latency model makes a call take `scale * (8 + 0.12 * characters)` s (Segmind's
85-character sample: ~18 s at scale 1, 0.36 s at the default --scale 0.02), and the app,
build_demo(settings) served on 127.0.0.1 with the cache off and the owner's limits off, so
every request is a real backend call. Requests go through gradio_client to /synthesize.

1. Visitors. --visitors threads each open their own gradio_client.Client, wait at a barrier,
   then send --rounds requests one after another, each with a text no other request uses
   ("Visitor 17 asks for line 3 about harbours."). Every returned WAV is decoded and its tone
   bursts (one per word, pitch fixed by the word and the seed) are checked against that
   visitor's own words: a clip meant for someone else, or garbled, is a mismatch.
   Reported: takes in progress in the app at once (Playground.generate, wrapped to count and
   time) and calls in flight at the backend (the server's peak); requests ok/failed; p50/p99
   of the end-to-end time (predict) and of the backend's own time (the server's log), and of
   their per-request difference (matched by text), split into Gradio's part outside the
   handler, the handler's yields, and the app's own steps; CPU time per request; the
   process's peak RSS (ru_maxrss) and its threads before, during and after.
2. Queue overflow. An app with queue_max_size=4 and concurrency_limit=2 gets --burst
   client.submit() calls at once; each .result() is sorted into completed, refused because
   the queue is full, or another error. A plain POST to /gradio_api/call/synthesize sent while
   the queue is full shows the server's own words. Then a normal request must succeed.
3. Hardening. An app with read_timeout=1, max_retries=1, max_response_mb=5 gets a fixed list of
   bad inputs (each must end in an AppError with no backend call) and every fault the contract
   server can script, each scripted twice so the retry fails too (each must end in an AppError
   naming Segmind, without the key, within connect_timeout + 2 * read_timeout + 3 s). After
   every case a normal request must succeed.

    python bench/load.py
    python bench/load.py --visitors 80 --rounds 2 --scale 0.05

Runs in about 90 s at the defaults.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse  # noqa: E402
import gc  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from concurrent.futures import FIRST_EXCEPTION, wait  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from unittest import mock  # noqa: E402

import requests  # noqa: E402

from bench._common import (  # noqa: E402
    BENCH_KEY,
    app_client,
    bench_settings,
    clip_mismatch,
    contract_server,
    enter_app_environment,
    markdown_table,
    ms,
    reset_log,
    served_app,
    synthesize_arguments,
)
from components.models import CHATTERBOX  # noqa: E402
from components.playground import Playground  # noqa: E402
from tests.contract_server import ContractServer, modelled_latency  # noqa: E402

SEED = int(CHATTERBOX.defaults()["seed"])  # the seed every request here uses (random_seed is off)
TOPICS = (
    "harbours", "lanterns", "orchards", "glaciers", "violins", "comets", "meadows", "bridges",
    "falcons", "deserts", "kettles", "islands", "engines", "candles", "rivers", "mirrors",
)  # fmt: skip
HEALTH_TEXT = "Is the playground still answering after that?"
OVERFLOW_QUEUE_SIZE = 4
OVERFLOW_CONCURRENCY = 2
FAULTS = (
    *(f"status:{code}" for code in (400, 401, 403, 404, 406, 429, 500, 502, 504)),
    "stall", "reset", "empty", "garbage", "json-no-audio", "huge", "trickle",
)  # fmt: skip
CLIENT_HEARTBEAT = "Thread (_stream_heartbeat)"  # gradio_client's, as named by thread_kinds()
RESULT_TIMEOUT = 120.0  # seconds any one request may take before it counts as hung


def visitor_text(visitor: int, round_number: int) -> str:
    return (
        f"Visitor {visitor} asks for line {round_number} about "
        f"{TOPICS[(visitor * 7 + round_number) % len(TOPICS)]}."
    )


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def excerpt(text: str, limit: int = 90) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def cpu_seconds() -> float:
    """CPU time used so far by this process and its finished child processes (ffmpeg)."""
    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    )


class Gauge:
    """How many are inside at once, and the most there ever were."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    @contextmanager
    def inside(self) -> Iterator[None]:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            yield
        finally:
            with self.lock:
                self.now -= 1


@dataclass
class Spans:
    """Per take (keyed by its text): seconds from the handler's first step to its end, and
    seconds spent inside Playground.generate's own steps (the rest, while it is suspended at
    a yield, is the UI handler and Gradio processing what it yielded)."""

    handler: dict[str, float] = field(default_factory=dict)
    generate: dict[str, float] = field(default_factory=dict)


@contextmanager
def counted_takes(gauge: Gauge, spans: Spans) -> Iterator[None]:
    """Playground.generate, wrapped: counts takes in progress and times them (see Spans)."""
    original = Playground.generate

    def generate(self: Playground, text: object, *args: object, **kwargs: object) -> Iterator:
        steps = original(self, text, *args, **kwargs)
        started, inside = time.monotonic(), 0.0
        try:
            with gauge.inside():
                while True:
                    step = time.monotonic()
                    try:
                        event = next(steps)
                    except StopIteration:
                        return
                    finally:
                        inside += time.monotonic() - step
                    yield event
        finally:
            steps.close()
            spans.handler[str(text)] = time.monotonic() - started
            spans.generate[str(text)] = inside

    with mock.patch.object(Playground, "generate", generate):
        yield


# --- 1. visitors ---------------------------------------------------------------------------


@dataclass
class Outcome:
    text: str
    seconds: float
    error: str | None = None
    mismatch: str | None = None


@dataclass
class VisitorsReport:
    outcomes: list[Outcome]
    wall: float
    app_peak: int
    backend_peak: int
    latencies: dict[str, list[float]]  # label -> seconds per request
    rss_mb: tuple[float, float]  # before, after
    cpu: float  # seconds of CPU during the run
    threads: dict[str, object]


def thread_kinds() -> Counter[str]:
    """Live threads by name with the numbers taken out ("AnyIO worker thread", ...)."""
    return Counter(re.sub(r"[-_]?\d+", "", thread.name) for thread in threading.enumerate())


def settle(limit: float) -> tuple[Counter[str], float]:
    """Thread kinds once the visitors' clients have wound down (a closed gradio_client.Client
    stops its heartbeat thread only at the server's next heartbeat), or after `limit` s."""
    started = time.monotonic()
    while True:
        gc.collect()
        kinds = thread_kinds()
        waited = time.monotonic() - started
        if not kinds[CLIENT_HEARTBEAT] or waited >= limit:
            return kinds, waited
        time.sleep(0.5)


def run_visitors(server: ContractServer, workdir: str, args: argparse.Namespace) -> VisitorsReport:
    settings = bench_settings(
        server,
        os.path.join(workdir, "cache"),
        queue_max_size=args.queue_size,
        concurrency_limit=args.concurrency_limit,
    )
    gauge, spans = Gauge(), Spans()
    outcomes: list[Outcome] = []
    barrier = threading.Barrier(args.visitors + 1)

    def visit(number: int, url: str) -> None:
        texts = [visitor_text(number, r) for r in range(args.rounds)]
        try:
            client = app_client(url, os.path.join(workdir, "downloads", str(number)))
        except Exception as error:  # noqa: BLE001 - a visitor who cannot connect is a result
            barrier.wait()
            outcomes.extend(Outcome(text, 0.0, describe(error)) for text in texts)
            return
        try:
            barrier.wait()
            for text in texts:
                started = time.monotonic()
                try:
                    path, *_ = client.predict(**synthesize_arguments(text), api_name="/synthesize")
                except Exception as error:  # noqa: BLE001
                    outcomes.append(Outcome(text, time.monotonic() - started, describe(error)))
                    continue
                seconds = time.monotonic() - started
                outcomes.append(Outcome(text, seconds, mismatch=clip_mismatch(path, text, SEED)))
        finally:
            client.close()

    with counted_takes(gauge, spans), served_app(settings) as url:
        warm_up = app_client(url)
        warm_up.predict(**synthesize_arguments("A warm-up line nobody times."),
                        api_name="/synthesize")
        warm_up.close()
        del warm_up
        gc.collect()
        kinds_before = thread_kinds()
        rss_before = peak_rss_mb()
        reset_log(server)
        gauge.peak = 0

        thread_peak = sum(kinds_before.values())
        done = threading.Event()

        def watch_threads() -> None:
            nonlocal thread_peak
            while not done.wait(0.02):
                thread_peak = max(thread_peak, threading.active_count())

        watcher = threading.Thread(target=watch_threads, daemon=True)
        watcher.start()
        visitors = [threading.Thread(target=visit, args=(n, url), name=f"visitor-{n}")
                    for n in range(args.visitors)]
        for visitor in visitors:
            visitor.start()
        barrier.wait()
        started, cpu_before = time.monotonic(), cpu_seconds()
        for visitor in visitors:
            visitor.join()
        wall, cpu = time.monotonic() - started, cpu_seconds() - cpu_before
        done.set()
        watcher.join()
        threads_right_after = threading.active_count()
        del visitors
        kinds_after, waited = settle(args.settle)
        rss_after = peak_rss_mb()

    backend = {r.body["text"]: r.finished - r.started
               for r in server.state.synthesis_requests() if isinstance(r.body, dict)}
    ok = [o for o in outcomes if o.error is None]
    matched = [o for o in ok if o.text in backend and o.text in spans.handler]
    handler = {o.text: spans.handler[o.text] for o in matched}
    own = {o.text: spans.generate[o.text] for o in matched}
    left_over = kinds_after - kinds_before
    return VisitorsReport(
        outcomes=outcomes,
        wall=wall,
        app_peak=gauge.peak,
        backend_peak=server.state.peak_in_flight,
        latencies={
            "end-to-end (`predict` in the visitor's thread)": [o.seconds for o in ok],
            "backend's own time (contract server's log)": [backend[o.text] for o in matched],
            "overhead: end-to-end − backend": [o.seconds - backend[o.text] for o in matched],
            "• Gradio before and after the handler (queue wait, transport, download)":
                [o.seconds - handler[o.text] for o in matched],
            "• the UI handler and Gradio processing each yield (live chunk, take file)":
                [handler[o.text] - own[o.text] for o in matched],
            "• the app's own steps (`Playground.generate`) − backend":
                [own[o.text] - backend[o.text] for o in matched],
        },
        rss_mb=(rss_before, rss_after),
        cpu=cpu,
        threads={
            "before (app up, idle)": sum(kinds_before.values()),
            "peak during the run": thread_peak,
            "right after the run": threads_right_after,
            f"after the visitors' clients wound down ({waited:.1f} s)": sum(kinds_after.values()),
            "left over, by kind": ", ".join(f"+{n} {kind}" for kind, n in left_over.items())
            or "none",
        },
    )


# --- 2. queue overflow ---------------------------------------------------------------------


@dataclass
class OverflowReport:
    completed: int = 0
    refused: int = 0
    other: list[str] = field(default_factory=list)
    refusal_messages: set[str] = field(default_factory=set)
    probe: str = ""
    backend_peak: int = 0
    served_after: str = ""


def run_overflow(server: ContractServer, workdir: str, burst: int) -> OverflowReport:
    from gradio_client.utils import QueueError

    settings = bench_settings(
        server,
        os.path.join(workdir, "cache"),
        queue_max_size=OVERFLOW_QUEUE_SIZE,
        concurrency_limit=OVERFLOW_CONCURRENCY,
    )
    report = OverflowReport()
    with served_app(settings) as url:
        client = app_client(url)
        try:
            reset_log(server)
            jobs = [
                client.submit(**synthesize_arguments(f"Burst request {n} wants a short line."),
                              api_name="/synthesize")
                for n in range(burst)
            ]
            # As soon as one is refused the queue is full: ask the server directly, too.
            wait(jobs, timeout=RESULT_TIMEOUT, return_when=FIRST_EXCEPTION)
            probe = requests.post(
                f"{url}gradio_api/call/synthesize",
                json={"data": list(synthesize_arguments("A probe of the full queue.").values())},
                timeout=10,
            )
            report.probe = f"HTTP {probe.status_code} {probe.text.strip()}"
            for job in jobs:
                try:
                    job.result(timeout=RESULT_TIMEOUT)
                    report.completed += 1
                except QueueError as error:
                    report.refused += 1
                    report.refusal_messages.add(describe(error))
                except Exception as error:  # noqa: BLE001 - anything else is what we look for
                    report.other.append(describe(error))
            report.backend_peak = server.state.peak_in_flight
            try:
                path, details, *_ = client.predict(**synthesize_arguments(HEALTH_TEXT),
                                                   api_name="/synthesize")
                report.served_after = f"yes ({excerpt(details, 60)})"
            except Exception as error:  # noqa: BLE001
                report.served_after = f"NO: {describe(error)}"
        finally:
            client.close()
    return report


# --- 3. bad inputs and backend faults --------------------------------------------------------


def bad_inputs(workdir: str) -> list[tuple[str, dict]]:
    """(what is wrong, the /synthesize arguments that differ from a valid request)."""
    from gradio_client import handle_file

    not_audio = Path(workdir, "notes.wav")
    not_audio.write_text("These are meeting notes, not a recording.\n" * 50)
    empty = Path(workdir, "empty.wav")
    empty.write_bytes(b"")
    return [
        ("exaggeration above 2", {"exaggeration": 2.5}),
        ("exaggeration below 0", {"exaggeration": -0.5}),
        ("temperature below 0", {"temperature": -0.1}),
        ("temperature above 2", {"temperature": 2.01}),
        ("cfg_weight 1e308", {"cfg_weight": 1e308}),
        ("cfg_weight below 0", {"cfg_weight": -1}),
        ("min_p above 1", {"min_p": 1.5}),
        ("min_p below 0", {"min_p": -0.01}),
        ("top_p above 1", {"top_p": 1.01}),
        ("top_p not a number", {"top_p": "high"}),
        ("repetition_penalty below 1", {"repetition_penalty": 0.5}),
        ("repetition_penalty above 2", {"repetition_penalty": 2.5}),
        ("seed negative", {"seed": -1}),
        ("seed 2**32", {"seed": 2**32}),
        ("seed huge (10**30)", {"seed": 10**30}),
        ("seed not whole (4.5)", {"seed": 4.5}),
        ("text empty", {"text": ""}),
        ("text 6000 characters", {"text": "x" * 6000}),
        ("text control characters only", {"text": "\x00\x07 \n\t\x1b"}),
        ("reference URL ftp://", {"reference_audio_url": "ftp://example.com/voice.mp3"}),
        ("reference URL with credentials",
         {"reference_audio_url": "https://user:secret@example.com/voice.mp3"}),
        ("reference URL javascript:", {"reference_audio_url": "javascript:alert(1)"}),
        ("random_seed not a boolean", {"random_seed": "yes"}),
        ("upload: a text file named .wav", {"reference_audio": handle_file(str(not_audio))}),
        ("upload: an empty .wav file", {"reference_audio": handle_file(str(empty))}),
    ]


@dataclass
class Case:
    name: str
    seconds: float
    app_error: bool  # ended in gradio_client's AppError, as a refusal should
    error: str  # "" when the request succeeded
    backend_calls: int
    served_after: bool  # the next normal request succeeded
    passed: bool = False


def run_hardening(server: ContractServer, workdir: str) -> tuple[list[Case], list[Case], float]:
    from gradio_client.exceptions import AppError

    settings = bench_settings(
        server, os.path.join(workdir, "cache"), read_timeout=1.0, max_retries=1, max_response_mb=5
    )
    limit = settings.connect_timeout + 2 * settings.read_timeout + 3
    with served_app(settings) as url:
        client = app_client(url)

        def send(text: str, overrides: dict) -> BaseException | None:
            try:
                client.predict(**{**synthesize_arguments(text), **overrides},
                               api_name="/synthesize")
            except Exception as error:  # noqa: BLE001 - classified by the caller
                return error
            return None

        def attempt(name: str, text: str, overrides: dict) -> Case:
            calls_before = len(server.state.requests)
            started = time.monotonic()
            error = send(text, overrides)
            seconds = time.monotonic() - started
            calls = len(server.state.requests) - calls_before
            server.state.script.clear()  # what a fault case scripted and did not use
            served = send(HEALTH_TEXT, {}) is None
            message = describe(error) if error else ""
            return Case(name, seconds, isinstance(error, AppError), message, calls, served)

        try:
            inputs = []
            for name, overrides in bad_inputs(workdir):
                case = attempt(name, "A line that should never be sent.", overrides)
                case.passed = case.app_error and case.backend_calls == 0 and case.served_after
                inputs.append(case)
            faults = []
            for number, fault in enumerate(FAULTS):
                server.state.script.extend([fault] * 2)  # enough to outlast the one retry
                case = attempt(fault, f"Fault number {number} for the matrix.", {})
                case.passed = (case.app_error and case.seconds < limit and case.served_after
                               and "Segmind" in case.error and BENCH_KEY not in case.error)
                faults.append(case)
        finally:
            client.close()
    return inputs, faults, limit


# --- report --------------------------------------------------------------------------------


def print_visitors(report: VisitorsReport, args: argparse.Namespace) -> None:
    failed = [o for o in report.outcomes if o.error]
    mismatched = [o for o in report.outcomes if o.mismatch]
    ok = len(report.outcomes) - len(failed)
    one_call = modelled_latency(visitor_text(17, 1), args.scale)
    print(f"## Load: {args.visitors} visitors × {args.rounds} requests through gradio_client "
          f"(scale {args.scale:g}: one call ≈ {one_call:.2f} s; concurrency_limit "
          f"{args.concurrency_limit}, queue_max_size {args.queue_size}, cache off)\n")
    print(markdown_table(["measure", "value"], [
        ["requests ok / failed", f"{ok} / {len(failed)} (of {args.visitors * args.rounds})"],
        ["clips checked / not the visitor's own words", f"{ok} / **{len(mismatched)}**"],
        ["takes in progress in the app at once (peak)", report.app_peak],
        ["calls in flight at the backend at once (peak)", report.backend_peak],
        ["wall time / throughput", f"{report.wall:.2f} s / {ok / report.wall:.1f} requests/s"],
        [f"CPU per request (whole process: app, {args.visitors} clients, backend; "
         f"{os.cpu_count()} cores)", f"{report.cpu / max(ok, 1) * 1000:.0f} ms"],
        ["peak RSS of the process (ru_maxrss) before → after",
         "{:.0f} MB → {:.0f} MB".format(*report.rss_mb)],
        *[[f"threads {when}", value] for when, value in report.threads.items()],
    ]))
    for outcome in (failed + mismatched)[:5]:
        print(f"\n- `{outcome.text}`: {outcome.error or outcome.mismatch}")
    print()
    print(markdown_table(
        ["per request", "p50 (ms)", "p99 (ms)", "max (ms)", "requests"],
        [[label, ms(values, 0.5), ms(values, 0.99), ms(values, 1.0), len(values)]
         for label, values in report.latencies.items()],
    ))
    print("\nDifferences are taken per request (matched by its unique text), then their "
          "percentiles; the three • rows split the overhead. The handler is timed from its "
          f"first step to its end; Gradio's wait includes the queue ({args.visitors} visitors, "
          f"{args.concurrency_limit} slots). Threads left over are idle pools (AnyIO's worker "
          "threads, the contract server's thread per kept-alive connection of the app's "
          "connection pool), not per-request leaks.\n")


def print_overflow(report: OverflowReport, burst: int) -> None:
    print(f"## Queue overflow: {burst} `client.submit` at once, queue_max_size "
          f"{OVERFLOW_QUEUE_SIZE}, concurrency_limit {OVERFLOW_CONCURRENCY}\n")
    print(markdown_table(["measure", "value"], [
        ["completed", report.completed],
        ["refused: queue full", report.refused],
        ["other errors (crashes)", f"**{len(report.other)}**"],
        ["what gradio_client raised", "; ".join(f"`{m}`" for m in sorted(report.refusal_messages))
         or "—"],
        ["the server's answer to a plain POST while full", f"`{report.probe}`"],
        ["calls in flight at the backend at once (peak)", report.backend_peak],
        ["a normal request afterwards", report.served_after],
    ]))
    for message in report.other[:5]:
        print(f"\n- {excerpt(message, 200)}")
    print()


def print_hardening(inputs: list[Case], faults: list[Case], limit: float) -> None:
    print("## Hardening: bad inputs and backend faults (read_timeout 1 s, max_retries 1, "
          "max_response_mb 5)\n")
    slowest = max(faults, key=lambda c: c.seconds)
    print(markdown_table(["measure", "value"], [
        ["bad inputs tried / refused (AppError) before any backend call",
         f"{len(inputs)} / {sum(c.passed for c in inputs)}"],
        ["backend calls made for bad inputs", sum(c.backend_calls for c in inputs)],
        ["faults tried / survived with a clear error in time",
         f"{len(faults)} / {sum(c.passed for c in faults)}"],
        ["max time to error (fault)", f"{slowest.seconds:.2f} s ({slowest.name}; limit "
         f"{limit:g} s)"],
        ["max time to error (bad input)", f"{max(c.seconds for c in inputs):.2f} s"],
        ["app served a normal request after every case",
         "yes" if all(c.served_after for c in inputs + faults) else "**NO**"],
    ]))
    print("\nA bad input is ok when it ends in an AppError with no backend call; a fault when it "
          "ends in an AppError naming Segmind, without the key, within the limit. Both also "
          "need the next normal request to succeed. `calls` counts requests the backend got.")
    for title, cases in (("bad input", inputs), ("backend fault (scripted twice)", faults)):
        print()
        print(markdown_table(
            [title, "s", "calls", "ok", "error shown"],
            [[c.name, f"{c.seconds:.2f}", c.backend_calls, "yes" if c.passed else "**NO**",
              excerpt(c.error or "(no error: the request succeeded)")] for c in cases],
        ))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=40, help="concurrent visitors (40)")
    parser.add_argument("--rounds", type=int, default=3, help="requests per visitor (3)")
    parser.add_argument("--scale", type=float, default=0.02, help="latency model scale (0.02)")
    parser.add_argument("--concurrency-limit", type=int, default=16,
                        help="the app's concurrency_limit in phase 1 (16)")
    parser.add_argument("--queue-size", type=int, default=64,
                        help="the app's queue_max_size in phase 1 (64)")
    parser.add_argument("--burst", type=int, default=30,
                        help="simultaneous submissions in the overflow phase (30)")
    parser.add_argument("--settle", type=float, default=20.0,
                        help="longest wait for closed clients' threads to end after phase 1 (20)")
    args = parser.parse_args()

    started = time.monotonic()
    workspace = tempfile.TemporaryDirectory(prefix="chatterbox-bench-", ignore_cleanup_errors=True)
    with workspace as workdir, contract_server(args.scale) as server:
        enter_app_environment(server.url, workdir)
        visitors = run_visitors(server, workdir, args)
        overflow = run_overflow(server, workdir, args.burst)
        inputs, faults, limit = run_hardening(server, workdir)

    print_visitors(visitors, args)
    print_overflow(overflow, args.burst)
    print_hardening(inputs, faults, limit)
    print(f"\nTotal run time {time.monotonic() - started:.0f} s.")


if __name__ == "__main__":
    main()
