"""Tests for components.chunking: properties over arbitrary text, then the rules by example."""

from __future__ import annotations

import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components import chunking
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


def tag_spans(text: str, max_chars: int) -> list[tuple[int, int]]:
    """Sound tags as the chunker defines them: [...] spans that fit in a chunk and hold no
    paragraph break."""
    return [
        m.span()
        for m in re.finditer(r"\[[^\[\]]*\]", text)
        if len(m.group()) <= max_chars and not re.search(r"\n\s*\n", m.group())
    ]


def word_around(text: str, index: int, max_chars: int) -> str:
    """The word that contains both text[index - 1] and text[index]: a run of non-whitespace,
    joined across the whitespace inside a sound tag."""
    inside_tag = [False] * len(text)
    for start, end in tag_spans(text, max_chars):
        inside_tag[start:end] = [True] * (end - start)

    def in_word(i: int) -> bool:
        return not text[i].isspace() or inside_tag[i]

    lo, hi = index, index
    while lo > 0 and in_word(lo - 1):
        lo -= 1
    while hi < len(text) and in_word(hi):
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
        word = word_around(text, before.end, max_chars)
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


# Abbreviations that come before what they qualify (titles, "Mt.", "cf.") never end a sentence.
PREPOSITIVE = [
    "Dr.", "Mr.", "Mrs.", "Ms.", "Prof.", "St.", "Mt.", "vs.", "Fig.", "cf.", "approx.",
    "e.g.", "i.e.", "U.S.", "U.K.",
]  # fmt: skip
# Abbreviations that close what they qualify. Before a lowercase word they do not end a
# sentence; before a capital they do (pysbd's rule, and the common case: "at 5 p.m. Smith left").
CLOSING = ["Jr.", "Sr.", "etc.", "a.m.", "p.m.", "Inc.", "Jan.", "Ltd.", "Co.", "Sept."]


@pytest.mark.parametrize("abbr", PREPOSITIVE + CLOSING)
@pytest.mark.parametrize("case", [str, str.lower, str.upper])
def test_abbreviations_before_a_lowercase_word_do_not_end_a_sentence(abbr: str, case) -> None:
    word = case(abbr)
    text = f"We met {word} the others at noon. It went well."
    chunks = chunk_text(text)
    assert spoken(chunks) == [f"We met {word} the others at noon.", "It went well."]


@pytest.mark.parametrize("abbr", PREPOSITIVE)
@pytest.mark.parametrize("case", [str, str.lower, str.upper])
def test_prepositive_abbreviations_before_a_capital_do_not_end_a_sentence(abbr: str, case) -> None:
    word = case(abbr)
    text = f"We met {word} Smith at noon. It went well."
    chunks = chunk_text(text)
    assert spoken(chunks) == [f"We met {word} Smith at noon.", "It went well."]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # Each of these was one sentence under the hand-written abbreviation list, which had
        # no notion of an abbreviation that can also end a sentence.
        ("The meeting ended at 5 p.m.", "Smith went home."),
        ("We left at 9 a.m.", "Nobody noticed."),
        ("We bought apples, pears, etc.", "Then we left."),
        ("The founder was John Smith Jr.", "He was tall."),
    ],
)
def test_a_closing_abbreviation_before_a_capital_ends_the_sentence(first: str, second: str):
    assert spoken(chunk_text(f"{first} {second}")) == [first, second]


@pytest.mark.parametrize(
    "sentence",
    [
        # The cases the hand-written list of 19 abbreviations split.
        "We climbed Mt. Everest last year.",
        "She works for Acme Inc. in Boston.",
        "It snowed in Jan. and Feb. this year.",
        "He was born on Jan. 5, 1990 in Rome.",
        "The results differ, cf. Table 2 and Smith.",
        "See cf. the appendix for details.",
        "The results differ (cf. Table 2) from ours.",
        "It is approx. 5 km away.",
        "Room No. 5 is free.",
    ],
)
def test_abbreviations_missing_from_the_old_list_do_not_end_a_sentence(sentence: str) -> None:
    assert spoken(chunk_text(f"{sentence} It went well.")) == [sentence, "It went well."]


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
    ("closed", "after"), [("(a lot.)", "Then"), ("(really?)", "Yes"), ("{done!}", "Next")]
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


# --- sound tags --------------------------------------------------------------------------------

SOUND_TAGS = [
    "[clear throat]", "[sigh]", "[shush]", "[cough]", "[groan]", "[sniff]", "[gasp]",
    "[chuckle]", "[laugh]",
]  # fmt: skip
# Any [...] span is a tag, not only Chatterbox's own.
OTHER_TAGS = ["[long pause]", "[whispers softly]", "[really?]", "[oh. no!]", "[a, b]", "[]"]


