"""The app as an MCP server: a real MCP client (the `mcp` package, streamable HTTP) lists its
tools, one per model and one for dialogue scenes, and calls them against the loopback contract server."""

from __future__ import annotations

import asyncio
import io
import json
import re
from dataclasses import replace

import httpx
import pytest
import requests
import soundfile as sf
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from components.models import CHATTERBOX, CHATTERBOX_TURBO, MODELS
from components.parameters import format_value
from tests.conftest import TEST_KEY

VISITOR_KEY = "mcp-visitor-key"
TEXT = "An agent asked for this line."


def mcp_url(app) -> str:
    return app.url.rstrip("/") + "/gradio_api/mcp/"


async def _session_do(url: str, headers: dict[str, str], work):
    async with httpx.AsyncClient(headers=headers, timeout=60) as http_client:
        async with streamable_http_client(url, http_client=http_client) as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await work(session)


def with_session(app, work, headers: dict[str, str] | None = None):
    return asyncio.run(_session_do(mcp_url(app), headers or {}, work))


def listed_tools(app) -> dict:
    async def work(session):
        return (await session.list_tools()).tools

    tools = {tool.name: tool for tool in with_session(app, work)}
    expected = [*(m.api_name for m in MODELS), "synthesize_dialogue"]
    assert sorted(tools) == sorted(expected), "UI-only events must not be tools"
    return tools


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_each_models_tool_is_described_from_its_parameter_table(app, model):
    tool = listed_tools(app)[model.api_name]
    properties = tool.inputSchema["properties"]
    assert "X-Segmind-Key" in tool.description and model.label in tool.description
    assert list(properties)[:3] == ["text", "reference_audio", "reference_audio_url"]
    assert list(properties)[3 : 3 + len(model.parameters)] == [p.name for p in model.parameters]
    for parameter in model.parameters:
        description = properties[parameter.name]["description"]
        assert parameter.description in description
        assert f"default {format_value(parameter.default)}" in description
        if not parameter.boolean:
            low, high = format_value(parameter.minimum), format_value(parameter.maximum)
            assert f"from {low} to {high}" in description
    assert "x_segmind_key" not in properties and "request" not in properties
    assert tool.inputSchema.get("required", []) == [], "every argument but text has a default"
    if model.tags:
        assert all(tag in tool.description for tag in model.tags)


def call_synthesize(app, arguments: dict, headers: dict[str, str] | None = None, progress=None,
                    tool: str = "synthesize"):
    async def work(session):
        return await session.call_tool(tool, arguments, progress_callback=progress)

    return with_session(app, work, headers)


def audio_url_in(result) -> str:
    """The take's URL. Gradio 6.31 answers one text item holding every output, unless the client
    asked for progress; then each output is its own item, the take's URL first."""
    texts = [item.text for item in result.content if item.type == "text"]
    urls = re.findall(r"https?://[^\s'\"]+?\.wav", " ".join(texts))
    assert urls, f"no audio URL in the tool's answer: {texts}"
    return urls[0]


def decoded_take(url: str) -> tuple:
    response = requests.get(url, timeout=10)
    response.raise_for_status()
    return sf.read(io.BytesIO(response.content), dtype="float32")


@pytest.mark.parametrize("with_progress", [False, True])
def test_an_agent_calls_synthesize_with_its_key_in_a_header(
    launch_app, settings, contract_server, with_progress
):
    contract_server.state.valid_keys.add(VISITOR_KEY)
    app = launch_app(replace(settings, api_key=""))  # no owner's key: the header must carry it
    steps = []

    async def progress(step, total, message):
        steps.append(message)

    result = call_synthesize(
        app,
        {"text": TEXT, "temperature": 0.6, "seed": 7},
        headers={"X-Segmind-Key": VISITOR_KEY},
        progress=progress if with_progress else None,
    )
    assert not result.isError, result.content
    (request,) = contract_server.state.synthesis_requests()
    assert request.headers["x-api-key"] == VISITOR_KEY
    assert request.body == {"text": TEXT, **CHATTERBOX.defaults(), "temperature": 0.6, "seed": 7}

    url = audio_url_in(result)
    assert url.endswith("chatterbox_an-agent-asked-for-this-line_seed7_custom.wav")
    if with_progress:
        assert steps and result.content[0].text == url
    samples, rate = decoded_take(url)
    assert rate == 24_000 and len(samples) / rate > 0.5
    assert VISITOR_KEY not in json.dumps([item.model_dump() for item in result.content])


