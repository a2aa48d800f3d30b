"""Captions, as WebVTT or SRT, for a take the app stitched from pieces.

Input is the take's timeline: one `Span` per backend call's audio, in seconds on the take's
timeline, holding exactly the text that call spoke; the pauses between spans are silence and
get no caption. `build_cues` turns it into `Cue`s, `scale_cues` retimes them for a take played
faster or slower, and `to_webvtt` / `to_srt` write the files.

Timing, in short (the README quotes the first two sentences):
    Caption times are exact at the edges of each piece of audio; inside a piece they are
    estimated, giving each sentence, and each cue where a sentence needs several, a share of
    the piece's duration proportional to its number of characters, not counting spaces.
    Sound tags such as [laugh] count as the characters they are written with.
  Equivalently: the time at a point of a span's text is start + duration x (non-space
  characters before it) / (non-space characters in the span).

Contract:
  * Every cue lies inside its span, and cues are in order and never overlap. The first cue of
    a span starts exactly at the span's start and its last cue ends exactly at its end; the
    cues of one span follow each other with no gap. A span with no duration, or with no text
    but whitespace, gets no cue.
  * A cue is at most 2 lines (MAX_LINES) of at most 42 characters (MAX_LINE_CHARS). Text that
    fits on one line is one line; otherwise lines are broken at spaces and balanced (as equal
    in length as possible; on a tie the top line is the shorter). A sentence too long for one
    cue is split at spaces into the fewest cues that hold it, as equal in length as possible.
    A cue never holds the end of one sentence and the start of the next, except by the
    merging below.
  * A "word" longer than 42 characters (a URL, a hash) is hard-split into pieces of 42
    characters, the last one shorter (by code point). A sound tag, any [...] of at most 42
    characters with no line break, is never wrapped inside; one with a word glued to it
    ("[laugh],") counts as part of that word. Inside a tag, runs of whitespace show as one
    space; everything else is shown as written, and no character of the text is dropped.
  * Minimum duration: a cue shorter than MIN_CUE_SECONDS (0.3 s) is merged with a neighbour in
    the same span (the shorter one) if their text together still fits in one cue. Otherwise,
    which happens only when a span is very short for its text, it is kept short. Cues are
    never moved outside their span to make them longer.
  * Speakers: if a span's `speaker` is not empty, the first cue of that span starts with
    "Name: ", as plain text, in both formats (no WebVTT <v> voice tag, so the `Cue` is the
    same for both). The name's whitespace is collapsed to single spaces; a name too long for
    one line is shortened with "…". The prefix is never alone in a cue and takes no time.
  * Sentences are found by pysbd (imported on first use) with sound tags masked out, "…"
    counting as a sentence end; if pysbd is not importable, fails, or disagrees with the text,
    by [.!?…] (with any closing quotes or brackets) followed by whitespace.
  * Spans may be given in any order; they are sorted by start. Spans overlapping by more than
    OVERLAP_TOLERANCE (1 ms) raise ValueError; a smaller overlap (float error in stitching) is
    resolved by starting the later span's first cue where the earlier one ends.
  * Files: WebVTT starts "WEBVTT" and a blank line, then unnumbered cues with
    "HH:MM:SS.mmm --> HH:MM:SS.mmm" and "&", "<", ">" escaped. SRT cues are numbered from 1,
    with "HH:MM:SS,mmm --> HH:MM:SS,mmm" and the text as is. Both use LF line ends, a blank
    line between cues and a final newline. Hours take as many digits as needed past 99;
    times are rounded to the nearest millisecond.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import NamedTuple

__all__ = [
    "MAX_LINES",
    "MAX_LINE_CHARS",
    "MIN_CUE_SECONDS",
    "Cue",
    "Span",
    "build_cues",
    "format_timestamp",
    "scale_cues",
    "split_sentences",
    "to_srt",
    "to_webvtt",
    "wrap_lines",
]

MAX_LINE_CHARS = 42
MAX_LINES = 2
MIN_CUE_SECONDS = 0.3
OVERLAP_TOLERANCE = 0.001
# pysbd's cost grows faster than linearly with the text; a span is one backend call (a few
# hundred characters), so anything past this is not a real span and uses the plain rule.
_PYSBD_MAX_CHARS = 10_000


def _check_times(kind: str, start: float, end: float) -> None:
    if not (math.isfinite(start) and math.isfinite(end)):
        raise ValueError(f"{kind} times must be finite, got {start!r} and {end!r}")
    if start < 0 or end < start:
        raise ValueError(f"{kind} must have 0 <= start <= end, got {start!r} and {end!r}")


@dataclass(frozen=True)
class Span:
    """One backend call's audio on the take's timeline (seconds) and exactly what it spoke."""

    start: float
    end: float
    text: str
    speaker: str = ""

    def __post_init__(self) -> None:
        _check_times("Span", self.start, self.end)


@dataclass(frozen=True)
class Cue:
    """One caption: its time on the take's timeline (seconds) and its lines, joined by "\\n"."""

    start: float
    end: float
    text: str

    def __post_init__(self) -> None:
        _check_times("Cue", self.start, self.end)


