"""Pause tags: exact lengths, refusals that quote the tag, no false positives, exact joins."""

from __future__ import annotations

import time
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.errors import InvalidInput
from components.pauses import (
    MAX_PAUSE_SECONDS,
    Segment,
    has_pauses,
    silence_samples,
    split_pauses,
    strip_pauses,
    total_pause_seconds,
)

# --- accepted forms ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "seconds"),
    [
        ("[pause:500ms]", 0.5),
        ("[pause:1.5s]", 1.5),
        ("[pause:2s]", 2.0),
        ("[pause:0ms]", 0.0),
        ("[PAUSE: 750 ms]", 0.75),
        ("[pause:0.25 s]", 0.25),
        ("[pause:10s]", 10.0),
        ("[pause:10000ms]", 10.0),
        ("[pause:10.000s]", 10.0),
        ("[pause:.5s]", 0.5),  # a bare decimal part is accepted
        ("[ Pause : 1.25 MS ]", 0.00125),
        ("[pause:0s]", 0.0),
        ("[pause:\n1s]", 1.0),
        ("[pause:007s]", 7.0),
        ("[pause:1S]", 1.0),
    ],
)
def test_each_accepted_form_has_its_exact_length(tag: str, seconds: float) -> None:
    assert split_pauses(f"Hello {tag} world") == [
        Segment("Hello", seconds),
        Segment("world", 0.0),
    ]
    assert has_pauses(tag)


def test_the_limit_is_ten_seconds() -> None:
    assert MAX_PAUSE_SECONDS == 10.0


# --- refusals ------------------------------------------------------------------------------


def _refusal(text: str) -> str:
    with pytest.raises(InvalidInput) as caught:
        split_pauses(text)
    assert caught.value.field == "text"
    return str(caught.value)


def test_a_tag_without_unit_is_refused_with_both_spellings() -> None:
    message = _refusal("Wait [pause:500] now")
    assert message == (
        'The pause tag "[pause:500]" has no unit: write [pause:500ms] or [pause:0.5s].'
    )
    # A small number is more likely seconds: that reading comes first.
    assert _refusal("[pause:2]") == (
        'The pause tag "[pause:2]" has no unit: write [pause:2s] or [pause:2000ms].'
    )
    # Neither reading fits: no suggestion over the limit.
    message = _refusal("[pause:50000]")
    assert '"[pause:50000]" has no unit' in message
    assert "50s" not in message and "50000ms]" not in message


@pytest.mark.parametrize(
    "tag", ["[pause:12s]", "[pause:10.0001s]", "[pause:10001ms]", "[PAUSE:1000 s]",
            "[pause:" + "9" * 5000 + "s]"]
)
def test_a_tag_over_ten_seconds_is_refused(tag: str) -> None:
    message = _refusal(f"a {tag} b")
    quoted = tag if len(tag) <= 60 else tag[:59] + "…"
    assert f'"{quoted}" is longer than the 10 s limit' in message
    assert "[pause:10s]" in message


@pytest.mark.parametrize(
    ("tag", "says"),
    [
        ("[pause:abc]", "is not a length"),
        ("[Pause:abc]", "is not a length"),
        ("[pause:1s 2s]", "is not a length"),
        ("[pause:1e3ms]", "is not a length"),
        ("[pause:1.5.2s]", "is not a length"),
        ("[pause]", "has no length"),
        ("[pause:]", "has no length"),
        ("[ pause : ]", "has no length"),
        ("[pause:-1s]", "is negative"),
        ("[pause -1s]", "is negative"),
        ("[pause:+1s]", "has a sign"),
        ("[pause:1h]", 'uses the unit "h"'),
        ("[pause:500µs]", 'uses the unit "µs"'),
        ("[pause:1min]", 'uses the unit "min"'),
        ("[pause:2sec]", 'writes the unit as "sec": write [pause:2s]'),
        ("[pause:300 milliseconds]", "write [pause:300ms]"),
        ("[pause 2s]", 'needs a colon after "pause": write [pause:2s]'),
        ("[pause=2s]", "needs a colon"),
        ("[pause2s]", "needs a colon"),
        ("[pause:1,5s]", "uses a decimal comma: write a point, e.g. [pause:1.5s]"),
        ("[pause:5.s]", "ends its number with a point: write [pause:5s]"),
    ],
)
def test_each_malformed_tag_is_refused_quoting_it(tag: str, says: str) -> None:
    message = _refusal(f"Before {tag} after [laugh].")
    assert message.startswith(f'The pause tag "{tag}" ')
    assert says in message
    assert "[pause:" in message  # every refusal shows a valid tag to copy
    assert has_pauses(tag)


