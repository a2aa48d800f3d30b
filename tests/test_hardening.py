"""A public Space's worst day: fuzzed API calls, backend faults, mixed keys, limits, logs."""

from __future__ import annotations

import json
import logging
import threading
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
import requests
from gradio_client.exceptions import AppError
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from components.errors import InvalidInput
from components.models import CHATTERBOX, MODELS, Model
from components.parameters import Parameter
from tests.conftest import TEST_KEY
from tests.contract_server import CONTRACTS, validate

SAMPLE = "Welcome to Chatterbox TTS, where your text turns into captivating audio effortlessly."


def argument_names(model: Model) -> list[str]:
    return ["text", "reference_audio", "reference_audio_url", *(p.name for p in model.parameters),
            "random_seed", "api_key"]


def call_raw(url: str, data: list, api_name: str = "synthesize") -> tuple[str, str]:
    """POST /gradio_api/call/<api_name> as any HTTP client could; ('complete'|'error', payload)."""
    base = url.rstrip("/") + f"/gradio_api/call/{api_name}"
    posted = requests.post(base, data=json.dumps({"data": data}, allow_nan=True),
                           headers={"content-type": "application/json"}, timeout=30)
    if posted.status_code != 200:
        return "rejected", posted.text
    event_id = posted.json()["event_id"]
    event = ""
    with requests.get(f"{base}/{event_id}", stream=True, timeout=30) as stream:
        for line in stream.iter_lines(decode_unicode=True):
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                return event, line.split(":", 1)[1].strip()
    return event or "nothing", ""


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([10**400, -(10**400), 2**64, 2**53 + 1]),  # JSON has no integer limit
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=50),
    # Text a person cannot see: format characters, marks, bidi controls, odd spaces.
    st.text(st.sampled_from("\u200b\ufeff\u00ad\u202e\u2066\u0301\u00a0\u3000\u3164\u2800 \t\n"), max_size=8),
)
# Every JSON type, nested, for every argument.
anything = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


def valid_value(parameter: Parameter) -> st.SearchStrategy:
    """Any value the model's table allows, drawn from the table itself."""
    if parameter.boolean:
        return st.booleans()
    if parameter.integer:
        return st.integers(int(parameter.minimum), int(parameter.maximum))
    return st.floats(min_value=parameter.minimum, max_value=parameter.maximum)

file_data = st.one_of(
    st.fixed_dictionaries({"path": st.sampled_from(["/etc/passwd", "../../app.py", "x.wav"]),
                           "meta": st.just({"_type": "gradio.FileData"})}),
    anything,
)


corrupt_values = {
    "text": st.one_of(anything, st.just("x" * 6000), st.just(" \n\t\x00 ")),
    "reference_audio": file_data,
    "reference_audio_url": st.one_of(
        st.text(max_size=60), anything,
        st.sampled_from(["http://127.0.0.1/x.wav", "ftp://a/b", "https://u:p@h/x", "javascript:alert(1)"]),
    ),
    "random_seed": anything,
    "api_key": anything,
}


@st.composite
def synthesize_arguments(draw) -> tuple[Model, list]:
    """A model, and valid arguments for it with zero to three fields corrupted, so both paths
    are exercised."""
    model = draw(st.sampled_from(MODELS))
    arguments = {
        "text": draw(st.text(min_size=1, max_size=300)),
        "reference_audio": None,
        "reference_audio_url": draw(st.sampled_from(["", "https://example.com/voice.mp3"])),
        "random_seed": draw(st.booleans()),
        "api_key": draw(st.sampled_from(["", TEST_KEY])),
        **{p.name: draw(valid_value(p)) for p in model.parameters},
    }
    names = argument_names(model)
    for name in draw(st.sets(st.sampled_from(names), max_size=3)):
        arguments[name] = draw(corrupt_values.get(name, anything))
    return model, [arguments[name] for name in names]


@pytest.fixture
def fuzz_app(launch_app, settings):
    return launch_app(replace(settings, read_timeout=3, visitor_calls_per_hour=0, daily_call_budget=0))


