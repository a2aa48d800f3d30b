"""Fair share: a short line's latency while another visitor runs three long takes.

    python bench/fair_share.py                          # about 1.5 minutes on 2 cores
    python bench/fair_share.py --rounds 10 --limits none 4 2

The real app, `python app.py` in a subprocess of its own (tests/served.py), with the owner's
key (SEGMIND_API_KEY=bench-key), the owner's limits off, the cache off (every take pays) and
CHATTERBOX_MAX_CONCURRENCY=8: one adaptive limiter per key, shared by every take on it, whose
freed slots go to the waiting visitor holding the fewest (components/concurrency.py). It talks
to the loopback contract server (tests/contract_server.py), whose latency model makes a call
take `scale * (8 + 0.12 * characters)` s (Segmind's 85-character sample: 0.36 s at the default
--scale 0.02) and which, in the rate-limited scenarios, answers 429 while more than
`max_in_flight` requests are in flight (a per-key burst limit).

Two visitors, told apart the way the app tells them apart: by the client address uvicorn
derives, which believes X-Forwarded-For from FORWARDED_ALLOW_IPS (127.0.0.1 by default). Every
raw HTTP request (the POST to /gradio_api/call/synthesize and the GET of its event stream)
carries `X-Forwarded-For: 198.51.100.1` for A or `198.51.100.2` for B. The app's JSON log line
per request has a hashed `visitor`: the script reads the served process's log and checks that
A's lines and B's lines carry one hash each, and different ones.

Each round, with fresh texts: B alone asks for one short line (one call), with no other
traffic; then A starts three long takes at once (about --long-chars characters each, about 8
calls each, distinct texts), and --delay s later B asks for another short line. Measured from
the POST to the `complete` event (tests/gradio_http.py, no polling). From the contract
server's log (same clock, this process): B's call's own time at the backend (its answered
attempt), when it first reached the backend, 429s, and the peak of requests in flight. From
the app's log: its `seconds` per take (Playground.generate), so that B's end-to-end time minus
it is Gradio's part outside the handler (queue, transport).

Before the rounds, one untimed short line and one untimed long take warm the app up, with no
backend limit; the scenario's limit is set after them. The limiter keeps what it learnt from
one round to the next, as in production.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import requests  # noqa: E402

from bench._common import (  # noqa: E402
    BENCH_KEY,
    SAMPLE_TEXT,
    contract_server,
    markdown_table,
    percentile,
    reset_log,
    synthesize_arguments,
)
from components.chunking import chunk_text  # noqa: E402
from components.settings import Settings  # noqa: E402
from tests.contract_server import ContractServer, RecordedRequest, modelled_latency  # noqa: E402
from tests.gradio_http import call_events  # noqa: E402
from tests.served import NO_TELEMETRY, ServedProcess, served_process  # noqa: E402

os.environ.update(NO_TELEMETRY)

APP = (sys.executable, "app.py")
MAX_CONCURRENCY = 8
APP_ENVIRONMENT = dict(
    SEGMIND_API_KEY=BENCH_KEY,
    CHATTERBOX_VISITOR_CALLS_PER_HOUR="0",
    CHATTERBOX_DAILY_CALL_BUDGET="0",
    CHATTERBOX_CACHE="false",
    CHATTERBOX_MAX_CONCURRENCY=str(MAX_CONCURRENCY),
)
ADDRESS = {"A": "198.51.100.1", "B": "198.51.100.2"}
LONG_TAKES = 3
CHUNK_CHARS = Settings().chunk_chars  # the app's default, which it runs with here
TIMEOUT = 120.0  # seconds any one request may take
SETTLE_SECONDS = 0.3  # between phases, so one phase's stragglers never meet the next

WORDS = (
    "harbour", "lantern", "orchard", "glacier", "violin", "comet", "meadow", "bridge", "falcon",
    "desert", "kettle", "island", "engine", "candle", "river", "mirror", "quietly", "slowly",
    "bright", "early", "northern", "silver", "across", "beneath", "carried", "gathered",
    "watched", "followed", "evening", "morning", "weather", "letters", "travellers", "pages",
)  # fmt: skip


def long_text(take: int, round_number: int, chars: int) -> str:
    """About `chars` characters of sentences no other take or round uses."""
    rng = random.Random(f"{round_number}:{take}")
    text, sentence_number = "", 0
    while True:
        sentence_number += 1
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(10, 15)))
        sentence = (f"Take {take} of round {round_number}, sentence {sentence_number}: "
                    f"{words}.")
        candidate = f"{text} {sentence}".strip()
        if len(candidate) > chars:
            return text
        text = candidate


def short_text(number: int) -> str:
    """One call's worth (under CHUNK_CHARS), the same length for every number below 100."""
    return f"Visitor B, line {number:02d}: please put the kettle on and bring two cups."