@st.composite
def tagged_text(draw: st.DrawFn) -> str:
    """Sentences of words and abbreviations, with tags put anywhere: between words, glued to a
    word on either side, at a sentence's start or end, before a paragraph break, in runs."""
    tag = st.sampled_from(SOUND_TAGS + OTHER_TAGS)
    word = st.one_of(
        st.sampled_from(WORDS + ABBREVIATIONS + ["Mt.", "Inc.", "Jan.", "cf."]),
        st.text(alphabet="abcXYZ", min_size=15, max_size=120),  # long words force hard splits
    )
    parts = [draw(st.sampled_from(["", " ", "[sigh] ", "\n\n"]))]
    for _ in range(draw(st.integers(1, 12))):
        tokens = draw(st.lists(word, min_size=1, max_size=12))
        for i in sorted(draw(st.lists(st.integers(0, len(tokens)), max_size=4)), reverse=True):
            tokens.insert(i, draw(tag))
        for i, token in enumerate(tokens):
            # "" glues a tag to its neighbour (or two words into one long word).
            separator = draw(st.sampled_from([" ", " ", " ", "", "\n"]))
            parts.append(token + (separator if i < len(tokens) - 1 else ""))
        parts.append(draw(st.sampled_from([".", "!", "?", "...", ",", ""])))
        if draw(st.booleans()):  # a tag after the sentence's end, glued to it or not
            parts.append(draw(st.sampled_from(["", " "])) + draw(tag))
        parts.append(draw(st.sampled_from([" ", " ", "  ", "\n", "\n\n", " \n \n"])))
    return "".join(parts)


def assert_tags_whole(text: str, chunks: list[Chunk]) -> None:
    if text.strip():
        assert "".join(c.text for c in chunks) == text
    for c in chunks:
        # Every tag here is balanced, so a chunk with unbalanced brackets would have cut one.
        depth = 0
        for char in c.text:
            depth += {"[": 1, "]": -1}.get(char, 0)
            assert depth in (0, 1), c
        assert depth == 0, c


@settings(max_examples=400, deadline=None)
@given(text=tagged_text(), data=st.data())
def test_tags_are_never_split_across_chunks(text: str, data: st.DataObject) -> None:
    longest_tag = max(len(t) for t in SOUND_TAGS + OTHER_TAGS)
    max_chars = data.draw(st.integers(longest_tag, 400))
    first = data.draw(first_counts)
    chunks = chunk_text(text, max_chars, first)
    assert_tags_whole(text, chunks)
    assert all(0 < len(c.spoken) <= max_chars for c in chunks)
    ends = {c.end for c in chunks}
    for start, end in tag_spans(text, max_chars):
        assert not any(start < e < end for e in ends), (text[start:end], chunks)


@pytest.mark.parametrize(
    "sentences",
    [
        # pysbd already puts a tag between two sentences with the second; kept that way.
        ["Hello there.", "[laugh] That was fun."],
        ["Hello there!", "[laugh] That was fun."],
        ["That is it.", "[clear throat] [laugh] Now listen."],
        ["Hello there.", "[laugh]\nThat was fun."],
        # A tag that starts a sentence or sits inside it belongs to it.
        ["[sigh] I am tired.", "[cough] Very tired [groan] indeed."],
        ["Hello there [laugh].", "That was fun."],
        # After the paragraph's last sentence, a tag stays with it.
        ["Hello there. [laugh]"],
        ["Hello there. [laugh] [sigh]"],
        # A tag glued to a word is part of that word; chunks only end at whitespace.
        ["Hello there.[laugh]", "That was fun."],
        ["Hello there.", "[laugh]That was fun."],
        # The punctuation inside a tag is not the text's: it ends nothing.
        ["It rained [really?] then it stopped.", "Next."],
        ["It rained [oh. Wow!] Then it stopped."],
    ],
)
def test_a_tag_stays_with_its_sentence(sentences: list[str]) -> None:
    assert spoken(chunk_text(" ".join(sentences))) == sentences


def test_a_tag_before_a_paragraph_break_stays_with_the_sentence_before() -> None:
    chunks = chunk_text("Hello there. [laugh]\n\nThat was fun.")
    assert [c.text for c in chunks] == ["Hello there. [laugh]\n\n", "That was fun."]
    assert chunks[0].pause_after == "paragraph"


def test_a_paragraph_of_tags_is_its_own_chunk() -> None:
    chunks = chunk_text("Hello there.\n\n[laugh] [sigh]\n\nThat was fun.")
    assert spoken(chunks) == ["Hello there.", "[laugh] [sigh]", "That was fun."]
    assert [c.pause_after for c in chunks] == ["paragraph", "paragraph", "none"]


