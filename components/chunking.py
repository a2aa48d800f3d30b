"""Split long text into TTS-sized chunks at sentence, clause and word boundaries, losslessly."""

from __future__ import annotations

import re
import threading
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

# Contract, in short:
#   * Chunks are exact, contiguous slices of the input: joining their `text` gives the input
#     back. The one exception is empty or whitespace-only input, which has nothing to speak
#     and returns [] (so the join is "" rather than the whitespace).
#   * Whitespace between chunks belongs to the END of the chunk before it; the input's leading
#     whitespace belongs to the first chunk. Hence only the first chunk can start with whitespace.
#   * Every chunk's `spoken` (its text stripped) is non-empty and at most `max_chars` long.
#   * Chunks only ever end at whitespace, never inside a word. The one exception: a single
#     run of non-whitespace longer than `max_chars` (a URL, a hash, a garbage paste) cannot be
#     spoken in one call, so it is hard-split into pieces of at most `max_chars` (by code point;
#     such a split can separate a combining mark from its base, which is acceptable for junk).
#   * Sound tags are never split. Chatterbox Turbo speaks paralinguistic tags written in square
#     brackets ("[laugh]", "[clear throat]"); any [...] span that fits in one chunk and holds no
#     paragraph break is one, and counts as part of the word it is written in, spaces and all.
#     Even a hard split cuts beside a tag, never inside it.
#   * Sentence boundaries come from pysbd, a rule-based segmenter with a maintained list of
#     abbreviations ("Mt. Everest", "Acme Inc. makes", "in Jan. and", "cf. the note" do not end
#     sentences). A tag belongs to the sentence it starts or sits in; one between a sentence's
#     end and more text starts the next sentence; one after the last sentence of a paragraph
#     stays with it.

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
_CLAUSE_PUNCT = (",", ";", ":")
_DASH_WORDS = frozenset({"-", "–", "—", "--"})
# "word— next" is a dash; a trailing single "-" is a hyphen ("pre- and post-war").
_DASH_ENDINGS = ("–", "—", "--")

_WORD_RE = re.compile(r"\S+")
# `\S`/`\s` agree with str.isspace()/str.strip() for every code point, which is what makes
# "spoken = text.strip()" line up with the word spans found here.
_TAG_RE = re.compile(r"\[[^\[\]]*\]")  # innermost brackets: tags do not nest
_PARAGRAPH_BREAK_RE = re.compile(r"\n\s*\n")

# --- sentence boundaries by pysbd -------------------------------------------------------------

# What pysbd reads is our words with their tags taken out (a tag is not text: "[really?]" must
# not end a sentence, and "Hi. [laugh] Bye." must read as "Hi. Bye."), one space between words
# and a newline at paragraph breaks only, so that a hard-wrapped line does not end a sentence.
# Two spellings pysbd does not know are given as the ones it does: "Wait… Then" ends a sentence
# as "Wait... Then" does, and "‘Stop?’ Then" as "'Stop?' Then" does.
_FOR_PYSBD = str.maketrans({"…": "...", "‘": "'", "’": "'"})

# Abbreviations pysbd 0.3.4 lacks. Listed as prepositive, they never end a sentence: "cf." and
# "approx." are followed by what they qualify, capitalised or not ("cf. Table 2").
_EXTRA_ABBREVIATIONS = ("cf", "approx")

# pysbd's abbreviation pass costs (length of a line) x (abbreviations in it): 100,000
# characters of "e.g. x " take 20 s in one piece. So it reads windows of about this many
# characters, each starting at a sentence start it found in the window before.
_WINDOW_CHARS = 2000
# A sentence start found this close to a window's cut is not taken from that window: the words
# after it are cut off there. The next window starts before it and decides again.
_WINDOW_MARGIN = 200
# How far apart pysbd's idea of where a sentence starts and the text may drift before it is
# given up on. pysbd rewrites a few characters it uses as placeholders ("∯" comes back as ".");
# a sentence that cannot be found near where it should be simply gives no boundary.
_RESYNC_CHARS = 64

# A sentence ending inside brackets, "It rained (a lot.) Then it stopped.", which pysbd does not
# split, though it does split after a closing quote ('"Stop." Then'). A capital must follow.
_ENDS_IN_BRACKETS_RE = re.compile(r"[.!?][)\]}]+$")

_segmenter: Any = None
_segmenter_lock = threading.Lock()


def _pysbd_segmenter() -> Any:
    """The one pysbd Segmenter, built on first use: importing pysbd takes about 10 ms."""
    global _segmenter
    with _segmenter_lock:
        if _segmenter is None:
            import pysbd
            from pysbd.lang.english import English

            class _English(English):
                class Abbreviation(English.Abbreviation):
                    ABBREVIATIONS = [*English.Abbreviation.ABBREVIATIONS, *_EXTRA_ABBREVIATIONS]
                    PREPOSITIVE_ABBREVIATIONS = [
                        *English.Abbreviation.PREPOSITIVE_ABBREVIATIONS,
                        *_EXTRA_ABBREVIATIONS,
                    ]

            segmenter = pysbd.Segmenter(language="en", clean=False, char_span=True)
            segmenter.language_module = _English
            _segmenter = segmenter
        return _segmenter