def chunks_of(text: str) -> int:
    """Calls the app makes for `text` (Synthesizer.plan: one call if it fits in one)."""
    return 1 if len(text) <= CHUNK_CHARS else len(chunk_text(text, CHUNK_CHARS))


# --- One raw HTTP call ------------------------------------------------------------------------


@dataclass
class Call:
    visitor: str
    text: str
    posted: float = 0.0  # time.monotonic(), the clock the contract server records with
    completed: float = 0.0
    error: str = ""

    @property
    def seconds(self) -> float:
        return self.completed - self.posted


def call(url: str, visitor: str, text: str) -> Call:
    """POST /gradio_api/call/synthesize as `visitor` (its X-Forwarded-For on the POST and on
    the event stream's GET), read the stream to `complete`."""
    record = Call(visitor, text)
    with requests.Session() as session:
        session.headers["X-Forwarded-For"] = ADDRESS[visitor]
        record.posted = time.monotonic()
        try:
            for event, payload in call_events(
                session, url, "synthesize", synthesize_arguments(text).values(), TIMEOUT
            ):
                if event == "complete":
                    record.completed = time.monotonic()
                    first = payload[0] if payload else None
                    if not (isinstance(first, dict) and (first.get("path") or first.get("url"))):
                        record.error = f"no take file in the outputs: {payload!r:.200}"
        except Exception as error:  # noqa: BLE001 - counted and shown, never hidden
            record.completed = time.monotonic()
            record.error = f"{type(error).__name__}: {error}"[:300]
    return record


# --- One round --------------------------------------------------------------------------------


@dataclass
class Phase:
    """B's short line, and A's long takes when there are any, with the backend's records."""

    b: Call
    a: list[Call] = field(default_factory=list)
    backend: list[RecordedRequest] = field(default_factory=list)
    peak_in_flight: int = 0
    app_seconds: float | None = None  # the app's logged `seconds` for B's take

    def attempts(self, text: str) -> list[RecordedRequest]:
        return sorted((r for r in self.backend if (r.body or {}).get("text") == text),
                      key=lambda r: r.started)

    @property
    def b_attempts(self) -> list[RecordedRequest]:
        return self.attempts(self.b.text)

    @property
    def b_backend(self) -> float:
        """B's answered attempt, from its arrival to its last byte sent, at the backend."""
        answered = [r for r in self.b_attempts if r.status == 200]
        return answered[-1].finished - answered[-1].started if answered else float("nan")

    @property
    def b_reached_backend(self) -> float:
        """From B's POST to its first attempt's arrival at the backend."""
        attempts = self.b_attempts
        return attempts[0].started - self.b.posted if attempts else float("nan")

    @property
    def b_answered_to_complete(self) -> float:
        answered = [r for r in self.b_attempts if r.status == 200]
        return self.b.completed - answered[-1].finished if answered else float("nan")

    @property
    def a_records(self) -> list[RecordedRequest]:
        return [r for r in self.backend if (r.body or {}).get("text") != self.b.text]

    @property
    def a_finished_before_b(self) -> int:
        """A's answered calls that had finished when B's first attempt reached the backend."""
        attempts = self.b_attempts
        if not attempts:
            return 0
        return sum(1 for r in self.a_records
                   if r.status == 200 and r.finished <= attempts[0].started)

    @property
    def b_after_freed_slot(self) -> float:
        """From the first of A's answered calls to finish after B's POST, to B's first attempt
        at the backend: how long a freed slot took to reach B (negative: B did not wait)."""
        attempts = self.b_attempts
        finishes = [r.finished for r in self.a_records
                    if r.status == 200 and r.finished >= self.b.posted]
        if not attempts or not finishes:
            return float("nan")
        return attempts[0].started - min(finishes)

    @property
    def statuses(self) -> list[int]:
        return [r.status for r in self.backend]

    @property
    def peak_answered(self) -> int:
        """Most requests in flight at once among those the backend answered 200."""
        edges = sorted([(r.started, 1) for r in self.backend if r.status == 200]
                       + [(r.finished, -1) for r in self.backend if r.status == 200],
                       key=lambda edge: (edge[0], edge[1]))
        now = peak = 0
        for _, step in edges:
            now += step
            peak = max(peak, now)
        return peak


