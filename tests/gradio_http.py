"""Gradio's REST API as a raw HTTP caller sees it: POST /gradio_api/call/<name>, then read the
event stream. No gradio_client: nothing polls, and streamed outputs arrive as they are sent."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from typing import Any

import requests


class GradioCallError(RuntimeError):
    """A Gradio endpoint answered `event: error` (or its stream broke off)."""


def call_events(
    session: requests.Session, url: str, api_name: str, data: Sequence[Any], timeout: float = 120.0
) -> Iterator[tuple[str, Any]]:
    """Call a queued Gradio endpoint over raw HTTP, as any non-Python client does: POST
    `{url}/gradio_api/call/<api_name>` with `{"data": [...positional args...]}` for an event id,
    then GET `.../<api_name>/<event id>` and yield each (event, decoded data) of its SSE stream
    as it arrives ("generating" per yield of a generator, then "complete"; heartbeats are
    skipped). Raises GradioCallError on `event: error` or a stream with no `complete`. Reads the
    stream to its end, so the connection goes back to `session`'s pool."""
    endpoint = f"{url}/gradio_api/call/{api_name}"
    response = session.post(endpoint, json={"data": list(data)}, timeout=timeout)
    response.raise_for_status()
    event_id = response.json()["event_id"]
    completed = False
    with session.get(f"{endpoint}/{event_id}", stream=True, timeout=timeout) as stream:
        stream.raise_for_status()
        event = None
        for line in stream.iter_lines(chunk_size=None, decode_unicode=True):
            if line.startswith("event:"):
                event = line.partition(":")[2].strip()
            elif line.startswith("data:") and event not in (None, "heartbeat"):
                payload = json.loads(line.partition(":")[2])
                if event == "error":
                    raise GradioCallError(f"/{api_name} answered event: error, data: {payload!r}")
                completed = completed or event == "complete"
                yield event, payload
    if not completed:
        raise GradioCallError(f"/{api_name}: the event stream ended without `event: complete`")


def stream_url(base_url: str, output: Any) -> str | None:
    """The HLS playlist of a streamed output, or None when the output is not a stream."""
    if not isinstance(output, dict) or not output.get("is_stream"):
        return None
    return output.get("url") or f"{base_url.rstrip('/')}/gradio_api/stream/{output['path']}"


def first_segment(playlist_url: str, timeout: float = 30.0) -> bytes:
    """Poll the playlist until it lists a segment, and return that segment's bytes."""
    deadline = time.monotonic() + timeout
    base = playlist_url.rsplit("/", 1)[0]
    while time.monotonic() < deadline:
        response = requests.get(playlist_url, timeout=10)
        if response.ok:
            segments = [line for line in response.text.splitlines() if line and not line.startswith("#")]
            if segments:
                url = segments[0] if segments[0].startswith("http") else f"{base}/{segments[0]}"
                segment = requests.get(url, timeout=10)
                segment.raise_for_status()
                return segment.content
        time.sleep(0.02)
    raise TimeoutError(f"no segment in {playlist_url} within {timeout:g} s")


def is_adts_aac(data: bytes) -> bool:
    """AAC in ADTS frames, as Gradio's Live player streams it: every frame opens with 0xFFF."""
    return len(data) > 7 and data[0] == 0xFF and data[1] & 0xF0 == 0xF0