def _pysbd_sentences(text: str) -> list[str]:
    """pysbd's sentences of `text`, whitespace and all, as it returns them (not as spans).

    Segmenter.segment() is not used: its char_span offsets skip leading whitespace and are
    found by searching the whole text again for each sentence, which takes minutes for
    100,000 characters of short, repeated sentences; and it keeps the text on the Segmenter,
    so one shared Segmenter is not safe across threads. Its processor() makes a fresh object
    per call, and the spans are found here, in linear time.
    """
    return _pysbd_segmenter().processor(text).process() or []


def _sentence_offsets(stream: str, sentences: list[str]) -> list[int]:
    """Where in `stream` (the window's text without whitespace) each later sentence starts."""
    offsets: list[int] = []
    found_end = 0  # just past the last sentence that was found
    expected = 0  # where the next sentence starts if pysbd kept every character
    for sentence in sentences:
        key = "".join(sentence.split())
        if not key:
            continue
        lo = max(found_end, expected - _RESYNC_CHARS)
        at = stream.find(key, lo, expected + len(key) + _RESYNC_CHARS)
        if at < 0:
            expected += len(key)  # rewritten by pysbd: no boundary, and carry on after it
            continue
        if at > 0:
            offsets.append(at)
        found_end = expected = at + len(key)
    return offsets


def _sentence_starts(normalized: list[str], paragraph_before: list[bool]) -> set[int]:
    """Indices of the words that start a sentence (other than the text's first word).

    `normalized[i]` is word i as pysbd should read it ("" for a word that is only tags), and
    `paragraph_before[i]` whether a paragraph break comes before it.
    """
    # Only words with text take part; `with_text` maps their order to word indices.
    with_text = [i for i, word in enumerate(normalized) if word]
    starts: set[int] = set()
    first = 0
    while first < len(with_text):
        # One window of whole words, from `first` to `last` (exclusive).
        last, size, parts, offsets = first, 0, [], []
        while last < len(with_text) and (size < _WINDOW_CHARS or last == first):
            word = normalized[with_text[last]]
            if last > first:
                parts.append("\n" if paragraph_before[with_text[last]] else " ")
            parts.append(word)
            offsets.append(size)
            size += len(word)
            last += 1
        stream = "".join(normalized[with_text[k]] for k in range(first, last))
        try:
            sentences = _pysbd_sentences("".join(parts))
        except Exception:  # noqa: BLE001 - a segmenter bug must not fail a take
            sentences = []  # the window is read as one sentence; packing still splits it
        found: list[int] = []
        for offset in _sentence_offsets(stream, sentences):
            k = bisect_right(offsets, offset) - 1
            inside = offset - offsets[k]
            word = normalized[with_text[first + k]]
            if not word[:inside].strip(_OPENERS):
                found.append(first + k)  # an opening quote or bracket goes with its sentence
            elif not word[inside:].strip(_CLOSERS) and first + k + 1 < last:
                found.append(first + k + 1)  # '{done!' + '}': the closer stays with its end
            # Any other boundary inside a word is dropped: chunks end at whitespace only.
        for k in range(first + 1, last):
            previous, word = normalized[with_text[k - 1]], normalized[with_text[k]]
            if _ENDS_IN_BRACKETS_RE.search(previous) and word.lstrip(_OPENERS)[:1].isupper():
                found.append(k)
        if last == len(with_text):
            starts.update(with_text[k] for k in found)
            break
        cut = offsets[-1] + len(normalized[with_text[last - 1]])
        settled = [k for k in found if k > first and offsets[k - first] <= cut - _WINDOW_MARGIN]
        starts.update(with_text[k] for k in settled)
        if settled:
            first = max(settled)
        else:
            # No sentence start to go on from: go on from the last word before the margin.
            first = first + max(1, bisect_right(offsets, cut - _WINDOW_MARGIN) - 1)
    return starts


# --- words and tags ---------------------------------------------------------------------------


def _find_tags(text: str, max_chars: int) -> list[tuple[int, int]]:
    """The spans of the sound tags in `text`: [...] spans that fit in one chunk."""
    return [
        m.span()
        for m in _TAG_RE.finditer(text)
        if m.end() - m.start() <= max_chars and not _PARAGRAPH_BREAK_RE.search(m.group())
    ]


def _find_words(text: str, tags: list[tuple[int, int]]) -> list[list[int]]:
    """[start, end] of each word: a run of non-whitespace, joined across any tag's spaces."""
    words: list[list[int]] = []
    t = 0
    for m in _WORD_RE.finditer(text):
        start, end = m.span()
        while t < len(tags) and tags[t][1] <= start:
            t += 1
        if words and t < len(tags) and tags[t][0] < start:
            words[-1][1] = end  # this run starts inside a tag that began in the word before
        else:
            words.append([start, end])
    return words