@hypothesis_settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(model_and_arguments=synthesize_arguments())
def test_fuzzed_api_calls_never_send_anything_invalid_and_never_break_the_app(
    fuzz_app, contract_server, model_and_arguments
):
    model, arguments = model_and_arguments
    before = len(contract_server.state.synthesis_requests())
    event, payload = call_raw(fuzz_app.url, arguments, model.api_name)
    assert event in ("complete", "error", "rejected"), (event, payload)
    sent = contract_server.state.synthesis_requests()[before:]
    for request in sent:
        assert request.path == f"/v1/{model.endpoint}"
        # Nothing invalid reached the backend, by the model's own contract.
        assert validate(request.body, CONTRACTS[request.path]) is None, request.body
    if sent:  # a call is made only for text: a string with something visible in it
        text = arguments[0]
        assert isinstance(text, str), arguments
        assert any(unicodedata.category(ch)[0] in "LNPS" and ch not in "\u3164\u2800" for ch in text), arguments
    if event == "error":  # and a refusal says why, never a bare null
        document = json.loads(payload) if payload else None
        message = document.get("error") if isinstance(document, dict) else document
        assert isinstance(message, str) and message.strip(), payload
    assert TEST_KEY not in payload
    assert requests.get(fuzz_app.url, timeout=10).status_code == 200


FAULTS = [
    *(f"status:{code}" for code in (400, 401, 403, 404, 406, 429, 500, 502, 504)),
    "stall", "reset", "empty", "garbage", "json-no-audio", "huge", "trickle",
]


def test_every_backend_fault_ends_in_a_clear_error_in_time_and_loses_nothing(launch_app, settings, contract_server):
    app = launch_app(replace(settings, read_timeout=1.0, max_retries=1, max_response_mb=5))
    paid_path, details, *_ = app.synthesize(SAMPLE)  # a take paid for before the trouble
    limit = app.settings.connect_timeout + 2 * app.settings.read_timeout + 3
    for number, fault in enumerate(FAULTS):
        contract_server.state.script.extend([fault] * 2)  # enough to outlast the retry
        started = time.monotonic()
        with pytest.raises(AppError) as raised:
            app.synthesize(f"Fault number {number} for the matrix.")
        elapsed = time.monotonic() - started
        message = str(raised.value)
        assert elapsed < limit, (fault, elapsed)
        assert "Segmind" in message and message.rstrip().endswith((".", ")")), (fault, message)
        assert TEST_KEY not in message
        contract_server.state.script.clear()
        # The app keeps serving, and the take already paid for replays for nothing.
        replay = app.synthesize(SAMPLE)
        assert "from cache, 0 credits" in replay[1], fault
    deadline = time.monotonic() + 10
    while any(t.name.startswith("chunk") for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("chunk")]  # no leaked workers


def test_two_visitors_keys_never_cross(launch_app, settings, contract_server):
    contract_server.state.valid_keys = {"key-of-ada", "key-of-bob"}
    contract_server.state.latency_scale = 0.01
    app = launch_app(replace(settings, api_key=""))
    from gradio_client import Client

    visitors = {"key-of-ada": Client(app.url, verbose=False, analytics_enabled=False), "key-of-bob": Client(app.url, verbose=False, analytics_enabled=False)}

    def visit(index: int) -> None:
        key = "key-of-ada" if index % 2 else "key-of-bob"
        visitors[key].predict(f"Visitor {key} says line {index}.", None, "", *CHATTERBOX.defaults().values(),
                              False, key, api_name="/synthesize")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(visit, range(16)))
    requests_seen = contract_server.state.synthesis_requests()
    assert len(requests_seen) == 16
    for request in requests_seen:
        assert request.headers["x-api-key"] in request.body["text"]  # each line went with its own key
    for client in visitors.values():
        client.close()


def test_the_visitor_rate_limit_protects_the_owner_and_says_when_it_resets(launch_app, settings, contract_server):
    app = launch_app(replace(settings, visitor_calls_per_hour=2))
    app.synthesize("First line.")
    app.synthesize("Second line.")
    with pytest.raises(AppError, match=r"2 of your 2 calls this hour.*frees up in about \d+ min"):
        app.synthesize("Third line.")
    assert len(contract_server.state.synthesis_requests()) == 2
    assert "from cache" in app.synthesize("First line.")[1]  # a replay costs no call, so it is allowed
    contract_server.state.valid_keys.add("own-key")
    app.synthesize("Third line.", api_key="own-key")  # a visitor's own key is not limited
    assert len(contract_server.state.synthesis_requests()) == 3


def test_the_daily_budget_caps_all_visitors_together(launch_app, settings, contract_server):
    app = launch_app(replace(settings, daily_call_budget=2))
    app.synthesize("One.")
    app.synthesize("Two.")
    with pytest.raises(AppError, match="daily budget of 2 calls.*resets at 00:00 UTC"):
        app.synthesize("Three.")
    assert len(contract_server.state.synthesis_requests()) == 2


def test_a_long_text_is_counted_as_the_calls_it_makes(launch_app, settings, contract_server):
    app = launch_app(replace(settings, visitor_calls_per_hour=3))
    long_text = " ".join(f"Sentence number {i} is here to make the passage long." for i in range(30))
    with pytest.raises(AppError, match="too long for the shared key"):
        app.synthesize(long_text)
    assert contract_server.state.requests == []


