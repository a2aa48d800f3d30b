"""Pause tags written in the text: `[pause:500ms]`, `[pause:1.5s]`.

A pause tag inserts exactly the silence it names and is never sent to the backend: the app
splits the text at it, synthesizes the parts around it separately and joins them with that
silence. It is not one of Chatterbox Turbo's sound tags (`[laugh]`, `[sigh]`, `[clear throat]`
...), which the model performs and which pass through here untouched.

Contract, in short:
  * A pause tag is `[`, `pause`, `:`, a length, a unit, `]`. Letters in any case, whitespace
    (any, line breaks included) allowed between the parts and inside the brackets:
    `[pause:500ms]`, `[PAUSE: 750 ms]`, `[ pause : 0.25 s ]`.
  * The length is ASCII digits with an optional decimal part (`2`, `1.5`, `0.25`), or a bare
    decimal part (`.5`, accepted: it can only mean 0.5). Not accepted: a trailing point (`5.`),
    a decimal comma (`1,5`), a sign (`-1`, `+1`), exponents, non-ASCII digits.
  * The unit is `ms` or `s`, nothing else (`sec`, `msec`, `min`, `h` ... are refused, with the
    spelling to use when one exists).
  * From 0 to MAX_PAUSE_SECONDS (10 s) inclusive, checked exactly (`10000ms` and `10s` pass,
    `10.0001s` does not). The limit is per tag; see "consecutive tags" below.
  * What counts as an attempt at a pause tag, and is refused when it is not a valid one: a
    bracket span whose content (after leading whitespace) is the word `pause`, in any case,
    followed (after optional whitespace) by the end of the span, `:`, `=`, or a number (a
    digit, or `-`/`+`/`.` then a digit). So `[pause]`, `[pause:]`, `[Pause:abc]`, `[pause 2s]`,
    `[pause=2s]`, `[pause2s]`, `[pause -1s]` are attempts; `[paused]`, `[pauses are nice]`,
    `[pause for effect]`, `[pause...]`, `[laugh]`, `[citation needed]` are ordinary text that
    this module leaves alone (Turbo may perform or speak them; that is not this module's call).
    An attempt whose `[` is never closed (`[pause:500ms and on`) is refused too, since it
    would otherwise be read aloud.
  * Every refusal is `InvalidInput("text", message)`; the message quotes the tag as written
    (cut to 60 characters) and says how to write it. The first bad tag in the text is reported.
  * `split_pauses` cuts the text at each tag. The whitespace next to a tag is dropped (each
    segment's text is stripped on the sides where a tag was); the text's own leading and
    trailing whitespace is not, so a text without tags comes back as `[Segment(text, 0.0)]`.
  * A tag at the very start gives a first Segment with text "" and that pause; a tag at the
    end becomes the last segment's `pause_after` (no empty segment follows it).
  * Consecutive tags (nothing but whitespace between them) add up into one `pause_after`,
    summed exactly (as decimals, rounded to float once), so the silence is the sum of the
    tags: `[pause:0.1s][pause:0.2s]` is 0.3, not 0.30000000000000004. The 10 s limit applies
    to each tag, not to such a sum.
  * `strip_pauses` removes the tags: a run of tags and the whitespace around it becomes one
    space between words, nothing at the start or end of the text, and a line break (or a
    paragraph break) when the whitespace it replaces held one, so the chunker still sees the
    paragraphs. Everything else is kept as written.
  * Linear time: one regex pass over the bracket spans, a few regex calls per span.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Context, Decimal

from components.errors import InvalidInput

MAX_PAUSE_SECONDS = 10.0
_MAX_SECONDS = Decimal(10)
_MAX_MILLISECONDS = Decimal(10_000)
# Lengths are added as decimals, exactly: 60 significant digits hold any sum of tags to far
# below a float's resolution (a tag written with more digits than that is rounded there).
_EXACT = Context(prec=60)

# Explicit letter classes rather than re.IGNORECASE: under Unicode case folding "ſ" (long s)
# and "K" (Kelvin sign) would match "s" and "k".
_PAUSE = r"[Pp][Aa][Uu][Ss][Ee]"
# A bracket span: "[" then anything but brackets, then "]" when there is one. Spans never
# overlap, so one finditer over the text is linear.
_SPAN = re.compile(r"\[([^\[\]]*)(\])?")
_ATTEMPT = re.compile(rf"\s*{_PAUSE}\s*(?:\Z|[:=]|[-+.]?[0-9])")
_HEAD = re.compile(rf"\s*{_PAUSE}\s*")
_VALID = re.compile(
    rf"\s*{_PAUSE}\s*:\s*(?P<num>[0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s*(?P<unit>[Mm][Ss]|[Ss])\s*"
)
# Lenient shapes, only to explain a refusal.
_LOOSE_NUMBER = re.compile(r"[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+")
_WORD = re.compile(r"[^\W\d_]+")
_UNCLOSED_QUOTE = re.compile(rf"\[\s*{_PAUSE}\s*[:=]?\s*[^\s\[\]]*")
_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n")

_EXAMPLE = "[pause:500ms] or [pause:1.5s]"
_UNIT_SPELLINGS = {
    "sec": "s", "secs": "s", "second": "s", "seconds": "s",
    "msec": "ms", "msecs": "ms", "millisecond": "ms", "milliseconds": "ms",
}
_QUOTE_LIMIT = 60


@dataclass(frozen=True)
class Segment:
    """A piece of text to speak (possibly "") followed by `pause_after` seconds of silence."""

    text: str
    pause_after: float


def has_pauses(text: str) -> bool:
    """Whether the text holds a pause tag or an attempt at one, i.e. whether `split_pauses`
    has anything to do (or to refuse). Never raises."""
    if "[" not in text:
        return False
    return any(_ATTEMPT.match(m.group(1)) for m in _SPAN.finditer(text))


def split_pauses(text: str) -> list[Segment]:
    """The text cut at its pause tags; `InvalidInput("text", ...)` for a malformed one."""
    tags = _scan(text, strict=True)
    if not tags:
        return [Segment(text, 0.0)]
    parts: list[tuple[str, Decimal]] = []
    previous_end = 0
    for start, end, seconds in tags:
        piece = text[previous_end:start]
        piece = piece.rstrip() if previous_end == 0 else piece.strip()
        if parts and not piece:
            parts[-1] = (parts[-1][0], _EXACT.add(parts[-1][1], seconds))
        else:
            parts.append((piece, seconds))
        previous_end = end
    tail = text[previous_end:].lstrip()
    if tail:
        parts.append((tail, Decimal(0)))
    return [Segment(piece, float(seconds)) for piece, seconds in parts]


def strip_pauses(text: str, *, strict: bool = True) -> str:
    """The text without its pause tags, for the character count and the cost preview.

    With `strict` (the default) a malformed tag raises `InvalidInput` as `split_pauses` does;
    without it, a malformed tag is left in place as text (for a live count while typing)."""
    tags = _scan(text, strict=strict)
    if not tags:
        return text
    out: list[str] = []
    kept_from = 0  # the start of the text not yet copied to `out`
    index = 0
    while index < len(tags):
        group_start, group_end, _ = tags[index]
        removed = []  # the whitespace between the tags of this run
        index += 1
        while index < len(tags):
            gap = text[group_end:tags[index][0]]
            if gap and not gap.isspace():
                break
            removed.append(gap)
            group_end = tags[index][1]
            index += 1
        left = group_start
        while left > kept_from and text[left - 1].isspace():
            left -= 1
        right = group_end
        while right < len(text) and text[right].isspace():
            right += 1
        out.append(text[kept_from:left])
        if left > 0 and right < len(text):
            whitespace = text[left:group_start] + "".join(removed) + text[group_end:right]
            if _PARAGRAPH_BREAK.search(whitespace):
                out.append("\n\n")
            elif "\n" in whitespace:
                out.append("\n")
            else:
                out.append(" ")
        kept_from = right
    out.append(text[kept_from:])
    return "".join(out)


def total_pause_seconds(segments: list[Segment]) -> float:
    """The silence the segments insert, summed without float drift."""
    return math.fsum(segment.pause_after for segment in segments)


def silence_samples(seconds: float, sample_rate: int) -> int:
    """How many samples `seconds` of silence is, rounded (not truncated: int(0.3 * 24000)
    would be exact, but a float a hair under would lose a sample)."""
    return round(seconds * sample_rate)


def _scan(text: str, *, strict: bool) -> list[tuple[int, int, Decimal]]:
    """(start, end, seconds) of each valid pause tag, in order."""
    if "[" not in text:
        return []
    tags = []
    for match in _SPAN.finditer(text):
        body = match.group(1)
        if not _ATTEMPT.match(body):
            continue
        try:
            if match.group(2) is None:
                quoted = _UNCLOSED_QUOTE.match(text, match.start()).group()
                raise _refusal(quoted, 'is not closed: end it with "]", e.g. ' + _EXAMPLE)
            tags.append((match.start(), match.end(), _seconds(match.group(), body)))
        except InvalidInput:
            if strict:
                raise
    return tags


def _seconds(tag: str, body: str) -> Decimal:
    """The length of the tag `tag` (content `body`, an attempt), or a refusal saying why not."""
    valid = _VALID.fullmatch(body)
    if valid is None:
        raise _diagnose(tag, body)
    number = Decimal(valid.group("num"))
    milliseconds = valid.group("unit").lower() == "ms"
    if number > (_MAX_MILLISECONDS if milliseconds else _MAX_SECONDS):
        raise _refusal(
            tag, f"is longer than the {MAX_PAUSE_SECONDS:g} s limit: write at most "
            "[pause:10s] (or [pause:10000ms])"
        )
    return number.scaleb(-3, _EXACT) if milliseconds else number


def _diagnose(tag: str, body: str) -> InvalidInput:
    """Why an attempt at a pause tag is not one, and how to write it."""
    rest = body[_HEAD.match(body).end():]
    separator = rest[:1]
    if separator in (":", "="):
        rest = rest[1:]
    value = rest.strip()
    if not value:
        return _refusal(tag, "has no length: write it like " + _EXAMPLE)
    if value[0] in "-+":
        if value[0] == "-" and _LOOSE_NUMBER.match(value[1:].lstrip()):
            return _refusal(
                tag, f"is negative: a pause lasts from 0 to {MAX_PAUSE_SECONDS:g} s, "
                "e.g. " + _EXAMPLE
            )
        return _refusal(tag, "has a sign: write the length without one, e.g. " + _EXAMPLE)
    number_match = _LOOSE_NUMBER.match(value)
    if number_match is None:
        return _refusal(tag, "is not a length: write a number and a unit, e.g. " + _EXAMPLE)
    number = number_match.group()
    unit = value[number_match.end():].strip()
    if unit and not _WORD.fullmatch(unit):
        return _refusal(tag, "is not a length: write a number and a unit, e.g. " + _EXAMPLE)
    unit_lower = unit.lower()
    good_unit = unit_lower if unit_lower in ("ms", "s") else _UNIT_SPELLINGS.get(unit_lower)
    if "," in number:
        fixed = number.replace(",", ".").removesuffix(".")
        return _refusal(
            tag, f"uses a decimal comma: write a point, e.g. [pause:{fixed}{good_unit or 's'}]"
        )
    if number.endswith("."):
        return _refusal(
            tag, f"ends its number with a point: write [pause:{number[:-1]}{good_unit or 's'}]"
        )
    if not unit:
        return _refusal(tag, "has no unit: write " + _unit_suggestion(number))
    if good_unit is None:
        return _refusal(
            tag, f'uses the unit "{unit}": only ms and s are allowed, e.g. ' + _EXAMPLE
        )
    if good_unit != unit_lower:
        return _refusal(tag, f'writes the unit as "{unit}": write [pause:{number}{good_unit}]')
    if separator == ":":  # not reached: such a value is valid; kept so no attempt slips by
        return _refusal(tag, "is not a length: write a number and a unit, e.g. " + _EXAMPLE)
    # The value is fine; what is missing is the colon: "[pause 2s]", "[pause=2s]", "[pause2s]".
    return _refusal(tag, f'needs a colon after "pause": write [pause:{number}{good_unit}]')


def _unit_suggestion(number: str) -> str:
    """'[pause:500ms] or [pause:0.5s]' for a unitless 500: both readings, the likelier first."""
    value = Decimal(number)
    if 0 < value <= _MAX_SECONDS:  # 2 is more likely 2 s than 2 ms
        return f"[pause:{number}s] or [pause:{_plain(value * 1000)}ms]"
    if value <= _MAX_MILLISECONDS:
        return f"[pause:{number}ms] or [pause:{_plain(value / 1000)}s]"
    return "the length with ms or s, e.g. " + _EXAMPLE


def _plain(value: Decimal) -> str:
    """A decimal as people write it: 0.5, 2000, 0.002 (no exponent, no trailing zeros)."""
    return format(value.normalize(), "f")


def _refusal(tag: str, what: str) -> InvalidInput:
    if len(tag) > _QUOTE_LIMIT:
        tag = tag[: _QUOTE_LIMIT - 1] + "…"
    return InvalidInput("text", f'The pause tag "{tag}" {what}.')
