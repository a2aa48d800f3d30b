"""The HTTP client for Segmind's Chatterbox endpoint: timeouts, retries, errors and audio sniffing.

Timeouts and the retry policy are written down here, where the session is made, and nowhere else.

A call is retried only when Segmind cannot have billed it: when no connection could be made
(nothing was sent), and when it answered 429, 502 or 504. Once a request has been sent, a
failure is not retried, because Segmind may have done and billed the work: a read timeout, a
connection that broke before or during the answer, an answer that broke off or trickled past
the deadline. `on_billed` lets the caller count every attempt that may have been billed.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import http.cookiejar
import json
import math
import os
import random
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timezone
from typing import Any

import requests
import urllib3

from components.audio import detect_format
from components.concurrency import VisitorSlots
from components.errors import (
    MAY_HAVE_BEEN_CHARGED,
    BackendConnectionError,
    BackendTimeout,
    IncompleteAnswerError,
    NoAudioError,
    status_error,
)
from components.fetch_audio import (
    AudioDownloadFailed,
    AudioUrlPolicy,
    AudioUrlRefused,
    BodyBrokenOff,
    BodyProblem,
    BodyTooLarge,
    BodyTooSlow,
    fetch_audio,
    read_body,
)
from components.redaction import backend_detail
from components.settings import Settings

RETRYABLE_STATUSES = frozenset({429, 502, 504})
ERROR_BODY_BYTES = 64 * 1024  # an error body is a sentence or two; its start explains it
# A JSON answer carries its audio in one string or links to it; more values than this are not
# an answer but a load, refused before parsing (json would build every one of them).
MAX_JSON_VALUES = 1_000_000
_PLAIN_NUMBER = re.compile(r"[0-9]{1,15}(\.[0-9]{1,15})?")
_MAX_HEADER_CHARS = 100

# Failures of requests/urllib3 that happen before the request has left: nothing can have been
# billed. A TLS error is counted here too: it happens during the handshake (certificate,
# protocol) in practice, before anything is sent.
_NOT_SENT_ERRORS = (
    requests.exceptions.ConnectTimeout,
    requests.exceptions.ProxyError,
    requests.exceptions.SSLError,
)
_NOT_SENT_CAUSES = (
    urllib3.exceptions.NewConnectionError,  # refused, unreachable, DNS failure
    urllib3.exceptions.ConnectTimeoutError,
    urllib3.exceptions.ClosedPoolError,
)
# Raised by requests while building the request: retrying cannot help.
_UNSENDABLE_ERRORS = (
    requests.exceptions.InvalidHeader,
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidJSONError,
)


@dataclass(frozen=True)
class SynthesisResult:
    audio: bytes
    audio_format: str
    remaining_credits: str | None
    attempts: int
    seconds: float


class _NotSent(Exception):
    """An attempt that failed before the request left: `error` is what to raise for it."""

    def __init__(self, error: BackendConnectionError, retryable: bool = True) -> None:
        self.error = error
        self.retryable = retryable


class _RefuseAllCookies(http.cookiejar.DefaultCookiePolicy):
    """Every visitor's call goes through one session: a cookie one call receives must never
    go out with another visitor's call."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


def _nothing() -> None:
    pass


