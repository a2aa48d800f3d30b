"""Abuse: attack the real app the way an outsider would, and count the attacks that succeed.

    python bench/abuse.py                 # every class: 2.5 min on 2 cores, 4.5 min on code
                                          # whose free paths are slow (the pre-fix code)
    python bench/abuse.py --only 2,4      # some classes

Progress goes to stderr, one line per attack; the Markdown report to stdout: per class, every
attack with its evidence and any extra measurements, then the summary table (class | attacks
tried | succeeded | what "succeeded" means) and whether GET / still answered 200.

Each class starts `python app.py` in a subprocess of its own (tests/served.py: a free loopback
port, its cache dir, GRADIO_TEMP_DIR and TMPDIR in a fresh temp dir, no telemetry), with the
owner's key SEGMIND_API_KEY=bench-key and, where a class needs them, small limits. The app
talks to a loopback backend: tests/contract_server.py (which records every request and can be
scripted to fault), or, where the contract server has no such behaviour, a hostile backend
written here (bench/_attacks.py ScriptedServer), plus a witness server that counts who fetches
it. Every attack goes through HTTP only: Gradio's REST API (/gradio_api/call/<name>, with
bodies spelled by hand so they can hold NaN or a 400-digit integer) and the page's PRIVATE
events, found in GET /config by what triggers them and fired as the page fires them
(/gradio_api/queue/join + /gradio_api/queue/data, or /gradio_api/run/predict for queue=False).

The classes, and what "succeeded" means (an attack that succeeds is a hole; the target is 0):

1. Key kept by the browser: /config says run_history true; /gradio_api/runs or its connect
   endpoint is served; a typed key, or the owner's key, shows in an output the page keeps or
   in a page anyone can GET.
2. Key echoed by the backend: the backend's error (or header) carries the key as raw text,
   JSON \\u escapes, base64 at offsets 0/1/2, URL-encoded (once, twice), a masked prefix or
   middle, split by a newline, spaced out, with zero-width spaces between its letters, in
   fullwidth letters, upper-cased, as HTML entities, as hex, as a JSON object key, in a 429 or
   a 500, or in content-type / x-remaining-credits; succeeded = the key or any 6-character
   piece of it, in any of those encodings, reaches the caller's event stream or the app's log.
   Done for a typed visitor key and for the owner's key (class 2's own, longer, owner key).
3. Free paths (nothing is paid; what does it cost the server?): 100 replays of a cached take
   through /synthesize, 100 private play events, 100 private exports, one 400 MB upload
   (streamed, never held here), one 20 MB text to /synthesize and to the private preview
   event, 20 x 8 MB texts at once to preview while another visitor makes a one-call take.
   Disk = bytes of every file under the app's work dir (cache, Gradio's temp dir, TMPDIR),
   after - before; RSS and peak RSS (VmRSS, VmHWM of the app process, from /proc).
   Succeeded = the path grew the disk by more than 1 MB, or the peak RSS by more than 100 MB,
   or (uploads) was accepted past the 20 MB upload limit, or (texts) was parsed and worked on
   for more than 1 s rather than refused, or (the last row) slowed the other visitor's take
   more than 2x.
4. Reading others' takes: visitor A makes takes (one with an uploaded voice) and, as a
   control, plays its own take through the page's events. Visitor B, in a separate session
   with no shared state, computes candidate ids from guessed content as the code before the
   fix did (a SHA-256 of public content: bench/_attacks.py old_cache_key), plants them in
   forged take records (with and without a made-up signature) through the private take-list
   load or the take-adding event, then fires play (A and B pickers), export (WAV, FLAC) or
   restore. Succeeded = B received A's audio (the same bytes, or for an export the same
   samples). Reported but not scored: the shared cache tells B that a guessed line was made.
5. Counting: with an hourly limit of N=3, six requests meet a backend that answers 200 and
   then cuts the body (reset, half the declared body, chunked), trickles past the read
   timeout, goes over the size limit, or sends no audio (garbage, empty, JSON). A control
   request first checks that a normal take is logged as 1 call. Succeeded = the backend
   answered 200 more often than the app's log lines count "calls", or more than N times.
   Then restarts on the same cache dir (graceful SIGTERM, and a SIGKILL crash) after a
   visitor spent the hourly count (3 of 3) and half the daily budget (3 of 6); after the
   restart, calls are made until each limit refuses (visitors told apart by X-Forwarded-For,
   which the app believes from loopback): used after = limit - calls allowed. Succeeded =
   the count used after the restart is lower than before it.
6. Bad inputs billed: text true/5/[]/{}, invisible-only text (zero-width, BOM, soft hyphen,
   bidi controls, a lone combining mark, and more: Hangul fillers, braille blank, variation
   selectors, tag characters), WAV references declaring 2^31 Hz and other rates or 65,535
   channels, 400-digit integers for seed and sliders, non-Latin-1 keys, forged take records
   with NaN/Infinity/huge numbers into the private take-list load. Succeeded = a backend
   request was made, or the caller got no readable error (null, empty or a bare "Error"), or
   the app stopped serving.
7. Backend answer abuse: 100,000-deep JSON, a multi-MB JSON array, malformed Retry-After,
   an answer listing the visitor's reference URL before the audio URL, http://, https:// and
   loopback audio URLs in several spellings, a redirect to loopback. Succeeded = a URL was
   fetched (the witness counted a request, or for https a connection), or the caller got no
   readable error, or no answer within 15 s.
8. Shared cookies: the backend sets a cookie on visitor A's call (a 200, a 401, a 429, with
   Domain/Path, or from the audio-URL host); succeeded = visitor B's later call carries it.

Each attack has its own timeout and a failure of one is reported as "could not run", never a
crash of the script; GET / must answer 200 after each class. The script exits 0 whatever it
finds: it is a measurement.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

os.environ.update(GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1")

import numpy as np  # noqa: E402
import requests  # noqa: E402
import soundfile as sf  # noqa: E402

from bench._attacks import (  # noqa: E402
    Answer,
    Page,
    ScriptedServer,
    SeenRequest,
    StreamedUpload,
    alive,
    base64_blob,
    crafted_wav,
    file_data,
    footprint,
    forged_record,
    guessed_take_ids,
    guessed_voice_id,
    key_leaks,
    log_lines,
    new_session_hash,
    prose,
    readable,
    speech_wav,
    voice_upload,
)
from bench._common import BENCH_KEY, contract_server  # noqa: E402
from components.models import CHATTERBOX  # noqa: E402
from tests.contract_server import ContractServer  # noqa: E402
from tests.served import ServedProcess, served_process  # noqa: E402

VISITOR_KEY = "sk-live-0123456789abcdefXYZ"
ECHO_OWNER_KEY = "own-Q7v9Lw2Xk5Rz8Tn3pM"  # class 2's owner key: long enough to find its pieces
HOURLY_LIMIT = 3
MB = 1_000_000
PARAMETERS = CHATTERBOX.defaults()


# --------------------------------------------------------------------------------------------
# Recording attacks


@dataclass
class Attack:
    name: str
    succeeded: bool | None  # None: the attack could not run
    evidence: str


@dataclass
class AttackClass:
    number: int
    title: str
    meaning: str  # what "succeeded" means, for the summary table
    attacks: list[Attack] = field(default_factory=list)
    alive_after: list[bool] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # the class itself could not finish
    tables: list[str] = field(default_factory=list)  # extra measurements, printed as they are

    def attempt(
        self, name: str, attack: Callable[[], tuple[bool, str]], timeout: float = 30.0,
        on_timeout: bool | None = None,
    ) -> Attack:
        """Run `attack` (returning (succeeded, evidence)) with a time limit. An exception is
        "could not run"; running past the limit counts as `on_timeout` (True for attacks
        whose point is to make the app hang)."""
        outcome: list[tuple[bool | None, str]] = []

        def run() -> None:
            try:
                outcome.append(attack())
            except Exception as error:  # noqa: BLE001 — reported, never fatal
                outcome.append((None, f"could not run: {type(error).__name__}: {error}"[:300]))

        worker = threading.Thread(target=run, daemon=True, name=f"attack {name}")
        started = time.monotonic()
        worker.start()
        worker.join(timeout)
        if outcome:
            succeeded, evidence = outcome[0]
        else:
            succeeded, evidence = on_timeout, f"no answer within {timeout:g} s"
        result = Attack(name, succeeded, evidence)
        self.attacks.append(result)
        verdict = {True: "SUCCEEDED", False: "held", None: "could not run"}[succeeded]
        print(f"  [{self.number}] {verdict:>13}  {name} ({time.monotonic() - started:.1f} s): "
              f"{evidence[:160]}", file=sys.stderr, flush=True)
        return result

    def check_alive(self, app: ServedProcess) -> bool:
        ok = alive(app.url)
        self.alive_after.append(ok)
        return ok


@dataclass
class Backends:
    contract: ContractServer
    hostile: ScriptedServer  # answers as the attack scripts it
    witness: ScriptedServer  # counts who fetches it
    witness6: ScriptedServer | None  # the same on ::1, when this machine has IPv6 loopback

    @property
    def hostile_api(self) -> str:
        return f"{self.hostile.base}/v1"

    def reset(self) -> None:
        with self.contract.state.lock:
            self.contract.state.requests.clear()
            self.contract.state.script.clear()
        for server in (self.hostile, self.witness, self.witness6):
            if server is not None:
                with server.lock:
                    server.script.clear()
                server.default = _audio
                server.get_answer = _audio


def _audio(request: SeenRequest) -> Answer:
    return Answer(200, AUDIO, {"content-type": "audio/wav"})


AUDIO = speech_wav("hostile backend audio")


@contextmanager
def running_app(api_url: str, klass: AttackClass, **environment: str) -> Iterator[ServedProcess]:
    """`python app.py` aimed at `api_url`, with the owner's key unless `environment` says
    otherwise; GET / is checked when the class is done with it."""
    environment = {"SEGMIND_API_KEY": BENCH_KEY, **environment}
    with served_process([sys.executable, "app.py"], api_url, timeout=120, **environment) as app:
        try:
            yield app
        finally:
            klass.check_alive(app)


def synthesize_body(page: Page, **values: Any) -> str:
    """The JSON body of a /gradio_api/call/synthesize: `values` by elem_id, the rest at the
    page's defaults."""
    dependency = page.dependency(trigger="generate", event="click")
    return json.dumps({"data": page.arguments(dependency, values)}, allow_nan=True)


