"""Tools for bench/abuse.py, an outsider's view of the app: a Gradio page driven only over HTTP
(its /config, its REST API and the private UI events through the queue), a scriptable hostile
backend and a witness server that counts who fetches it, a detector for an API key in any
common encoding, the pre-fix take-id derivation an attacker would compute, crafted payloads,
and the running app's disk and memory.

Not a benchmark itself. Nothing here imports gradio or the app's components: the attacker
knows only the public source, so the few lines of it an attack needs are copied here.
"""

from __future__ import annotations

import base64
import binascii
import html
import io
import json
import os
import re
import socket
import struct
import threading
import time
import unicodedata
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
import requests
import soundfile as sf

from components.cache import cache_key
from tests.contract_server import encode, synthesize_words
from tests.served import ServedProcess

# --------------------------------------------------------------------------------------------
# The page, as an outsider sees it


@dataclass
class EventResult:
    """What one call of a Gradio event returned to its caller."""

    ok: bool  # completed without an error event
    outputs: dict[str, Any]  # output role (elem_id, else component type) -> value
    error: str | None  # the error message as sent; None when there was none, or it was null
    raw: str  # every byte of the answer and its event stream, for leak searches
    seconds: float
    http_status: int = 200


def readable(error: str | None) -> bool:
    """Whether an error message tells a person something (not null, empty or a bare 'Error')."""
    return bool(error and error.strip() and error.strip().lower() not in {"error", "none", "null"})