def test_an_unclosed_tag_is_refused_rather_than_read_aloud() -> None:
    message = _refusal("Then [pause:500ms and it goes on")
    assert message.startswith('The pause tag "[pause:500ms" is not closed')
    # ... also when the next bracket comes first.
    assert '"[pause:1s" is not closed' in _refusal("a [pause:1s [laugh] b")


def test_a_long_tag_is_cut_when_quoted() -> None:
    message = _refusal("[pause:" + "x" * 500 + "]")
    assert len(message) < 200
    assert '"[pause:xxxx' in message and "…" in message


def test_the_first_bad_tag_is_the_one_reported() -> None:
    message = _refusal("[pause:1s] ok [pause:abc] then [pause:99s]")
    assert '"[pause:abc]"' in message and "99s" not in message


def test_strip_pauses_refuses_the_same_tags_unless_told_not_to() -> None:
    with pytest.raises(InvalidInput, match=r'"\[pause:2\]" has no unit'):
        strip_pauses("a [pause:2] b")
    assert strip_pauses("a [pause:2] b [pause:1s] c", strict=False) == "a [pause:2] b c"


# --- no false positives --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "[laugh] That is funny [clear throat] indeed.",
        "[sigh] [shush] [cough] [groan] [sniff] [gasp] [chuckle]",
        "It is widely known [citation needed].",
        "She [paused] for a moment.",
        "[pauses are nice]",
        "[pause for effect] then on.",
        "[pause...] and [pause, then go]",
        "[Pause and breathe]",
        "[pauſe:1s]",  # a long s is not an s
        "[stop:1s] [break:500ms] [1s]",
        "Unclosed [laugh and [ brackets ] ] [",
        "",
        "   ",
        "pause: 500ms without brackets",
    ],
)
def test_other_brackets_pass_through_untouched(text: str) -> None:
    assert not has_pauses(text)
    assert split_pauses(text) == [Segment(text, 0.0)]
    assert strip_pauses(text) == text


def test_sound_tags_stay_inside_the_segments_around_a_pause() -> None:
    text = "[laugh] Oh no. [pause:1s] [clear throat] Anyway [sigh]"
    assert split_pauses(text) == [
        Segment("[laugh] Oh no.", 1.0),
        Segment("[clear throat] Anyway [sigh]", 0.0),
    ]


# --- where the pauses are ------------------------------------------------------------------


def test_a_leading_pause_gives_an_empty_first_segment() -> None:
    assert split_pauses("  [pause:2s]  Hello there.") == [
        Segment("", 2.0),
        Segment("Hello there.", 0.0),
    ]


def test_a_trailing_pause_ends_the_last_segment() -> None:
    assert split_pauses("Hello there. [pause:750ms]\n") == [Segment("Hello there.", 0.75)]


def test_a_text_that_is_only_a_pause() -> None:
    assert split_pauses("[pause:0.25s]") == [Segment("", 0.25)]
    assert strip_pauses("[pause:0.25s]") == ""


def test_consecutive_pauses_add_up_exactly() -> None:
    segments = split_pauses("One. [pause:0.1s]  [pause:200ms]\nTwo. [pause:0ms]")
    assert segments == [Segment("One.", 0.3), Segment("Two.", 0.0)]
    assert 0.1 + 0.2 != 0.3  # what a float sum would have given
    assert split_pauses("[pause:0.1s][pause:0.2s][pause:0.1s] x")[0].pause_after == 0.4
    assert split_pauses("[pause:1s] [pause:2s] x") == [Segment("", 3.0), Segment("x", 0.0)]
    # The limit is per tag; a run of tags may be longer.
    assert split_pauses("a [pause:10s][pause:10s] b")[0].pause_after == 20.0


