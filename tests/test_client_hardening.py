"""SegmindClient against hostile or broken answers, on loopback: billing-honest retries, keys that
never leak, bounded parsing, audio links that cannot reach this machine, no shared cookies.

Every backend here is a real HTTP server: the contract server, or a small purpose-built one.
"""

from __future__ import annotations

import base64
import shutil
import socket
import ssl
import subprocess
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import urllib3
from packaging.specifiers import SpecifierSet

from components import errors
from components.audio import decode_audio
from components.fetch_audio import AudioUrlPolicy
from components.models import CHATTERBOX
from components.segmind_client import SegmindClient
from tests.conftest import TEST_KEY
from tests.contract_server import KEY_ECHOES, echo_key
from tests.test_client import LOOPBACK_AUDIO_URLS, SleepRecorder
from tests.test_audio import encoded, tone

BODY = {"text": "Hello world, this is Chatterbox.", **CHATTERBOX.defaults()}
ENDPOINT = "chatterbox-tts"
# Shaped like a Segmind key, with no 4 characters in common with any message the client writes.
OWNER_KEY = "SG_4f9c2e7a1b8d3f60"
READ_TIMEOUT = 1.0
BACKOFF = 0.2


class Billing:
    """An on_billed callback that counts, and notes when each call came."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def __call__(self) -> None:
        self.times.append(time.monotonic())

    @property
    def count(self) -> int:
        return len(self.times)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def make_client(sleeps) -> Iterator[Callable[..., SegmindClient]]:
    made: list[SegmindClient] = []

    def make(api_url: str, **overrides) -> SegmindClient:
        options = dict(
            connect_timeout=2,
            read_timeout=READ_TIMEOUT,
            max_retries=3,
            backoff_seconds=BACKOFF,
            max_backoff_seconds=5,
            max_response_bytes=5_000_000,
            sleep=sleeps,
        )
        client = SegmindClient(api_url, **{**options, **overrides})
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client, contract_server) -> SegmindClient:
    contract_server.state.valid_keys.add(OWNER_KEY)
    return make_client(contract_server.url)


# --- 1. Billing-honest counting and retries -------------------------------------------------


def test_a_2xx_answer_is_counted_once_and_retried_statuses_are_not(client, contract_server):
    contract_server.state.script.extend(["status:429", "status:502", "status:504"])
    billing = Billing()
    result = client.synthesize(ENDPOINT, BODY, TEST_KEY, on_billed=billing)
    assert result.attempts == 4 and billing.count == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 406, 429, 500, 502, 504])
def test_an_error_status_is_not_counted(client, contract_server, status):
    contract_server.state.script.extend([f"status:{status}"] * 4)
    billing = Billing()
    with pytest.raises(errors.BackendStatusError):
        client.synthesize(ENDPOINT, BODY, TEST_KEY, on_billed=billing)
    assert billing.count == 0


def test_a_refused_connection_is_retried_and_not_counted(make_client, sleeps):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    billing = Billing()
    client = make_client(f"http://127.0.0.1:{closed_port}/v1")
    with pytest.raises(errors.BackendConnectionError, match="Could not reach Segmind"):
        client.synthesize(ENDPOINT, BODY, TEST_KEY, on_billed=billing)
    assert billing.count == 0 and len(sleeps.waits) == 3


def test_a_connect_timeout_is_retried_and_not_counted(make_client, sleeps):
    # A listener whose accept queue is full drops new SYNs: connecting times out, nothing is sent.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.2)
    billing = Billing()
    try:
        client = make_client(f"http://127.0.0.1:{port}/v1", connect_timeout=0.3)
        with pytest.raises(errors.BackendConnectionError, match="Could not connect .* within 0.3 s"):
            client.synthesize(ENDPOINT, BODY, TEST_KEY, on_billed=billing)
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
    assert billing.count == 0 and len(sleeps.waits) == 3


def test_a_key_that_cannot_be_sent_is_neither_sent_nor_retried(client, contract_server, sleeps):
    billing = Billing()
    with pytest.raises(errors.BackendConnectionError, match="could not be built") as raised:
        client.synthesize(ENDPOINT, BODY, "SG_4f9c\nInjected: header", on_billed=billing)
    assert "Injected" not in str(raised.value)
    assert contract_server.state.requests == [] and sleeps.waits == [] and billing.count == 0


def test_a_failed_tls_handshake_is_retried_and_not_counted(make_client, file_host, certificate, sleeps):
    """A certificate this machine does not trust: the handshake fails before anything is sent."""
    cert, key = certificate
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    host = file_host({}, tls)
    billing = Billing()
    client = make_client(f"https://127.0.0.1:{host.port}/v1")
    with pytest.raises(errors.BackendConnectionError, match="secure connection"):
        client.synthesize(ENDPOINT, BODY, TEST_KEY, on_billed=billing)
    assert billing.count == 0 and len(sleeps.waits) == 3 and host.requests == []


@pytest.mark.parametrize(
    ("behaviour", "error", "what"),
    [
        ("stall", errors.BackendTimeout, "did not answer within 1 s"),
        ("close-after-request", errors.BackendConnectionError, "broke after the request was sent"),
        ("reset", errors.IncompleteAnswerError, "broke off after"),
        ("truncate", errors.IncompleteAnswerError, "broke off after"),
        ("trickle", errors.BackendTimeout, "did not finish sending its answer within 1 s"),
    ],
)
def test_a_call_that_may_have_been_billed_is_counted_once_and_never_retried(
    client, contract_server, sleeps, behaviour, error, what
):
    contract_server.state.script.extend([behaviour] * 4)
    billing = Billing()
    with pytest.raises(error) as raised:
        client.synthesize(ENDPOINT, BODY, TEST_KEY, on_billed=billing)
    message = str(raised.value)
    assert what in message and "may have been charged" in message and "cloud.segmind.com" in message
    assert billing.count == 1
    assert len(contract_server.state.requests) == 1 and sleeps.waits == []


def test_truncated_and_reset_answers_say_how_much_arrived(client, contract_server):
    contract_server.state.script.append("truncate")
    with pytest.raises(errors.IncompleteAnswerError) as raised:
        client.synthesize(ENDPOINT, BODY, TEST_KEY)
    assert raised.value.expected and 0 < raised.value.received == raised.value.expected // 2


def test_billing_is_noted_when_the_status_arrives_before_the_body(make_client, contract_server):
    client = make_client(contract_server.url, read_timeout=5)
    contract_server.state.script.append("paced:0.3:4")  # the body takes about 0.9 s
    billing = Billing()
    client.synthesize(ENDPOINT, BODY, TEST_KEY, on_billed=billing)
    (request,) = contract_server.state.requests
    assert billing.count == 1 and billing.times[0] < request.finished - 0.5


def test_an_unbillable_429_then_a_billed_broken_answer_count_once(client, contract_server):
    contract_server.state.script.extend(["status:429", "reset", "normal"])
    billing = Billing()
    with pytest.raises(errors.IncompleteAnswerError):
        client.synthesize(ENDPOINT, BODY, TEST_KEY, on_billed=billing)
    assert billing.count == 1 and len(contract_server.state.requests) == 2


# --- 6. A complete answer is never thrown away for its timing ----------------------------------


@pytest.mark.parametrize("framing", ["paced", "paced-chunked"])
@pytest.mark.parametrize(
    "pacing",
    [
        "0.3:5",  # the last of 5 pieces lands at ~1.2 s, just after the 1 s deadline
        "0.7:4:500",  # the last 500 bytes land at ~2.1 s, after the 1 s grace for late bytes too
    ],
)
def test_a_complete_answer_whose_last_bytes_land_after_the_deadline_is_kept(
    client, contract_server, framing, pacing
):
    expected = client.synthesize(ENDPOINT, BODY, TEST_KEY).audio
    # Each gap is within the 1 s read timeout, so only the total time is past the deadline.
    contract_server.state.script.append(f"{framing}:{pacing}")
    started = time.monotonic()
    result = client.synthesize(ENDPOINT, BODY, TEST_KEY)
    gap, pieces, *_ = pacing.split(":")
    assert time.monotonic() - started > float(gap) * (int(pieces) - 1)  # it did end that late
    assert result.audio == expected and result.attempts == 1


@pytest.mark.parametrize("framing", ["paced", "paced-chunked"])
def test_an_answer_still_incomplete_after_the_grace_times_out(client, contract_server, framing):
    """The control for the test above: a body still arriving is abandoned at the deadline plus
    the grace for late bytes (1 s each here), well before it would have ended."""
    contract_server.state.script.append(f"{framing}:0.3:12")  # would end at ~3.3 s
    started = time.monotonic()
    with pytest.raises(errors.BackendTimeout):
        client.synthesize(ENDPOINT, BODY, TEST_KEY)
    assert time.monotonic() - started < 3.0


# --- 5. Malformed Retry-After -----------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "soon", "NaN", "nan", "inf", "-inf", "Infinity", "-5", "-0.5", "1e999", "9" * 400, "0x10",
        "1_0", "5 seconds", "Fri, 31 Dec 99999 23:59:59 GMT", "Mon, 32 Foo 2024 99:99:99 GMT",
        "Thu, 01 Jan 1970 00:00:00 GMT",
    ],
)
def test_a_malformed_retry_after_falls_back_to_the_backoff(client, contract_server, sleeps, value):
    contract_server.state.script.append(f"status:429:retry-after={value}")
    result = client.synthesize(ENDPOINT, BODY, TEST_KEY)
    assert result.attempts == 2
    (wait,) = sleeps.waits
    assert BACKOFF / 2 <= wait <= BACKOFF


# --- 2. Keys never leak from backend text or headers ------------------------------------------


def squeezed(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if ch.isalnum())


def leaks(message: str, key: str, echo: str = "") -> list[str]:
    """Every trace of `key` in `message`: 4 consecutive letters or digits of it (ignoring case,
    punctuation, spaces and fullwidth forms), 8 characters of its base64 (at any alignment), hex
    or URL forms, or 8 characters of `echo`, an encoding of it the oracle cannot decode."""
    core, shown, compact = squeezed(key), squeezed(message), "".join(message.split())
    found = [core[i : i + 4] for i in range(len(core) - 3) if core[i : i + 4] in shown]
    forms = [key.encode().hex(), key.encode().hex().upper(), "".join(f"%{ord(c):02X}" for c in key)]
    for shift in range(3):
        forms.append(base64.b64encode(b"x" * shift + key.encode()).decode()[4:-4])  # key-only part
    forms.append("".join(echo.split()))
    for form in forms:
        found += [form[i : i + 8] for i in range(len(form) - 7) if form[i : i + 8] in compact]
    return found


# Echoes the oracle cannot decode: for these, the echo itself must not be shown.
OPAQUE_ECHOES = {"double-escaped", "url-twice", "html", "base64-of-url"}


def test_the_leak_oracle_can_fail():
    """The oracle above must find what it looks for, or the leak tests would prove nothing."""
    for encoding in KEY_ECHOES:
        echo = echo_key(OWNER_KEY, encoding)
        opaque = echo if encoding in OPAQUE_ECHOES else ""
        assert leaks(f"Segmind said: {echo}.", OWNER_KEY, opaque), encoding
    message = 'Segmind refused this key (HTTP 403). Segmind said: "Access denied for [redacted key]"'
    assert leaks(message, OWNER_KEY, echo_key(OWNER_KEY, "html")) == []


@pytest.mark.parametrize("status", [403, 200])
@pytest.mark.parametrize("encoding", KEY_ECHOES)
def test_a_key_echoed_in_any_encoding_never_reaches_the_message(
    client, contract_server, encoding, status
):
    contract_server.state.script.append(f"echo-key-as:{encoding}:{status}")
    expected = errors.PermissionDeniedError if status == 403 else errors.NoAudioError
    with pytest.raises(expected) as raised:
        client.synthesize(ENDPOINT, BODY, OWNER_KEY)
    message = str(raised.value)
    opaque = echo_key(OWNER_KEY, encoding) if encoding in OPAQUE_ECHOES else ""
    assert leaks(message, OWNER_KEY, opaque) == [], message
    assert "key=" not in message  # nor the content type, which carried the key too
    if not (status == 200 and encoding == "plain-text"):  # that one is only "not audio"
        assert "Access denied" in message, message  # the detail is kept, only the key is gone


@pytest.mark.parametrize(
    ("header", "shown"),
    [
        ("12.50", "12.50"), ("7", "7"), (OWNER_KEY, None), ("1e3", None), ("-1", None),
        ("12.5 credits", None), ("nan", None), ("<b>9</b>", None), ("9" * 40, None),
    ],
)
def test_remaining_credits_are_shown_only_when_a_plain_number(client, contract_server, header, shown):
    contract_server.state.script.append(f"with-header:x-remaining-credits={header}")
    assert client.synthesize(ENDPOINT, BODY, TEST_KEY).remaining_credits == shown


def test_a_non_audio_answer_does_not_echo_its_content_type(client, contract_server):
    contract_server.state.script.append("garbage")  # served as audio/mp3
    with pytest.raises(errors.NoAudioError, match="not audio") as raised:
        client.synthesize(ENDPOINT, BODY, TEST_KEY)
    assert "mp3" not in str(raised.value)


# --- 3. Bounded parsing -------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_several_megabytes_of_json_strings_are_examined_in_linear_time(make_client, contract_server):
    client = make_client(contract_server.url, max_response_bytes=10_000_000, read_timeout=30)
    contract_server.state.script.append("json-array:4:audio")  # ~660,000 strings, then the audio
    started = time.monotonic()
    result = client.synthesize(ENDPOINT, BODY, TEST_KEY)
    assert time.monotonic() - started < 5
    assert decode_audio(result.audio).duration > 0.5


@pytest.mark.timeout(60)
def test_a_json_answer_with_too_many_values_is_refused_before_parsing(make_client, contract_server):
    client = make_client(contract_server.url, max_response_bytes=10_000_000, read_timeout=30)
    contract_server.state.script.append("json-array:8")  # ~1,330,000 strings
    started = time.monotonic()
    with pytest.raises(errors.NoAudioError, match="too many JSON values"):
        client.synthesize(ENDPOINT, BODY, TEST_KEY)
    assert time.monotonic() - started < 5


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("behaviour", "error"), [
    ("deep-json:100000", errors.NoAudioError),
    ("deep-json:20000:400", errors.BadRequestError),  # an error body nested as deep
])
def test_deeply_nested_json_is_a_clean_error(client, contract_server, behaviour, error):
    contract_server.state.script.append(behaviour)
    started = time.monotonic()
    with pytest.raises(error) as raised:
        client.synthesize(ENDPOINT, BODY, TEST_KEY)
    assert time.monotonic() - started < 5
    if error is errors.NoAudioError:
        assert "nested too deeply" in str(raised.value)


# --- 4. Audio links: never the visitor's, never this machine's --------------------------------


class FileHost(ThreadingHTTPServer):
    """A file host on loopback for audio links: answers from `routes`, records every request."""

    daemon_threads = True

    def __init__(self, routes: dict[str, Callable[[BaseHTTPRequestHandler], None]],
                 tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _FileHandler)
        self.routes = routes
        self.requests: list[tuple[str, dict[str, str]]] = []
        if tls:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _FileHandler(BaseHTTPRequestHandler):
    server: FileHost
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests.append((self.path, dict(self.headers.items())))
        route = self.server.routes.get(self.path)
        if route is None:
            send(self, 404, b"not here")
        else:
            route(self)


def send(handler: BaseHTTPRequestHandler, status: int, data: bytes, **headers: str) -> None:
    handler.send_response(status)
    handler.send_header("content-length", str(len(data)))
    for name, value in headers.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.end_headers()
    try:
        handler.wfile.write(data)
    except OSError:
        pass


VOICE = encoded("wav", tone(1.0))


@pytest.fixture
def file_host() -> Iterator[Callable[..., FileHost]]:
    hosts: list[FileHost] = []

    def start(routes, tls=None) -> FileHost:
        hosts.append(FileHost(routes, tls))
        return hosts[-1]

    yield start
    for host in hosts:
        host.stop()


class ConnectionTrap:
    """Listens on loopback and counts connections: for a refused link, any connection at all
    is a failure, whatever the scheme."""

    def __init__(self, family: socket.AddressFamily, host: str) -> None:
        self.connections = 0
        self._socket = socket.socket(family)
        self._socket.bind((host, 0))
        self._socket.listen(16)
        self.port = self._socket.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self._socket.close()


@pytest.fixture
def traps() -> Iterator[tuple[ConnectionTrap, ConnectionTrap | None]]:
    ipv4 = ConnectionTrap(socket.AF_INET, "127.0.0.1")
    try:
        ipv6 = ConnectionTrap(socket.AF_INET6, "::1")
    except OSError:
        ipv6 = None
    yield ipv4, ipv6
    ipv4.close()
    if ipv6:
        ipv6.close()


@pytest.mark.parametrize("reference", ["url", "base64"])
def test_an_echo_of_the_visitors_reference_audio_is_never_fetched_nor_played(
    make_client, contract_server, file_host, reference
):
    """The backend lists the request's fields before its audio link (echo-request). The visitor's
    reference must not become the answer, and its URL (here an 'internal' host) gets no request."""
    internal = file_host({"/voice.wav": lambda h: send(h, 200, VOICE, content_type="audio/wav")})
    if reference == "url":
        voice = f"http://127.0.0.1:{internal.port}/voice.wav"
    else:
        voice = base64.b64encode(VOICE).decode()
    client = make_client(contract_server.url, audio_url_policy=LOOPBACK_AUDIO_URLS)
    contract_server.state.script.append("echo-request")
    result = client.synthesize(ENDPOINT, {**BODY, "reference_audio": voice}, TEST_KEY)
    assert result.audio != VOICE and result.audio in contract_server.state.files.values()
    assert internal.requests == []
    assert len(contract_server.state.file_requests) == 1  # the real link was followed


def refused_links(trap4: ConnectionTrap, trap6: ConnectionTrap | None) -> list[str]:
    links = [
        f"http://127.0.0.1:{trap4.port}/a.wav",  # http is never followed
        f"https://127.0.0.1:{trap4.port}/a.wav",
        f"https://localhost:{trap4.port}/a.wav",
        f"https://127.1:{trap4.port}/a.wav",  # short and numeric spellings of 127.0.0.1
        f"https://2130706433:{trap4.port}/a.wav",
        f"https://0x7f000001:{trap4.port}/a.wav",
        f"https://0.0.0.0:{trap4.port}/a.wav",
        f"https://[::ffff:127.0.0.1]:{trap4.port}/a.wav",
    ]
    if trap6:
        links += [f"https://[::1]:{trap6.port}/a.wav", f"http://[::1]:{trap6.port}/a.wav"]
    return links


def test_the_default_policy_refuses_links_to_this_machine_and_connects_to_none(
    make_client, contract_server, traps
):
    trap4, trap6 = traps
    client = make_client(contract_server.url)
    for link in refused_links(trap4, trap6):
        contract_server.state.script.append(f"audio-link:{link}")
        with pytest.raises(errors.NoAudioError, match="its audio link was not followed") as raised:
            client.synthesize(ENDPOINT, BODY, TEST_KEY)
        assert "only https links" in str(raised.value) or "public address" in str(raised.value), link
    time.sleep(0.2)
    assert trap4.connections == 0 and (trap6 is None or trap6.connections == 0)


@pytest.mark.parametrize(
    "link",
    [
        "https://10.0.0.1/a.wav", "https://172.16.5.4/a.wav", "https://192.168.1.10/a.wav",
        "https://169.254.169.254/latest/meta-data/", "https://100.64.0.1/a.wav",
        "https://[fe80::1]/a.wav", "https://[fd00::1]/a.wav", "https://[::ffff:10.0.0.1]/a.wav",
        "https://[64:ff9b::a9fe:a9fe]/a.wav", "https://192.0.2.2/a.wav",
    ],
)
def test_the_default_policy_refuses_private_and_link_local_addresses(make_client, contract_server, link):
    client = make_client(contract_server.url)
    contract_server.state.script.append(f"audio-link:{link}")
    with pytest.raises(errors.NoAudioError, match="does not lead to a public address"):
        client.synthesize(ENDPOINT, BODY, TEST_KEY)


def test_a_redirecting_link_is_not_followed(make_client, contract_server, file_host, traps):
    trap4, _ = traps
    elsewhere = f"http://127.0.0.1:{trap4.port}/x.wav"
    host = file_host({"/a.wav": lambda h: send(h, 302, b"", location=elsewhere)})
    client = make_client(contract_server.url, audio_url_policy=LOOPBACK_AUDIO_URLS)
    contract_server.state.script.append(f"audio-link:http://127.0.0.1:{host.port}/a.wav")
    with pytest.raises(errors.NoAudioError, match="JSON answer without audio"):
        client.synthesize(ENDPOINT, BODY, TEST_KEY)
    assert [path for path, _ in host.requests] == ["/a.wav"]
    time.sleep(0.2)
    assert trap4.connections == 0


def test_at_most_three_links_are_tried(make_client, contract_server, file_host):
    host = file_host({})  # every path is a 404
    client = make_client(contract_server.url, audio_url_policy=LOOPBACK_AUDIO_URLS)
    links = " ".join(f"http://127.0.0.1:{host.port}/{n}.wav" for n in range(10))
    contract_server.state.script.append(f"audio-link:{links}")
    with pytest.raises(errors.NoAudioError):
        client.synthesize(ENDPOINT, BODY, TEST_KEY)
    assert [path for path, _ in host.requests] == ["/0.wav", "/1.wav", "/2.wav"]


def _trickle(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("content-length", str(len(VOICE)))
    handler.end_headers()
    try:
        for start in range(0, len(VOICE), 64):
            handler.wfile.write(VOICE[start : start + 64])
            handler.wfile.flush()
            time.sleep(0.05)
    except OSError:
        pass


def _huge(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("connection", "close")  # no length: only counting finds out
    handler.end_headers()
    handler.close_connection = True
    try:
        handler.wfile.write(b"RIFF")
        for _ in range(20):
            handler.wfile.write(b"\0" * 1_000_000)
    except OSError:
        pass


@pytest.mark.parametrize(
    ("route", "what"), [(_huge, "over the 5 MB size limit"), (_trickle, "did not arrive within 1 s")]
)
def test_a_link_download_is_capped_in_size_and_time(
    make_client, contract_server, file_host, route, what
):
    host = file_host({"/a.wav": route})
    client = make_client(contract_server.url, audio_url_policy=LOOPBACK_AUDIO_URLS)
    contract_server.state.script.append(f"audio-link:http://127.0.0.1:{host.port}/a.wav")
    started = time.monotonic()
    expected = f"downloading it failed: .*{what}.*may have been charged"
    with pytest.raises(errors.BackendConnectionError, match=expected):
        client.synthesize(ENDPOINT, BODY, TEST_KEY)
    assert time.monotonic() - started < READ_TIMEOUT + 5


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for audio.example, a name no DNS server answers for."""
    # tests/run.sh installs openssl; without it these tests fail rather than skip.
    assert shutil.which("openssl"), "openssl is missing: apt-get install openssl"
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=audio.example",
         "-addext", "subjectAltName=DNS:audio.example"],
        check=True, capture_output=True,
    )
    return cert, key


