"""Split long text into TTS-sized chunks at sentence, clause and word boundaries, losslessly."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Contract, in short:
#   * Chunks are exact, contiguous slices of the input: joining their `text` gives the input
#     back. The one exception is empty or whitespace-only input, which has nothing to speak
#     and returns [] (so the join is "" rather than the whitespace).
#   * Whitespace between chunks belongs to the END of the chunk before it; the input's leading
#     whitespace belongs to the first chunk. Hence only the first chunk can start with whitespace.
#   * Every chunk's `spoken` (its text stripped) is non-empty and at most `max_chars` long.
#   * Chunks only ever end at whitespace, never inside a word. The one exception: a single
#     run of non-whitespace longer than `max_chars` (a URL, a hash, a garbage paste) cannot be
#     spoken in one call, so it is hard-split into `max_chars`-sized pieces (by code point;
#     such a split can separate a combining mark from its base, which is acceptable for junk).

# Boundary strengths, weakest first; a chunk's `pause_after` names the boundary that ended it.
_HARD = 0  # inside an over-long word
_WORD = 1
_CLAUSE = 2
_SENTENCE = 3
_PARAGRAPH = 4
_NONE = 5  # after the last word of the text

_PAUSE_NAMES = {
    _HARD: "word",
    _WORD: "word",
    _CLAUSE: "clause",
    _SENTENCE: "sentence",
    _PARAGRAPH: "paragraph",
    _NONE: "none",
}

_CLOSERS = "\"'”’)]}"
_OPENERS = "\"'“‘([{"
_SENTENCE_PUNCT = (".", "!", "?", "…")
_ELLIPSES = ("...", "…")
_CLAUSE_PUNCT = (",", ";", ":")
_DASH_WORDS = frozenset({"-", "–", "—", "--"})
# "word— next" is a dash; a trailing single "-" is a hyphen ("pre- and post-war").
_DASH_ENDINGS = ("–", "—", "--")

# Compared lower-cased, so "DR." and "dr." count too.
_ABBREVIATIONS = frozenset(
    {
        "dr.", "mr.", "mrs.", "ms.", "prof.", "st.", "jr.", "sr.", "vs.", "etc.",
        "e.g.", "i.e.", "u.s.", "u.k.", "a.m.", "p.m.", "no.", "fig.", "approx.",
    }
)  # fmt: skip

# Initials: "J." as well as run-together "J.R.R." (capital letters only, so "a." still ends).
_INITIALS = re.compile(r"(?:[^\W\d_]\.)+")

_WORD_RE = re.compile(r"\S+")
# `\S`/`\s` agree with str.isspace()/str.strip() for every code point, which is what makes
# "spoken = text.strip()" line up with the word spans found here.


@dataclass(frozen=True)
class Chunk:
    """One TTS call's worth of text: an exact slice `source[start:end]` of the input."""

    text: str
    start: int
    end: int
    pause_after: str  # "paragraph", "sentence", "clause", "word" or "none" (last chunk only)

    @property
    def spoken(self) -> str:
        """What is sent to the TTS backend: the slice without surrounding whitespace."""
        return self.text.strip()


@dataclass(slots=True)
class _Piece:
    """An unbreakable span that packing glues together; `kind` is the boundary after it."""

    start: int  # includes leading whitespace only for the text's very first piece
    end: int  # includes the trailing whitespace
    content_start: int  # first non-whitespace character
    content_end: int  # one past the last non-whitespace character
    kind: int
    break_before: bool = False


def _is_abbreviation(core: str) -> bool:
    """True for a period-final word that does not end a sentence ("Dr.", "e.g.", "J.")."""
    word = core.lstrip(_OPENERS)  # "(e.g." is still "e.g."
    if word.lower() in _ABBREVIATIONS:
        return True
    return _INITIALS.fullmatch(word) is not None and word.replace(".", "").isupper()


def _ends_sentence(word: str, next_word: str | None) -> bool:
    """Whether whitespace after `word` is a sentence boundary (closing quotes stay with it)."""
    core = word.rstrip(_CLOSERS)
    if not core.endswith(_SENTENCE_PUNCT):
        return False
    if core.endswith(_ELLIPSES):
        # "wait... then" trails off mid-sentence; "wait... Then" starts a new one.
        following = (next_word or "").lstrip(_OPENERS)
        return not following[:1].islower()
    if core.endswith("."):
        # Decimals such as "3.14" or "v2.0" never get here: a boundary needs whitespace
        # after the period, and a number's inner period has none.
        return not _is_abbreviation(core)
    return True  # "!" or "?"


def _ends_clause(word: str) -> bool:
    """Whether whitespace after `word` is a clause boundary (after , ; : or a dash)."""
    return (
        word.rstrip(_CLOSERS).endswith(_CLAUSE_PUNCT)
        or word in _DASH_WORDS
        or word.endswith(_DASH_ENDINGS)
    )


