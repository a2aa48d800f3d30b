"""Tests for components.chunking: properties over arbitrary text, then the rules by example."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.chunking import Chunk, chunk_text

PAUSES = {"paragraph", "sentence", "clause", "word", "none"}
ABBREVIATIONS = [
    "Dr.", "Mr.", "Mrs.", "Ms.", "Prof.", "St.", "Jr.", "Sr.", "vs.", "etc.",
    "e.g.", "i.e.", "U.S.", "U.K.", "a.m.", "p.m.", "No.", "Fig.", "approx.",
]  # fmt: skip


# --- strategies ------------------------------------------------------------------------------

WORDS = [
    "the", "cat", "Sat", "on", "a", "mat", "Hello", "world", "über", "naïve", "café",
    "日本語", "Ωmega", "😀", "don't", "e-mail", "I", "A", "x",
]  # fmt: skip
NUMBERS = ["3.14", "1,000.50", "v2.0", "42", "0.5", "2024"]
PUNCT = [".", "!", "?", "...", "…", ",", ";", ":", "-", "–", "—", "--", "?!"]
QUOTES = ['"', "'", "“", "”", "‘", "’", "(", ")", "[", "]", "{", "}"]
SUFFIXES = ["", "", "", ".", ",", '."', "?)", ".”", "...", "…", "!", ";", ":", "—", "--"]
SEPARATORS = [" ", " ", " ", " ", "  ", "\n", "\n\n", " \n\t\n ", "\r\n\r\n", "\t", ""]

token = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(ABBREVIATIONS),
    st.sampled_from(NUMBERS),
    st.sampled_from(PUNCT),
    st.sampled_from(QUOTES),
    st.text(alphabet="abcXYZ", min_size=15, max_size=500),  # long words force hard splits
)


@st.composite
def sentence_like_text(draw: st.DrawFn) -> str:
    """Text built from words, abbreviations, numbers, punctuation, quotes and newlines."""
    part = st.tuples(token, st.sampled_from(SUFFIXES), st.sampled_from(SEPARATORS))
    parts = draw(st.lists(part, max_size=150))
    lead = draw(st.sampled_from(["", " ", "\n\n", "  \t"]))
    return lead + "".join(word + suffix + sep for word, suffix, sep in parts)


# Arbitrary unicode, plus a mix rich in the characters the chunker cares about.
any_text = st.one_of(
    st.text(),
    st.text(st.one_of(st.characters(), st.sampled_from(list(" \n\t.!?,;:\"')]…-—")))),
    sentence_like_text(),
)
limits = st.integers(20, 400)
first_counts = st.integers(1, 5)


# --- helpers ---------------------------------------------------------------------------------


def word_around(text: str, index: int) -> str:
    """The run of non-whitespace that contains both text[index - 1] and text[index]."""
    lo, hi = index, index
    while lo > 0 and not text[lo - 1].isspace():
        lo -= 1
    while hi < len(text) and not text[hi].isspace():
        hi += 1
    return text[lo:hi]


def spoken(chunks: list[Chunk]) -> list[str]:
    return [c.spoken for c in chunks]


# --- properties ------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(text=any_text, max_chars=limits, first=first_counts)
def test_chunks_are_lossless_and_contiguous(text: str, max_chars: int, first: int) -> None:
    chunks = chunk_text(text, max_chars, first)
    if not text.strip():
        # The one documented exception to losslessness: nothing to speak, nothing returned.
        assert chunks == []
        return
    assert "".join(c.text for c in chunks) == text
    assert chunks[0].start == 0
    assert chunks[-1].end == len(text)
    for c in chunks:
        assert c.text == text[c.start : c.end]
        assert c.start < c.end
    for before, after in zip(chunks, chunks[1:]):
        assert before.end == after.start


@settings(max_examples=300, deadline=None)
@given(text=any_text, max_chars=limits, first=first_counts)
def test_spoken_text_is_non_empty_and_within_the_limit(
    text: str, max_chars: int, first: int
) -> None:
    for c in chunk_text(text, max_chars, first):
        assert c.spoken
        assert len(c.spoken) <= max_chars


@settings(max_examples=300, deadline=None)
@given(text=any_text, max_chars=limits, first=first_counts)
def test_never_splits_inside_a_word_unless_the_word_is_too_long(
    text: str, max_chars: int, first: int
) -> None:
    chunks = chunk_text(text, max_chars, first)
    for before, after in zip(chunks, chunks[1:]):
        if before.text[-1].isspace() or after.text[0].isspace():
            continue
        # A hard split: only allowed inside a single word longer than max_chars.
        word = word_around(text, before.end)
        assert len(word) > max_chars, (word, before, after)
        assert before.pause_after == "word"


@settings(max_examples=300, deadline=None)
@given(text=any_text, max_chars=limits, first=first_counts)
def test_whitespace_between_chunks_ends_the_earlier_chunk(
    text: str, max_chars: int, first: int
) -> None:
    for c in chunk_text(text, max_chars, first)[1:]:
        assert not c.text[0].isspace()


@settings(max_examples=300, deadline=None)
@given(text=any_text, max_chars=limits, first=first_counts)
def test_pause_after_names_the_boundary(text: str, max_chars: int, first: int) -> None:
    chunks = chunk_text(text, max_chars, first)
    if not chunks:
        return
    assert chunks[-1].pause_after == "none"
    for c in chunks[:-1]:
        assert c.pause_after in PAUSES - {"none"}
        # Only a paragraph break (two newlines in the gap) may be called "paragraph".
        gap = c.text[len(c.text.rstrip()) :]
        assert (c.pause_after == "paragraph") == (gap.count("\n") >= 2), c


@settings(max_examples=300, deadline=None)
@given(text=any_text, max_chars=limits, first=first_counts)
def test_paragraph_breaks_are_always_chunk_boundaries(
    text: str, max_chars: int, first: int
) -> None:
    chunks = chunk_text(text, max_chars, first)
    ends = {c.end: c.pause_after for c in chunks}
    for m in re.finditer(r"\s+", text):
        inner = m.start() > 0 and m.end() < len(text)  # text on both sides of the gap
        if inner and re.search(r"\n\s*\n", m.group()):
            assert ends.get(m.end()) == "paragraph", (m.group(), chunks)
    for c in chunks:
        assert re.search(r"\n\s*\n", c.spoken) is None


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=" \t\n\r\x0b\x0c\u00a0\u2003\u2028\u3000"), max_chars=limits)
def test_whitespace_only_text_gives_no_chunks(text: str, max_chars: int) -> None:
    assert chunk_text(text, max_chars) == []


@settings(max_examples=300, deadline=None)
@given(text=any_text, max_chars=st.integers(1, 19))
def test_tiny_limits_still_hold(text: str, max_chars: int) -> None:
    chunks = chunk_text(text, max_chars)
    if text.strip():
        assert "".join(c.text for c in chunks) == text
    assert all(0 < len(c.spoken) <= max_chars for c in chunks)


# --- sentence boundaries ---------------------------------------------------------------------


@pytest.mark.parametrize("abbr", ABBREVIATIONS)
@pytest.mark.parametrize("case", [str, str.lower, str.upper])
def test_abbreviations_do_not_end_a_sentence(abbr: str, case) -> None:
    word = case(abbr)
    text = f"We met {word} Smith at noon. It went well."
    chunks = chunk_text(text)
    assert spoken(chunks) == [f"We met {word} Smith at noon.", "It went well."]


def test_an_ordinary_word_before_a_period_does_end_a_sentence() -> None:
    # The control for the abbreviation test: without an abbreviation the split happens.
    chunks = chunk_text("We met Bob. Smith came at noon.")
    assert spoken(chunks) == ["We met Bob.", "Smith came at noon."]


def test_single_capital_initials_do_not_end_a_sentence() -> None:
    text = "The book is by J. R. R. Tolkien. It is long."
    assert spoken(chunk_text(text)) == ["The book is by J. R. R. Tolkien.", "It is long."]
    text = "The book is by J.R.R. Tolkien. It is long."
    assert spoken(chunk_text(text)) == ["The book is by J.R.R. Tolkien.", "It is long."]


def test_lowercase_single_letter_before_a_period_ends_a_sentence() -> None:
    assert spoken(chunk_text("Pick option a. Then wait.")) == ["Pick option a.", "Then wait."]


def test_decimal_splits_only_at_the_real_sentence_end_and_only_when_forced() -> None:
    text = "It costs 3.14 dollars. Next."
    # Room for both sentences in one chunk: no split at all.
    assert [c.text for c in chunk_text(text, first_chunk_sentences=2)] == [text]
    # Forced (first chunk holds one sentence, or the limit is tight): split after "dollars.".
    expected = ["It costs 3.14 dollars. ", "Next."]
    assert [c.text for c in chunk_text(text)] == expected
    for max_chars in range(len("It costs 3.14 dollars."), len(text)):
        assert [c.text for c in chunk_text(text, max_chars, first_chunk_sentences=2)] == expected


@pytest.mark.parametrize("number", ["3.14", "1,000.50", "v2.0"])
def test_numbers_are_never_split(number: str) -> None:
    text = f"Pay {number} now, or pay {number} later. Then {number} again."
    # From the longest word up, so no word needs a hard split.
    for max_chars in range(max(len(w) for w in text.split()), 40):
        chunks = chunk_text(text, max_chars, first_chunk_sentences=3)
        words = [w for c in chunks for w in c.spoken.split()]
        assert words == text.split()
        assert all(c.pause_after != "word" or c.text[-1].isspace() for c in chunks)


@pytest.mark.parametrize("dots", ["...", "…"])
def test_ellipsis_followed_by_lowercase_continues_the_sentence(dots: str) -> None:
    text = f"Wait{dots} then we go. Done."
    assert spoken(chunk_text(text)) == [f"Wait{dots} then we go.", "Done."]
    text = f"Wait{dots} “then” we go. Done."
    assert spoken(chunk_text(text)) == [f"Wait{dots} “then” we go.", "Done."]


@pytest.mark.parametrize("dots", ["...", "…"])
def test_ellipsis_followed_by_a_capital_ends_the_sentence(dots: str) -> None:
    text = f"Wait{dots} Then we go."
    assert spoken(chunk_text(text)) == [f"Wait{dots}", "Then we go."]


@pytest.mark.parametrize("mark", ["!", "?", "?!"])
def test_exclamation_and_question_marks_end_sentences(mark: str) -> None:
    assert spoken(chunk_text(f"Really{mark} Yes.")) == [f"Really{mark}", "Yes."]


@pytest.mark.parametrize(
    ("quoted", "after"),
    [
        ('"Stop."', "Then left."),
        ("“Stop.”", "Then left."),
        ("'Stop!'", "Then left."),
        ("‘Stop?’", "Then left."),
    ],
)
def test_closing_quote_stays_with_its_sentence(quoted: str, after: str) -> None:
    text = f"He said {quoted} {after}"
    chunks = chunk_text(text)
    assert [c.text for c in chunks] == [f"He said {quoted} ", after]
    assert chunks[0].pause_after == "sentence"


@pytest.mark.parametrize(
    ("closed", "after"), [("(a lot.)", "Then"), ("[really?]", "Yes"), ("{done!}", "Next")]
)
def test_closing_bracket_stays_with_its_sentence(closed: str, after: str) -> None:
    text = f"It rained {closed} {after} it stopped."
    assert spoken(chunk_text(text)) == [f"It rained {closed}", f"{after} it stopped."]


def test_period_without_following_whitespace_is_not_a_boundary() -> None:
    text = 'See example.com/a.b now. He said "Go."Then left.'
    assert spoken(chunk_text(text)) == ["See example.com/a.b now.", 'He said "Go."Then left.']


# --- packing and splitting long sentences ----------------------------------------------------


def test_long_sentence_with_commas_splits_at_commas() -> None:
    clause = "the quick brown fox jumps over the lazy dog"  # 43 characters
    text = ", ".join([clause] * 16) + "."
    assert 690 <= len(text) <= 720
    chunks = chunk_text(text)
    assert len(chunks) >= 3
    assert all(len(c.spoken) <= 300 for c in chunks)
    for c in chunks[:-1]:
        assert c.spoken.endswith(",")
        assert c.pause_after == "clause"
    assert "".join(c.text for c in chunks) == text


@pytest.mark.parametrize("dash", [" - ", " – ", " — ", "-- "])
def test_long_sentence_splits_after_dashes(dash: str) -> None:
    half = " ".join(["word"] * 40)  # 199 characters: two halves do not fit in 300
    text = f"{half}{dash}{half}."
    chunks = chunk_text(text)
    assert [c.spoken for c in chunks] == [(half + dash).strip(), half + "."]
    assert chunks[0].pause_after == "clause"


def test_clause_split_is_preferred_over_a_fuller_word_split() -> None:
    first = " ".join(["alpha"] * 20) + ","  # 120 characters
    second = " ".join(["beta"] * 50)  # 249 characters
    text = f"{first} {second}."
    chunks = chunk_text(text)
    # Greedy word packing would append part of `second` to the first chunk; it must not.
    assert spoken(chunks) == [first, second + "."]
    assert [c.pause_after for c in chunks] == ["clause", "none"]


def test_long_sentence_without_punctuation_splits_between_words() -> None:
    words = [f"word{i}" for i in range(110)]
    text = " ".join(words)
    assert len(text) >= 700
    chunks = chunk_text(text)
    assert len(chunks) >= 3
    for c in chunks[:-1]:
        assert c.text.endswith(" ")
        assert c.pause_after == "word"
        assert len(c.spoken) <= 300
    assert [w for c in chunks for w in c.spoken.split()] == words
    # Greedy: each chunk closed because the next word would not have fit.
    for before, after in zip(chunks, chunks[1:]):
        assert len(before.spoken) + 1 + len(after.spoken.split()[0]) > 300


def test_single_word_longer_than_the_limit_is_hard_split() -> None:
    word = "x" * 350
    chunks = chunk_text(word)
    assert [len(c.text) for c in chunks] == [300, 50]
    assert [c.pause_after for c in chunks] == ["word", "none"]
    text = f"Start here. {word} end."
    chunks = chunk_text(text)
    assert [c.text for c in chunks] == ["Start here. ", "x" * 300, "x" * 50 + " end."]
    assert [c.pause_after for c in chunks] == ["sentence", "word", "none"]


def test_word_of_exactly_the_limit_is_not_split() -> None:
    word = "y" * 300
    assert [c.text for c in chunk_text(f"{word} z")] == [f"{word} ", "z"]


def test_paragraph_breaks_end_chunks_with_paragraph_pause() -> None:
    text = "First one. First two.\n\nSecond para.\n \t\n\nThird.\r\n\r\nFourth."
    chunks = chunk_text(text, first_chunk_sentences=5)
    assert [c.text for c in chunks] == [
        "First one. First two.\n\n",
        "Second para.\n \t\n\n",
        "Third.\r\n\r\n",
        "Fourth.",
    ]
    assert [c.pause_after for c in chunks] == ["paragraph", "paragraph", "paragraph", "none"]


def test_single_newline_is_not_a_paragraph_break() -> None:
    text = "Line one\nline two. Line three.\nLine four."
    chunks = chunk_text(text, first_chunk_sentences=5)
    assert [c.text for c in chunks] == [text]


def test_leading_whitespace_goes_into_the_first_chunk() -> None:
    chunks = chunk_text("  \n Hello there. World.  ")
    assert [c.text for c in chunks] == ["  \n Hello there. ", "World.  "]
    assert chunks[0].spoken == "Hello there."


PASSAGE_SENTENCES = [
    "The lighthouse keeper climbed the spiral stairs every evening at dusk.",
    "He carried a brass lantern, a notebook, and a thermos of strong black tea.",
    "From the top, the sea stretched out like hammered pewter in every direction.",
    "Ships passed in the distance; some blinked their lights as if in greeting.",
    "Dr. Alvarez, who visited each summer, called the place a cathedral of wind.",
    "The keeper never argued with her, though he privately thought it more of a kitchen.",
    "Storms came in from the west, heavy and grey, and rattled the thick glass panes.",
    "On those nights he wrote long letters that he never intended to send.",
    "Each letter began the same way and ended with a list of birds he had seen.",
    "Gulls, terns, a single puffin, and once, improbably, a lost heron.",
    "In the morning he would fold the letters into neat squares and store them.",
    "There were hundreds by now, stacked in biscuit tins beneath the narrow bed.",
    "Nobody asked what they said, and he never offered to read them aloud.",
    "When the supply boat came, he traded news for flour, oil, and fresh batteries.",
    "The boatman talked about the weather, the price of fuel, and his daughter.",
    "She was studying to be an engineer at a university far to the south.",
    "The keeper listened, nodded, and asked questions he already knew the answers to.",
    "Then the boat left, and the quiet settled back like snow after a long wind.",
    "He liked the quiet more than he admitted, and more than he had expected to.",
    "Years later, when the light was automated, he took the biscuit tins with him.",
    "Some say he still writes, though now the letters are addressed to the sea itself.",
    "Nobody has ever seen him post one, and he smiles whenever anyone asks.",
    "The new light turns on by itself at dusk, precise and tireless and quite alone.",
    "Sailors say it blinks a little differently now, though none can explain how.",
    "Perhaps that is only memory, which is kind to lighthouses and their keepers.",
    "It is, after all, hard to forget a place that watched over you in the dark.",
]
PASSAGE = " ".join(PASSAGE_SENTENCES)


def test_first_chunk_is_exactly_the_first_sentence() -> None:
    chunks = chunk_text(PASSAGE)
    assert chunks[0].spoken == PASSAGE_SENTENCES[0]
    assert chunks[0].pause_after == "sentence"
    # Later chunks are packed: the second one holds several sentences.
    assert chunks[1].spoken.startswith(" ".join(PASSAGE_SENTENCES[1:3]))


def test_first_chunk_sentences_controls_the_first_chunk() -> None:
    chunks = chunk_text(PASSAGE, first_chunk_sentences=2)
    assert chunks[0].spoken == " ".join(PASSAGE_SENTENCES[:2])


def test_two_thousand_characters_give_seven_to_ten_chunks() -> None:
    assert 1900 <= len(PASSAGE) <= 2100
    chunks = chunk_text(PASSAGE)
    assert 7 <= len(chunks) <= 10
    assert all(len(c.spoken) <= 300 for c in chunks)
    # Every sentence here fits, so every chunk ends at a sentence and none is cut mid-way.
    assert [c.pause_after for c in chunks] == ["sentence"] * (len(chunks) - 1) + ["none"]
    assert "".join(c.text for c in chunks) == PASSAGE


def test_sentences_are_packed_greedily() -> None:
    chunks = chunk_text(PASSAGE)
    starts = {s: i for i, s in enumerate(PASSAGE_SENTENCES)}
    for before, after in zip(chunks[1:], chunks[2:]):
        next_sentence = next(s for s in starts if after.spoken.startswith(s))
        # The chunk closed because the next whole sentence would not have fit.
        assert len(before.spoken) + 1 + len(next_sentence) > 300


def test_over_long_sentence_starts_a_fresh_chunk() -> None:
    long_sentence = ", ".join(["the quick brown fox jumps over the lazy dog"] * 10) + "."
    text = f"First. Short one. {long_sentence} Tail."
    chunks = chunk_text(text)
    assert chunks[1].text == "Short one. "
    assert chunks[1].pause_after == "sentence"
    assert chunks[2].spoken.startswith("the quick brown fox")
    # The long sentence's last piece may still share a chunk with what follows it.
    assert chunks[-1].spoken.endswith("lazy dog. Tail.")


# --- arguments, edge cases and speed ---------------------------------------------------------


@pytest.mark.parametrize("text", ["", " ", "\n\n\t ", "\u3000\u00a0"])
def test_empty_or_whitespace_text_gives_no_chunks(text: str) -> None:
    assert chunk_text(text) == []


def test_short_text_is_one_chunk_with_no_pause() -> None:
    assert chunk_text("Hello.") == [Chunk("Hello.", 0, 6, "none")]


def test_chunk_spoken_strips_whitespace() -> None:
    assert Chunk(" \n Hi there. \t", 0, 13, "none").spoken == "Hi there."


@pytest.mark.parametrize(("max_chars", "first"), [(0, 1), (-5, 1), (300, 0)])
def test_invalid_arguments_are_rejected(max_chars: int, first: int) -> None:
    with pytest.raises(ValueError):
        chunk_text("Hello.", max_chars, first)


def test_result_is_deterministic_and_independent_of_earlier_calls() -> None:
    first = chunk_text(PASSAGE, 120)
    chunk_text("x" * 1000 + " Other text. More.", 7, 3)
    assert chunk_text(PASSAGE, 120) == first
    assert len(first) > len(chunk_text(PASSAGE, 300))


@pytest.mark.parametrize(
    "text",
    [
        (PASSAGE + "\n\n") * 50,  # ordinary prose
        ("word " * 20_000),  # one endless sentence
        ("x" * 100_000),  # one endless word
        ("a. " * 34_000),  # a sentence every three characters
    ],
    ids=["prose", "no-punctuation", "one-word", "tiny-sentences"],
)
def test_hundred_thousand_characters_of_pathological_text(text: str) -> None:
    # Speed is measured by bench/long_text.py, not asserted here: a timed test flakes on a
    # busy machine. pytest-timeout still fails a quadratic blow-up.
    text = text[:100_000]
    chunks = chunk_text(text)
    assert "".join(c.text for c in chunks) == text
    assert all(0 < len(c.spoken) <= 300 for c in chunks)