# --- words ----------------------------------------------------------------------------------


class _Token(NamedTuple):
    text: str  # as shown: no whitespace, except single spaces inside a sound tag
    weight: int  # characters that take time: non-space characters (0 for a speaker prefix)
    glued: bool  # continues the previous token (a hard-split piece): no space before it


def _tag_re(width: int) -> str:
    return rf"\[[^\[\]\n]{{0,{max(width - 2, 0)}}}\]"


def _word_re(width: int) -> re.Pattern[str]:
    # A word: non-space characters and whole sound tags (spaces and all), glued together.
    return re.compile(rf"(?:{_tag_re(width)}|\S)+")


_SPACE = re.compile(r"\s+")


def _weight(text: str) -> int:
    return len(text) - sum(ch.isspace() for ch in text)


def _pieces(word: str, width: int) -> list[_Token]:
    """`word` (whitespace already collapsed) as tokens of at most `width` characters."""
    if len(word) <= width:
        return [_Token(word, _weight(word), False)]
    tokens: list[_Token] = []
    # Only a sound tag holds spaces; a word this long is wrapped at them like plain text.
    for part in word.split(" "):
        for k in range(0, len(part), width):
            piece = part[k : k + width]
            tokens.append(_Token(piece, _weight(piece), k > 0))
    return tokens


def _tokens(text: str, width: int) -> tuple[list[_Token], list[tuple[int, int]]]:
    """The text's tokens and, for each, the (start, end) offsets of the word it comes from."""
    tokens: list[_Token] = []
    where: list[tuple[int, int]] = []
    for m in _word_re(width).finditer(text):
        for token in _pieces(_SPACE.sub(" ", m.group()), width):
            tokens.append(token)
            where.append(m.span())
    return tokens, where


# --- lines ----------------------------------------------------------------------------------


class _Lengths:
    """Length of tokens[i:j] laid out on one line, in O(1)."""

    def __init__(self, tokens: Sequence[_Token]) -> None:
        self.chars = [0]
        self.spaces = [0]
        for token in tokens:
            self.chars.append(self.chars[-1] + len(token.text))
            self.spaces.append(self.spaces[-1] + (not token.glued))

    def __call__(self, i: int, j: int) -> int:
        return self.chars[j] - self.chars[i] + self.spaces[j] - self.spaces[i + 1]


def _min_lines(tokens: Sequence[_Token], width: int) -> int:
    """The fewest lines of at most `width` that hold `tokens` (greedy filling is optimal)."""
    lines, used = 0, 0
    for token in tokens:
        extra = len(token.text) + (0 if token.glued else 1)
        if lines and used + extra <= width:
            used += extra
        else:
            lines, used = lines + 1, len(token.text)
    return lines


def _layout(tokens: Sequence[_Token], width: int) -> list[str]:
    """Tokens (each at most `width` long) on the fewest lines, lengths as equal as possible."""
    n = len(tokens)
    if n == 0:
        return []
    lines = _min_lines(tokens, width)
    length = _Lengths(tokens)
    inf = math.inf
    # cost[l][j]: least sum of squared line lengths putting tokens[:j] on l lines.
    cost = [[inf] * (n + 1) for _ in range(lines + 1)]
    back = [[0] * (n + 1) for _ in range(lines + 1)]
    cost[0][0] = 0
    for level in range(1, lines + 1):
        for j in range(1, n + 1):
            for i in range(j - 1, -1, -1):
                size = length(i, j)
                if size > width:
                    break
                c = cost[level - 1][i] + size * size
                if c <= cost[level][j]:  # ties go to the smallest i: earlier lines shorter
                    cost[level][j], back[level][j] = c, i
    breaks = [n]
    for level in range(lines, 0, -1):
        breaks.append(back[level][breaks[-1]])
    breaks.reverse()
    return [
        "".join(("" if t.glued or k == i else " ") + t.text for k, t in enumerate(tokens[i:j], i))
        for i, j in pairwise(breaks)
    ]