class Page:
    """The app's page as /config describes it: components and dependencies (events), private
    ones included, each found by what triggers it rather than by a position that may move."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.config = requests.get(f"{url}/config", timeout=15).json()
        self.components = {c["id"]: c for c in self.config["components"]}
        self.dependencies = self.config["dependencies"]

    def role(self, component_id: int) -> str:
        component = self.components.get(component_id, {})
        return component.get("props", {}).get("elem_id") or component.get("type", "?")

    def component_id(self, role: str) -> int:
        return next(cid for cid in self.components if self.role(cid) == role)

    def default(self, component_id: int) -> Any:
        return self.components.get(component_id, {}).get("props", {}).get("value")

    def dependency(
        self, *, trigger: str | None = None, event: str | None = None, api_name: str | None = None,
        after: dict | None = None,
    ) -> dict:
        """The event fired by `event` on the component `trigger` (an elem_id), the one named
        `api_name`, or the one chained after the dependency `after`."""
        for dependency in self.dependencies:
            if api_name is not None and dependency.get("api_name") == api_name:
                return dependency
            if after is not None and dependency.get("trigger_after") == after["id"]:
                return dependency
            for target, target_event in dependency.get("targets", []):
                if event == target_event and (
                    trigger is None or (target is not None and self.role(target) == trigger)
                ):
                    return dependency
        wanted = api_name or (f"{trigger}.{event}" if trigger else event) or "after"
        raise LookupError(f"no dependency for {wanted} in /config")

    def arguments(self, dependency: dict, values: dict[str, Any]) -> list[Any]:
        """The event's input list: `values` by role, every other input at its default."""
        return [
            values[self.role(cid)] if self.role(cid) in values else self.default(cid)
            for cid in dependency["inputs"]
        ]

    def _outputs(self, dependency: dict, data: Any) -> dict[str, Any]:
        if not isinstance(data, list):
            return {}
        return {self.role(cid): value for cid, value in zip(dependency["outputs"], data)}

    def call_event(
        self, session: requests.Session, dependency: dict, values: dict[str, Any],
        session_hash: str, timeout: float = 60.0, raw_body: str | None = None,
    ) -> EventResult:
        """Fire a UI event as the page does: a queued one through /gradio_api/queue/join and
        /gradio_api/queue/data, an unqueued one (queue=False) through /gradio_api/run/predict.
        `raw_body`, when given, is sent as the request body as it is (JSON the caller spelled)."""
        started = time.monotonic()
        trigger = next((t for t, _ in dependency.get("targets", []) if t is not None), None)
        body = raw_body or json.dumps(
            {
                "data": self.arguments(dependency, values),
                "fn_index": dependency["id"],
                "session_hash": session_hash,
                "trigger_id": trigger,
                "event_data": None,
            },
            allow_nan=True,
        )
        headers = {"content-type": "application/json"}
        if dependency.get("queue") is False:
            response = session.post(
                f"{self.url}/gradio_api/run/predict", data=body, headers=headers, timeout=timeout
            )
            raw = response.text
            try:
                document = response.json()
            except ValueError:
                document = None
            ok = response.status_code == 200
            error = None
            if not ok:
                error = _error_text(document if document is not None else raw)
            data = document.get("data") if ok and isinstance(document, dict) else None
            return EventResult(ok, self._outputs(dependency, data), error, raw,
                               time.monotonic() - started, response.status_code)

        joined = session.post(
            f"{self.url}/gradio_api/queue/join", data=body, headers=headers, timeout=timeout
        )
        raw = joined.text
        if joined.status_code != 200:
            return EventResult(False, {}, _error_text(_json_or_text(raw)), raw,
                               time.monotonic() - started, joined.status_code)
        event_id = joined.json()["event_id"]
        ok, outputs, error = False, {}, None
        with session.get(
            f"{self.url}/gradio_api/queue/data", params={"session_hash": session_hash},
            stream=True, timeout=timeout,
        ) as stream:
            for line in stream.iter_lines(chunk_size=None, decode_unicode=True):
                raw += line + "\n"
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("msg") == "unexpected_error":
                    error = message.get("message")
                    break
                if message.get("event_id") != event_id:
                    continue
                if message.get("msg") in ("process_generating", "process_completed"):
                    output = message.get("output") or {}
                    if message.get("success", True) and "data" in output:
                        outputs.update(self._outputs(dependency, output["data"]))
                    if message["msg"] == "process_completed":
                        ok = bool(message.get("success"))
                        if not ok:
                            error = _error_text(output)
                        break
        return EventResult(ok, outputs, error, raw, time.monotonic() - started)

    def call_api(
        self, session: requests.Session, api_name: str, body: str, timeout: float = 60.0,
        headers: dict[str, str] | None = None,
    ) -> EventResult:
        """POST /gradio_api/call/<api_name> with `body` sent as it is (so it may hold NaN or a
        400-digit integer), then read its event stream to the end."""
        started = time.monotonic()
        endpoint = f"{self.url}/gradio_api/call/{api_name}"
        posted = session.post(
            endpoint, data=body.encode(), timeout=timeout,
            headers={"content-type": "application/json", **(headers or {})},
        )
        raw = posted.text
        if posted.status_code != 200:
            return EventResult(False, {}, _error_text(_json_or_text(raw)), raw,
                               time.monotonic() - started, posted.status_code)
        event_id = posted.json()["event_id"]
        event, ok, error, data = "", False, None, None
        with session.get(f"{endpoint}/{event_id}", stream=True, timeout=timeout) as stream:
            for line in stream.iter_lines(chunk_size=None, decode_unicode=True):
                raw += line + "\n"
                if line.startswith("event:"):
                    event = line.partition(":")[2].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    payload = _json_or_text(line.partition(":")[2].strip())
                    if event == "complete":
                        ok, data = True, payload
                    else:
                        error = _error_text(payload)
        outputs = self._outputs(self.dependency(api_name=api_name), data)
        return EventResult(ok, outputs, error, raw, time.monotonic() - started)

    def upload(self, session: requests.Session, name: str, data: bytes) -> str:
        """POST a file to /gradio_api/upload; the server path to pass as a FileData."""
        response = session.post(
            f"{self.url}/gradio_api/upload", files={"files": (name, data)}, timeout=60
        )
        response.raise_for_status()
        return response.json()[0]

    def download(self, session: requests.Session, file_data: Any) -> bytes | None:
        """The bytes of a file output (a FileData dict), or None when there is none."""
        if not isinstance(file_data, dict):
            return None
        url = file_data.get("url") or f"{self.url}/gradio_api/file={file_data.get('path')}"
        response = session.get(url, timeout=30)
        return response.content if response.status_code == 200 else None


