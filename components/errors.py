"""Every error the playground shows a person, each saying what happened and what to do.

    ChatterboxError
     ├── InvalidInput ............ refused before any backend call (names the field)
     ├── MissingAPIKey ........... no key in the environment or the page
     ├── LimitReached ............ the owner's per-visitor rate limit or daily budget
     ├── LocalFailure ............ this server failed after Segmind answered (the take is kept)
     └── BackendError
          ├── BackendConnectionError   no answer: could not connect, or the connection broke
          │    ├── BackendTimeout      sent; no (whole) answer within the read timeout
          │    └── IncompleteAnswerError   a 2xx answer whose body broke off
          ├── BackendStatusError       any non-2xx answer; `status_error()` picks the subclass
          │    ├── BadRequestError (400)       ├── RateLimitError (429)
          │    ├── AuthenticationError (401)   ├── ServerError (500)
          │    ├── PermissionDeniedError (403) ├── BadGatewayError (502)
          │    ├── NotFoundError (404)         └── GatewayTimeoutError (504)
          │    └── InsufficientCreditsError (406)
          └── NoAudioError             a 2xx answer that carries no playable audio

Messages never contain an API key: `BackendStatusError` takes the body's detail only after
the client has redacted the key from it (components/redaction.py).

Whether a failed call may have been billed decides whether it is retried; the messages of the
errors that follow a request Segmind may have billed say so, and what to do about it.
"""

from __future__ import annotations


class ChatterboxError(Exception):
    """Base of every error the playground raises on purpose."""


class InvalidInput(ChatterboxError, ValueError):
    """A value that must not reach the paid backend."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class MissingAPIKey(ChatterboxError):
    def __init__(self) -> None:
        super().__init__(
            "No Segmind API key. Paste your key into the 'Segmind API key' field, or set the "
            "SEGMIND_API_KEY environment variable (a Space secret on Hugging Face) and restart. "
            "Keys are at https://cloud.segmind.com/console/api-keys."
        )


class LimitReached(ChatterboxError):
    """The owner's key is protected by a limit; `retry_after` is in seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LocalFailure(ChatterboxError):
    """Something on this server failed after calls were paid for; what they bought is kept."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(
            f"This server failed after Segmind answered ({type(cause).__name__}). The paid audio "
            "is kept: press Generate again to replay it at no cost."
        )
        self.cause = cause


class BackendError(ChatterboxError):
    """Anything that went wrong talking to Segmind."""


class BackendConnectionError(BackendError):
    def __init__(self, message: str = "") -> None:
        super().__init__(
            message
            or "Could not reach Segmind. Check the network and SEGMIND_API_BASE, then try again."
        )


# What to do after a failure that Segmind may have billed: retrying blindly could pay twice.
MAY_HAVE_BEEN_CHARGED = (
    "The call may have been charged, so it was not retried: check the remaining credits at "
    "https://cloud.segmind.com before generating again."
)


class BackendTimeout(BackendConnectionError):
    """The request was sent; the answer (or the rest of it) did not come in time."""

    def __init__(self, seconds: float, what: str = "did not answer") -> None:
        super().__init__(
            f"Segmind {what} within {seconds:g} s; the service may be busy. "
            f"{MAY_HAVE_BEEN_CHARGED} If this keeps happening, raise SEGMIND_READ_TIMEOUT."
        )


class IncompleteAnswerError(BackendConnectionError):
    """Segmind answered 2xx (a billed call) but the body broke off before it was complete."""

    def __init__(self, received: int, expected: int | None = None) -> None:
        of = f" of {expected:,}" if expected is not None else ""
        super().__init__(
            f"Segmind accepted the call, but its answer broke off after {received:,}{of} bytes, "
            f"so there is no audio. {MAY_HAVE_BEEN_CHARGED}"
        )
        self.received = received
        self.expected = expected


class NoAudioError(BackendError):
    def __init__(self, what: str) -> None:
        super().__init__(
            f"Segmind returned no audio ({what}). Nothing was played; try again, and if it "
            "persists the endpoint may have changed."
        )


class BackendStatusError(BackendError):
    status_code: int = 0
    advice = "Try again later."

    def __init__(self, status_code: int, detail: str = "") -> None:
        self.status_code = status_code
        self.detail = detail
        what = _STATUS_WHAT.get(status_code, f"Segmind answered HTTP {status_code}")
        said = f' Segmind said: "{detail}"' if detail else ""
        super().__init__(f"{what} (HTTP {status_code}).{said} {self.advice}")


class BadRequestError(BackendStatusError):
    advice = "Check the text and the reference voice, then try again."


class AuthenticationError(BackendStatusError):
    advice = "Check the Segmind API key: paste a valid one, or fix SEGMIND_API_KEY."


class PermissionDeniedError(BackendStatusError):
    advice = "This key may not use Chatterbox: check the key's permissions in the Segmind console."


class NotFoundError(BackendStatusError):
    advice = "Check SEGMIND_API_BASE; the default is https://api.segmind.com/v1."


class InsufficientCreditsError(BackendStatusError):
    advice = "Top up credits at https://cloud.segmind.com, or use another key."


class RateLimitError(BackendStatusError):
    advice = "Wait a minute and try again; the free plan allows 5 requests a minute."


class ServerError(BackendStatusError):
    advice = "This is on Segmind's side: try again in a moment."


class BadGatewayError(ServerError):
    pass


class GatewayTimeoutError(ServerError):
    pass


_STATUS_WHAT = {
    400: "Segmind rejected the request as invalid",
    401: "Segmind did not accept the API key",
    403: "Segmind refused this key permission",
    404: "Segmind did not find the model or endpoint",
    406: "The Segmind account has insufficient credits",
    429: "Segmind is rate-limiting this key",
    500: "Segmind had an internal error",
    502: "Segmind's service is temporarily unavailable",
    504: "Segmind timed out generating the audio",
}

_STATUS_CLASSES: dict[int, type[BackendStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    406: InsufficientCreditsError,
    429: RateLimitError,
    500: ServerError,
    502: BadGatewayError,
    504: GatewayTimeoutError,
}


def status_error(status_code: int, detail: str = "") -> BackendStatusError:
    """The one place an HTTP status becomes an error type."""
    cls = _STATUS_CLASSES.get(status_code)
    if cls is None:
        cls = ServerError if status_code >= 500 else BackendStatusError
    return cls(status_code, detail)


def markdown_table() -> str:
    """The README's error table, from the same mapping `status_error` uses."""
    rows = ["| HTTP status | error | what the page says to do | retried |", "|---|---|---|---|"]
    for status, cls in _STATUS_CLASSES.items():
        retried = "yes, with backoff" if status in (429, 502, 504) else "no"
        rows.append(f"| {status} | `{cls.__name__}` | {cls.advice} | {retried} |")
    return "\n".join(rows)