def measured(server: ContractServer, run: Any) -> tuple[Any, list[RecordedRequest], int]:
    reset_log(server)
    result = run()
    time.sleep(0.05)  # the server's handler thread counts the last request out after sending
    return result, server.state.synthesis_requests(), server.state.peak_in_flight


def alone(server: ContractServer, url: str, text: str) -> Phase:
    b, backend, peak = measured(server, lambda: call(url, "B", text))
    return Phase(b, backend=backend, peak_in_flight=peak)


def contended(server: ContractServer, url: str, texts: Sequence[str], b_text: str,
              delay: float) -> Phase:
    def run() -> tuple[Call, list[Call]]:
        results: list[Call | None] = [None] * len(texts)
        start = threading.Barrier(len(texts) + 1)

        def take(index: int) -> None:
            start.wait()
            results[index] = call(url, "A", texts[index])

        threads = [threading.Thread(target=take, args=(i,), daemon=True)
                   for i in range(len(texts))]
        for thread in threads:
            thread.start()
        start.wait()
        time.sleep(delay)
        b = call(url, "B", b_text)
        for thread in threads:
            thread.join(TIMEOUT)
        return b, [r for r in results if r is not None]

    (b, a), backend, peak = measured(server, run)
    return Phase(b, a, backend, peak)


# --- One scenario -----------------------------------------------------------------------------


@dataclass
class Scenario:
    max_in_flight: int | None
    long_chars: list[int] = field(default_factory=list)
    long_chunks: list[int] = field(default_factory=list)
    alone: list[Phase] = field(default_factory=list)
    contended: list[Phase] = field(default_factory=list)
    visitors: str = ""
    startup: float = 0.0

    @property
    def name(self) -> str:
        if self.max_in_flight is None:
            return "no backend rate limit"
        return f"backend answers 429 above {self.max_in_flight} in flight"


def log_lines(served: ServedProcess) -> list[dict]:
    """The app's JSON line per request, in the order written."""
    lines = []
    for line in served.log().splitlines():
        if "chatterbox.requests" in line and "{" in line:
            try:
                lines.append(json.loads(line[line.index("{"):]))
            except ValueError:
                pass
    return lines