def test_the_text_between_pauses_is_stripped_where_a_tag_was() -> None:
    segments = split_pauses("  lead  [pause:1s]\n  middle part \t[pause:1s] tail  ")
    assert segments == [
        Segment("  lead", 1.0),
        Segment("middle part", 1.0),
        Segment("tail  ", 0.0),
    ]


def test_tags_split_words_written_against_them() -> None:
    assert split_pauses("one[pause:1s]two") == [Segment("one", 1.0), Segment("two", 0.0)]
    assert strip_pauses("one[pause:1s]two") == "one two"


def test_total_pause_seconds_and_samples() -> None:
    segments = split_pauses("[pause:0.1s] a [pause:0.2s] b [pause:1.5s]")
    assert total_pause_seconds(segments) == pytest.approx(1.8, abs=1e-12)
    assert total_pause_seconds([Segment("x", 0.0)]) == 0.0
    assert silence_samples(0.5, 24_000) == 12_000
    assert silence_samples(0.3 - 1e-16, 24_000) == 7_200  # rounded, not truncated
    assert silence_samples(0.0, 24_000) == 0


# --- strip_pauses --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "stripped"),
    [
        ("Hello [pause:1s] world", "Hello world"),
        ("Hello[pause:1s]world", "Hello world"),
        ("Hello   [pause:1s][pause:2s]   world", "Hello world"),
        ("[pause:1s] Hello", "Hello"),
        ("Hello [pause:1s]", "Hello"),
        ("  Hello  [pause:1s]", "  Hello"),
        ("Hello  world [pause:1s] again", "Hello  world again"),
        ("One.\n[pause:1s] Two.", "One.\nTwo."),
        ("One.\n\n[pause:2s]\n\nTwo.", "One.\n\nTwo."),
        ("[laugh] [pause:1s] [sigh]", "[laugh] [sigh]"),
        ("no tags  at all\n", "no tags  at all\n"),
    ],
)
def test_strip_pauses(text: str, stripped: str) -> None:
    assert strip_pauses(text) == stripped


# --- has_pauses ----------------------------------------------------------------------------


def test_has_pauses_sees_good_and_bad_tags_and_never_raises() -> None:
    assert has_pauses("a [pause:1s] b")
    assert has_pauses("a [pause:abc] b")
    assert has_pauses("a [pause:1s")
    assert not has_pauses("a [laugh] b")


# --- the property: nothing lost, nothing invented, silence exact ---------------------------

_WORD_CHARS = st.characters(
    blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters="[]"
)
_WORDS = st.one_of(
    st.text(_WORD_CHARS, min_size=1, max_size=8).filter(
        lambda word: not any(c.isspace() for c in word)
    ),
    # Sound tags and near-misses, which must come through as words.
    st.sampled_from(["[laugh]", "[clear throat]", "[citation needed]", "[paused]", "pause",
                     "pause:", "500ms", "[pause for effect]"]),
)
_SPACE = st.sampled_from([" ", "  ", "\n", "\t", " \n\n "])
_GAP = st.sampled_from(["", " ", "\n", "  \t"])


@st.composite
def _tag(draw: st.DrawFn) -> tuple[str, Fraction]:
    unit = draw(st.sampled_from(["ms", "s"]))
    places = draw(st.integers(0, 4))
    limit = 10_000 if unit == "ms" else 10
    scaled = draw(st.integers(0, limit * 10**places))
    whole, part = divmod(scaled, 10**places)
    number = f"{whole}.{part:0{places}d}" if places else str(whole)
    if whole == 0 and places and draw(st.booleans()):
        number = number[1:]  # ".25"
    value = Fraction(scaled, 10**places) / (1000 if unit == "ms" else 1)
    pause = "".join(c.upper() if draw(st.booleans()) else c for c in "pause")
    unit_written = unit.upper() if draw(st.booleans()) else unit
    pads = [draw(st.sampled_from(["", " ", "  "])) for _ in range(5)]
    tag = f"[{pads[0]}{pause}{pads[1]}:{pads[2]}{number}{pads[3]}{unit_written}{pads[4]}]"
    return tag, value