def test_require_visitor_key_never_spends_the_owners_key(launch_app, settings, contract_server):
    app = launch_app(replace(settings, require_visitor_key=True))
    with pytest.raises(AppError, match="SEGMIND_API_KEY"):
        app.synthesize(SAMPLE)
    assert contract_server.state.requests == []


def test_one_structured_log_line_per_request_without_the_key(app, contract_server, caplog):
    caplog.set_level(logging.INFO, logger="chatterbox.requests")
    app.synthesize(SAMPLE)
    contract_server.state.script.append("status:401")
    with pytest.raises(AppError):
        app.synthesize("Another line.")
    with pytest.raises(AppError):
        app.synthesize(SAMPLE, temperature=9)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "chatterbox.requests"]
    assert [line["status"] for line in lines] == ["ok", "error", "refused"]
    for line in lines:
        assert {"request", "visitor", "seconds", "status"} <= set(line)
    assert lines[0]["key"] == "owner" and lines[0]["chunks"] == 1 and lines[0]["calls"] == 1
    assert lines[1]["error"] == "AuthenticationError" and lines[2]["field"] == "temperature"
    assert TEST_KEY not in caplog.text


@pytest.mark.parametrize(
    ("text", "sent"),
    [
        ("Hel\x00lo\x07 there\x1b[31m.", "Hello there[31m."),
        ("Emoji 🎉👩‍👩‍👧 fine.", "Emoji 🎉👩‍👩‍👧 fine."),
        ("שלום, מה שלומך?", "שלום, מה שלומך?"),
        ("Cafe\u0301 au lait.", "Café au lait."),
        ("Line one\r\nline two.", "Line one\nline two."),
    ],
)
def test_text_is_cleaned_and_unicode_survives(app, contract_server, text, sent):
    app.synthesize(text)
    assert contract_server.state.synthesis_requests()[0].body["text"] == sent


def test_a_lone_surrogate_from_a_raw_http_caller_is_stripped(app, contract_server):
    names = argument_names(CHATTERBOX)
    arguments = dict(zip(names, [None] * len(names)))
    arguments.update(CHATTERBOX.defaults(), text="Broken \ud800pair.", reference_audio_url="", random_seed=False, api_key="")
    event, _ = call_raw(app.url, [arguments[name] for name in names])
    assert event == "complete"
    assert contract_server.state.synthesis_requests()[0].body["text"] == "Broken pair."


def test_the_fuzz_reaches_the_backend_with_valid_calls(fuzz_app, contract_server):
    """The fuzz above means something only if valid calls get through; check its generator."""
    from hypothesis import find

    for number, model in enumerate(MODELS, start=1):
        def usable(drawn: tuple[Model, list], model: Model = model) -> bool:
            arguments = dict(zip(argument_names(drawn[0]), drawn[1]))
            try:
                model.validate({p.name: arguments[p.name] for p in model.parameters})
            except (InvalidInput, KeyError):
                return False
            return (drawn[0] == model and isinstance(arguments["text"], str)
                    and arguments["text"].strip().isalpha() and len(arguments["text"]) <= 300
                    and arguments["reference_audio"] is None
                    and arguments["reference_audio_url"] == "https://example.com/voice.mp3"
                    and arguments["random_seed"] is False and arguments["api_key"] in ("", TEST_KEY))

        drawn_model, valid = find(synthesize_arguments(), usable)
        event, payload = call_raw(fuzz_app.url, valid, drawn_model.api_name)
        assert event == "complete", (valid, payload)
        assert len(contract_server.state.synthesis_requests()) == number


def test_a_forged_forwarded_for_header_does_not_escape_the_visitor_limit(launch_app, settings, contract_server, monkeypatch):
    from gradio_client import Client

    # As on a server reached directly: the loopback peer is not a trusted proxy.
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "192.0.2.1")
    app = launch_app(replace(settings, visitor_calls_per_hour=2))
    outcomes = []
    for number in range(3):
        client = Client(app.url, verbose=False, analytics_enabled=False, headers={"X-Forwarded-For": f"203.0.113.{number}"})
        try:
            client.predict(f"Forged line {number}.", None, "", *CHATTERBOX.defaults().values(), False, "",
                           api_name="/synthesize")
            outcomes.append("ok")
        except AppError as error:
            outcomes.append(str(error))
        finally:
            client.close()
    assert outcomes[:2] == ["ok", "ok"] and "2 of your 2 calls" in outcomes[2]
    assert len(contract_server.state.synthesis_requests()) == 2