def test_a_bad_argument_is_a_tool_error_and_nothing_is_sent(app, contract_server):
    result = call_synthesize(app, {"text": TEXT, "exaggeration": 9})
    assert result.isError
    message = " ".join(item.text for item in result.content if item.type == "text")
    assert "exaggeration" in message and "between 0 and 2" in message
    assert contract_server.state.requests == []


@pytest.mark.parametrize("header_key", ["", "wrong-key"])
def test_without_a_usable_key_the_agent_is_told_how_to_give_one(
    launch_app, settings, contract_server, header_key
):
    app = launch_app(replace(settings, api_key=""))
    headers = {"X-Segmind-Key": header_key} if header_key else {}
    result = call_synthesize(app, {"text": TEXT}, headers=headers)
    assert result.isError
    message = " ".join(item.text for item in result.content if item.type == "text")
    assert "key" in message.lower()
    assert TEST_KEY not in message and (not header_key or header_key not in message)


def test_an_agent_calls_turbo_with_a_voice_url_and_a_sound_tag(app, contract_server):
    voice = contract_server.url.rsplit("/v1", 1)[0] + "/voice.wav"
    text = "Well, that was unexpected [laugh] but fine."
    result = call_synthesize(
        app, {"text": text, "reference_audio_url": voice, "top_k": 40, "norm_loudness": False},
        tool=CHATTERBOX_TURBO.api_name,
    )
    assert not result.isError, result.content
    (request,) = contract_server.state.synthesis_requests()
    assert request.path == "/v1/chatterbox-turbo-tts"
    assert request.body == {"text": text, "reference_audio": voice,
                            **CHATTERBOX_TURBO.defaults(), "top_k": 40, "norm_loudness": False}
    assert "chatterbox-turbo_well-that-was-unexpected" in audio_url_in(result)


@pytest.mark.parametrize(
    ("arguments", "named"),
    [({}, "needs a reference voice"), ({"top_k": 2.5}, "top_k"), ({"norm_loudness": 1}, "boolean"),
     ({"exaggeration": 0.5}, "exaggeration")],
)
def test_turbo_refuses_bad_arguments_as_tool_errors_without_a_call(app, contract_server, arguments, named):
    """(The MCP layer checks types against the tool's schema first: a 1 for a boolean is refused
    there, as "1 is not of type 'boolean'".)"""
    voice = {"reference_audio_url": "https://example.com/voice.wav"} if arguments else {}
    result = call_synthesize(app, {"text": TEXT, **voice, **arguments}, tool=CHATTERBOX_TURBO.api_name)
    assert result.isError
    message = " ".join(item.text for item in result.content if item.type == "text")
    assert named in message
    assert contract_server.state.requests == []


def test_an_agent_makes_a_dialogue_scene_with_speaker_captions(app, contract_server):
    tool = listed_tools(app)["synthesize_dialogue"]
    assert "X-Segmind-Key" in tool.description
    cast_description = tool.inputSchema["properties"]["cast"]["description"]
    for model in MODELS:  # every model's fields and ranges, from its table
        assert all(p.name in cast_description for p in model.tunable)
    voice = "https://example.com/voice.wav"
    script = "Ada: The door is open.\nBob: [laugh] Then close it."
    cast = {"Ada": {"parameters": {"exaggeration": 0.9}},
            "Bob": {"model": "chatterbox-turbo", "reference_audio_url": voice}}
    result = call_synthesize(app, {"script": script, "cast": cast, "seed": 5},
                             tool="synthesize_dialogue")
    assert not result.isError, result.content
    bodies = {r.body["text"]: r.body for r in contract_server.state.synthesis_requests()}
    assert bodies["The door is open."]["exaggeration"] == 0.9
    assert bodies["[laugh] Then close it."]["reference_audio"] == voice
    texts = " ".join(item.text for item in result.content if item.type == "text")
    vtt_url = re.findall(r"https?://[^\s'\"]+?\.vtt", texts)
    assert vtt_url, texts
    captions = requests.get(vtt_url[0], timeout=10).text
    assert "Ada: The door is open." in captions and "Bob: [laugh] Then close it." in captions
    samples, rate = decoded_take(audio_url_in(result))
    assert rate == 24_000 and len(samples) / rate > 1.0


def test_a_bad_scene_is_a_tool_error_naming_the_speaker_without_a_call(app, contract_server):
    result = call_synthesize(
        app, {"script": "Ada: Hi.\nBob: Hello.", "cast": {"Ada": {}}}, tool="synthesize_dialogue"
    )
    assert result.isError
    message = " ".join(item.text for item in result.content if item.type == "text")
    assert 'Speaker "Bob" (line 2) is not in the cast' in message
    assert contract_server.state.requests == []