_ITEM = st.one_of(_WORDS.map(lambda word: ("word", word, None)),
                  _tag().map(lambda tag: ("tag", tag[0], tag[1])))


@st.composite
def _text(draw: st.DrawFn) -> tuple[str, list[tuple[str, str, Fraction | None]]]:
    items = draw(st.lists(_ITEM, max_size=25))
    lead, trail = draw(_GAP), draw(_GAP)
    text = lead
    for index, item in enumerate(items):
        if index:
            both_words = item[0] == "word" and items[index - 1][0] == "word"
            text += draw(_SPACE if both_words else st.one_of(_GAP, _SPACE))
        text += item[1]
    return text + trail, items


def _expected_segments(text: str, items: list) -> list[Segment]:
    """A model of split_pauses built from how the text was made, not from the text."""
    if not any(kind == "tag" for kind, _, _ in items):
        return [Segment(text, 0.0)]
    made: list[tuple[list[str], Fraction, bool]] = []  # words, silence, closed by a tag
    for kind, written, value in items:
        if kind == "tag":
            words, silence = made[-1][:2] if made else ([], Fraction(0))
            made[-1:] = [(words, silence + value, True)]
        else:
            if not made or made[-1][2]:
                made.append(([], Fraction(0), False))
            made[-1][0].append(written)
    return [Segment(" ".join(words), float(silence)) for words, silence, _ in made]


@settings(max_examples=400, deadline=None)
@given(_text())
def test_property_no_word_lost_none_invented_and_the_silence_is_exact(made) -> None:
    text, items = made
    words = [written for kind, written, _ in items if kind == "word"]
    tag_total = sum((value for kind, _, value in items if kind == "tag"), Fraction(0))

    segments = split_pauses(text)

    # Every word once, in order, in the segments and in strip_pauses; no tag left behind.
    assert " ".join(segment.text for segment in segments).split() == " ".join(words).split()
    assert strip_pauses(text).split() == " ".join(words).split()
    # The silence is the sum of the tags, and each segment's pause is its tags' exact sum.
    assert total_pause_seconds(segments) == pytest.approx(float(tag_total), rel=1e-15, abs=0)
    expected = _expected_segments(text, items)
    assert [s.pause_after for s in segments] == [s.pause_after for s in expected]
    assert [s.text.split() for s in segments] == [s.text.split() for s in expected]
    # Only the first segment may be empty (a leading pause); every other one has words.
    assert all(segment.text.strip() for segment in segments[1:])
    assert has_pauses(text) == any(kind == "tag" for kind, _, _ in items)


# --- speed ---------------------------------------------------------------------------------


def _long_text(tags: int, length: int) -> str:
    pieces = [f"Word number {i} is here. [pause:{(i % 20) * 50}ms]" for i in range(tags)]
    return (" ".join(pieces) + " filler" * length)[:length]


def _best_of(runs: int, function, *args) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        function(*args)
        best = min(best, time.perf_counter() - start)
    return best


def test_twenty_thousand_characters_with_five_hundred_tags_take_a_few_milliseconds() -> None:
    text = _long_text(500, 20_000)
    assert sum(1 for _ in text.split("[pause:")) - 1 == 500
    assert len(split_pauses(text)) == 501  # every tag ends a segment, even [pause:0ms]
    # About 2 ms on a laptop; the bound leaves room for a loaded CI machine.
    assert _best_of(5, split_pauses, text) < 0.025
    assert _best_of(5, strip_pauses, text) < 0.025


def test_scanning_is_linear_even_on_hostile_input() -> None:
    for hostile in ("[" * 200_000, "[pause" + " " * 200_000 + "]", "[ " * 100_000,
                    "[pause:" + "1" * 200_000 + "s]"):
        start = time.perf_counter()
        try:
            split_pauses(hostile)
        except InvalidInput:
            pass
        assert time.perf_counter() - start < 1.0, hostile[:20]