class SegmindClient:
    """Posts one request per call; the API key travels per call, so visitors' keys never mix."""

    def __init__(
        self,
        api_base: str,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 120.0,
        max_retries: int = 3,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 30.0,
        max_response_bytes: int = 50_000_000,
        sleep: Callable[[float], None] = time.sleep,
        audio_url_policy: AudioUrlPolicy = AudioUrlPolicy(),
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.max_response_bytes = max_response_bytes
        self.audio_url_policy = audio_url_policy
        self._sleep = sleep
        self._session = requests.Session()
        # The environment's proxy and CA settings, read once here rather than on every call
        # (requests re-reads os.environ per request: about a millisecond each time).
        self._session.proxies.update(requests.utils.get_environ_proxies(self.api_base))
        ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        self._session.verify = ca_bundle or True
        self._ca_certs = ca_bundle or requests.certs.where()
        self._session.trust_env = False
        self._session.cookies = requests.cookies.RequestsCookieJar(policy=_RefuseAllCookies())
        # Retries are ours (with Retry-After and jitter); urllib3's would hide them.
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=64, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    @classmethod
    def from_settings(cls, settings: Settings) -> SegmindClient:
        return cls(
            settings.api_base,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            max_retries=settings.max_retries,
            backoff_seconds=settings.backoff_seconds,
            max_backoff_seconds=settings.max_backoff_seconds,
            max_response_bytes=int(settings.max_response_mb * 1_000_000),
        )

    def close(self) -> None:
        self._session.close()

    def endpoint_url(self, endpoint: str) -> str:
        """Where a model's requests go: the API root plus the model's endpoint name."""
        return f"{self.api_base}/{endpoint}"

    def synthesize(
        self,
        endpoint: str,
        payload: Mapping[str, Any],
        api_key: str,
        concurrency: VisitorSlots | None = None,
        *,
        on_billed: Callable[[], None] | None = None,
    ) -> SynthesisResult:
        """POST one request and return its audio, retrying what cannot have been billed:
        failures to connect, and 429/502/504 answers.

        `on_billed()` is called once for every attempt Segmind may have billed: a 2xx answer
        (as soon as its status arrives, so an answer that then breaks off still counts), and a
        request that was sent but got no answer.
        """
        note_billed = on_billed or _nothing
        started = time.monotonic()
        for attempt in range(self.max_retries + 1):
            retries_left = attempt < self.max_retries
            try:
                with concurrency.slot() if concurrency else nullcontext():
                    response, body = self._post(endpoint, payload, api_key, note_billed)
            except _NotSent as not_sent:
                if not (retries_left and not_sent.retryable):
                    raise not_sent.error from None
                self._sleep(self._backoff(attempt))
                continue

            status = response.status_code
            if status == 429 and concurrency:
                concurrency.rate_limited()
            if status in RETRYABLE_STATUSES and retries_left:
                self._sleep(self._retry_after(response) or self._backoff(attempt))
                continue
            if not 200 <= status < 300:
                raise status_error(status, backend_detail(body, api_key))
            if concurrency:
                concurrency.succeeded()
            audio, audio_format = self._extract_audio(body, payload, api_key)
            return SynthesisResult(
                audio=audio,
                audio_format=audio_format,
                remaining_credits=_plain_number(response.headers.get("x-remaining-credits")),
                attempts=attempt + 1,
                seconds=time.monotonic() - started,
            )
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _post(
        self,
        endpoint: str,
        payload: Mapping[str, Any],
        api_key: str,
        note_billed: Callable[[], None],
    ) -> tuple[requests.Response, bytes]:
        started = time.monotonic()
        try:
            response = self._session.post(
                self.endpoint_url(endpoint),
                json=dict(payload),
                headers={"x-api-key": api_key, "Accept": "audio/*, application/json"},
                timeout=(self.connect_timeout, self.read_timeout),
                stream=True,
                # A redirect would carry the x-api-key header to wherever it points (requests
                # strips only Authorization), and a POST is not meant to be redirected.
                allow_redirects=False,
            )
        except requests.exceptions.RequestException as error:
            if isinstance(error, _UNSENDABLE_ERRORS):
                raise _NotSent(
                    BackendConnectionError(
                        f"The request to Segmind could not be built ({type(error).__name__}). "
                        "Check SEGMIND_API_BASE and the API key (no spaces or line breaks inside)."
                    ),
                    retryable=False,
                ) from None
            if _never_sent(error):
                raise _NotSent(self._connect_error(error)) from None
            note_billed()  # sent: Segmind may be doing the work right now
            if isinstance(error, requests.exceptions.ReadTimeout):
                raise BackendTimeout(self.read_timeout) from None
            raise BackendConnectionError(
                "The connection to Segmind broke after the request was sent, before any "
                f"answer. {MAY_HAVE_BEEN_CHARGED}"
            ) from None
        with response:
            deadline = started + self.read_timeout
            if not 200 <= response.status_code < 300:
                return response, self._read_error_body(response, deadline)
            note_billed()  # before the body: an answer that breaks off was still paid for
            return response, self._read_audio_body(response, deadline)

    def _connect_error(self, error: requests.exceptions.RequestException) -> BackendConnectionError:
        if isinstance(error, requests.exceptions.ConnectTimeout):
            return BackendConnectionError(
                f"Could not connect to Segmind within {self.connect_timeout:g} s. "
                "Check the network and try again."
            )
        if isinstance(error, requests.exceptions.SSLError):
            return BackendConnectionError(
                "Could not open a secure connection to Segmind (TLS failed). Check the network, "
                "any proxy, and REQUESTS_CA_BUNDLE, then try again."
            )
        return BackendConnectionError()

    def _read_audio_body(self, response: requests.Response, deadline: float) -> bytes:
        try:
            return read_body(response.raw, deadline=deadline, max_bytes=self.max_response_bytes)
        except BodyTooLarge:
            raise NoAudioError(
                f"an answer over the {self.max_response_bytes / 1e6:g} MB size limit"
            ) from None
        except BodyTooSlow:
            raise BackendTimeout(self.read_timeout, "did not finish sending its answer") from None
        except BodyBrokenOff as broken:
            raise IncompleteAnswerError(len(broken.received), broken.expected) from None

    def _read_error_body(self, response: requests.Response, deadline: float) -> bytes:
        try:
            return read_body(response.raw, deadline=deadline, max_bytes=ERROR_BODY_BYTES)
        except BodyProblem as problem:
            return problem.received  # the status says what happened; the body only details it

    def _backoff(self, attempt: int) -> float:
        # Equal jitter: never retry at once, never all together.
        ceiling = min(self.max_backoff_seconds, self.backoff_seconds * 2**attempt)
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _retry_after(self, response: requests.Response) -> float | None:
        """Retry-After in seconds (capped), or None when absent or unreadable: garbage, NaN,
        infinity, a negative number, a bad or past date all fall back to the backoff, and so
        does 0 (never retry at once)."""
        value = response.headers.get("retry-after", "").strip()
        if not value or len(value) > _MAX_HEADER_CHARS:
            return None
        if _PLAIN_NUMBER.fullmatch(value):
            seconds = float(value)
        else:
            try:
                when = email.utils.parsedate_to_datetime(value)
                if when.tzinfo is None:  # "-0000": UTC, by RFC 5322
                    when = when.replace(tzinfo=timezone.utc)
                seconds = when.timestamp() - time.time()
            except (TypeError, ValueError, OverflowError, IndexError):
                return None
        if not (math.isfinite(seconds) and seconds > 0):
            return None
        return min(self.max_backoff_seconds, seconds)

    def _extract_audio(
        self, body: bytes, payload: Mapping[str, Any], api_key: str
    ) -> tuple[bytes, str]:
        found = detect_format(body)
        if found:
            return body, found
        # Counted before parsing, at C speed: an upper bound on the values json would build.
        if body.count(b",") + body.count(b"[") + body.count(b"{") > MAX_JSON_VALUES:
            raise NoAudioError(
                f"{len(body):,} bytes that are not audio, with too many JSON values to examine"
            )
        try:
            document = json.loads(body)
        except RecursionError:
            raise NoAudioError("a JSON answer nested too deeply to read") from None
        except ValueError:
            raise NoAudioError(f"{len(body):,} bytes that are not audio") from None

        # Anything the request carried is not the answer: an echo of the visitor's reference
        # audio (a URL, or base64) must be neither played back nor fetched.
        sent = set(_strings(dict(payload)))
        strings = [value for value in _strings(document) if value not in sent]
        for value in strings:
            audio = _decode_base64_audio(value)
            if audio:
                return audio, detect_format(audio) or ""
        refusal = None
        links = [text for text in strings if text[:8].lower().startswith(("http://", "https://"))]
        for url in links[: self.audio_url_policy.max_urls]:
            try:
                audio = fetch_audio(
                    url,
                    self.audio_url_policy,
                    connect_timeout=self.connect_timeout,
                    read_timeout=self.read_timeout,
                    max_bytes=self.max_response_bytes,
                    ca_certs=self._ca_certs,
                )
            except AudioUrlRefused as refused:
                refusal = refusal or str(refused)
                continue
            except AudioDownloadFailed as failed:
                raise BackendConnectionError(
                    f"Segmind answered with a link to the audio, but downloading it failed: "
                    f"{failed}. {MAY_HAVE_BEEN_CHARGED}"
                ) from None
            audio_format = detect_format(audio) if audio else None
            if audio and audio_format:
                return audio, audio_format
        what = "a JSON answer without audio"
        if refusal:
            what += f" (its audio link was not followed: {refusal})"
        detail = backend_detail(body, api_key, document)
        raise NoAudioError(f"{what}: {detail}" if detail else what)


def _never_sent(error: requests.exceptions.RequestException) -> bool:
    """True when the request cannot have left: the connection itself failed."""
    if isinstance(error, _NOT_SENT_ERRORS):
        return True
    cause = error.args[0] if error.args else None
    if isinstance(cause, urllib3.exceptions.MaxRetryError):
        cause = cause.reason
    return isinstance(cause, _NOT_SENT_CAUSES)


def _plain_number(value: str | None) -> str | None:
    """A header value shown to people only if it is a plain number: never backend text."""
    if value is None:
        return None
    value = value.strip()
    return value if _PLAIN_NUMBER.fullmatch(value) else None


def _strings(document: Any) -> list[str]:
    """Every string in a JSON document, outermost first, in time linear in its size (which
    MAX_JSON_VALUES bounds before it is parsed)."""
    found: list[str] = []
    pending = deque([document])
    while pending:
        value = pending.popleft()
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
    # The first 16 characters (12 bytes) say whether it is audio; only then is it all decoded.
    try:
        if not detect_format(base64.b64decode(value[:16], validate=True)):
            return None
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return decoded if detect_format(decoded) else None
