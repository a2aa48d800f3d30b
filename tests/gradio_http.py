"""Gradio's REST API as a raw HTTP caller sees it: POST /gradio_api/call/<name>, then read the
event stream. No gradio_client: nothing polls, and streamed outputs arrive as they are sent."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import requests


@dataclass(frozen=True)
class ServerEvent:
    kind: str  # "generating", "complete", "error", "heartbeat"
    data: Any
    at: float  # time.monotonic() when it arrived


def call_events(
    base_url: str, api_name: str, arguments: Sequence[Any], timeout: float = 120.0,
    session: requests.Session | None = None,
) -> Iterator[ServerEvent]:
    """Every event of one call, in order, ending with its "complete" or "error"."""
    http = session or requests
    base = base_url.rstrip("/")
    posted = http.post(f"{base}/gradio_api/call/{api_name}", json={"data": list(arguments)}, timeout=timeout)
    posted.raise_for_status()
    event_id = posted.json()["event_id"]
    with http.get(f"{base}/gradio_api/call/{api_name}/{event_id}", stream=True, timeout=timeout) as response:
        response.raise_for_status()
        kind = ""
        for line in response.iter_lines(decode_unicode=True):
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                payload = line.split(":", 1)[1].strip()
                yield ServerEvent(kind, json.loads(payload) if payload else None, time.monotonic())
                if kind in ("complete", "error"):
                    return


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