def check_visitors(
    served: ServedProcess, b_calls: Sequence[Call], a_takes: int
) -> tuple[str, list]:
    """Whether the log tells A and B apart: (a sentence, B's log lines in order).

    A's takes are the app's only takes of more than one chunk; B's, its only one-chunk takes."""
    lines = log_lines(served)
    a_lines = [line for line in lines if line.get("chunks", 0) > 1]
    b_lines = [line for line in lines if line.get("chunks") == 1]
    a_ids = {line.get("visitor") for line in a_lines}
    b_ids = {line.get("visitor") for line in b_lines}
    counts_match = len(a_lines) == a_takes and len(b_lines) == len(b_calls)
    if len(a_ids) == 1 and len(b_ids) == 1 and a_ids != b_ids and counts_match:
        (a_id,), (b_id,) = a_ids, b_ids
        sentence = (f"distinct: A's {len(a_lines)} log lines all carry visitor "
                    f"`{a_id[:8]}…`, B's {len(b_lines)} all carry `{b_id[:8]}…`")
    else:
        sentence = (f"**NOT distinct as intended**: A's {len(a_lines)} lines carry "
                    f"{sorted(a_ids)}, B's {len(b_lines)} lines carry {sorted(b_ids)} "
                    f"(expected {a_takes} and {len(b_calls)})")
    return sentence, b_lines


def run_scenario(server: ContractServer, max_in_flight: int | None,
                 args: argparse.Namespace) -> Scenario:
    scenario = Scenario(max_in_flight)
    environment = dict(APP_ENVIRONMENT)
    if args.backoff is not None:
        environment["SEGMIND_BACKOFF_SECONDS"] = str(args.backoff)
    with served_process(APP, server.url, TIMEOUT, **environment) as served:
        scenario.startup = served.startup_seconds
        server.state.max_in_flight = None
        b_calls = [call(served.url, "B", short_text(99))]  # warm-up, untimed
        warm = call(served.url, "A", long_text(0, 0, args.long_chars))
        failed = [c.error for c in (*b_calls, warm) if c.error]
        if failed:
            raise RuntimeError(f"warm-up failed: {failed[0]}\n{served.log_tail()}")
        a_takes = 1
        server.state.max_in_flight = max_in_flight
        try:
            for round_number in range(1, args.rounds + 1):
                number = 2 * round_number
                phase = alone(server, served.url, short_text(number - 1))
                scenario.alone.append(phase)
                b_calls.append(phase.b)
                time.sleep(SETTLE_SECONDS)
                texts = [long_text(take, round_number, args.long_chars)
                         for take in range(1, LONG_TAKES + 1)]
                scenario.long_chars += [len(text) for text in texts]
                scenario.long_chunks += [chunks_of(text) for text in texts]
                phase = contended(server, served.url, texts, short_text(number), args.delay)
                scenario.contended.append(phase)
                b_calls.append(phase.b)
                a_takes += len(texts)
                time.sleep(SETTLE_SECONDS)
        finally:
            server.state.max_in_flight = None
        time.sleep(0.2)  # the last log line is written as the handler's generator closes
        scenario.visitors, b_lines = check_visitors(served, b_calls, a_takes)
        if len(b_lines) == len(b_calls):
            for phase, line in zip(scenario_phases(scenario), b_lines[1:]):
                phase.app_seconds = line.get("seconds")
    return scenario


def scenario_phases(scenario: Scenario) -> list[Phase]:
    """Every measured phase in the order B's calls were made."""
    return [phase for pair in zip(scenario.alone, scenario.contended) for phase in pair]


# --- Report -----------------------------------------------------------------------------------


def ok(values: Sequence[float]) -> list[float]:
    return [v for v in values if v == v]  # drop NaN (a phase that failed)


def p50_max(values: Sequence[float], digits: int = 3, suffix: str = "") -> list[str]:
    values = ok(values)
    if not values:
        return ["—", "—"]
    return [f"{percentile(values, 0.5):.{digits}f}{suffix}", f"{max(values):.{digits}f}{suffix}"]