def wrap_lines(
    text: str, width: int = MAX_LINE_CHARS, max_lines: int | None = MAX_LINES
) -> list[str]:
    """`text` on the fewest lines of at most `width` characters, broken at spaces and balanced.

    Words longer than `width` are hard-split; sound tags are not broken. Raises ValueError if
    more than `max_lines` lines are needed (None: no limit). Whitespace-only text gives [].
    """
    if width < 1 or (max_lines is not None and max_lines < 1):
        raise ValueError("width and max_lines must be at least 1")
    tokens, _ = _tokens(text, width)
    if max_lines is not None and _min_lines(tokens, width) > max_lines:
        raise ValueError(f"text needs more than {max_lines} lines of {width} characters")
    return _layout(tokens, width)


# --- sentences ------------------------------------------------------------------------------

_REGEX_END = re.compile(r"[.!?…]['\"”’)\]]*(?=\s)")


def _masked(text: str) -> str:
    """`text` with sound tags' insides replaced by "x" and "…" by ".", offsets unchanged."""

    def mask(m: re.Match[str]) -> str:
        return "[" + "x" * (len(m.group()) - 2) + "]"

    return re.sub(_tag_re(MAX_LINE_CHARS), mask, text).replace("…", ".")


def _pysbd_ends(masked: str) -> set[int] | None:
    """Offsets just past each pysbd sentence's last non-space character; None if unavailable."""
    if len(masked) > _PYSBD_MAX_CHARS:
        return None
    try:
        import pysbd

        # A Segmenter is cheap to make and keeps the text it works on: one per call is
        # safe across threads.
        sentences = pysbd.Segmenter(language="en", clean=False).segment(masked)
    except Exception:  # noqa: BLE001 - a heuristic that failed: the plain rule takes over
        return None
    # pysbd may rewrite characters, but must keep their number: map by non-space count.
    offsets = [i + 1 for i, ch in enumerate(masked) if not ch.isspace()]
    ends, seen = set(), 0
    for sentence in sentences:
        seen += _weight(sentence)
        if seen > len(offsets):
            return None
        if seen:
            ends.add(offsets[seen - 1])
    return ends if seen == len(offsets) else None


def _sentence_ends(text: str) -> set[int]:
    masked = _masked(text)
    ends = _pysbd_ends(masked)
    if ends is None:
        ends = {m.end() for m in _REGEX_END.finditer(masked)}
    return ends