def contract_requests(backends: Backends) -> list:
    return backends.contract.state.synthesis_requests()


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def table(headers: list[str], rows: list[list[Any]], numeric: set[int] = frozenset()) -> str:
    """A Markdown table; the columns in `numeric` right-aligned."""
    align = ["---:" if i in numeric else "---" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|").replace("\n", " ") for cell in row) + " |"
              for row in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# 1. Key kept by the browser


def class_browser(klass: AttackClass, backends: Backends) -> None:
    backends.contract.state.valid_keys.add(VISITOR_KEY)
    with running_app(backends.contract.url, klass) as app:
        page = Page(app.url)

        def run_history() -> tuple[bool, str]:
            value = page.config.get("run_history", "absent (Gradio's default: true)")
            return value is not False, f"run_history = {value}"

        klass.attempt("GET /config: run_history", run_history)

        for path in ("/gradio_api/runs", "/gradio_api/runs/"):
            def served(path: str = path) -> tuple[bool, str]:
                status = requests.get(app.url + path, timeout=10).status_code
                return status == 200, f"HTTP {status}"
            klass.attempt(f"GET {path} (the run history page)", served)

        def connect() -> tuple[bool, str]:
            response = requests.post(f"{app.url}/gradio_api/run-history/connect", json={}, timeout=10)
            return response.status_code not in (404, 405), f"HTTP {response.status_code} (404: not served)"

        klass.attempt("POST /gradio_api/run-history/connect", connect)

        session, session_hash = requests.Session(), new_session_hash()
        synthesize = page.dependency(trigger="generate", event="click")
        take = page.call_event(session, synthesize,
                               {"text": "A line with my own key typed in.", "api-key": VISITOR_KEY},
                               session_hash)

        def typed_key_in_outputs() -> tuple[bool, str]:
            if not take.ok:
                raise RuntimeError(f"the take failed: {take.error}")
            leaks = key_leaks(VISITOR_KEY, take.raw)
            return bool(leaks), f"typed key in the event's outputs: {', '.join(leaks) or 'no'}"

        klass.attempt("typed key in what Generate returns to the page", typed_key_in_outputs)

        def typed_key_in_stored_list() -> tuple[bool, str]:
            remember = page.dependency(after=synthesize)
            record = take.outputs.get("json")
            result = page.call_event(session, remember, {"json": record, "browserstate": []}, session_hash)
            if not isinstance(result.outputs.get("browserstate"), list):
                raise RuntimeError(f"the take was not added to the list: {result.error!r}")
            stored = json.dumps(result.outputs.get("browserstate"))
            leaks = key_leaks(VISITOR_KEY, result.raw + stored)
            return bool(leaks), (f"take list stored in the browser ({len(stored)} bytes) holds the "
                                 f"key: {', '.join(leaks) or 'no'}")

        klass.attempt("typed key in the take list kept in localStorage", typed_key_in_stored_list)

        for path in ("/", "/config", "/gradio_api/info", "/gradio_api/info?all_endpoints=true",
                     "/gradio_api/openapi.json", "/gradio_api/mcp/schema"):
            def owner_key_shown(path: str = path) -> tuple[bool, str]:
                response = requests.get(app.url + path, timeout=10)
                shown = BENCH_KEY in response.text
                return shown, (f"HTTP {response.status_code}, {len(response.text):,} bytes, "
                               f"owner key {'present' if shown else 'absent'}")
            klass.attempt(f"owner key in GET {path}", owner_key_shown)


# --------------------------------------------------------------------------------------------
# 2. Key echoed by the backend


def _escaped(text: str) -> str:
    return "".join(f"\\u{ord(ch):04x}" for ch in text)


ECHOES: list[tuple[str, Callable[[str], Answer]]] = [
    ("raw text in a 401", lambda k: Answer(401, f"Unauthorized: API key {k} is not valid".encode(),
                                           {"content-type": "text/plain"})),
    ("JSON \\u escapes in a 401", lambda k: Answer(401, f'{{"error": "invalid key {_escaped(k)}"}}'.encode())),
    ("JSON \\u escapes in a 200 without audio",
     lambda k: Answer(200, f'{{"status": "failed", "detail": "quota of {_escaped(k)} spent"}}'.encode())),
    *[(f"base64 at offset {n} in a 400", lambda k, n=n: Answer(
        400, f"Bad request. trace={base64_blob(k, n)}".encode(), {"content-type": "text/plain"}))
      for n in (0, 1, 2)],
    ("URL-encoded in a 403", lambda k: Answer(403, json.dumps(
        {"error": "forbidden for " + "".join(f"%{b:02X}" for b in k.encode())}).encode())),
    ("masked prefix (10 characters + ****) in a 401",
     lambda k: Answer(401, json.dumps({"error": f"invalid key {k[:10]}****"}).encode())),
    ("masked middle (10 + ... + 6) in a 401",
     lambda k: Answer(401, json.dumps({"message": f"key {k[:10]}...{k[-6:]} revoked"}).encode())),
    ("split by a newline in a 401", lambda k: Answer(401, f"invalid key {k[:12]}\n{k[12:]}".encode(),
                                                     {"content-type": "text/plain"})),
    ("upper-cased in a 401", lambda k: Answer(401, json.dumps({"error": f"INVALID KEY {k.upper()}"}).encode())),
    ("spaced out letter by letter in a 401",
     lambda k: Answer(401, json.dumps({"error": "invalid key " + " ".join(k)}).encode())),
    ("zero-width spaces between its letters in a 401",
     lambda k: Answer(401, json.dumps({"error": "invalid key " + "\u200b".join(k)}, ensure_ascii=False).encode())),
    ("in fullwidth letters in a 401", lambda k: Answer(401, json.dumps(
        {"error": "invalid key " + "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in k)},
        ensure_ascii=False).encode())),
    ("URL-encoded twice in a 403", lambda k: Answer(403, json.dumps(
        {"error": "forbidden for " + "".join(f"%25{b:02X}" for b in k.encode())}).encode())),
    ("HTML entities in a 401", lambda k: Answer(
        401, ("<p>invalid key " + "".join(f"&#{ord(c)};" for c in k) + "</p>").encode(), {"content-type": "text/html"})),
    ("hex in a 400", lambda k: Answer(400, json.dumps({"error": f"bad request id {k.encode().hex()}"}).encode())),
    ("as a JSON object key in a 400", lambda k: Answer(400, json.dumps({"errors": {k: "not allowed"}}).encode())),
    ("in a 500", lambda k: Answer(500, json.dumps({"detail": f"internal error while billing {k}"}).encode())),
    ("in a 429", lambda k: Answer(429, json.dumps({"error": f"rate limit for {k}"}).encode())),
    ("nested error object in a 400", lambda k: Answer(400, json.dumps(
        {"error": {"code": 400, "message": f"bad key {k}"}}).encode())),
    ("content-type of a 200 that is not audio",
     lambda k: Answer(200, b"<html>upstream</html>", {"content-type": f"text/html; key={k}"})),
    ("x-remaining-credits of a 200 with audio",
     lambda k: Answer(200, AUDIO, {"content-type": "audio/wav", "x-remaining-credits": k})),
]


def class_echo(klass: AttackClass, backends: Backends) -> None:
    with running_app(backends.hostile_api, klass, SEGMIND_API_KEY=ECHO_OWNER_KEY,
                     SEGMIND_MAX_RETRIES="0", CHATTERBOX_CACHE="false") as app:
        page = Page(app.url)
        session = requests.Session()
        for whose, key in (("visitor", VISITOR_KEY), ("owner", ECHO_OWNER_KEY)):
            for number, (name, echo) in enumerate(ECHOES):
                def attack(echo: Callable[[str], Answer] = echo, number: int = number,
                           whose: str = whose, key: str = key) -> tuple[bool, str]:
                    backends.hostile.script.clear()
                    backends.hostile.script.append(lambda request: echo(request.headers.get("x-api-key", "")))
                    log_mark, asked = len(app.log()), backends.hostile.mark()
                    typed = VISITOR_KEY if whose == "visitor" else ""
                    body = synthesize_body(page, text=f"Echo test {whose} {number}.", **{"api-key": typed})
                    result = page.call_api(session, "synthesize", body)
                    time.sleep(0.2)  # the request's log line
                    if not backends.hostile.requests_since(asked):
                        raise RuntimeError(f"the backend was never asked, so it could not echo: {result.error!r}")
                    in_stream = key_leaks(key, result.raw)
                    in_log = key_leaks(key, app.log()[log_mark:])
                    shown = result.error or json.dumps(result.outputs.get("details"))
                    where = [f"the stream ({in_stream[0]})"] if in_stream else []
                    where += [f"the log ({in_log[0]})"] if in_log else []
                    return bool(where), f"{'in ' + ' and '.join(where) if where else 'not found'}; caller saw: {shown!r}"[:300]
                klass.attempt(f"{whose} key, {name}", attack)


# --------------------------------------------------------------------------------------------
# 3. Free paths: disk, memory and time per request that costs nothing


@dataclass
class FreePath:
    path: str
    requests: int
    outcome: str
    disk: int
    rss: int
    hwm: int
    seconds: float
    succeeded: bool

    def row(self) -> list[Any]:
        per = max(1, self.requests)
        return [self.path, self.requests, self.outcome, f"{self.disk:,}", f"{self.disk / per:,.0f}",
                mib(self.rss), mib(self.hwm), f"{self.seconds / per:.3f}",
                "**yes**" if self.succeeded else "no"]


def measured(app: ServedProcess, path: str, count: int, run: Callable[[], str],
             judge: Callable[[int, int, float, str], bool], settle: float = 0.5) -> Callable[[], tuple[bool, str]]:
    """An attack that runs `run` (returning what the caller saw) and measures the app's disk,
    RSS and peak RSS before and after; `judge(disk, hwm, seconds, outcome)` says whether the
    free path cost too much."""
    def attack() -> tuple[bool, str]:
        before = footprint(app)
        started = time.monotonic()
        outcome = run()
        seconds = time.monotonic() - started
        time.sleep(settle)  # background copies (Gradio moves uploads to its cache)
        after = footprint(app)
        cost = FreePath(path, count, outcome, after.disk_bytes - before.disk_bytes,
                        after.rss_bytes - before.rss_bytes, after.hwm_bytes - before.hwm_bytes,
                        seconds, False)
        cost.succeeded = judge(cost.disk, cost.hwm, seconds, outcome)
        FREE_PATHS.append(cost)
        return cost.succeeded, (f"{outcome}; disk +{cost.disk:,} B ({cost.disk / count:,.0f} B each), "
                                f"RSS +{mib(cost.rss)}, peak +{mib(cost.hwm)}, {seconds / count:.3f} s each")
    return attack


FREE_PATHS: list[FreePath] = []


def _heavy(disk: int, hwm: int) -> bool:
    return disk > 1 * MB or hwm > 100 * 2**20


def _text_judge(disk: int, hwm: int, seconds: float, outcome: str) -> bool:
    return _heavy(disk, hwm) or seconds > 1.0


def class_free_paths(klass: AttackClass, backends: Backends) -> None:
    with running_app(backends.contract.url, klass, CHATTERBOX_VISITOR_CALLS_PER_HOUR="0",
                     CHATTERBOX_DAILY_CALL_BUDGET="0") as app:
        page = Page(app.url)
        session, session_hash = requests.Session(), new_session_hash()
        synthesize = page.dependency(trigger="generate", event="click")
        text = "One take that everybody replays for free."
        first = page.call_event(session, synthesize, {"text": text}, session_hash)
        if not first.ok:
            raise RuntimeError(f"the first take failed: {first.error}")
        remember = page.dependency(after=synthesize)
        stored = page.call_event(session, remember, {"json": first.outputs.get("json"), "browserstate": []},
                                 session_hash).outputs.get("browserstate")
        take_id = (first.outputs.get("json") or {}).get("take_id")
        calls_before = len(contract_requests(backends))

        def replays() -> str:
            body = synthesize_body(page, text=text)
            results = [page.call_api(session, "synthesize", body) for _ in range(100)]
            calls = len(contract_requests(backends)) - calls_before
            if not any(r.ok for r in results):
                raise RuntimeError(f"no replay worked: {results[0].error!r}")
            return f"{sum(r.ok for r in results)}/100 ok, {calls} backend calls"

        klass.attempt("100 replays of a cached take (/synthesize)",
                      measured(app, "100 replays of a cached take (/synthesize)", 100, replays,
                               lambda d, h, s, o: _heavy(d, h)), timeout=120)

        play = page.dependency(trigger="take-a", event="change")

        def plays() -> str:
            results = [page.call_event(session, play, {"take-a": take_id, "browserstate": stored}, session_hash)
                       for _ in range(100)]
            served = sum(bool(r.outputs.get("player-a")) for r in results)
            if not served:
                raise RuntimeError(f"the play event served nothing: {results[0].error!r}")
            return f"{served}/100 served the take"

        klass.attempt("100 private play events", measured(app, "100 play events (private)", 100, plays,
                                                          lambda d, h, s, o: _heavy(d, h)), timeout=120)

        export = page.dependency(trigger="export", event="click")

        def exports() -> str:
            results = [page.call_event(session, export, {"take-a": take_id, "browserstate": stored,
                                                         "export-format": "wav"}, session_hash)
                       for _ in range(100)]
            served = sum(bool(r.outputs.get("exported")) for r in results)
            if not served:
                raise RuntimeError(f"the export event served nothing: {results[0].error!r}")
            return f"{served}/100 exported"

        klass.attempt("100 private exports of one take", measured(app, "100 exports, WAV (private)", 100,
                                                                  exports, lambda d, h, s, o: _heavy(d, h)),
                      timeout=180)

        def upload() -> str:
            body = StreamedUpload(400 * MB)
            try:
                response = requests.post(f"{app.url}/gradio_api/upload", data=body,
                                         headers={"content-type": body.content_type}, timeout=120)
                return f"HTTP {response.status_code} after {body.sent / MB:,.0f} MB sent"
            except requests.RequestException as error:
                return f"connection ended after {body.sent / MB:,.0f} MB sent ({type(error).__name__})"

        klass.attempt("one 400 MB upload to /gradio_api/upload",
                      measured(app, "one 400 MB upload", 1, upload,
                               lambda d, h, s, o: o.startswith("HTTP 200") or d > 21 * MB or h > 100 * 2**20,
                               settle=3),
                      timeout=180)

        big = prose(20 * MB)

        def big_synthesize() -> str:
            mark = len(contract_requests(backends))
            try:
                result = page.call_api(session, "synthesize", synthesize_body(page, text=big), timeout=120)
            except requests.RequestException as error:
                return f"connection ended ({type(error).__name__})"
            calls = len(contract_requests(backends)) - mark
            said = f"HTTP {result.http_status}" if result.http_status != 200 else ("ok" if result.ok else "refused")
            return f"{said}: {(result.error or '')[:70]!r}, {calls} backend calls"

        klass.attempt("one 20 MB text to /synthesize",
                      measured(app, "one 20 MB text to /synthesize", 1, big_synthesize, _text_judge),
                      timeout=150, on_timeout=True)

        preview = page.dependency(trigger="text", event="change")

        def big_preview() -> str:
            try:
                result = page.call_event(session, preview, {"text": big}, session_hash, timeout=120)
            except requests.RequestException as error:
                return f"connection ended ({type(error).__name__})"
            return f"HTTP {result.http_status}: {(result.error or json.dumps(result.outputs.get('text-stats')))[:70]}"

        klass.attempt("one 20 MB text to the private preview event",
                      measured(app, "one 20 MB text to preview (private)", 1, big_preview, _text_judge),
                      timeout=150, on_timeout=True)

        klass.attempt("20 x 8 MB texts to preview while another visitor makes a take",
                      lambda: crowd_out(app, page, backends), timeout=200, on_timeout=True)
        klass.tables.append(table(
            ["free path", "requests", "outcome", "disk growth (B)", "per request (B)", "RSS growth",
             "peak RSS growth", "s per request", "succeeded"],
            [cost.row() for cost in FREE_PATHS], numeric={1, 3, 4, 5, 6, 7}))


def crowd_out(app: ServedProcess, page: Page, backends: Backends) -> tuple[bool, str]:
    """The other visitor's one-call take, alone and then while 20 x 8 MB texts hit the preview."""
    visitor = requests.Session()

    def one_take(number: int) -> float:
        body = synthesize_body(page, text=f"The other visitor's line number {number}, spoken once.")
        result = page.call_api(visitor, "synthesize", body, timeout=180)
        if not result.ok:
            raise RuntimeError(f"the other visitor's take failed: {result.error}")
        return result.seconds

    alone = statistics.median(one_take(n) for n in range(3))
    preview = page.dependency(trigger="text", event="change")
    text = prose(8 * MB)
    outcomes: list[str] = []
    before = footprint(app)
    started = time.monotonic()

    def attacker(number: int) -> None:
        try:
            result = page.call_event(requests.Session(), preview, {"text": text + str(number)},
                                     new_session_hash(), timeout=180)
            outcomes.append(f"HTTP {result.http_status}")
        except requests.RequestException as error:
            outcomes.append(type(error).__name__)

    threads = [threading.Thread(target=attacker, args=(n,), daemon=True) for n in range(20)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)  # the texts are on their way, or being worked on
    crowded = one_take(99)
    waited_until = time.monotonic() + 20  # then the app is stopped with the class, mid-work if need be
    for thread in threads:
        thread.join(max(0.0, waited_until - time.monotonic()))
    seconds = time.monotonic() - started
    after = footprint(app)
    ratio = crowded / alone
    answers = {outcome: outcomes.count(outcome) for outcome in sorted(set(outcomes))}
    unanswered = 20 - len(outcomes)
    outcome = ", ".join(f"{n} × {what}" for what, n in answers.items()) or "none"
    if unanswered:
        outcome += f", {unanswered} unanswered after {seconds:.0f} s"
    outcome += " (the disk growth is the other visitor's take)"
    FREE_PATHS.append(FreePath(f"20 × 8 MB texts to preview at once (other visitor's take: "
                               f"{alone:.2f} s alone, {crowded:.2f} s during, {ratio:.1f}×)",
                               20, outcome, after.disk_bytes - before.disk_bytes,
                               after.rss_bytes - before.rss_bytes, after.hwm_bytes - before.hwm_bytes,
                               seconds, ratio > 2 or _heavy(after.disk_bytes - before.disk_bytes,
                                                           after.hwm_bytes - before.hwm_bytes)))
    return FREE_PATHS[-1].succeeded, (f"other visitor's take {alone:.2f} s alone, {crowded:.2f} s during "
                                      f"({ratio:.1f}×); attackers: {outcome}; peak RSS +"
                                      f"{mib(after.hwm_bytes - before.hwm_bytes)}")


# --------------------------------------------------------------------------------------------
# 4. Reading others' takes


GUESSES = [
    "Hello world.",
    "Welcome to Chatterbox TTS, where your text turns into captivating audio effortlessly.",
    "Meet me at the old harbour at nine, and bring the letters.",
    "Testing, testing, one two three.",
]


def class_takes(klass: AttackClass, backends: Backends) -> None:
    with running_app(backends.contract.url, klass, CHATTERBOX_VISITOR_CALLS_PER_HOUR="0",
                     CHATTERBOX_DAILY_CALL_BUDGET="0") as app:
        page = Page(app.url)
        synthesize = page.dependency(trigger="generate", event="click")
        a_session, a_hash = requests.Session(), new_session_hash()
        secret_line = GUESSES[2]
        a_take = page.call_event(a_session, synthesize, {"text": secret_line}, a_hash)
        if not a_take.ok:
            raise RuntimeError(f"visitor A's take failed: {a_take.error}")
        a_audio = page.download(a_session, a_take.outputs.get("player"))
        voice = voice_upload()
        voice_path = page.upload(a_session, "my-voice.wav", voice)
        a_voiced = page.call_event(a_session, synthesize,
                                   {"text": "My own voice, for my ears only.",
                                    "reference-audio": file_data(voice_path)}, a_hash)
        if not a_voiced.ok:
            raise RuntimeError(f"visitor A's take with a voice failed: {a_voiced.error}")

        # The control: A, with the list its own page keeps, hears its own take. Without this,
        # a harness that cannot fire the events would pass for a fix.
        remember = page.dependency(after=synthesize)
        own_list = page.call_event(a_session, remember, {"json": a_take.outputs.get("json"), "browserstate": []},
                                   a_hash).outputs.get("browserstate")
        own = page.call_event(a_session, page.dependency(trigger="take-a", event="change"),
                              {"take-a": (a_take.outputs.get("json") or {}).get("take_id"), "browserstate": own_list},
                              a_hash)
        if not same_audio(page.download(a_session, own.outputs.get("player-a")) or b"", a_audio):
            raise RuntimeError(f"control failed: A could not play its own take ({own.error!r})")

        # Visitor B: another session, no cookie, no shared state; knows only public content.
        backend_url = f"{backends.contract.url}/chatterbox-tts"  # the endpoint the app hashes
        candidates = [take_id for line in GUESSES for take_id in guessed_take_ids(backend_url, line, PARAMETERS)]
        voice_id = guessed_voice_id(backend_url, voice)
        load = page.dependency(event="load")
        events = {
            "play (Take A picker)": (page.dependency(trigger="take-a", event="change"), "take-a", "player-a", {}),
            "play (Take B picker)": (page.dependency(trigger="take-b", event="change"), "take-b", "player-b", {}),
            "export WAV": (page.dependency(trigger="export", event="click"), "take-a", "exported",
                           {"export-format": "wav"}),
            "export FLAC": (page.dependency(trigger="export", event="click"), "take-a", "exported",
                            {"export-format": "flac"}),
        }
        for signed in (False, True):
            shape = "record with a made-up signature" if signed else "record as the old code kept it"
            records = [forged_record(take_id, "guess", PARAMETERS, signed=signed) for take_id in candidates]
            for name, (dependency, picker, output, extra) in events.items():
                def attack(dependency: dict = dependency, picker: str = picker, output: str = output,
                           extra: dict = extra, records: list = records) -> tuple[bool, str]:
                    session, session_hash = requests.Session(), new_session_hash()
                    listed = page.call_event(session, load, {"browserstate": records}, session_hash)
                    choices = len(((listed.outputs.get("take-a") or {}).get("choices")) or [])
                    for record in records:
                        result = page.call_event(session, dependency,
                                                 {picker: record["take_id"], "browserstate": records, **extra},
                                                 session_hash)
                        got = page.download(session, result.outputs.get(output))
                        if got and same_audio(got, a_audio):
                            return True, (f"B got A's take ({len(got):,} bytes) with guessed id "
                                          f"{record['take_id'][:12]}… ({choices} forged records listed)")
                    return False, f"{len(records)} guessed ids tried, none served A's audio ({choices} listed)"
                klass.attempt(f"{name}, {shape}", attack, timeout=90)

            def planted_by_remember(records: list = records) -> tuple[bool, str]:
                """The same guesses, planted through the event that adds a finished take to
                the list (it takes the record from the page) instead of the list load."""
                session, session_hash = requests.Session(), new_session_hash()
                play = page.dependency(trigger="take-a", event="change")
                for record in records:
                    page.call_event(session, remember, {"json": record, "browserstate": []}, session_hash)
                    result = page.call_event(session, play, {"take-a": record["take_id"], "browserstate": [record]},
                                             session_hash)
                    got = page.download(session, result.outputs.get("player-a"))
                    if got and same_audio(got, a_audio):
                        return True, f"B got A's take ({len(got):,} bytes) with guessed id {record['take_id'][:12]}…"
                return False, f"{len(records)} guessed ids planted, none served A's audio"
            klass.attempt(f"play, planted through the take-adding event, {shape}", planted_by_remember, timeout=90)

            def restore(signed: bool = signed) -> tuple[bool, str]:
                session, session_hash = requests.Session(), new_session_hash()
                record = forged_record("ab" * 32, "guess", PARAMETERS, voice_id=voice_id, signed=signed)
                page.call_event(session, load, {"browserstate": [record]}, session_hash)
                result = page.call_event(session, page.dependency(trigger="restore", event="click"),
                                         {"take-a": record["take_id"], "browserstate": [record]}, session_hash)
                got = page.download(session, result.outputs.get("reference-audio"))
                if got and same_audio(got, voice):
                    return True, f"B got A's uploaded voice ({len(got):,} bytes) with guessed voice id"
                return False, f"no voice served ({(result.error or 'no error')[:80]})"
            klass.attempt(f"restore A's uploaded voice, {shape}", restore, timeout=60)

        # Not counted: the clip cache is shared by design (README, "Keys never cross"), so B can
        # learn that someone already had a guessed line spoken. Reported, not scored.
        mark = len(contract_requests(backends))
        oracle = page.call_api(requests.Session(), "synthesize", synthesize_body(page, text=secret_line))
        calls = len(contract_requests(backends)) - mark
        klass.tables.append(table(["not counted (shared cache, by design)", "observed"], [[
            "B asks for A's line with the same settings: the answer shows it was already made",
            f"{'yes' if oracle.ok and calls == 0 else 'no'} ({calls} backend calls; details: "
            f"{str(oracle.outputs.get('details'))[:60]!r})"]]))


def same_audio(got: bytes, want: bytes) -> bool:
    """The same bytes, or the same samples within 16-bit rounding (an export re-encodes)."""
    if got == want:
        return True
    try:
        a, _ = sf.read(io.BytesIO(got), dtype="float32", always_2d=True)
        b, _ = sf.read(io.BytesIO(want), dtype="float32", always_2d=True)
    except Exception:  # noqa: BLE001 — not audio: not the same audio
        return False
    return a.shape == b.shape and float(np.max(np.abs(a - b), initial=0.0)) < 1e-3


# --------------------------------------------------------------------------------------------
# 5. Counting


# What answers each request: a behaviour of the contract server, or (for what it cannot do) a
# responder of the hostile backend; and settings that make the app give up fast.
COUNTING_FAULTS: dict[str, tuple[str | Callable[[SeenRequest], Answer], dict[str, str]]] = {
    "200, body cut mid-way": ("reset", {}),
    "200, body not audio": ("garbage", {}),
    "200, empty body": ("empty", {}),
    "200, JSON without audio": ("json-no-audio", {}),
    "200, body trickling past the read timeout": ("trickle", {"SEGMIND_READ_TIMEOUT": "1"}),
    "200, body over the size limit": ("huge", {"SEGMIND_MAX_RESPONSE_MB": "1"}),
    "200, half the declared body, then a clean close": (
        lambda r: Answer(200, AUDIO, {"content-type": "audio/wav"}, cut_after=len(AUDIO) // 2), {}),
    "200, chunked body cut mid-way": (
        lambda r: Answer(200, AUDIO, {"content-type": "audio/wav"}, cut_after=len(AUDIO) // 2, chunked=True), {}),
}


def class_counting(klass: AttackClass, backends: Backends) -> None:
    quick = dict(SEGMIND_BACKOFF_SECONDS="0.01", SEGMIND_MAX_BACKOFF_SECONDS="0.1",
                 CHATTERBOX_CACHE="false", CHATTERBOX_DAILY_CALL_BUDGET="0",
                 CHATTERBOX_VISITOR_CALLS_PER_HOUR=str(HOURLY_LIMIT), FORWARDED_ALLOW_IPS="127.0.0.1")
    rows = []
    for name, (fault, settings) in COUNTING_FAULTS.items():
        def attack(name: str = name, fault: Any = fault, settings: dict = settings) -> tuple[bool, str]:
            backends.reset()
            contract = isinstance(fault, str)
            api_url = backends.contract.url if contract else backends.hostile_api

            def received() -> list:
                if contract:
                    return [r for r in contract_requests(backends) if r.status == 200]
                return [r for r in backends.hostile.requests_since(0) if r.method == "POST"]

            with running_app(api_url, klass, **{**quick, **settings}) as app:
                page, session = Page(app.url), requests.Session()
                # The control, from another visitor: a normal answer is logged as one call.
                control = page.call_api(session, "synthesize", synthesize_body(page, text=f"Control for {name}."),
                                        headers={"x-forwarded-for": "203.0.113.9"})
                time.sleep(0.3)
                control_calls = sum(int(line.get("calls", 0)) for line in log_lines(app.log()))
                if not control.ok or control_calls != 1:
                    raise RuntimeError(f"control: a normal take logged {control_calls} calls ({control.error!r})")
                log_mark, received_mark = len(app.log()), len(received())
                if contract:
                    backends.contract.state.script.extend([fault] * 200)
                else:
                    backends.hostile.default = fault
                refused = 0
                for number in range(2 * HOURLY_LIMIT):
                    result = page.call_api(session, "synthesize",
                                           synthesize_body(page, text=f"Counting request {number} of {name}."))
                    refused += "hour" in (result.error or "")
                time.sleep(0.3)
                logged = sum(int(line.get("calls", 0)) for line in log_lines(app.log()[log_mark:]))
            answered = len(received()) - received_mark
            backends.reset()
            rows.append([name, 2 * HOURLY_LIMIT, refused, answered, logged, HOURLY_LIMIT])
            leak = answered > logged or answered > HOURLY_LIMIT
            return leak, (f"{2 * HOURLY_LIMIT} requests ({refused} refused by the limit): the backend answered "
                          f"200 to {answered}; the log counts {logged} calls; hourly limit {HOURLY_LIMIT}")
        klass.attempt(f"counting: {name}", attack, timeout=90)
    klass.tables.append(table(
        ["backend answer", "app requests", "refused by the limit", "backend answers (200)",
         "calls in the app's log", "hourly limit"], rows, numeric={1, 2, 3, 4, 5}))
    restarts(klass, backends)


def restarts(klass: AttackClass, backends: Backends) -> None:
    """Spend a visitor's hourly count and half the daily budget, restart on the same cache
    dir, and count the calls the limits then allow: used after = limit - calls allowed."""
    daily = 2 * HOURLY_LIMIT
    rows = []
    for how in ("SIGTERM (graceful)", "SIGKILL (crash)"):
        found: dict[str, tuple[bool | None, str]] = {}

        def attack(how: str = how) -> tuple[bool, str]:
            backends.reset()
            with tempfile.TemporaryDirectory(prefix="abuse-restart-") as kept:
                environment = dict(CHATTERBOX_CACHE_DIR=os.path.join(kept, "cache"),
                                   XDG_CACHE_HOME=os.path.join(kept, "xdg"),
                                   CHATTERBOX_VISITOR_CALLS_PER_HOUR=str(HOURLY_LIMIT),
                                   CHATTERBOX_DAILY_CALL_BUDGET=str(daily),
                                   FORWARDED_ALLOW_IPS="127.0.0.1")
                with running_app(backends.contract.url, klass, **environment) as app:
                    used_before, refusal = probe(Page(app.url), "198.51.100.1", "before", HOURLY_LIMIT + 1)
                    if used_before != HOURLY_LIMIT or "hour" not in refusal:
                        raise RuntimeError(f"the hourly limit did not hold before the restart: {refusal!r}")
                    if how.startswith("SIGKILL"):
                        os.killpg(app.process.pid, signal.SIGKILL)
                        app.process.wait()
                klass.alive_after.pop()  # that app was ended on purpose
                with running_app(backends.contract.url, klass, **environment) as app:
                    page = Page(app.url)
                    allowed, refusal = probe(page, "198.51.100.1", "after", HOURLY_LIMIT + 1)
                    hourly_after = HOURLY_LIMIT - allowed if "hour" in refusal else None
                    spent, daily_refusal = allowed, refusal if "daily" in refusal else ""
                    for visitor in range(2, 6):  # fresh visitors, until the daily budget refuses
                        if daily_refusal:
                            break
                        got, refusal = probe(page, f"198.51.100.{visitor}", "after", HOURLY_LIMIT + 1)
                        spent += got
                        daily_refusal = refusal if "daily" in refusal else ""
                        if got == 0 and not daily_refusal:
                            break  # a fresh visitor refused by the hour: X-Forwarded-For not believed
                    daily_after = daily - spent if daily_refusal else None
            for counter, before, after, limit in (("hourly", used_before, hourly_after, HOURLY_LIMIT),
                                                  ("daily", used_before, daily_after, daily)):
                said = f"{counter}: {before} of {limit} used before the restart, " + (
                    f"{after} after" if after is not None else "after: could not tell")
                found[counter] = (None if after is None else after < before, said)
            rows.append([how, f"{used_before} of {HOURLY_LIMIT}", _of(hourly_after, HOURLY_LIMIT),
                         f"{used_before} of {daily}", _of(daily_after, daily)])
            return any(succeeded for succeeded, _ in found.values()), "; ".join(e for _, e in found.values())

        outcome = klass.attempt(f"restart, {how}", attack, timeout=150)
        klass.attacks.pop()  # reported as two attacks: the hourly count and the daily budget
        for counter in ("hourly", "daily"):
            succeeded, evidence = found.get(counter, (outcome.succeeded, outcome.evidence))
            klass.attacks.append(Attack(f"{counter} count forgotten on a restart, {how}", succeeded, evidence))
    klass.tables.append(table(
        ["restart", "hourly used before", "hourly used after", "daily used before", "daily used after"],
        rows, numeric={1, 2, 3, 4}))


def _of(used: int | None, limit: int) -> str:
    return "could not tell" if used is None else f"{used} of {limit}"


def probe(page: Page, visitor: str, label: str, most: int) -> tuple[int, str]:
    """Calls one visitor (by X-Forwarded-For, believed from loopback) makes, each with a text
    of its own, until one is refused: (calls allowed, the refusal's message)."""
    session = requests.Session()
    for number in range(most):
        result = page.call_api(session, "synthesize",
                               synthesize_body(page, text=f"Call {number} by {visitor}, {label} the restart."),
                               headers={"x-forwarded-for": visitor})
        if not result.ok:
            return number, result.error or ""
    return most, ""


# --------------------------------------------------------------------------------------------
# 6. Bad inputs billed


INVISIBLE = {
    "U+200B zero width space": "\u200b",
    "U+FEFF byte order mark": "\ufeff",
    "U+00AD soft hyphen": "\u00ad",
    "bidi controls U+202A-202E": "\u202a\u202b\u202c\u202d\u202e",
    "bidi isolates U+2066-2069": "\u2066\u2067\u2068\u2069",
    "marks U+200E U+200F U+061C": "\u200e\u200f\u061c",
    "a lone combining mark U+0301": "\u0301",
    "all of them, with spaces": " \u200b \ufeff\u00ad\u2060\u202e\u2069\u0301 ",
    "3,000 zero width spaces": "\u200b" * 3000,
    "U+3164 Hangul filler": "\u3164\u3164",
    "U+2800 braille blank": "\u2800",
    "Hangul fillers U+115F U+1160 U+FFA0": "\u115f\u1160\uffa0",
    "variation selectors U+FE00-FE0F": "".join(chr(c) for c in range(0xFE00, 0xFE10)),
    "tag characters U+E0020-E007F": "".join(chr(c) for c in range(0xE0020, 0xE0080)),
    "U+034F combining grapheme joiner": "\u034f\u034f",
    "U+180E Mongolian vowel separator": "\u180e",
    "spaces U+2000-U+200A, U+3000": "".join(chr(c) for c in range(0x2000, 0x200B)) + "\u3000",
}
BIG = 10**400


def class_bad_inputs(klass: AttackClass, backends: Backends) -> None:
    with running_app(backends.contract.url, klass, CHATTERBOX_VISITOR_CALLS_PER_HOUR="0",
                     CHATTERBOX_DAILY_CALL_BUDGET="0", CHATTERBOX_CACHE="false") as app:
        page, session = Page(app.url), requests.Session()

        def billed_or_unreadable(body: str) -> tuple[bool, str]:
            mark = len(contract_requests(backends))
            result = page.call_api(session, "synthesize", body)
            calls = len(contract_requests(backends)) - mark
            serving = alive(app.url)
            said = "completed" if result.ok else f"error {result.error!r}"[:120]
            bad = calls > 0 or (not result.ok and not readable(result.error)) or not serving
            return bad, f"{calls} backend calls; {said}{'' if serving else '; the app stopped serving'}"

        for name, value in [("true", True), ("5", 5), ("[]", []), ("{}", {}), ('["Hello"]', ["Hello"]),
                            ('{"text": "Hello"}', {"text": "Hello"})]:
            klass.attempt(f"text = {name}", lambda value=value: billed_or_unreadable(synthesize_body(page, text=value)))
        for name, value in INVISIBLE.items():
            klass.attempt(f"text: {name}", lambda value=value: billed_or_unreadable(synthesize_body(page, text=value)))

        headers = {f"{rate:,} Hz": {"sample_rate": rate} for rate in (2**31, 2**32 - 1, 1, 0)}
        headers["65,535 channels"] = {"channels": 65_535}
        for name, fields in headers.items():
            def header(fields: dict = fields) -> tuple[bool, str]:
                path = page.upload(session, "odd.wav", crafted_wav(**fields))
                return billed_or_unreadable(synthesize_body(page, text="A voice with an odd header.",
                                                            **{"reference-audio": file_data(path)}))
            klass.attempt(f"reference WAV declaring {name}", header)

        slots = {"seed": "seed", "exaggeration": "slider-exaggeration", "temperature": "slider-temperature",
                 "cfg_weight": "slider-cfg_weight", "top_p": "slider-top_p"}
        for name, elem_id in slots.items():
            for sign in ("", "-"):
                def huge(elem_id: str = elem_id, sign: str = sign) -> tuple[bool, str]:
                    body = synthesize_body(page, text="A number too large.", **{elem_id: "__BIG__"})
                    return billed_or_unreadable(body.replace('"__BIG__"', f"{sign}1{'0' * 400}"))
                klass.attempt(f"{name} = {sign}10^400 (a JSON integer)", huge)
        klass.attempt("exaggeration = 1e400 (a JSON float literal)", lambda: billed_or_unreadable(
            synthesize_body(page, text="A float too large.", **{"slider-exaggeration": "__BIG__"}).replace(
                '"__BIG__"', "1e400")))

        for key in ("ключ-доступа-0123456789", "sk-live-€uro-0123456789", "🔑-0123456789abcdef",
                    "sk-live-ŁÓDŹ-1234", "sk-live-Ω-Ω-Ω"):
            klass.attempt(f"api_key = {key!r}", lambda key=key: billed_or_unreadable(
                synthesize_body(page, text="A key that is not Latin-1.", **{"api-key": key})))

        load = page.dependency(event="load")
        take_id = "cd" * 32
        forged = {
            "created NaN": {"created": float("nan")},
            "created Infinity": {"created": float("inf")},
            "created -Infinity": {"created": float("-inf")},
            "created 1e308": {"created": 1e308},
            "created 10^400": {"created": BIG},
            "seconds NaN": {"seconds": float("nan")},
            "seconds 10^400": {"seconds": BIG},
            "parameters.seed 10^400": {"parameters": {**PARAMETERS, "seed": BIG}},
            "parameters.exaggeration NaN": {"parameters": {**PARAMETERS, "exaggeration": float("nan")}},
            "text 10^400 (not a string)": {"text": BIG},
        }
        for name, change in forged.items():
            def load_forged(change: dict = change) -> tuple[bool, str]:
                record = {**forged_record(take_id, "A forged record.", PARAMETERS), **change}
                result = page.call_event(requests.Session(), load, {"browserstate": [record]}, new_session_hash())
                serving = alive(app.url)
                said = "listed" if result.ok else f"error {result.error!r}"[:100]
                bad = (not result.ok and not readable(result.error)) or not serving
                return bad, f"take-list load: {said}{'' if serving else '; the app stopped serving'}"
            klass.attempt(f"forged take record: {name}", load_forged)


# --------------------------------------------------------------------------------------------
# 7. Backend answer abuse


def class_answers(klass: AttackClass, backends: Backends) -> None:
    settings = dict(SEGMIND_MAX_RETRIES="2", SEGMIND_BACKOFF_SECONDS="0.05", SEGMIND_MAX_BACKOFF_SECONDS="2",
                    SEGMIND_READ_TIMEOUT="10", CHATTERBOX_CACHE="false")
    limit = 15.0
    with running_app(backends.hostile_api, klass, **settings) as app:
        page, session = Page(app.url), requests.Session()

        def answered(answers: list[Callable[[SeenRequest], Answer]], text: str,
                     **values: Any) -> tuple[bool, str]:
            backends.hostile.script.clear()
            backends.hostile.script.extend(answers)
            result = page.call_api(session, "synthesize", synthesize_body(page, text=text, **values), timeout=60)
            serving = alive(app.url)
            said = "completed" if result.ok else f"error {result.error!r}"[:120]
            bad = (not result.ok and not readable(result.error)) or result.seconds > limit or not serving
            return bad, f"{said} after {result.seconds:.1f} s{'' if serving else '; the app stopped serving'}"

        deep_list = b"[" * 100_000 + b"]" * 100_000
        deep_dict = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
        cases = {
            "100,000-deep JSON array in a 200": [lambda r: Answer(200, deep_list)],
            "100,000-deep JSON object in a 200": [lambda r: Answer(200, deep_dict)],
            "100,000-deep JSON array in a 400": [lambda r: Answer(400, deep_list)],
        }
        for name, answers in cases.items():
            klass.attempt(name, lambda answers=answers, name=name: answered(answers, f"Deep: {name}."),
                          timeout=30, on_timeout=True)
        for value in ("soon", "nan", "inf", "-1", "1e999", "Wed, 99 Foo 2024 25:61:61 GMT", "9" * 5000, "0x10"):
            answers = [lambda r, value=value: Answer(429, b'{"error": "slow down"}', {"retry-after": value})] * 3
            klass.attempt(f"429 with Retry-After: {value[:30]!r}",
                          lambda answers=answers, value=value: answered(answers, f"Retry after {value[:10]}."),
                          timeout=30, on_timeout=True)

        witness, port = backends.witness, backends.witness.server_address[1]
        fetches: list[tuple[str, Callable[[str], str] | None, ScriptedServer]] = [
            ("the visitor's reference URL listed before the audio URL", None, witness),
            ("audio URL http://127.0.0.1 (loopback, plain http)", lambda path: f"{witness.base}{path}", witness),
            ("audio URL http://localhost", lambda path: f"http://localhost:{port}{path}", witness),
            ("audio URL http://127.1 (short form)", lambda path: f"http://127.1:{port}{path}", witness),
            ("audio URL http://2130706433 (decimal)", lambda path: f"http://2130706433:{port}{path}", witness),
            ("audio URL http://0.0.0.0", lambda path: f"http://0.0.0.0:{port}{path}", witness),
            ("audio URL https://127.0.0.1 (loopback over https)", lambda path: f"https://127.0.0.1:{port}{path}",
             witness),
            ("audio URL https://localhost", lambda path: f"https://localhost:{port}{path}", witness),
            ("audio URL on the backend's host, redirecting to loopback",
             lambda path: f"{backends.hostile.base}/redirect?to={witness.base}{path}", witness),
        ]
        if backends.witness6 is not None:
            fetches.append(("audio URL http://[::1] (IPv6 loopback)",
                            lambda path: f"{backends.witness6.base}{path}", backends.witness6))
        for number, (name, spell, server) in enumerate(fetches):
            def fetched(number: int = number, spell: Callable[[str], str] | None = spell,
                        server: ScriptedServer = server, name: str = name) -> tuple[bool, str]:
                path = f"/fetch-{number}.wav"
                mark, connections = server.mark(), server.connections
                if spell is None:
                    visitor_url = f"{server.base}{path}"
                    answer = [lambda r: Answer(200, json.dumps({
                        "input": {"reference_audio": (r.json() or {}).get("reference_audio")},
                        "output": {"audio_url": f"{backends.hostile.base}/files/take.wav"}}).encode())]
                    verdict = answered(answer, "Fetch test with my voice URL.", **{"reference-url": visitor_url})
                else:
                    answer = [lambda r: Answer(200, json.dumps({"audio_url": spell(path)}).encode())]
                    verdict = answered(answer, f"Fetch test {number}.")
                if "https://" in name:  # a TLS hello never becomes an HTTP request: count connections
                    hits = server.connections - connections
                    return hits > 0, f"connections to the witness: {hits}; {verdict[1]}"
                hits = len([seen for seen in server.requests_since(mark) if seen.path.startswith(path)])
                return hits > 0, f"witness hits: {hits}; {verdict[1]}"
            klass.attempt(name, fetched, timeout=30)

        # Last: on the code before the fix this one never ends (list.pop(0) over millions of
        # items), and the worker keeps a core busy until the app is stopped.
        array = b"[" + b"0," * (3 * MB) + b"0]"
        klass.attempt(f"a {len(array) / MB:.0f} MB JSON array in a 200",
                      lambda: answered([lambda r: Answer(200, array)], "A very long array."),
                      timeout=25, on_timeout=True)


# --------------------------------------------------------------------------------------------
# 8. Shared cookies


def class_cookies(klass: AttackClass, backends: Backends) -> None:
    settings = dict(SEGMIND_MAX_RETRIES="1", SEGMIND_BACKOFF_SECONDS="0.05", CHATTERBOX_CACHE="false")
    with running_app(backends.hostile_api, klass, **settings) as app:
        page = Page(app.url)

        def with_cookie(answer: Answer, cookie: str) -> Answer:
            return Answer(answer.status, answer.body, {**answer.headers, "set-cookie": cookie})

        ok = Answer(200, AUDIO, {"content-type": "audio/wav"})
        variants = {
            "on a 200 with audio": lambda v: [lambda r: with_cookie(ok, f"c1={v}")],
            "on a 401": lambda v: [lambda r: with_cookie(Answer(401, b'{"error": "bad key"}'), f"c2={v}")],
            "with Domain, Path, Max-Age, HttpOnly": lambda v: [lambda r: with_cookie(
                ok, f"c3={v}; Domain=127.0.0.1; Path=/; Max-Age=86400; HttpOnly")],
            "on a 429 before the retry": lambda v: [lambda r: with_cookie(Answer(429, b'{"error": "slow"}',
                                                                                  {"retry-after": "0"}), f"c4={v}")],
        }
        for number, (name, script) in enumerate(variants.items()):
            def attack(number: int = number, script: Callable = script) -> tuple[bool, str]:
                value = f"visitorA{number}x{time.monotonic_ns()}"
                return shared(page, backends, script(value), value)
            klass.attempt(f"cookie {name}", attack)

        def from_audio_host() -> tuple[bool, str]:
            value = f"visitorA-audio-host-{time.monotonic_ns()}"
            backends.witness.get_answer = lambda r: Answer(200, AUDIO, {"content-type": "audio/wav",
                                                                       "set-cookie": f"c5={value}; Path=/"})
            answer = [lambda r: Answer(200, json.dumps({"audio_url": f"{backends.witness.base}/c.wav"}).encode())]
            mark = backends.witness.mark()
            try:
                succeeded, evidence = shared(page, backends, answer, value)
            finally:
                backends.witness.get_answer = _audio
            fetched = len(backends.witness.requests_since(mark))
            return succeeded, f"A's audio link fetched {fetched} times; {evidence}"
        klass.attempt("cookie from the audio URL's host", from_audio_host)


def shared(page: Page, backends: Backends, a_answers: list, value: str) -> tuple[bool, str]:
    """Visitor A (a typed key) gets `a_answers`; then visitor B (the owner's key, another
    session): does B's backend request carry A's cookie?"""
    backends.hostile.script.clear()
    backends.hostile.script.extend(a_answers)
    page.call_api(requests.Session(), "synthesize",
                  synthesize_body(page, text=f"Visitor A {value}.", **{"api-key": VISITOR_KEY}))
    backends.hostile.script.clear()
    mark = backends.hostile.mark()
    b = page.call_api(requests.Session(), "synthesize", synthesize_body(page, text=f"Visitor B {value}."))
    b_requests = [r for r in backends.hostile.requests_since(mark) if r.method == "POST"]
    carried = [r for r in b_requests if value in r.headers.get("cookie", "")]
    return bool(carried), (f"B's backend requests: {len(b_requests)}, carrying A's cookie: {len(carried)}"
                           f" ({'B ok' if b.ok else 'B error ' + repr(b.error)[:60]})")


# --------------------------------------------------------------------------------------------


CLASSES: list[tuple[int, str, str, Callable[[AttackClass, Backends], None]]] = [
    (1, "Key kept by the browser / run history",
     "run history on or served; the key in an output the page keeps, or the owner's key in a page", class_browser),
    (2, "Key echoed by the backend",
     "the key or a 6-character piece of it, in any encoding, reached the caller's event stream or the app's log",
     class_echo),
    (3, "Free paths (disk, memory, time)",
     "a free path grew disk > 1 MB or peak RSS > 100 MB, took an upload past 20 MB, worked > 1 s on a text "
     "instead of refusing it, or slowed another visitor > 2×", class_free_paths),
    (4, "Reading others' takes",
     "visitor B, from guessed content, received visitor A's audio (take or uploaded voice)", class_takes),
    (5, "Counting",
     "more backend 200s than the log's calls or than the hourly limit; a count forgotten on restart",
     class_counting),
    (6, "Bad inputs billed",
     "a backend request was made, or the caller got no readable error, or the app stopped serving",
     class_bad_inputs),
    (7, "Backend answer abuse",
     "a URL from the answer was fetched, or no readable error, or no answer within 15 s, or the app stopped",
     class_answers),
    (8, "Shared cookies", "visitor B's backend request carried the cookie set on visitor A's call", class_cookies),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated class numbers, e.g. 2,4")
    args = parser.parse_args()
    wanted = {int(n) for n in args.only.split(",") if n.strip()} or {number for number, *_ in CLASSES}

    started = time.monotonic()
    hostile, witness = ScriptedServer(), ScriptedServer()
    try:
        witness6: ScriptedServer | None = ScriptedServer("::1")
    except OSError:
        witness6 = None
    results: list[AttackClass] = []
    with contract_server(0.0) as contract:
        backends = Backends(contract, hostile, witness, witness6)
        for number, title, meaning, body in CLASSES:
            if number not in wanted:
                continue
            klass = AttackClass(number, title, meaning)
            results.append(klass)
            print(f"class {number}: {title}", file=sys.stderr, flush=True)
            backends.reset()
            class_started = time.monotonic()
            try:
                body(klass, backends)
            except Exception as error:  # noqa: BLE001 — one class failing never stops the rest
                klass.problems.append(f"{type(error).__name__}: {error}"[:300])
                print(f"  [{number}] class stopped: {klass.problems[-1]}", file=sys.stderr, flush=True)
            print(f"  [{number}] {time.monotonic() - class_started:.0f} s", file=sys.stderr, flush=True)
    for server in (hostile, witness, witness6):
        if server is not None:
            server.stop()
    report(results, time.monotonic() - started)


def report(results: list[AttackClass], seconds: float) -> None:
    print("## Abuse: attacks tried and how many succeeded (`python bench/abuse.py`)\n")
    for klass in results:
        print(f"### {klass.number}. {klass.title}\n")
        rows = [[attack.name, {True: "**SUCCEEDED**", False: "held", None: "could not run"}[attack.succeeded],
                 attack.evidence] for attack in klass.attacks]
        if rows:
            print(table(["attack", "result", "evidence"], rows) + "\n")
        for extra in klass.tables:
            print(extra + "\n")
        for problem in klass.problems:
            print(f"- The class stopped early: {problem}\n")

    print("### Summary\n")
    rows = []
    for klass in results:
        ran = [a for a in klass.attacks if a.succeeded is not None]
        tried = f"{len(ran)}"
        if len(ran) != len(klass.attacks):
            tried += f" (+{len(klass.attacks) - len(ran)} could not run)"
        succeeded = sum(1 for a in ran if a.succeeded)
        rows.append([f"{klass.number}. {klass.title}", tried, f"**{succeeded}**" if succeeded else "0", klass.meaning])
    print(table(["class", "attacks tried", "succeeded", 'what "succeeded" means'], rows, numeric={1, 2}) + "\n")

    rows = []
    for klass in results:
        checks = klass.alive_after
        alive_text = "yes" if checks and all(checks) else ("**no**" if checks else "not started")
        rows.append([f"{klass.number}. {klass.title}", alive_text, "; ".join(klass.problems) or "—"])
    print(table(["class", "GET / answered 200 after the class", "class stopped early"], rows) + "\n")
    total = sum(1 for k in results for a in k.attacks if a.succeeded)
    tried = sum(1 for k in results for a in k.attacks if a.succeeded is not None)
    print(f"{total} of {tried} attacks succeeded (target 0); {seconds:.0f} s in all.")


if __name__ == "__main__":
    main()