@pytest.mark.parametrize("name", ["audio.example", "other.example"])
def test_an_https_link_is_fetched_from_the_checked_address_under_its_own_name(
    make_client, contract_server, file_host, certificate, name
):
    """The policy's resolver is the only name lookup: the client connects to the address it
    returned, and still verifies the certificate against the link's host name."""
    cert, key = certificate
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    host = file_host({"/voice.wav": lambda h: send(h, 200, VOICE, content_type="audio/wav")}, tls)
    lookups: list[tuple[str, int]] = []

    def resolve(hostname: str, port: int) -> list[str]:
        lookups.append((hostname, port))
        return ["127.0.0.1"]

    policy = AudioUrlPolicy(resolve=resolve, ca_certs=str(cert))
    client = make_client(contract_server.url, audio_url_policy=policy)
    contract_server.state.script.append(f"audio-link:https://{name}:{host.port}/voice.wav")
    if name == "audio.example":
        assert client.synthesize(ENDPOINT, BODY, TEST_KEY).audio == VOICE
        ((path, headers),) = host.requests
        assert path == "/voice.wav" and headers["Host"] == f"audio.example:{host.port}"
    else:  # the certificate is for audio.example: connecting by address does not skip the check
        with pytest.raises(errors.BackendConnectionError, match="downloading it failed"):
            client.synthesize(ENDPOINT, BODY, TEST_KEY)
    assert lookups == [(name, host.port)]


