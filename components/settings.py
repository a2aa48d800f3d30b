"""Every setting of the playground, read once from the environment into a frozen `Settings`.

`ENVIRONMENT` is the only list of environment variables; the README's configuration table is
generated from it (tests/test_readme.py keeps the two in step).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

DEFAULT_API_BASE = "https://api.segmind.com/v1"


def _default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "chatterbox-playground")


def _flag(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _at_least(parse: Callable[[str], Any], minimum: float, *, strictly: bool) -> Callable[[str], Any]:
    def parse_bounded(raw: str) -> Any:
        value = parse(raw)
        if value < minimum or (strictly and value == minimum):
            bound = "greater than" if strictly else "at least"
            raise ValueError(f"must be {bound} {minimum:g}, got {raw!r}")
        return value

    return parse_bounded


def _positive(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    return _at_least(parse, 0, strictly=True)


def _non_negative(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    return _at_least(parse, 0, strictly=False)


def _reference_encoding(raw: str) -> str:
    if raw not in {"base64", "data-uri"}:
        raise ValueError(f"must be 'base64' or 'data-uri', got {raw!r}")
    return raw


@dataclass(frozen=True)
class EnvVar:
    name: str
    field: str | None  # the Settings attribute, or None for variables Gradio reads itself
    default: str
    parse: Callable[[str], Any]
    description: str
    default_shown: str | None = None  # for defaults that depend on the machine


ENVIRONMENT: tuple[EnvVar, ...] = (
    EnvVar("SEGMIND_API_KEY", "api_key", "", str,
           "The owner's Segmind key. Optional: without it, each visitor pastes their own key "
           "into the page. Never shown in the page, a log or an error.", "(unset)"),
    EnvVar("SEGMIND_API_BASE", "api_base", DEFAULT_API_BASE, str,
           "Segmind's API root; each model's endpoint name is added to it."),
    EnvVar("SEGMIND_CONNECT_TIMEOUT", "connect_timeout", "10", _positive(float),
           "Seconds to wait for a connection to Segmind."),
    EnvVar("SEGMIND_READ_TIMEOUT", "read_timeout", "120", _positive(float),
           "Seconds to wait for Segmind's answer to one call (its listed latency is ~18 s)."),
    EnvVar("SEGMIND_MAX_RETRIES", "max_retries", "3", _non_negative(int),
           "Retries of a call answered 429, 502 or 504, or that could not connect."),
    EnvVar("SEGMIND_BACKOFF_SECONDS", "backoff_seconds", "1.0", _non_negative(float),
           "Base of the exponential backoff between retries (with full jitter); a Retry-After "
           "header overrides it."),
    EnvVar("SEGMIND_MAX_BACKOFF_SECONDS", "max_backoff_seconds", "30", _non_negative(float),
           "Longest single wait between retries, Retry-After included."),
    EnvVar("SEGMIND_MAX_RESPONSE_MB", "max_response_mb", "50", _positive(float),
           "Largest answer accepted from Segmind; a bigger one is refused, not buffered."),
    EnvVar("SEGMIND_REFERENCE_ENCODING", "reference_encoding", "base64", _reference_encoding,
           "How an uploaded voice is put in `reference_audio`: bare `base64` (Segmind's "
           "convention) or a `data-uri`."),
    EnvVar("CHATTERBOX_MAX_TEXT_CHARS", "max_text_chars", "5000", _positive(int),
           "Longest text one Generate accepts, after control characters are stripped."),
    EnvVar("CHATTERBOX_CHUNK_CHARS", "chunk_chars", "300", _positive(int),
           "Longest chunk sent in one call; longer text is split at sentence boundaries."),
    EnvVar("CHATTERBOX_MAX_CONCURRENCY", "max_concurrency", "8", _positive(int),
           "Most calls of one take in flight at once; halves on a 429 and grows back."),
    EnvVar("CHATTERBOX_REFERENCE_SECONDS", "reference_seconds", "10", _positive(float),
           "An uploaded or recorded voice is trimmed to this many seconds (the model "
           "conditions on the first 10 s)."),
    EnvVar("CHATTERBOX_UPLOAD_MAX_MB", "upload_max_mb", "20", _positive(float),
           "Largest upload accepted: Gradio refuses a bigger file before storing it (only "
           "reference voices are uploaded)."),
    EnvVar("CHATTERBOX_UPLOAD_MAX_SECONDS", "upload_max_seconds", "600", _positive(float),
           "Longest reference upload accepted (it is trimmed anyway; this refuses hour-long "
           "files early)."),
    EnvVar("CHATTERBOX_CACHE", "cache_enabled", "true", _flag,
           "Keep every paid clip on disk and replay it instead of paying again."),
    EnvVar("CHATTERBOX_CACHE_DIR", "cache_dir", "", str,
           "Where the clip cache lives. On a Space with persistent storage use "
           "`/data/chatterbox-cache`.", "`$XDG_CACHE_HOME/chatterbox-playground` "
           "(`~/.cache/chatterbox-playground`)"),
    EnvVar("CHATTERBOX_CACHE_MAX_MB", "cache_max_mb", "500", _positive(float),
           "Cache size cap; the least recently used clips are evicted beyond it."),
    EnvVar("CHATTERBOX_PRESETS_DIR", "presets_dir", "", str,
           "Folder of preset folders, one per model (`<folder>/<model>/*.json`), one button per file.",
           "`presets/` beside `app.py`"),
    EnvVar("CHATTERBOX_REQUIRE_VISITOR_KEY", "require_visitor_key", "false", _flag,
           "When true, the owner's key is never used: every visitor brings their own."),
    EnvVar("CHATTERBOX_VISITOR_CALLS_PER_HOUR", "visitor_calls_per_hour", "60",
           _non_negative(int),
           "Calls one visitor may make on the owner's key per rolling hour (0: no limit)."),
    EnvVar("CHATTERBOX_DAILY_CALL_BUDGET", "daily_call_budget", "1000", _non_negative(int),
           "Calls all visitors together may make on the owner's key per UTC day (0: no "
           "limit)."),
    EnvVar("CHATTERBOX_QUEUE_MAX_SIZE", "queue_max_size", "64", _positive(int),
           "Generate requests that may wait in Gradio's queue; later ones are told to retry."),
    EnvVar("CHATTERBOX_CONCURRENCY_LIMIT", "concurrency_limit", "16", _positive(int),
           "Generate requests worked on at once (they mostly wait on HTTP)."),
    EnvVar("GRADIO_SERVER_NAME", None, "127.0.0.1", str,
           "Interface to listen on (read by Gradio; `0.0.0.0` in a container)."),
    EnvVar("GRADIO_SERVER_PORT", None, "7860", str, "Port to listen on (read by Gradio)."),
    EnvVar("FORWARDED_ALLOW_IPS", None, "127.0.0.1", str,
           "Proxies whose X-Forwarded-For is believed (read by uvicorn). The per-visitor limit "
           "counts the address uvicorn derives; behind an untrusted proxy all visitors share "
           "one count, which is stricter, never looser."),
)


@dataclass(frozen=True)
class Settings:
    api_key: str = ""
    api_base: str = DEFAULT_API_BASE
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    max_retries: int = 3
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0
    max_response_mb: float = 50.0
    reference_encoding: str = "base64"
    max_text_chars: int = 5000
    chunk_chars: int = 300
    max_concurrency: int = 8
    reference_seconds: float = 10.0
    upload_max_mb: float = 20.0
    upload_max_seconds: float = 600.0
    cache_enabled: bool = True
    cache_dir: str = ""
    cache_max_mb: float = 500.0
    presets_dir: str = ""
    require_visitor_key: bool = False
    visitor_calls_per_hour: int = 60
    daily_call_budget: int = 1000
    queue_max_size: int = 64
    concurrency_limit: int = 16

    def __repr__(self) -> str:
        # The default dataclass repr would print the key into any log or traceback.
        shown = ", ".join(
            f"{f.name}={'***' if f.name == 'api_key' and self.api_key else repr(getattr(self, f.name))}"
            for f in fields(self)
        )
        return f"Settings({shown})"

    @property
    def cache_path(self) -> Path:
        return Path(self.cache_dir or _default_cache_dir())

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every variable of ENVIRONMENT; a bad value stops start-up naming the variable."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for var in ENVIRONMENT:
            if var.field is None:
                continue
            raw = environ.get(var.name, var.default)
            try:
                values[var.field] = var.parse(raw.strip() if var.field != "api_key" else raw)
            except ValueError as error:
                shown = "(hidden)" if var.field == "api_key" else repr(raw)
                raise ValueError(f"{var.name}={shown} is invalid: {error}") from None
        values["api_key"] = values["api_key"].strip()
        return cls(**values)


def markdown_table() -> str:
    """The README's configuration table."""
    rows = ["| variable | default | what it does |", "|---|---|---|"]
    for var in ENVIRONMENT:
        default = var.default_shown or (f"`{var.default}`" if var.default else "(empty)")
        rows.append(f"| `{var.name}` | {default} | {var.description} |")
    return "\n".join(rows)