def _sentences(text: str, where: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Token ranges [lo, hi) of the sentences; a sentence only ends where a word does."""
    ends = _sentence_ends(text)
    ranges, lo = [], 0
    for k in range(len(where)):
        last = k + 1 == len(where)
        if last or (where[k][1] in ends and where[k + 1][0] != where[k][0]):
            ranges.append((lo, k + 1))
            lo = k + 1
    return ranges


def split_sentences(text: str) -> list[str]:
    """The sentences of `text` as build_cues sees them: slices of `text`, stripped."""
    _, where = _tokens(text, MAX_LINE_CHARS)
    return [text[where[lo][0] : where[hi - 1][1]] for lo, hi in _sentences(text, where)]


# --- cues -----------------------------------------------------------------------------------


def _prefix(speaker: str) -> _Token | None:
    name = " ".join(speaker.split())
    if not name:
        return None
    if len(name) + 1 > MAX_LINE_CHARS:
        name = name[: MAX_LINE_CHARS - 2] + "…"
    return _Token(name + ":", 0, False)


def _split_sentence(
    lo: int,
    hi: int,
    length: _Lengths,
    fits: Callable[[int, int], bool],
    no_break_at: int | None,
) -> list[tuple[int, int]]:
    """tokens[lo:hi] as the fewest cues that fit, their lengths as equal as possible."""
    most = MAX_LINES * (MAX_LINE_CHARS + 1)
    best: dict[int, tuple[int, int]] = {lo: (0, 0)}
    back: dict[int, int] = {}
    for j in range(lo + 1, hi + 1):
        if j == no_break_at and j < hi:
            continue
        for i in range(j - 1, lo - 1, -1):
            size = length(i, j)
            if size > most:
                break
            if i not in best or not fits(i, j):
                continue
            c = (best[i][0] + 1, best[i][1] + size * size)
            if j not in best or c < best[j]:
                best[j], back[j] = c, i
    groups, j = [], hi
    while j > lo:
        groups.append((back[j], j))
        j = back[j]
    groups.reverse()
    return groups


def _span_cues(span: Span, start: float) -> list[Cue]:
    if span.end <= start:
        return []
    tokens, where = _tokens(span.text, MAX_LINE_CHARS)
    if not tokens:
        return []
    sentences = _sentences(span.text, where)
    prefix = _prefix(span.speaker)
    if prefix is not None:
        tokens.insert(0, prefix)
        sentences = [(lo + 1, hi + 1) for lo, hi in sentences]
        sentences[0] = (0, sentences[0][1])

    weights = [0]
    for token in tokens:
        weights.append(weights[-1] + token.weight)
    total, duration = weights[-1], span.end - start

    def at(k: int) -> float:
        if k == len(tokens):
            return span.end
        return min(start + duration * weights[k] / total, span.end)

    length = _Lengths(tokens)

    def fits(i: int, j: int) -> bool:
        return _min_lines(tokens[i:j], MAX_LINE_CHARS) <= MAX_LINES

    groups: list[tuple[int, int]] = []
    for lo, hi in sentences:
        no_break_at = 1 if prefix is not None and lo == 0 else None  # the prefix never alone
        groups += _split_sentence(lo, hi, length, fits, no_break_at)

    # Merge cues under MIN_CUE_SECONDS into a neighbour while the text still fits in one cue.
    stuck: set[tuple[int, int]] = set()
    while True:
        short = [g for g in groups if at(g[1]) - at(g[0]) < MIN_CUE_SECONDS and g not in stuck]
        if not short:
            break
        g = min(short, key=lambda g: at(g[1]) - at(g[0]))
        k = groups.index(g)
        options = [n for n in (k - 1, k + 1) if 0 <= n < len(groups)]
        options = [n for n in options if fits(min(g[0], groups[n][0]), max(g[1], groups[n][1]))]
        if not options:
            stuck.add(g)
            continue
        n = min(options, key=lambda n: at(groups[n][1]) - at(groups[n][0]))
        lo, hi = min(k, n), max(k, n)
        groups[lo : hi + 1] = [(groups[lo][0], groups[hi][1])]

    return [Cue(at(i), at(j), "\n".join(_layout(tokens[i:j], MAX_LINE_CHARS))) for i, j in groups]


def build_cues(spans: Sequence[Span]) -> list[Cue]:
    """Cues for a take's timeline: see the module docstring for the rules."""
    cues: list[Cue] = []
    previous_end = 0.0
    for span in sorted(spans, key=lambda s: (s.start, s.end)):
        if span.start < previous_end - OVERLAP_TOLERANCE:
            raise ValueError(
                f"spans overlap: one starts at {span.start!r} s, before the one before it ends "
                f"({previous_end!r} s)"
            )
        cues += _span_cues(span, max(span.start, previous_end))
        previous_end = max(previous_end, span.end)
    return cues


def scale_cues(cues: Sequence[Cue], speed: float) -> list[Cue]:
    """The cues for the take played at `speed` (1.5 = 1.5x faster): every time / speed."""
    if not (math.isfinite(speed) and speed > 0):
        raise ValueError(f"speed must be a positive number, got {speed!r}")
    return [Cue(c.start / speed, c.end / speed, c.text) for c in cues]


# --- files ----------------------------------------------------------------------------------


def format_timestamp(seconds: float, separator: str = ".") -> str:
    """HH:MM:SS.mmm (separator "," for SRT), rounded to the millisecond; hours may pass 99."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a caption time must be a finite number >= 0, got {seconds!r}")
    ms = round(seconds * 1000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def _lines(text: str) -> str:
    # A blank line would end the cue early in both formats.
    return "\n".join(line for line in text.splitlines() if line.strip())


def to_webvtt(cues: Sequence[Cue]) -> str:
    """A WebVTT file of the cues (LF line ends)."""
    blocks = ["WEBVTT"]
    for cue in cues:
        text = _lines(cue.text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        blocks.append(f"{format_timestamp(cue.start)} --> {format_timestamp(cue.end)}\n{text}")
    return "\n\n".join(blocks) + "\n"


def to_srt(cues: Sequence[Cue]) -> str:
    """An SRT file of the cues, numbered from 1 (LF line ends)."""
    blocks = []
    for n, cue in enumerate(cues, 1):
        times = f"{format_timestamp(cue.start, ',')} --> {format_timestamp(cue.end, ',')}"
        blocks.append(f"{n}\n{times}\n{_lines(cue.text)}")
    return "\n\n".join(blocks) + "\n" if blocks else ""