def file_data(path: str) -> dict[str, Any]:
    return {"path": path, "meta": {"_type": "gradio.FileData"}}


def new_session_hash() -> str:
    return uuid.uuid4().hex[:11]


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _error_text(payload: Any) -> str | None:
    """The message in an error payload, whatever its shape; None for null."""
    if payload is None:
        return None
    if isinstance(payload, str):
        return payload
    if isinstance(payload, dict):
        for key in ("error", "detail", "message"):
            if key in payload:
                value = payload[key]
                return value if isinstance(value, str) or value is None else json.dumps(value)
    return json.dumps(payload)


# --------------------------------------------------------------------------------------------
# The app process: disk and memory


@dataclass
class Footprint:
    disk_bytes: int  # every file under the app's work dir (cache, Gradio's temp dir, TMPDIR)
    rss_bytes: int  # VmRSS of the app process
    hwm_bytes: int  # VmHWM: its peak RSS so far


def footprint(app: ServedProcess) -> Footprint:
    """The app's disk use (its whole work dir but its log) and memory, now."""
    workdir = os.path.dirname(app.log_path)
    disk = 0
    for folder, _, names in os.walk(workdir):
        for name in names:
            path = os.path.join(folder, name)
            if path == app.log_path:
                continue
            try:
                disk += os.lstat(path).st_size
            except OSError:
                pass  # removed while we walked
    status = {}
    try:
        with open(f"/proc/{app.process.pid}/status") as file:
            for line in file:
                name, _, value = line.partition(":")
                status[name] = value.strip()
    except OSError:
        pass

    def kib(name: str) -> int:
        return int(status.get(name, "0 kB").split()[0]) * 1024

    return Footprint(disk, kib("VmRSS"), kib("VmHWM"))


def alive(url: str, timeout: float = 10.0) -> bool:
    try:
        return requests.get(f"{url}/", timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


def log_lines(text: str) -> list[dict]:
    """The app's one-JSON-line-per-request log lines in `text` (chatterbox.requests)."""
    lines = []
    for line in text.splitlines():
        start = line.find("{")
        if "chatterbox.requests" in line and start >= 0:
            try:
                lines.append(json.loads(line[start:]))
            except ValueError:
                pass
    return lines


# --------------------------------------------------------------------------------------------
# A key in any encoding


def key_leaks(key: str, text: str, fragment: int = 6) -> list[str]:
    """How `key`, or any `fragment`-character piece of it, shows in `text` (case ignored): as
    is, JSON \\u-escaped, URL-encoded (once or twice), as HTML entities, interleaved with
    invisible characters or in fullwidth letters (NFKC), split by whitespace, hex, or base64 at
    any alignment. An empty list when it does not."""
    pieces = {key[i : i + fragment].lower() for i in range(len(key) - fragment + 1)}

    def found(haystack: str) -> bool:
        haystack = haystack.lower()
        return any(piece in haystack for piece in pieces)

    unescaped = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
    views = {
        "as is": text,
        "\\u-escaped": unescaped,
        "URL-encoded": unquote(unquote(unescaped)),
        "HTML entities": html.unescape(html.unescape(unescaped)),
        "NFKC, invisible characters removed": "".join(
            ch for ch in unicodedata.normalize("NFKC", unescaped) if unicodedata.category(ch) not in ("Cf", "Mn")),
        "split by whitespace": re.sub(r"\s+|\\n|\\r|\\t", "", unescaped),
        "hex": " ".join(_hex_decoded(unescaped)),
    }
    how = [name for name, view in views.items() if found(view)]
    if _found_in_base64(text, found):
        how.append("base64")
    return how


def _hex_decoded(text: str) -> Iterator[str]:
    for run in re.findall(r"(?:[0-9a-fA-F]{2}){6,}", text):
        for offset in (0, 1):
            part = run[offset:]
            yield bytes.fromhex(part[: len(part) - len(part) % 2]).decode("latin-1")


def _found_in_base64(text: str, found: Callable[[str], bool]) -> bool:
    for run in re.findall(r"[A-Za-z0-9+/_-]{8,}={0,2}", text):
        for offset in range(4):
            part = run[offset:]
            part = part[: len(part) - len(part) % 4]
            for decode in (base64.b64decode, base64.urlsafe_b64decode):
                try:
                    decoded = decode(part)
                except (binascii.Error, ValueError):
                    continue
                if found(decoded.decode("latin-1")):
                    return True
    return False


def base64_blob(secret: str, offset: int) -> str:
    """`secret` base64-encoded inside a blob, starting `offset` bytes in (0, 1 or 2), so its
    characters fall differently on base64's 3-byte groups."""
    return base64.b64encode(b"\x17" * offset + b"token:" + secret.encode() + b";exp=0").decode()


# --------------------------------------------------------------------------------------------
# The take ids of the code before the fix (components/history.py TakeStore at commit 19b154e):
# the cache's own key, a plain SHA-256 over public content, which anyone can compute.
old_cache_key = cache_key


def guessed_take_ids(backend_url: str, text: str, parameters: dict[str, Any]) -> list[str]:
    """Candidate ids of a one-call take of `text` with Segmind's default voice: one per way
    the integral parameter values may have been spelled (1 or 1.0), as the caller's JSON
    decides."""
    integral = [name for name, value in parameters.items() if name != "seed" and value == int(value)]
    candidates = []
    for mask in range(2 ** len(integral)):
        fields = {"text": text, **parameters}
        for bit, name in enumerate(integral):
            fields[name] = float(parameters[name]) if mask >> bit & 1 else int(parameters[name])
        chunk = old_cache_key(backend_url, fields, None)
        candidates.append(old_cache_key(backend_url, {"take": [chunk]}, None))
    return candidates


def guessed_voice_id(backend_url: str, upload: bytes, seconds: float = 10.0) -> str:
    """The id of an uploaded voice: the upload as the app prepares it (components/audio.py
    decode_audio and encode_wav, a 24 kHz mono upload needing no resampling), hashed."""
    with sf.SoundFile(io.BytesIO(upload)) as audio:
        samples = audio.read(frames=int(seconds * audio.samplerate), dtype="float32", always_2d=True)
    mono = samples.mean(axis=1, dtype=np.float32)
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(mono, -1.0, 1.0), 24_000, format="WAV", subtype="PCM_16")
    return old_cache_key(backend_url, {"voice": True}, buffer.getvalue())