def print_scenario(scenario: Scenario, args: argparse.Namespace) -> None:
    sample_call = modelled_latency(SAMPLE_TEXT, args.scale)
    b_call = modelled_latency(short_text(1), args.scale)
    long_call = modelled_latency("x" * CHUNK_CHARS, args.scale)
    chars = f"{min(scenario.long_chars):,}–{max(scenario.long_chars):,}"
    chunks = f"{min(scenario.long_chunks)}–{max(scenario.long_chunks)}"
    print(f"#### {scenario.name.capitalize()}: B's short line ({len(short_text(1))} characters, "
          f"1 call ≈ {b_call:.2f} s) while A runs {LONG_TAKES} long takes ({chars} characters, "
          f"{chunks} calls each; a full {CHUNK_CHARS}-character call ≈ {long_call:.2f} s), "
          f"{len(scenario.contended)} rounds (scale {args.scale:g}: Segmind's sample call "
          f"takes {sample_call:.3f} s; max_concurrency {MAX_CONCURRENCY} per key, "
          f"concurrency_limit {Settings().concurrency_limit}, cache off)\n")

    alone, during = scenario.alone, scenario.contended
    ratios = [d.b.seconds / a.b.seconds for a, d in zip(alone, during)
              if not (a.b.error or d.b.error)]
    a_takes = [c for phase in during for c in phase.a]
    statuses_during = [phase.statuses for phase in during]
    rows = [
        ["B alone: end-to-end", *p50_max([p.b.seconds for p in alone if not p.b.error])],
        ["B during A's takes: end-to-end", *p50_max([p.b.seconds for p in during
                                                     if not p.b.error])],
        ["ratio, during ÷ alone (per round)", *p50_max(ratios, 2, "×")],
        ["B alone: its call at the backend", *p50_max([p.b_backend for p in alone])],
        ["B during: its call at the backend", *p50_max([p.b_backend for p in during])],
        ["B alone: end-to-end − its backend time",
         *p50_max([p.b.seconds - p.b_backend for p in alone])],
        ["B during: end-to-end − its backend time",
         *p50_max([p.b.seconds - p.b_backend for p in during])],
        ["• B during: POST → its call reached the backend",
         *p50_max([p.b_reached_backend for p in during])],
        ["• B during: first of A's calls to end after B's POST → B's call at the backend",
         *p50_max([p.b_after_freed_slot for p in during])],
        ["• B during: its answer → `complete`",
         *p50_max([p.b_answered_to_complete for p in during])],
        ["• B during: outside the app's handler (end-to-end − the app's logged `seconds`)",
         *p50_max([p.b.seconds - p.app_seconds for p in during if p.app_seconds is not None])],
        ["B during: A's calls finished before B's call reached the backend",
         *p50_max([p.a_finished_before_b for p in during], 0)],
        ["A's takes: POST → `complete` (each take)",
         *p50_max([c.seconds for c in a_takes if not c.error])],
        ["429s the backend answered, per round (B's own)",
         *[f"{a} ({b})" for a, b in zip(
             p50_max([s.count(429) for s in statuses_during], 0),
             p50_max([[r.status for r in p.b_attempts].count(429) for p in during], 0))]],
        ["peak requests in flight at the backend, per round (answered 200 only)",
         *[f"{a} ({b})" for a, b in zip(
             p50_max([p.peak_in_flight for p in during], 0),
             p50_max([p.peak_answered for p in during], 0))]],
    ]
    print(markdown_table(["measure", "p50 (s)", "max (s)"], rows))
    failures = [c for phase in scenario_phases(scenario) for c in (phase.b, *phase.a) if c.error]
    print(f"\nRequests failed: {len(failures)} of "
          f"{len(alone) + len(during) + len(a_takes)}; backend calls in the contended rounds: "
          f"{sum(len(s) for s in statuses_during)} ({sum(s.count(429) for s in statuses_during)}"
          f" answered 429). Visitors: {scenario.visitors}. App start-up {scenario.startup:.1f} s.")
    for failure in failures[:3]:
        print(f"\n- {failure.visitor}, `{failure.text[:50]}…`: {failure.error}")
    print()
    print(markdown_table(
        ["round", "B alone (s)", "B during (s)", "B's backend (s)", "B: POST → backend (s)",
         "A's calls done before B's", "B's 429s", "429s", "peak in flight",
         "A's takes (s)"],
        [[number, f"{a.b.seconds:.3f}", f"{d.b.seconds:.3f}", f"{d.b_backend:.3f}",
          f"{d.b_reached_backend:.3f}", d.a_finished_before_b,
          [r.status for r in d.b_attempts].count(429), d.statuses.count(429),
          f"{d.peak_in_flight} ({d.peak_answered})",
          " / ".join(f"{c.seconds:.2f}" for c in d.a)]
         for number, (a, d) in enumerate(zip(alone, during), start=1)],
    ))
    print()


