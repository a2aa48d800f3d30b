"""SegmindClient against a real HTTP server on loopback that follows the documented contract."""

from __future__ import annotations

import base64
import json
import socket
import time

import pytest

from components import errors
from components.audio import decode_audio
from components.fetch_audio import AudioUrlPolicy
from components.models import CHATTERBOX
from components.segmind_client import SegmindClient
from tests.conftest import TEST_KEY

BODY = {"text": "Hello world, this is Chatterbox.", **CHATTERBOX.defaults()}
ENDPOINT = "chatterbox-tts"

STATUS_ERRORS = {
    400: errors.BadRequestError,
    401: errors.AuthenticationError,
    403: errors.PermissionDeniedError,
    404: errors.NotFoundError,
    406: errors.InsufficientCreditsError,
    429: errors.RateLimitError,
    500: errors.ServerError,
    502: errors.BadGatewayError,
    504: errors.GatewayTimeoutError,
}


def resolve_any(host: str, port: int) -> list[str]:
    """Every address of the host, loopback included: the contract server's audio links are on
    loopback, which the client's default policy refuses."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


# Lets a client download the contract server's own audio links (http, loopback); only tests
# use it. The default policy (https to public addresses only) is tested in test_client_hardening.
LOOPBACK_AUDIO_URLS = AudioUrlPolicy(schemes=frozenset({"http", "https"}), resolve=resolve_any)


class SleepRecorder:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def client(settings, sleeps):
    client = SegmindClient(
        settings.api_base,
        connect_timeout=2,
        read_timeout=1.0,
        max_retries=3,
        backoff_seconds=0.2,
        max_backoff_seconds=5,
        max_response_bytes=5_000_000,
        sleep=sleeps,
    )
    yield client
    client.close()


def test_a_valid_request_returns_wav_audio_and_credits(client, contract_server):
    result = client.synthesize(ENDPOINT, BODY, TEST_KEY)
    assert result.audio_format == "wav" and result.attempts == 1
    assert decode_audio(result.audio).duration > 0.5
    assert result.remaining_credits == "99.98"
    (request,) = contract_server.state.requests
    assert request.headers["x-api-key"] == TEST_KEY
    assert request.body == BODY


def test_mp3_bodies_are_detected_whatever_the_content_type(client, contract_server):
    contract_server.state.audio_format = "mp3"
    result = client.synthesize(ENDPOINT, BODY, TEST_KEY)
    assert result.audio_format == "mp3"
    assert decode_audio(result.audio).duration > 0.5


@pytest.mark.parametrize("shape", ["json-base64", "json-data-uri", "json-url"])
def test_json_bodies_carrying_audio_are_accepted(settings, contract_server, shape):
    contract_server.state.audio_format = shape
    client = SegmindClient(settings.api_base, audio_url_policy=LOOPBACK_AUDIO_URLS)
    try:
        result = client.synthesize(ENDPOINT, BODY, TEST_KEY)
    finally:
        client.close()
    assert result.audio_format == "wav"
    assert decode_audio(result.audio).duration > 0.5


@pytest.mark.parametrize("key", ["", "wrong-key"])
def test_a_missing_or_wrong_key_is_an_authentication_error(client, contract_server, key):
    with pytest.raises(errors.AuthenticationError) as refused:
        client.synthesize(ENDPOINT, BODY, key)
    assert "Check the Segmind API key" in str(refused.value)
    assert len(contract_server.state.requests) == 1  # never retried


@pytest.mark.parametrize("status", sorted(STATUS_ERRORS))
def test_every_documented_status_maps_to_its_error(client, contract_server, sleeps, status):
    contract_server.state.script.extend([f"status:{status}"] * 4)
    with pytest.raises(STATUS_ERRORS[status]) as raised:
        client.synthesize(ENDPOINT, BODY, TEST_KEY)
    error = raised.value
    assert error.status_code == status
    assert f"HTTP {status}" in str(error) and f"scripted {status}" in str(error)
    assert str(error).rstrip().endswith(".")  # ends with what to do
    retried = status in (429, 502, 504)
    assert len(contract_server.state.requests) == (4 if retried else 1)
    assert len(sleeps.waits) == (3 if retried else 0)


@pytest.mark.parametrize("status", [429, 502, 504])
def test_transient_statuses_are_retried_until_success(client, contract_server, status):
    contract_server.state.script.extend([f"status:{status}", f"status:{status}"])
    result = client.synthesize(ENDPOINT, BODY, TEST_KEY)
    assert result.attempts == 3


def test_backoff_grows_exponentially_with_jitter(client, contract_server, sleeps):
    contract_server.state.script.extend(["status:502"] * 3)
    client.synthesize(ENDPOINT, BODY, TEST_KEY)
    for attempt, wait in enumerate(sleeps.waits):
        ceiling = 0.2 * 2**attempt
        assert ceiling / 2 <= wait <= ceiling


def test_retry_after_seconds_is_honoured(client, contract_server, sleeps):
    contract_server.state.script.append("status:429:retry-after=1.5")
    client.synthesize(ENDPOINT, BODY, TEST_KEY)
    assert sleeps.waits == [1.5]


def test_retry_after_http_date_is_honoured(client, contract_server, sleeps):
    from email.utils import formatdate

    contract_server.state.script.append(f"status:429:retry-after={formatdate(time.time() + 3, usegmt=True)}")
    client.synthesize(ENDPOINT, BODY, TEST_KEY)
    assert 1.5 < sleeps.waits[0] <= 3.0


def test_retry_after_is_capped(client, contract_server, sleeps):
    contract_server.state.script.append("status:429:retry-after=3600")
    client.synthesize(ENDPOINT, BODY, TEST_KEY)
    assert sleeps.waits == [5]


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        ("garbage", "not audio"),
        ("empty", "not audio"),
        ("json-no-audio", "JSON answer without audio"),
    ],
)
def test_answers_without_audio_are_a_clear_error(client, contract_server, behaviour, expected):
    contract_server.state.script.append(behaviour)
    with pytest.raises(errors.NoAudioError, match="returned no audio") as raised:
        client.synthesize(ENDPOINT, BODY, TEST_KEY)
    assert expected in str(raised.value)


def test_a_huge_answer_is_refused_at_the_cap(client, contract_server):
    contract_server.state.script.append("huge")
    started = time.monotonic()
    with pytest.raises(errors.NoAudioError, match="5 MB size limit"):
        client.synthesize(ENDPOINT, BODY, TEST_KEY)
    assert time.monotonic() - started < 10  # refused at the cap, not after all 256 MB


@pytest.mark.parametrize("behaviour", ["stall", "trickle"])
def test_a_stalled_or_trickling_answer_times_out_within_the_read_timeout(client, contract_server, behaviour):
    contract_server.state.script.append(behaviour)
    started = time.monotonic()
    with pytest.raises(errors.BackendTimeout, match="within 1 s.*may have been charged"):
        client.synthesize(ENDPOINT, BODY, TEST_KEY)
    # The fault would hold the call for 30 s (stall) or about 50 s (trickle); the client gives
    # up after its 1 s read timeout (a trickle gets 1 s more for late bytes, see fetch_audio).
    # The margin only absorbs a busy machine.
    assert time.monotonic() - started < 1.0 + 5
    assert len(contract_server.state.requests) == 1  # may have been billed: not retried


def test_a_connection_reset_mid_body_is_not_retried(client, contract_server, sleeps):
    """The 200 had arrived: Segmind billed the call, so a retry would pay for it twice."""
    contract_server.state.script.append("reset")
    with pytest.raises(errors.IncompleteAnswerError, match="broke off.*may have been charged"):
        client.synthesize(ENDPOINT, BODY, TEST_KEY)
    assert len(contract_server.state.requests) == 1 and sleeps.waits == []


def test_connection_refused_is_retried_then_reported(settings, sleeps):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    client = SegmindClient(f"http://127.0.0.1:{closed_port}/v1", max_retries=2, sleep=sleeps)
    with pytest.raises(errors.BackendConnectionError, match="Could not reach Segmind"):
        client.synthesize(ENDPOINT, BODY, TEST_KEY)
    assert len(sleeps.waits) == 2


def test_a_key_echoed_in_an_error_body_is_redacted(client, contract_server):
    contract_server.state.script.append("echo-key:403")
    with pytest.raises(errors.PermissionDeniedError) as raised:
        client.synthesize(ENDPOINT, BODY, TEST_KEY)
    assert TEST_KEY not in str(raised.value) and "[redacted key]" in str(raised.value)


def test_the_contract_server_itself_rejects_out_of_range_fields(client, contract_server):
    """The loopback server enforces the documented ranges, so it would catch a bad table."""
    with pytest.raises(errors.BadRequestError, match="temperature must be between 0 and 2"):
        client.synthesize(ENDPOINT, {**BODY, "temperature": 2.5}, TEST_KEY)


def test_base64_reference_audio_is_accepted_by_the_contract(client, contract_server):
    from tests.test_audio import encoded, tone

    reference = base64.b64encode(encoded("wav", tone(1.0))).decode()
    client.synthesize(ENDPOINT, {**BODY, "reference_audio": reference}, TEST_KEY)
    assert json.loads(json.dumps(contract_server.state.requests[0].body))["reference_audio"] == reference