# --- 8. No shared cookies; no redirects carrying the key --------------------------------------


def test_a_cookie_from_one_answer_is_never_sent_with_the_next_call(client, contract_server):
    contract_server.state.script.append("with-header:set-cookie=visitor=ada; Path=/")
    client.synthesize(ENDPOINT, BODY, TEST_KEY)
    client.synthesize(ENDPOINT, BODY, "test-key")
    first, second = contract_server.state.requests
    assert not any(name.lower() == "cookie" for name in second.headers)


def test_a_redirect_is_not_followed_so_the_key_goes_nowhere_else(client, contract_server):
    elsewhere = contract_server.url.replace("/v1", "/elsewhere")
    contract_server.state.script.append(f"status:307:location={elsewhere}")
    with pytest.raises(errors.BackendStatusError, match="HTTP 307"):
        client.synthesize(ENDPOINT, BODY, TEST_KEY)
    assert [request.path for request in contract_server.state.requests] == ["/v1/chatterbox-tts"]


# --- 7. urllib3 ---------------------------------------------------------------------------------


def test_requirements_pin_a_urllib3_that_has_read1():
    """HTTPResponse.read1, which the body reader relies on, arrived in urllib3 2.2."""
    lines = Path(__file__).parent.parent.joinpath("requirements.txt").read_text().splitlines()
    (pin,) = [line for line in lines if line.startswith("urllib3")]
    allowed = SpecifierSet(pin.removeprefix("urllib3").partition("#")[0].strip())
    assert "2.1.0" not in allowed and "2.2.0" in allowed and "3.0.0" not in allowed
    assert urllib3.__version__ in allowed and hasattr(urllib3.HTTPResponse, "read1")