def _without_tags(text: str, words: list[list[int]], tags: list[tuple[int, int]]) -> list[str]:
    """Each word's text with its tags taken out."""
    texts = []
    t = 0
    for start, end in words:
        parts, position = [], start
        while t < len(tags) and tags[t][0] < end:
            parts.append(text[position : tags[t][0]])
            position = tags[t][1]
            t += 1
        parts.append(text[position:end])
        texts.append("".join(parts))
    return texts


def _ends_clause(word: str) -> bool:
    """Whether whitespace after `word` (tags taken out) is a clause boundary: , ; : or a dash."""
    return (
        word.rstrip(_CLOSERS).endswith(_CLAUSE_PUNCT)
        or word in _DASH_WORDS
        or word.endswith(_DASH_ENDINGS)
    )


# --- packing ----------------------------------------------------------------------------------


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


def chunk_text(text: str, max_chars: int = 300, first_chunk_sentences: int = 1) -> list[Chunk]:
    """Split `text` into chunks whose stripped text is at most `max_chars` characters.

    Sentences are packed greedily; a sentence too long for one chunk is split at clause
    boundaries, a clause too long at word boundaries, and a single word too long is cut
    every `max_chars` characters (or sooner, so as not to cut a sound tag). Paragraph breaks
    always end a chunk. The first chunk holds at most `first_chunk_sentences` sentences so
    that the first audio arrives quickly. Empty or whitespace-only text gives [].
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}.")
    if first_chunk_sentences < 1:
        raise ValueError(f"first_chunk_sentences must be at least 1, got {first_chunk_sentences}.")

    tags = _find_tags(text, max_chars)
    spans = _find_words(text, tags)
    if not spans:
        return []
    word_starts = [start for start, _ in spans]
    word_ends = [end for _, end in spans]
    # Each word without its tags, spelled as pysbd is to read it; "" for a word of tags only.
    untagged = [word.translate(_FOR_PYSBD) for word in _without_tags(text, spans, tags)]
    count = len(spans)
    # Token i runs from its word to the next word, so it owns its trailing whitespace;
    # token 0 also owns the text's leading whitespace.
    token_starts = [0, *word_starts[1:]]
    token_ends = [*word_starts[1:], len(text)]

    # paragraph_before[i]: the whitespace before word i contains \n\s*\n.
    paragraph_before = [False] + [
        text.count("\n", word_ends[i], word_starts[i + 1]) >= 2 for i in range(count - 1)
    ]
    starts = _sentence_starts(untagged, paragraph_before)
    # A tag between one sentence's end and the next sentence's text starts that sentence
    # ("Hi. [laugh] Bye."): move each start back over the words before it that are only tags,
    # but not past a paragraph break or the sentence before's own start.
    for start in sorted(starts):
        moved = start
        while (
            moved - 1 > 0
            and not untagged[moved - 1]
            and not paragraph_before[moved]
            and moved - 1 not in starts
        ):
            moved -= 1
        if moved != start:
            starts.discard(start)
            starts.add(moved)

    # gaps[i] is the boundary between token i and token i + 1.
    gaps: list[int] = []
    for i in range(count - 1):
        if paragraph_before[i + 1]:
            gaps.append(_PARAGRAPH)
        elif i + 1 in starts:
            gaps.append(_SENTENCE)
        elif _ends_clause(untagged[i]):
            gaps.append(_CLAUSE)
        else:
            gaps.append(_WORD)
    gaps.append(_NONE)

    pieces: list[_Piece] = []

    def hard_cuts(i: int) -> list[int]:
        """Where to cut word i, longer than max_chars: as late as fits, but beside any tag."""
        cuts, position = [word_starts[i]], word_starts[i]
        t = bisect_right(tags, (position, len(text))) - 1  # the last tag starting at or before
        while word_ends[i] - position > max_chars:
            cut = position + max_chars
            while t + 1 < len(tags) and tags[t + 1][0] < cut:
                t += 1
            if t >= 0 and tags[t][0] < cut < tags[t][1]:
                cut = tags[t][0]  # after `position`, as a tag is never longer than max_chars
            cuts.append(cut)
            position = cut
        return cuts

    def hard_split(i: int) -> None:
        # The only place a chunk boundary can fall inside a word.
        cut_starts = hard_cuts(i)
        for n, cut in enumerate(cut_starts):
            last = n == len(cut_starts) - 1
            cut_end = word_ends[i] if last else cut_starts[n + 1]
            pieces.append(
                _Piece(
                    start=token_starts[i] if n == 0 else cut,
                    end=token_ends[i] if last else cut_end,
                    content_start=cut,
                    content_end=cut_end,
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