EXPLANATION = """\
How to read these tables: every time is measured in this run, on loopback, with the backend's \
latency model scaled down (divide by the scale for Segmind's real seconds, except the app's and \
Gradio's own overhead, which does not scale). "B alone" is the floor: the same kind of one-call \
line with no other traffic, in the same round. "B during" is B's line sent {delay:g} s after A \
started {takes} long takes at once; the ratio compares the two per round. "Its call at the \
backend" is the contract server's own time for B's answered attempt, so "end-to-end − backend" \
is everything else: waiting for a slot on the shared key, the app's and Gradio's work, and any \
429 retry with its backoff. The • rows split that: how long B's call took to reach the backend \
at all; how long after the first of A's calls ended (freeing a slot) B's call arrived (a few ms \
means the fair-share limiter handed B the first freed slot); and how much lies outside the \
app's handler (Gradio's queue and transport; the app logs `seconds` per take). With \
max_concurrency {maximum}, A's {takes} takes want ~24 calls, so all {maximum} slots of the key \
are busy when B arrives: by design (components/concurrency.py) B waits for the first of A's \
calls to finish, not for A's takes. In the rate-limited scenario the backend refuses what is \
over its limit, the key's cap halves per 429 and grows back by one per success, and a refused \
call sleeps a backoff (SEGMIND_BACKOFF_SECONDS, {backoff}) before it retries; peak in flight \
counts refused requests too, the figure in brackets only those answered 200."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds per scenario (5)")
    parser.add_argument("--scale", type=float, default=0.02, help="latency model scale (0.02)")
    parser.add_argument("--delay", type=float, default=0.2,
                        help="seconds from A's POSTs to B's (0.2)")
    parser.add_argument("--long-chars", type=int, default=2000,
                        help="characters of each of A's takes, at most (2000)")
    parser.add_argument("--limits", nargs="+", default=["none", "4"],
                        help="the backend's max_in_flight per scenario, `none` for no limit "
                             "(none 4)")
    parser.add_argument("--backoff", type=float, default=None,
                        help="SEGMIND_BACKOFF_SECONDS for the app (its default when omitted)")
    args = parser.parse_args()
    limits = [None if limit == "none" else int(limit) for limit in args.limits]

    started = time.monotonic()
    scenarios = []
    with contract_server(args.scale) as server:
        for limit in limits:
            scenarios.append(run_scenario(server, limit, args))

    print("### Fair share: a short line's latency while another visitor runs three long takes: "
          "`python bench/fair_share.py`\n")
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores. Visitors A and B are told "
          f"apart by `X-Forwarded-For` ({ADDRESS['A']}, {ADDRESS['B']}), believed from "
          "127.0.0.1 (FORWARDED_ALLOW_IPS).\n")
    for scenario in scenarios:
        print_scenario(scenario, args)
    backoff = (f"{args.backoff:g} s here" if args.backoff is not None
               else f"the app's default {Settings().backoff_seconds:g} s, not scaled")
    print(EXPLANATION.format(delay=args.delay, takes=LONG_TAKES, maximum=MAX_CONCURRENCY,
                             backoff=backoff))
    print(f"\nTotal run time {time.monotonic() - started:.0f} s.")


if __name__ == "__main__":
    main()