@pytest.mark.parametrize("max_chars", range(14, 80))
def test_word_fallback_does_not_split_a_tag(max_chars: int) -> None:
    # One long sentence without punctuation: only word boundaries, some inside "[clear throat]".
    text = " ".join(["word", "[clear throat]", "other", "[long pause]"] * 12) + " end"
    chunks = chunk_text(text, max_chars)
    assert_tags_whole(text, chunks)
    assert all(len(c.spoken) <= max_chars for c in chunks)
    assert [w for c in chunks for w in c.spoken.split()] == text.split()


def test_a_tag_counts_its_full_length_against_the_limit() -> None:
    text = "Say this [clear throat] now."
    for max_chars in range(len("[clear throat]"), len(text)):
        chunks = chunk_text(text, max_chars)
        assert_tags_whole(text, chunks)
        assert all(len(c.spoken) <= max_chars for c in chunks)
    # 22 characters hold "Say this [clear" but not the tag: it goes whole to the next chunk.
    assert spoken(chunk_text(text, 22)) == ["Say this", "[clear throat] now."]


def test_a_hard_split_cuts_beside_a_tag_not_inside_it() -> None:
    word = "x" * 290 + "[clear throat]" + "y" * 20
    chunks = chunk_text(word)
    assert [c.text for c in chunks] == ["x" * 290, "[clear throat]" + "y" * 20]
    assert [c.pause_after for c in chunks] == ["word", "none"]
    glued = "ab[sigh]" * 100  # 800 characters without whitespace, tags all along
    for max_chars in (6, 7, 10, 50, 299):
        chunks = chunk_text(glued, max_chars)
        assert_tags_whole(glued, chunks)
        assert all(len(c.spoken) <= max_chars for c in chunks)


def test_a_bracket_span_too_long_for_one_chunk_is_ordinary_text() -> None:
    # It cannot be sent in one call, so it is split like any text, at its spaces.
    text = "Before [" + " ".join(["aside"] * 30) + "] after."
    chunks = chunk_text(text, 50)
    assert len(chunks) > 1
    assert "".join(c.text for c in chunks) == text
    assert all(len(c.spoken) <= 50 for c in chunks)


def test_a_bracket_span_across_a_paragraph_break_is_not_a_tag() -> None:
    chunks = chunk_text("One [two.\n\nThree] four.")
    assert spoken(chunks) == ["One [two.", "Three] four."]


# --- how pysbd is used -------------------------------------------------------------------------


def test_a_single_line_break_inside_a_sentence_does_not_end_it() -> None:
    # Hard-wrapped text: pysbd alone would end a sentence at every line.
    text = "This sentence is hard\nwrapped at the column and\ncontinues here. Next one."
    chunks = chunk_text(text)
    assert [c.text for c in chunks] == [text[: text.index("Next")], "Next one."]


@pytest.mark.parametrize(
    "text",
    [
        PASSAGE * 3,
        " ".join(["Dr. Smith met Mr. Jones at 5 p.m. He left.", "See cf. the note. It ends."] * 40),
        "a. " * 500,
        " ".join(["word"] * 600) + ". Next one.",
        (PASSAGE + "\n\n") * 2 + "[laugh] " + PASSAGE,
    ],
    ids=["prose", "abbreviations", "tiny-sentences", "one-long-sentence", "paragraphs-and-tags"],
)
@pytest.mark.parametrize(("window", "margin"), [(120, 40), (300, 100), (700, 200)])
def test_reading_in_windows_finds_the_same_sentences(
    monkeypatch: pytest.MonkeyPatch, text: str, window: int, margin: int
) -> None:
    whole = chunk_text(text, 60)
    monkeypatch.setattr(chunking, "_WINDOW_CHARS", window)
    monkeypatch.setattr(chunking, "_WINDOW_MARGIN", margin)
    assert chunk_text(text, 60) == whole


def test_pysbd_is_imported_on_first_use_only() -> None:
    probe = (
        "import sys, components.chunking as c; before = 'pysbd' in sys.modules; "
        "c.chunk_text('One. Two.'); print(before, 'pysbd' in sys.modules)"
    )
    root = Path(__file__).parent.parent
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "True"]


def test_chunking_from_many_threads_at_once_gives_the_same_chunks() -> None:
    # Gradio runs takes on worker threads, and they share one cached Segmenter.
    texts = [f"Take {i}. " + PASSAGE[i * 37 :] + " [laugh] Bye." for i in range(24)]
    expected = [chunk_text(t, 120) for t in texts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(3):
            assert list(pool.map(lambda t: chunk_text(t, 120), texts)) == expected
