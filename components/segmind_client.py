"""The HTTP client for Segmind's Chatterbox endpoint: timeouts, retries, errors and audio sniffing.

Timeouts and the retry policy are written down here, where the session is made, and nowhere else.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import json
import os
import random
import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import requests
import urllib3

from components.audio import detect_format
from components.concurrency import AdaptiveConcurrency
from components.errors import (
    BackendConnectionError,
    BackendTimeout,
    NoAudioError,
    status_error,
)
from components.settings import Settings

RETRYABLE_STATUSES = frozenset({429, 502, 504})
_DETAIL_CHARS = 300


@dataclass(frozen=True)
class SynthesisResult:
    audio: bytes
    audio_format: str
    remaining_credits: str | None
    attempts: int
    seconds: float


class SegmindClient:
    """Posts one request per call; the API key travels per call, so visitors' keys never mix."""

    def __init__(
        self,
        api_url: str,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 120.0,
        max_retries: int = 3,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 30.0,
        max_response_bytes: int = 50_000_000,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_url = api_url
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.max_response_bytes = max_response_bytes
        self._sleep = sleep
        self._session = requests.Session()
        # The environment's proxy and CA settings, read once here rather than on every call
        # (requests re-reads os.environ per request: about a millisecond each time).
        self._session.proxies.update(requests.utils.get_environ_proxies(api_url))
        self._session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self._session.trust_env = False
        # Retries are ours (with Retry-After and jitter); urllib3's would hide them.
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=64, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    @classmethod
    def from_settings(cls, settings: Settings) -> SegmindClient:
        return cls(
            settings.api_url,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            max_retries=settings.max_retries,
            backoff_seconds=settings.backoff_seconds,
            max_backoff_seconds=settings.max_backoff_seconds,
            max_response_bytes=int(settings.max_response_mb * 1_000_000),
        )

    def close(self) -> None:
        self._session.close()

    def synthesize(
        self,
        payload: Mapping[str, Any],
        api_key: str,
        concurrency: AdaptiveConcurrency | None = None,
    ) -> SynthesisResult:
        """POST one request and return its audio, retrying 429/502/504 and connection failures."""
        started = time.monotonic()
        for attempt in range(self.max_retries + 1):
            retries_left = attempt < self.max_retries
            try:
                with concurrency.slot() if concurrency else nullcontext():
                    response, body = self._post(payload, api_key)
            except BackendTimeout:
                # Not retried: Segmind may have done (and billed) the work already.
                raise
            except BackendConnectionError:
                if not retries_left:
                    raise
                self._sleep(self._backoff(attempt))
                continue

            status = response.status_code
            if status == 429 and concurrency:
                concurrency.rate_limited()
            if status in RETRYABLE_STATUSES and retries_left:
                self._sleep(self._retry_after(response) or self._backoff(attempt))
                continue
            if not 200 <= status < 300:
                raise status_error(status, _error_detail(body, api_key))
            if concurrency:
                concurrency.succeeded()
            audio, audio_format = self._extract_audio(body, response, api_key)
            return SynthesisResult(
                audio=audio,
                audio_format=audio_format,
                remaining_credits=response.headers.get("x-remaining-credits"),
                attempts=attempt + 1,
                seconds=time.monotonic() - started,
            )
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _post(self, payload: Mapping[str, Any], api_key: str) -> tuple[requests.Response, bytes]:
        started = time.monotonic()
        try:
            response = self._session.post(
                self.api_url,
                json=dict(payload),
                headers={"x-api-key": api_key, "Accept": "audio/*, application/json"},
                timeout=(self.connect_timeout, self.read_timeout),
                stream=True,
            )
        except requests.exceptions.ConnectTimeout:
            raise BackendConnectionError(
                f"Could not connect to Segmind within {self.connect_timeout:g} s. "
                "Check the network and try again."
            ) from None
        except requests.exceptions.ReadTimeout:
            raise BackendTimeout(self.read_timeout) from None
        except requests.exceptions.RequestException:
            raise BackendConnectionError() from None
        with response:
            return response, self._read_body(response, started)

    def _read_body(self, response: requests.Response, started: float) -> bytes:
        """Read at most max_response_bytes, all within read_timeout of sending the request.

        requests' read timeout is per socket read, so a server trickling bytes would never trip
        it; read1 returns whatever has arrived, so the deadline is checked between arrivals.
        """
        deadline = started + self.read_timeout
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_response_bytes:
            raise NoAudioError(f"an answer of {int(declared) / 1e6:.0f} MB, over the size limit")
        body = bytearray()
        try:
            while block := response.raw.read1(64 * 1024, decode_content=True):
                body += block
                if len(body) > self.max_response_bytes:
                    raise NoAudioError(
                        f"an answer over the {self.max_response_bytes / 1e6:g} MB size limit"
                    )
                if time.monotonic() > deadline:
                    raise BackendTimeout(self.read_timeout)
        except urllib3.exceptions.ReadTimeoutError:
            raise BackendTimeout(self.read_timeout) from None
        except (urllib3.exceptions.HTTPError, OSError):
            raise BackendConnectionError(
                "The connection to Segmind broke while the audio was downloading. Try again."
            ) from None
        return bytes(body)

    def _backoff(self, attempt: int) -> float:
        # Equal jitter: never retry at once, never all together.
        ceiling = min(self.max_backoff_seconds, self.backoff_seconds * 2**attempt)
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _retry_after(self, response: requests.Response) -> float | None:
        value = response.headers.get("retry-after", "").strip()
        if not value:
            return None
        try:
            seconds = float(value)
        except ValueError:
            when = email.utils.parsedate_to_datetime(value) if value else None
            if when is None:
                return None
            seconds = when.timestamp() - time.time()
        return min(self.max_backoff_seconds, max(0.0, seconds))

    def _extract_audio(
        self, body: bytes, response: requests.Response, api_key: str
    ) -> tuple[bytes, str]:
        found = detect_format(body)
        if found:
            return body, found
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            content_type = response.headers.get("content-type", "no content type")
            raise NoAudioError(f"{len(body)} bytes of {content_type} that are not audio") from None
        for value in _strings(document):
            audio = _decode_base64_audio(value)
            if audio:
                return audio, detect_format(audio) or ""
        for value in _strings(document):
            if value.startswith(("http://", "https://")):
                audio = self._fetch_audio_url(value)
                if audio:
                    return audio, detect_format(audio) or ""
        detail = _error_detail(body, api_key)
        raise NoAudioError(f"a JSON answer without audio: {detail}" if detail else "empty JSON")

    def _fetch_audio_url(self, url: str) -> bytes | None:
        """Follow an audio URL that Segmind's own JSON answer points to."""
        try:
            response = self._session.get(
                url, timeout=(self.connect_timeout, self.read_timeout), stream=True
            )
        except requests.exceptions.RequestException:
            raise BackendConnectionError(
                "Segmind answered with an audio link that could not be downloaded. Try again."
            ) from None
        with response:
            if response.status_code != 200:
                return None
            body = self._read_body(response, time.monotonic())
        return body if detect_format(body) else None


def _strings(document: Any) -> list[str]:
    """Every string in a JSON document, outermost first."""
    found: list[str] = []
    pending = [document]
    while pending:
        value = pending.pop(0)
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return found


def _decode_base64_audio(value: str) -> bytes | None:
    if value.startswith("data:"):
        value = value.partition(",")[2]
    if len(value) < 16:
        return None
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return decoded if detect_format(decoded) else None


def _error_detail(body: bytes, api_key: str) -> str:
    """The human part of an error body, whatever its shape; the shape is undocumented.

    The key is redacted before anything is cut, so a backend that echoes it cannot make us
    show even part of it.
    """
    text = body.decode("utf-8", errors="replace").strip()
    if api_key:
        text = text.replace(api_key, "[redacted key]")
    try:
        document = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:_DETAIL_CHARS]
    if isinstance(document, dict):
        for key in ("error", "message", "detail", "msg"):
            value = document.get(key)
            if isinstance(value, str) and value.strip():
                return " ".join(value.split())[:_DETAIL_CHARS]
            if isinstance(value, dict):
                return _error_detail(json.dumps(value).encode(), api_key)
    return " ".join(json.dumps(document).split())[:_DETAIL_CHARS]
