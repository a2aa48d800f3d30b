"""A real HTTP server on loopback that behaves as Segmind's documented Chatterbox contract.

It stands in for api.segmind.com in tests and benchmarks (which cannot reach it). It keeps its
own copy of the documented ranges on purpose: it plays Segmind's side, so a mistake in the
app's parameter table is caught here instead of agreed with. It serves both models, each with
its own table (CONTRACTS): `<root>/chatterbox-tts` and `<root>/chatterbox-turbo-tts`.

Speech is simulated: each spoken token (a word, or a sound tag such as `[clear throat]`) becomes
a 24 kHz tone burst whose pitch comes from the token and the seed, framed by silence like real
TTS output, so tests can count words and check order.

    python -m tests.contract_server --port 9000 --scale 0.05   # then SEGMIND_API_BASE=<root>
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import re
import socket
import textwrap
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import soundfile as sf

SAMPLE_RATE = 24_000
WORD_SECONDS = 0.16
GAP_SECONDS = 0.06
EDGE_SILENCE_SECONDS = 0.3

API_ROOT = "/v1"
MAX_SEED = 4_294_967_295


@dataclass(frozen=True)
class EndpointContract:
    """One model's documented request contract, as Segmind's API page gives it.

    `ranges` bounds every numeric field (inclusive); those in `integer_fields` must also be JSON
    integers (not 500.0, not true). `boolean_fields` must be JSON true/false (not 1/0).
    `text` and `reference_audio` are always known fields; `required_fields` must be present.
    A call is listed at `listed_seconds` and costs `price` credits."""

    endpoint: str  # the last part of the path: "chatterbox-tts"
    ranges: Mapping[str, tuple[float, float]]
    integer_fields: frozenset[str]
    boolean_fields: frozenset[str]
    required_fields: frozenset[str]
    listed_seconds: float
    price: float

    @property
    def path(self) -> str:
        return f"{API_ROOT}/{self.endpoint}"

    @property
    def known_fields(self) -> frozenset[str]:
        return frozenset({"text", "reference_audio", *self.ranges, *self.boolean_fields})


# The original model (CONTRACT.md, "The request").
CHATTERBOX = EndpointContract(
    endpoint="chatterbox-tts",
    ranges={
        "exaggeration": (0, 2),
        "temperature": (0, 2),
        "cfg_weight": (0, 2),
        "min_p": (0, 1),
        "top_p": (0, 1),
        "repetition_penalty": (1, 2),
        "seed": (0, MAX_SEED),
    },
    integer_fields=frozenset({"seed"}),
    boolean_fields=frozenset(),
    required_fields=frozenset({"text"}),
    listed_seconds=18.0,
    price=0.02,
)

# Turbo (CONTRACT.md, "Chatterbox Turbo"): a reference voice is required; no exaggeration or
# cfg_weight; top_k an integer, norm_loudness a boolean.
CHATTERBOX_TURBO = EndpointContract(
    endpoint="chatterbox-turbo-tts",
    ranges={
        "temperature": (0.05, 2),
        "min_p": (0, 1),
        "top_p": (0, 1),
        "top_k": (1, 1000),
        "repetition_penalty": (1, 2),
        "seed": (0, MAX_SEED),
    },
    integer_fields=frozenset({"seed", "top_k"}),
    boolean_fields=frozenset({"norm_loudness"}),
    required_fields=frozenset({"text", "reference_audio"}),
    listed_seconds=13.6,
    price=0.021,
)

CONTRACTS: dict[str, EndpointContract] = {c.path: c for c in (CHATTERBOX, CHATTERBOX_TURBO)}

# The original model's table under its old names (its number fields; seed is checked apart).
DOCUMENTED_RANGES = {
    name: bounds
    for name, bounds in CHATTERBOX.ranges.items()
    if name not in CHATTERBOX.integer_fields
}
KNOWN_FIELDS = set(CHATTERBOX.known_fields)

# A sound tag (`[clear throat]`) is one token even with spaces inside; otherwise tokens are
# what str.split() gives. A tag touching a word or punctuation stays part of that token.
_SPOKEN_TOKEN = re.compile(r"(?:\[[^\[\]]*\]|\S)+")


def spoken_tokens(text: str) -> list[str]:
    """What the simulated speech says, one tone burst each: whitespace-separated words, except
    that whitespace inside a complete `[...]` span does not split (`[clear throat]` is one).
    For text without such a span this is exactly `text.split()`."""
    return _SPOKEN_TOKEN.findall(text)


def word_frequency(word: str, seed: int) -> float:
    """The pitch a word is 'spoken' at: 300–1500 Hz, fixed by the word and the seed."""
    digest = hashlib.sha256(f"{seed}:{word}".encode()).digest()
    return 300.0 + (int.from_bytes(digest[:4], "big") % 1200)


def synthesize_words(text: str, seed: int) -> np.ndarray:
    """Silence, one tone burst per spoken token (see spoken_tokens) with a short gap, silence:
    float32 mono."""
    burst_length = int(WORD_SECONDS * SAMPLE_RATE)
    t = np.arange(burst_length) / SAMPLE_RATE
    envelope = np.sin(np.pi * np.arange(burst_length) / burst_length) ** 2  # no clicks
    gap = np.zeros(int(GAP_SECONDS * SAMPLE_RATE), dtype=np.float32)
    edge = np.zeros(int(EDGE_SILENCE_SECONDS * SAMPLE_RATE), dtype=np.float32)
    parts = [edge]
    for word in spoken_tokens(text):
        tone = 0.5 * envelope * np.sin(2 * np.pi * word_frequency(word, seed) * t)
        parts += [tone.astype(np.float32), gap]
    parts.append(edge)
    return np.concatenate(parts)


BURST_WINDOW_SECONDS = 0.010  # moving average of |samples| that finds a burst
BURST_THRESHOLD = 0.02
PITCH_TOLERANCE_HZ = 8.0


def burst_spans(samples: np.ndarray, sample_rate: int) -> list[tuple[int, int]]:
    """Where each tone burst of the simulated speech above is, in samples, in order: runs where
    a 10 ms moving average of |samples| exceeds 0.02.

    The average still ripples at a low tone's edges, so runs less than two windows apart are
    one burst (words are 60 ms apart), and a run shorter than a window is not one."""
    window = max(1, int(BURST_WINDOW_SECONDS * sample_rate))
    envelope = np.convolve(np.abs(samples), np.ones(window) / window, mode="same")
    loud = np.concatenate([[False], envelope > BURST_THRESHOLD, [False]])
    edges = np.flatnonzero(np.diff(loud.astype(np.int8)))
    runs: list[list[int]] = []
    for start, end in zip(edges[::2], edges[1::2]):
        if runs and start - runs[-1][1] < 2 * window:
            runs[-1][1] = end
        else:
            runs.append([start, end])
    return [(int(start), int(end)) for start, end in runs if end - start >= window]


def burst_pitches(samples: np.ndarray, sample_rate: int) -> list[float]:
    """The pitch of each tone burst (see burst_spans), in order: its FFT peak (1 Hz bins)."""
    return [
        float(np.argmax(np.abs(np.fft.rfft(samples[start:end], n=sample_rate))))
        for start, end in burst_spans(samples, sample_rate)
    ]


def speech_mismatch(samples: np.ndarray, sample_rate: int, text: str, seed: int) -> str | None:
    """None if `samples` speak `text` (one burst per spoken token, see spoken_tokens, each at
    the pitch the contract server gives that token with `seed`), else what differs."""
    heard = burst_pitches(samples, sample_rate)
    expected = [word_frequency(word, seed) for word in spoken_tokens(text)]
    if len(heard) != len(expected):
        return f"{len(heard)} bursts for {len(expected)} words"
    for index, (got, want) in enumerate(zip(heard, expected)):
        if abs(got - want) > PITCH_TOLERANCE_HZ:
            return f"word {index + 1} at {got:.0f} Hz, expected {want:.0f} Hz"
    return None


def encode(samples: np.ndarray, audio_format: str) -> bytes:
    buffer = io.BytesIO()
    if audio_format == "mp3":
        sf.write(buffer, samples, SAMPLE_RATE, format="MP3")
    else:
        sf.write(buffer, samples, SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def modelled_latency(text: str, scale: float, contract: EndpointContract = CHATTERBOX) -> float:
    """Segmind lists ~18 s a call of the original model (for its 86-character sample); longer
    text takes longer. Another model takes its listed share of that: Turbo (13.6 s listed)
    gives about 13.8 s for the same sample."""
    return scale * (8.0 + 0.12 * len(text)) * contract.listed_seconds / CHATTERBOX.listed_seconds


def format_credits(credits: float) -> str:
    """The `x-remaining-credits` value: two decimals ("99.98"), three when a price in tenths
    of a cent needs them ("99.979")."""
    text = f"{credits:.3f}"
    return text[:-1] if text.endswith("0") else text


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    started: float
    finished: float = 0.0
    status: int = 0

    @property
    def endpoint(self) -> str:
        """The last part of the path: "chatterbox-tts", "chatterbox-turbo-tts"..."""
        return self.path.rsplit("/", 1)[-1]


@dataclass
class ContractState:
    valid_keys: set[str] = field(default_factory=lambda: {"test-key"})
    audio_format: str = "wav"  # wav, mp3, json-base64, json-data-uri, json-url
    latency_scale: float = 0.0
    extra_latency: dict[str, float] = field(default_factory=dict)  # text -> extra seconds
    credits: float = 100.0
    # Behaviours for the next requests, consumed one per request, e.g. "status:429",
    # "status:429:retry-after=0.2" (one header at most), "stall", "reset", "empty", "garbage", "json-no-audio",
    # "huge", "trickle", "echo-key:401".
    # Faults after which the call may have been billed: "close-after-request" (reads the request
    # and hangs up), "truncate" (200, half the declared body, a clean close), "paced:<gap>:<pieces>"
    # or "paced:<gap>:<pieces>:<tail>" and "paced-chunked:..." (the whole body in pieces `gap`
    # seconds apart, the last one `tail` bytes long if given).
    # Leaks: "echo-key-as:<encoding>:<status>" (the key as one of KEY_ECHOES, in body and
    # headers), "with-header:<name>=<value>" (a normal answer with that header: a cookie...).
    # Loads: "json-array:<MB>" or "json-array:<MB>:audio" (MB of short strings, then the audio in
    # base64), "deep-json:<levels>" or "deep-json:<levels>:<status>".
    # Links: "audio-link:<url> <url>..." (200 JSON pointing there), "echo-request" (200 JSON with
    # the request's own fields first, then this server's link to the audio).
    script: deque[str] = field(default_factory=deque)
    # Answer 429 while more than this many requests are in flight (a burst rate limit).
    max_in_flight: int | None = None
    retry_after: str | None = None
    requests: list[RecordedRequest] = field(default_factory=list)
    in_flight: int = 0
    peak_in_flight: int = 0
    files: dict[str, bytes] = field(default_factory=dict)
    file_requests: list[RecordedRequest] = field(default_factory=list)  # GETs of `files`
    lock: threading.Lock = field(default_factory=threading.Lock)

    def synthesis_requests(self, endpoint: str | None = None) -> list[RecordedRequest]:
        """Requests to a model endpoint, in arrival order: to either model, or to `endpoint`
        ("chatterbox-tts" or "chatterbox-turbo-tts") when given."""
        if endpoint is None:
            paths = set(CONTRACTS)
        elif f"{API_ROOT}/{endpoint}" in CONTRACTS:
            paths = {f"{API_ROOT}/{endpoint}"}
        else:
            raise ValueError(f"no such model endpoint: {endpoint!r}")
        with self.lock:
            return [r for r in self.requests if r.path in paths]


class ContractHandler(BaseHTTPRequestHandler):
    server: ContractServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    @property
    def state(self) -> ContractState:
        return self.server.state

    def do_GET(self) -> None:
        with self.state.lock:
            self.state.file_requests.append(
                RecordedRequest(self.path, dict(self.headers.items()), None, time.monotonic())
            )
        name = self.path.rsplit("/", 1)[-1]
        data = self.state.files.get(name)
        if data is None:
            self._send_json(404, {"error": "not found"})
        else:
            self._send(200, data, "audio/wav")

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        record = RecordedRequest(self.path, dict(self.headers.items()), body, time.monotonic())
        with self.state.lock:
            self.state.requests.append(record)
            self.state.in_flight += 1
            self.state.peak_in_flight = max(self.state.peak_in_flight, self.state.in_flight)
            over_limit = (
                self.state.max_in_flight is not None
                and self.state.in_flight > self.state.max_in_flight
            )
            behaviour = self.state.script.popleft() if self.state.script else "normal"
        try:
            record.status = self._answer(body, behaviour, over_limit)
        finally:
            with self.state.lock:
                self.state.in_flight -= 1
            record.finished = time.monotonic()

    def _answer(self, body: Any, behaviour: str, over_limit: bool) -> int:
        contract = CONTRACTS.get(self.path)
        if contract is None:
            return self._send_json(404, {"error": "Model not found"})
        key = self.headers.get("x-api-key")
        if behaviour.startswith("echo-key:"):
            return self._send_json(int(behaviour.split(":")[1]), {"error": f"bad key {key}"})
        if behaviour.startswith("echo-key-as:"):
            _, encoding, code = behaviour.split(":")
            return self._echo_key(key or "", encoding, int(code))
        if behaviour == "close-after-request":
            self.close_connection = True  # the request was read: hang up without a word
            return 0
        if key not in self.state.valid_keys:
            return self._send_json(401, {"error": "Invalid or missing API key"})
        if behaviour.startswith("status:"):
            _, code, *options = behaviour.split(":", 2)  # an HTTP date has colons of its own
            headers = dict(option.split("=", 1) for option in options)
            return self._send_json(int(code), {"error": f"scripted {code}"}, headers)
        if behaviour.startswith("deep-json:"):
            _, levels, *code = behaviour.split(":")
            nested = b"[" * int(levels) + b"]" * int(levels)
            return self._send(int(code[0]) if code else 200, nested, "application/json")
        if over_limit:
            headers = {"retry-after": self.state.retry_after} if self.state.retry_after else {}
            return self._send_json(429, {"error": "Too many requests"}, headers)
        problem = validate(body, contract)
        if problem:
            return self._send_json(400, {"error": problem})
        time.sleep(modelled_latency(body["text"], self.state.latency_scale, contract))
        time.sleep(self.state.extra_latency.get(body["text"], 0.0))
        return self._respond_with_audio(body, behaviour, contract)

    def _echo_key(self, key: str, encoding: str, status: int) -> int:
        """An answer that echoes the key as `encoding`, in its body and in its headers."""
        echo = echo_key(key, encoding)
        # JSON escapes are written by hand: json.dumps leaves ASCII as it is.
        if encoding == "json-escapes":
            escaped = "".join(f"\\u{ord(ch):04x}" for ch in key)
        else:
            escaped = json.dumps(echo)[1:-1]
        field_name = "detail" if 200 <= status < 300 else "error"
        if encoding == "plain-text":
            data, content_type = f"Access denied for {echo}".encode(), f"text/plain; key={key}"
        else:
            data = f'{{"{field_name}": "Access denied for {escaped}", "id": "r-17"}}'.encode()
            content_type = f"application/json; key={key}"
        headers = {"x-remaining-credits": key, "x-request-key": key}
        return self._send(status, data, content_type, headers)

    def _respond_with_audio(
        self, body: dict[str, Any], behaviour: str, contract: EndpointContract
    ) -> int:
        if behaviour.startswith("json-array:"):
            _, megabytes, *audio = behaviour.split(":")
            count = int(float(megabytes) * 1_000_000) // 7  # '"abc", ' is 7 bytes
            strings = ['"abc"'] * count
            if audio:
                wav = encode(synthesize_words(body["text"], 42), "wav")
                strings.append(f'"{base64.b64encode(wav).decode()}"')
            return self._send(200, f"[{', '.join(strings)}]".encode(), "application/json")
        if behaviour.startswith("audio-link:"):
            links = behaviour.partition(":")[2].split()
            document = {"status": "ok", "audio_url": links[0] if len(links) == 1 else links}
            return self._send_json(200, document)
        if behaviour == "stall":
            time.sleep(30)
            return 0
        if behaviour == "empty":
            return self._send(200, b"", "audio/wav")
        if behaviour == "garbage":
            return self._send(200, b"<html>upstream error</html>" * 20, "audio/mp3")
        if behaviour == "json-no-audio":
            return self._send_json(200, {"status": "queued", "id": "abc"})
        if behaviour == "huge":
            # No content-length: the client only finds out by counting what arrives.
            self.send_response(200)
            self.send_header("content-type", "audio/wav")
            self.send_header("connection", "close")
            self.end_headers()
            self.close_connection = True
            block = b"\0" * (1024 * 1024)
            try:
                self.wfile.write(b"RIFF")
                for _ in range(256):
                    self.wfile.write(block)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return 200
        samples = synthesize_words(body["text"], int(body.get("seed", 42)))
        audio_format = "mp3" if self.state.audio_format == "mp3" else "wav"
        audio = encode(samples, audio_format)
        if behaviour == "reset":
            self.send_response(200)
            self.send_header("content-type", "audio/wav")
            self.send_header("content-length", str(len(audio)))
            self.end_headers()
            self.wfile.write(audio[: len(audio) // 3])
            self.wfile.flush()
            self.connection.shutdown(2)  # cut it mid-body
            self.close_connection = True
            return 200
        if behaviour == "truncate":
            self.send_response(200)
            self.send_header("content-type", "audio/wav")
            self.send_header("content-length", str(len(audio)))
            self.end_headers()
            self.wfile.write(audio[: len(audio) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)  # a clean close, short of the declared length
            self.close_connection = True
            return 200
        if behaviour.startswith(("paced:", "paced-chunked:")):
            kind, gap, pieces, *tail = behaviour.split(":")
            return self._send_paced(
                audio, float(gap), int(pieces), chunked=kind == "paced-chunked",
                tail=int(tail[0]) if tail else 0,
            )
        if behaviour == "trickle":
            self.send_response(200)
            self.send_header("content-type", "audio/wav")
            self.send_header("content-length", str(len(audio)))
            self.end_headers()
            try:
                for start in range(0, len(audio), 64):  # bytes keep coming, far too slowly
                    self.wfile.write(audio[start : start + 64])
                    self.wfile.flush()
                    time.sleep(0.05)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client's deadline passed and it hung up, as it should
            return 200
        with self.state.lock:
            self.state.credits = round(self.state.credits - contract.price, 3)
            credits = {"x-remaining-credits": format_credits(self.state.credits)}
        if behaviour.startswith("with-header:"):
            name, value = behaviour.partition(":")[2].split("=", 1)
            credits.pop(name.lower(), None)  # the header given replaces the usual one
            credits[name] = value
        if behaviour == "echo-request":
            name = hashlib.sha256(audio).hexdigest()[:16]
            self.state.files[name] = audio
            host, port = self.server.server_address[:2]
            # The request's own fields first, as an API that echoes its input would.
            document = {**body, "audio_url": f"http://{host}:{port}/files/{name}"}
            return self._send_json(200, document, credits)
        if self.state.audio_format.startswith("json"):
            encoded = base64.b64encode(audio).decode()
            if self.state.audio_format == "json-url":
                name = hashlib.sha256(audio).hexdigest()[:16]
                self.state.files[name] = audio
                host, port = self.server.server_address[:2]
                document = {"audio_url": f"http://{host}:{port}/files/{name}"}
            elif self.state.audio_format == "json-data-uri":
                document = {"output": {"audio": f"data:audio/wav;base64,{encoded}"}}
            else:
                document = {"status": "ok", "audio_base64": encoded}
            return self._send_json(200, document, credits)
        return self._send(200, audio, f"audio/{audio_format}", credits)

    def _send_paced(
        self, audio: bytes, gap: float, pieces: int, *, chunked: bool, tail: int = 0
    ) -> int:
        """The whole body, in `pieces` parts `gap` seconds apart; with `tail`, the last part is
        that many bytes. A chunked body's end marker goes with its last part, as servers do."""
        self.send_response(200)
        self.send_header("content-type", "audio/wav")
        if chunked:
            self.send_header("transfer-encoding", "chunked")
        else:
            self.send_header("content-length", str(len(audio)))
        self.end_headers()
        head = audio[: len(audio) - tail] if tail else audio
        size = -(-len(head) // (pieces - 1 if tail else pieces))
        parts = [head[start : start + size] for start in range(0, len(head), size)]
        if tail:
            parts.append(audio[-tail:])
        try:
            for index, part in enumerate(parts):
                if index:
                    time.sleep(gap)
                if chunked:
                    end = b"0\r\n\r\n" if index == len(parts) - 1 else b""
                    part = b"%x\r\n%s\r\n%s" % (len(part), part, end)
                self.wfile.write(part)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        return 200

    def _send_json(self, status: int, document: Any, headers: dict[str, str] | None = None) -> int:
        return self._send(status, json.dumps(document).encode(), "application/json", headers)

    def _send(
        self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> int:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a size limit); that is its right
        return status


# How "echo-key-as:<encoding>:<status>" echoes the key; the client must show none of them.
KEY_ECHOES = (
    "plain", "json-escapes", "double-escaped", "url", "url-twice", "html", "hex", "hex-upper",
    "base64", "base64url", "base64-in-blob-0", "base64-in-blob-1", "base64-in-blob-2",
    "base64-after-word", "base64-wrapped", "base64-of-url", "masked-prefix", "masked-suffix",
    "split-newline", "split-space", "split-3", "zero-width", "fullwidth", "plain-text",
)


def echo_key(key: str, encoding: str) -> str:
    """`key` as a careless backend might echo it (see KEY_ECHOES)."""
    url = "".join(f"%{ord(ch):02X}" for ch in key)
    blob = base64.b64encode(b'{"headers": {"x-api-key": "' + key.encode() + b'"}}').decode()
    echoes = {
        "plain": key,
        "json-escapes": key,  # written as \\uXXXX escapes in the body by the handler
        "double-escaped": "".join(f"\\u{ord(ch):04x}" for ch in key),  # the text itself has \\u
        "url": url,
        "url-twice": url.replace("%", "%25"),
        "html": "".join(f"&#{ord(ch)};" for ch in key),
        "hex": key.encode().hex(),
        "hex-upper": key.encode().hex().upper(),
        "base64": base64.b64encode(key.encode()).decode(),
        "base64url": base64.urlsafe_b64encode(b"\xfb\xff" + key.encode()).decode(),
        # Inside a bigger blob, at each of the three alignments a key can start at.
        **{
            f"base64-in-blob-{shift}": base64.b64encode(
                b"x" * shift + b'{"headers": {"x-api-key": "' + key.encode() + b'"}}'
            ).decode()
            for shift in range(3)
        },
        "base64-after-word": "token" + blob,  # the blob does not start where the word does
        "base64-wrapped": "\n".join(textwrap.wrap(blob, 16)),
        "base64-of-url": base64.b64encode(f"key={url}".encode()).decode(),
        "masked-prefix": key[:6] + "…" + "*" * 12,
        "masked-suffix": "*" * 12 + key[-6:],
        "split-newline": key[: len(key) // 2] + "\n" + key[len(key) // 2 :],
        "split-space": key[: len(key) // 3] + " " + key[len(key) // 3 :],
        "split-3": " ".join(key[i : i + 3] for i in range(0, len(key), 3)),
        "zero-width": "\u200b".join(key),
        "fullwidth": "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in key),
        "plain-text": key,  # in a text/plain body, not JSON
    }
    return echoes[encoding]


def validate(body: Any, contract: EndpointContract = CHATTERBOX) -> str | None:
    """`contract`, checked as Segmind would: the reason for a 400, or None. Without a contract,
    the original model's."""
    if not isinstance(body, dict):
        return "Request body must be a JSON object"
    unknown = set(body) - contract.known_fields
    if unknown:
        return f"Unknown fields: {sorted(unknown)}"
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        return "text is required"
    for name in sorted(contract.required_fields - {"text"}):
        if body.get(name) is None:
            return f"{name} is required"
    for name, (low, high) in contract.ranges.items():
        value = body.get(name)
        if value is None:
            continue
        if name in contract.integer_fields:
            if isinstance(value, bool) or not isinstance(value, int):
                return f"{name} must be an integer"
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{name} must be a number"
        if not low <= value <= high:  # NaN and ±inf fail too; a huge int is compared exactly
            return f"{name} must be between {low} and {high}"
    for name in sorted(contract.boolean_fields):
        value = body.get(name)
        if value is not None and not isinstance(value, bool):
            return f"{name} must be a boolean"
    reference = body.get("reference_audio")
    if reference is not None:
        if not isinstance(reference, str):
            return "reference_audio must be a string"
        if not reference.startswith(("http://", "https://")):
            try:
                data = base64.b64decode(reference.partition(",")[2] or reference, validate=True)
                sf.info(io.BytesIO(data))
            except Exception:  # noqa: BLE001 - any failure means "not audio" to the backend
                return "reference_audio must be a URL or base64 audio"
    return None


class ContractServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int = 0, state: ContractState | None = None) -> None:
        super().__init__(("127.0.0.1", port), ContractHandler)
        self.state = state or ContractState()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> ContractServer:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--scale", type=float, default=0.05, help="latency model scale")
    parser.add_argument("--key", default="test-key")
    parser.add_argument("--format", default="wav")
    args = parser.parse_args()
    state = ContractState(
        valid_keys={args.key}, latency_scale=args.scale, audio_format=args.format
    )
    server = ContractServer(args.port, state)
    models = ", ".join(contract.endpoint for contract in CONTRACTS.values())
    print(f"contract server at {server.url} (key {args.key!r}; models {models})", flush=True)
    print(f"SEGMIND_API_BASE={server.url}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