def forged_record(take_id: str, text: str, parameters: dict[str, Any], *, voice_id: str = "",
                  signed: bool = False, **overrides: Any) -> dict[str, Any]:
    """A take record as the browser keeps it, made up by the caller; with `signed`, it carries
    a signature field too (64 hex characters the caller cannot make right)."""
    record: dict[str, Any] = {
        "take_id": take_id,
        "created": 1_700_000_000.0,
        "text": text,
        "parameters": dict(parameters),
        "preset": "custom",
        "voice_label": "uploaded voice",
        "voice_url": "",
        "voice_id": voice_id,
        "seconds": 2.0,
    }
    if signed:
        record["signature"] = "0" * 64
    record.update(overrides)
    return record


# --------------------------------------------------------------------------------------------
# Payloads


def speech_wav(words: str = "a witness clip", seed: int = 7) -> bytes:
    """A short WAV of the contract server's simulated speech."""
    return encode(synthesize_words(words, seed), "wav")


def voice_upload(seconds: float = 3.0) -> bytes:
    """A 24 kHz mono 16-bit WAV, like a public voice sample anyone could download."""
    t = np.arange(int(seconds * 24_000)) / 24_000
    samples = 0.3 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    buffer = io.BytesIO()
    sf.write(buffer, samples.astype(np.float32), 24_000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def crafted_wav(sample_rate: int = 24_000, channels: int = 1, frames: int = 48_000) -> bytes:
    """A 16-bit WAV whose header declares `sample_rate` and `channels` (any values the fields
    hold), with real samples behind it."""
    rng = np.random.default_rng(1)
    data = (rng.standard_normal(frames) * 3000).astype("<i2").tobytes()
    block = (2 * channels) % 2**16
    fmt = struct.pack("<HHIIHH", 1, channels, sample_rate % 2**32, (sample_rate * block) % 2**32, block, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def prose(characters: int) -> str:
    """Sentences, repeated to `characters` characters."""
    sentence = "The harbour lights went out one by one, and the night boats came home slowly. "
    return (sentence * (characters // len(sentence) + 1))[:characters]


class StreamedUpload:
    """A multipart/form-data body of one `size`-byte file, generated as it is sent (never held
    in memory), with its length known so it goes with a Content-Length."""

    BLOCK = 1 << 20

    def __init__(self, size: int, name: str = "big.wav") -> None:
        self.boundary = uuid.uuid4().hex
        self.size = size
        self.head = (
            f"--{self.boundary}\r\nContent-Disposition: form-data; name=\"files\"; "
            f"filename=\"{name}\"\r\nContent-Type: audio/wav\r\n\r\n"
        ).encode()
        self.tail = f"\r\n--{self.boundary}--\r\n".encode()
        self.sent = 0

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return len(self.head) + self.size + len(self.tail)

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        block = b"\0" * self.BLOCK
        remaining = self.size
        while remaining > 0:
            piece = block[: min(self.BLOCK, remaining)]
            remaining -= len(piece)
            self.sent += len(piece)
            yield piece
        yield self.tail


# --------------------------------------------------------------------------------------------
# Loopback servers: a hostile backend, and a witness that counts who fetches it


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    cut_after: int | None = None  # send only this many bytes of the body, then hang up
    chunked: bool = False  # Transfer-Encoding: chunked (one chunk) instead of a Content-Length


@dataclass
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    time: float

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


Responder = Callable[[SeenRequest], Answer]


def audio_answer(request: SeenRequest) -> Answer:
    return Answer(200, speech_wav(), {"content-type": "audio/wav"})


class ScriptedServer(ThreadingHTTPServer):
    """A loopback HTTP server that records every request. A POST is answered by the next
    responder in `script` (then by `default`); a GET of /redirect?to=URL by a 302 there; any
    other GET by `get_answer` (audio unless changed)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str = "127.0.0.1") -> None:
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, 0), _ScriptedHandler)
        self.script: deque[Responder] = deque()
        self.default: Responder = audio_answer
        self.get_answer: Responder = audio_answer
        self.seen: list[SeenRequest] = []
        self.connections = 0  # TCP connections accepted, HTTP or not (a TLS hello counts too)
        self.lock = threading.Lock()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.lock:
            self.connections += 1
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up, or speaks TLS to plain HTTP, is what some attacks do

    @property
    def base(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def requests_since(self, mark: int) -> list[SeenRequest]:
        with self.lock:
            return list(self.seen[mark:])

    def mark(self) -> int:
        with self.lock:
            return len(self.seen)

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _ScriptedHandler(BaseHTTPRequestHandler):
    server: ScriptedServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _seen(self) -> SeenRequest:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = SeenRequest(self.command, self.path,
                           {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
        with self.server.lock:
            self.server.seen.append(seen)
        return seen

    def do_GET(self) -> None:
        seen = self._seen()
        parts = urlsplit(self.path)
        if parts.path == "/redirect":
            target = parse_qs(parts.query).get("to", [""])[0]
            self._send(Answer(302, b"", {"location": target}))
        else:
            self._send(self.server.get_answer(seen))

    def do_POST(self) -> None:
        seen = self._seen()
        with self.server.lock:
            responder = self.server.script.popleft() if self.server.script else self.server.default
        self._send(responder(seen))

    def _send(self, answer: Answer) -> None:
        self.send_response(answer.status)
        headers = {"content-type": "application/json", **answer.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        if answer.chunked:
            self.send_header("transfer-encoding", "chunked")
        else:
            self.send_header("content-length", str(len(answer.body)))
        self.end_headers()
        body = answer.body if answer.cut_after is None else answer.body[: answer.cut_after]
        if answer.chunked:
            body = f"{len(answer.body):x}\r\n".encode() + body
            if answer.cut_after is None:
                body += b"\r\n0\r\n\r\n"
        try:
            self.wfile.write(body)
            if answer.cut_after is not None:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
        except OSError:
            pass