def chunk_text(text: str, max_chars: int = 300, first_chunk_sentences: int = 1) -> list[Chunk]:
    """Split `text` into chunks whose stripped text is at most `max_chars` characters.

    Sentences are packed greedily; a sentence too long for one chunk is split at clause
    boundaries, a clause too long at word boundaries, and a single word too long is cut
    every `max_chars` characters. Paragraph breaks always end a chunk. The first chunk holds
    at most `first_chunk_sentences` sentences so that the first audio arrives quickly.
    Empty or whitespace-only text gives [].
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}.")
    if first_chunk_sentences < 1:
        raise ValueError(f"first_chunk_sentences must be at least 1, got {first_chunk_sentences}.")

    matches = list(_WORD_RE.finditer(text))
    if not matches:
        return []
    words = [m.group() for m in matches]
    word_starts = [m.start() for m in matches]
    word_ends = [m.end() for m in matches]
    count = len(words)
    # Token i runs from its word to the next word, so it owns its trailing whitespace;
    # token 0 also owns the text's leading whitespace.
    token_starts = [0, *word_starts[1:]]
    token_ends = [*word_starts[1:], len(text)]

    # gaps[i] is the boundary between token i and token i + 1.
    gaps: list[int] = []
    for i in range(count - 1):
        if text.count("\n", word_ends[i], word_starts[i + 1]) >= 2:
            gaps.append(_PARAGRAPH)  # the whitespace contains \n\s*\n
        elif _ends_sentence(words[i], words[i + 1]):
            gaps.append(_SENTENCE)
        elif _ends_clause(words[i]):
            gaps.append(_CLAUSE)
        else:
            gaps.append(_WORD)
    gaps.append(_NONE)

    pieces: list[_Piece] = []

    def hard_split(i: int) -> None:
        # The only place a chunk boundary can fall inside a word.
        cut_starts = list(range(word_starts[i], word_ends[i], max_chars))
        for n, cut in enumerate(cut_starts):
            last = n == len(cut_starts) - 1
            pieces.append(
                _Piece(
                    start=token_starts[i] if n == 0 else cut,
                    end=token_ends[i] if last else cut + max_chars,
                    content_start=cut,
                    content_end=word_ends[i] if last else cut + max_chars,
                    kind=gaps[i] if last else _HARD,
                )
            )

    def emit(lo: int, hi: int, level: int) -> None:
        """Turn tokens lo..hi-1 (no inner gap as strong as `level`) into pieces."""
        if word_ends[hi - 1] - word_starts[lo] <= max_chars:
            last = hi - 1
            start, content_start = token_starts[lo], word_starts[lo]
            pieces.append(
                _Piece(start, token_ends[last], content_start, word_ends[last], gaps[last])
            )
            return
        first = len(pieces)
        if hi - lo == 1:
            hard_split(lo)
        else:
            # Too long: cut at the next weaker boundary kind (sentence -> clause -> word).
            weaker = level - 1
            sub_lo = lo
            for i in range(lo, hi - 1):
                if gaps[i] >= weaker:
                    emit(sub_lo, i + 1, weaker)
                    sub_lo = i + 1
            emit(sub_lo, hi, weaker)
        # Start an over-long unit in a fresh chunk, so the chunk before it ends at the
        # stronger boundary in front of it instead of somewhere inside it.
        pieces[first].break_before = True

    # Sentences (and paragraphs, which also end sentences) are the units packing starts from.
    lo = 0
    for i in range(count):
        if gaps[i] >= _SENTENCE:
            emit(lo, i + 1, _SENTENCE)
            lo = i + 1

    chunks: list[Chunk] = []
    cur_start = cur_content_start = -1  # -1: no open chunk
    cur_kind = _NONE
    first_chunk_sentence_count = 0

    def close(end: int) -> None:
        nonlocal cur_start
        chunks.append(Chunk(text[cur_start:end], cur_start, end, _PAUSE_NAMES[cur_kind]))
        cur_start = -1

    for piece in pieces:
        too_long = piece.content_end - cur_content_start > max_chars
        if cur_start >= 0 and (piece.break_before or too_long):
            close(piece.start)
        if cur_start < 0:
            cur_start, cur_content_start = piece.start, piece.content_start
        cur_kind = piece.kind
        if piece.kind == _PARAGRAPH:
            close(piece.end)
        elif piece.kind == _SENTENCE and not chunks:
            # Keep the first chunk short so the first audio comes back fast.
            first_chunk_sentence_count += 1
            if first_chunk_sentence_count >= first_chunk_sentences:
                close(piece.end)
    if cur_start >= 0:
        close(len(text))
    return chunks
