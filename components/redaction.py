"""Backend text made safe to show: a short excerpt in which no part of the API key survives.

A backend may echo what it was sent, and not always verbatim: as JSON \\u escapes, URL-encoded,
as HTML entities, in base64 (alone, or inside a bigger blob at any alignment, or wrapped over
several lines), in hex, masked down to its first or last characters, or broken by a line break.
Rather than recognising each encoding of the whole key, the excerpt is built like this:

1. parse the body as JSON and take its human part (`error`, `message`, `detail` or `msg`);
2. decode escapes (JSON, URL, HTML) until nothing changes, and collapse whitespace;
3. replace every word that shows, or whose base64 or hex decodes to, any FRAGMENT consecutive
   letters and digits of the key, compared ignoring case, punctuation and the spaces between
   words, so a key split over words is found too;
4. cut to at most 300 characters.

Three characters of a key are about 18 bits of it, and key prefixes such as "SG_" say nothing;
four consecutive characters are the shortest piece worth hiding, and a shorter rule would hide
ordinary words. Over-redaction costs a word of an error message; a leak costs the owner's key.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
import unicodedata
from collections.abc import Callable
from functools import partial
from typing import Any
from urllib.parse import unquote

REDACTED = "[redacted key]"
EXCERPT_CHARS = 300
FRAGMENT = 4  # consecutive letters and digits of the key that are never shown
DETAIL_FIELDS = ("error", "message", "detail", "msg")

# The work is bounded whatever the backend sends: only the start of a body is read, and only
# so much decoded text is examined.
_RAW_CHARS = 16_000
_EXAMINED_CHARS = 2_000
_ESCAPE_ROUNDS = 3  # an escape inside an escape inside an escape: %255Cu0073 and the like
_DECODE_DEPTH = 2  # an encoding inside an encoding: base64 of a URL-encoded key

_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})|\\([\\/\"'bfnrt])")
_SIMPLE_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
# Base64 runs (standard and URL-safe alphabets) and hex runs; 6 base64 characters are the
# fewest that can carry 4 bytes at some alignment.
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{6,}")
_HEX_RUN = re.compile(r"[0-9a-fA-F]{8,}")
_WRAPPED_LINE = re.compile(r"[A-Za-z0-9+/_-]{16,}")

_NOT_JSON = object()
_UNPARSED = object()
# A decoding of an encoded run, and where in the run a span of decoded bytes came from.
_View = tuple[bytes, Callable[[int, int], range]]


def backend_detail(body: bytes | str, secret: str, document: Any = _UNPARSED) -> str:
    """The human part of a backend answer, redacted and at most EXCERPT_CHARS characters.

    `document` is the body already parsed, when the caller has it; otherwise the start of the
    body is parsed here. The shape of Segmind's error bodies is undocumented, so any shape
    gives something to show.
    """
    text = body[:_RAW_CHARS] if isinstance(body, str) else body[: 4 * _RAW_CHARS].decode(
        "utf-8", errors="replace"
    )
    if document is _UNPARSED:
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):  # deep nesting raises RecursionError
            document = _NOT_JSON
    human = _human_part(document)
    return excerpt(human if human is not None else text, secret)


def excerpt(text: str, secret: str, limit: int = EXCERPT_CHARS) -> str:
    """`text` decoded, redacted and cut to at most `limit` characters."""
    shown = redact(text[:_RAW_CHARS], secret, _EXAMINED_CHARS)
    if len(shown) <= limit:
        return shown
    # Cut after redacting: every character shown was examined with its whole word.
    return shown[: limit - 1].rstrip() + "…"


def redact(text: str, secret: str, max_chars: int | None = None) -> str:
    """`text` with escapes decoded, whitespace collapsed, and every word that could carry a
    part of `secret` replaced by REDACTED (runs of such words by one REDACTED)."""
    words = _words(text, max_chars)
    fragments = _fragments(secret)
    if not fragments:
        return " ".join(words)
    flagged = _flag_words(words, fragments, _DECODE_DEPTH)
    shown: list[str] = []
    for index, word in enumerate(words):
        if index not in flagged:
            shown.append(word)
        elif not shown or shown[-1] != REDACTED:
            shown.append(REDACTED)
    return " ".join(shown)


def _human_part(document: Any) -> str | None:
    """The message of an error-shaped document, e.g. {"error": {"message": "..."}}."""
    if isinstance(document, str):
        return document
    for _ in range(3):  # nesting deeper than this is not a human message
        if not isinstance(document, dict):
            return None
        nested = None
        for field in DETAIL_FIELDS:
            value = document.get(field)
            if isinstance(value, str) and value.strip():
                return value
            if isinstance(value, dict) and nested is None:
                nested = value
        if nested is None:
            return None
        document = nested
    return None


def _words(text: str, max_chars: int | None) -> list[str]:
    """The words of `text` as a person would read them: escapes decoded, normalised."""
    text = _decode_escapes(text)
    text = unicodedata.normalize("NFKC", text)  # fullwidth "ＳＧ" is "SG"
    # Control and format characters (zero-width space, bidi marks...) become word breaks: they
    # are invisible in a message, and the split-key check looks across word breaks anyway.
    text = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in text)
    if max_chars is not None:
        text = text[:max_chars]
    return text.split()


def _decode_escapes(text: str) -> str:
    for _ in range(_ESCAPE_ROUNDS):
        decoded = html.unescape(unquote(_JSON_ESCAPE.sub(_json_unescape, text), errors="replace"))
        if decoded == text:
            break
        text = decoded
    return text


def _json_unescape(match: re.Match[str]) -> str:
    code, byte, simple = match.groups()
    if code or byte:
        return chr(int(code or byte, 16))
    return _SIMPLE_ESCAPES.get(simple, simple)


def _squeeze(text: str) -> str:
    """Letters and digits only, case folded: what is compared with the key."""
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def _fragments(secret: str) -> frozenset[str]:
    core = _squeeze(secret)
    if not core:
        return frozenset()
    size = min(FRAGMENT, len(core))  # a key shorter than FRAGMENT is hidden whole
    return frozenset(core[i : i + size] for i in range(len(core) - size + 1))


def _flag_words(words: list[str], fragments: frozenset[str], depth: int) -> set[int]:
    """Indices of the words that show, or encode, a fragment of the key."""
    flagged: set[int] = set()

    # Shown: fragments looked for across word breaks and punctuation ("SG_ 4f9 c2e 7a1").
    text = " ".join(words)
    owner = [index for index, word in enumerate(words) for _ in word + " "]
    for start, end in _matches(text, fragments):
        flagged.update(owner[start:end])

    # Encoded: base64 and hex runs. A run goes on past a word break only after a word that
    # looks like a wrapped line of base64 (long, nothing else in it), so short words next to a
    # blob stay words of their own.
    pieces, owner = [], []
    for index, word in enumerate(words):
        pieces.append(word)
        owner += [index] * len(word)
        if not _WRAPPED_LINE.fullmatch(word):
            pieces.append("\0")
            owner.append(-1)
    compact = "".join(pieces)
    for pattern, views in ((_BASE64_RUN, _base64_views), (_HEX_RUN, _hex_views)):
        for run in pattern.finditer(compact):
            for carried in _encoded_spans(run.group(), views, fragments, depth):
                flagged.update(owner[run.start() + carried.start : run.start() + carried.stop])
    flagged.discard(-1)
    return flagged


def _matches(text: str, fragments: frozenset[str]) -> list[tuple[int, int]]:
    """(start, end) spans of `text` whose letters and digits, case folded, are a fragment."""
    size = len(next(iter(fragments)))
    letters: list[str] = []
    where: list[int] = []
    for index, ch in enumerate(text):
        for folded in ch.casefold():  # casefold may give two letters ("ß" is "ss")
            if folded.isalnum():
                letters.append(folded)
                where.append(index)
    joined = "".join(letters)
    return [
        (where[k], where[k + size - 1] + 1)
        for k in range(len(joined) - size + 1)
        if joined[k : k + size] in fragments
    ]


def _encoded_spans(
    run: str, views: Callable[[str], list[_View]], fragments: frozenset[str], depth: int
) -> list[range]:
    """The characters of an encoded run that carry a fragment of the key: exactly those that
    decode to it, or the whole run when it decodes to an encoding of the key."""
    spans: list[range] = []
    for decoded, characters in views(run):
        # latin-1 maps every byte to one character, so byte offsets are character offsets.
        text = decoded.decode("latin-1")
        found = [characters(start, end) for start, end in _matches(text, fragments)]
        if not found and depth > 1 and _flag_words(_words(text, None), fragments, depth - 1):
            found = [range(len(run))]
        spans += found
    return spans


def _base64_views(run: str) -> list[_View]:
    """The run decoded from each of its four alignments, so a key's base64 is found wherever
    it starts inside a bigger blob (or after other word characters); with each, where in the
    run a span of decoded bytes came from (3 bytes from every 4 characters)."""
    standard = run.replace("-", "+").replace("_", "/")
    views = []
    for offset in range(4):
        chunk = standard[offset:]
        chunk = chunk[: len(chunk) - len(chunk) % 4] + _tail_padding(chunk)
        try:
            decoded = base64.b64decode(chunk)
        except (binascii.Error, ValueError):
            continue
        # Bytes start..end came from the 4-character groups holding bytes start and end - 1.
        views.append((decoded, partial(_base64_characters, offset)))
    return views


def _base64_characters(offset: int, start: int, end: int) -> range:
    return range(offset + start // 3 * 4, offset + (end + 2) // 3 * 4)


def _tail_padding(chunk: str) -> str:
    """The last 2 or 3 characters of a run still carry 1 or 2 bytes: keep them, padded."""
    remainder = len(chunk) % 4
    return chunk[len(chunk) - remainder :] + "=" * (4 - remainder) if remainder >= 2 else ""


def _hex_views(run: str) -> list[_View]:
    """The run decoded from both alignments; each byte came from 2 characters."""
    views = []
    for offset in (0, 1):
        digits = run[offset : offset + (len(run) - offset) // 2 * 2]
        views.append((bytes.fromhex(digits), partial(_hex_characters, offset)))
    return views


def _hex_characters(offset: int, start: int, end: int) -> range:
    return range(offset + 2 * start, offset + 2 * end)
