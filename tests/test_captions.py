"""Captions for a stitched take: cue timing, line rules, speakers, and the WebVTT/SRT files."""

from __future__ import annotations

import itertools
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components import captions
from components.captions import (
    MAX_LINE_CHARS,
    MAX_LINES,
    MIN_CUE_SECONDS,
    Cue,
    Span,
    build_cues,
    format_timestamp,
    scale_cues,
    split_sentences,
    to_srt,
    to_webvtt,
    wrap_lines,
)

MS = 0.001
LONG_WORD = "Pneumonoultramicroscopicsilicovolcanoconiosis" + "x" * 15  # 60 characters


def nonspace(text: str) -> int:
    return sum(not ch.isspace() for ch in text)


def prefix_of(speaker: str) -> str:
    name = " ".join(speaker.split())
    if not name:
        return ""
    if len(name) + 1 > MAX_LINE_CHARS:
        name = name[: MAX_LINE_CHARS - 2] + "…"
    return name + ":"


def without_prefix(cue_text: str, prefix: str) -> str:
    assert cue_text.startswith((prefix + " ", prefix + "\n")), (
        cue_text,
        prefix,
    )
    return cue_text[len(prefix) + 1 :]


def pieces(word: str) -> list[str]:
    return [word[k : k + MAX_LINE_CHARS] for k in range(0, len(word), MAX_LINE_CHARS)]


# --- generated takes ------------------------------------------------------------------------

words = st.one_of(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC'-", min_size=1, max_size=60),
    st.sampled_from(["[laugh]", "[clear throat]", "[sigh]", "Mr.", "e.g.", LONG_WORD]),
)
endings = st.sampled_from(["", "", "", "", ",", ".", "!", "?", "…", "."])


@st.composite
def span_texts(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.tuples(words, endings), min_size=1, max_size=60))
    out = [w + e for w, e in parts]
    out.insert(draw(st.integers(0, len(out))), LONG_WORD)  # always one 60-character word
    spaces = draw(
        st.lists(
            st.sampled_from([" ", " ", "  ", "\n", " \t"]), min_size=len(out), max_size=len(out)
        )
    )
    return "".join(s + w for s, w in zip(spaces, out)).strip()


@st.composite
def timelines(draw: st.DrawFn, speakers: bool = True) -> list[Span]:
    texts = draw(st.lists(span_texts(), min_size=1, max_size=4))
    names = st.sampled_from(["", "Ann", "Dr. Jane  Smith", "N" * 50]) if speakers else st.just("")
    spans, t = [], draw(st.floats(0, 5000))
    for text in texts:
        t += draw(st.sampled_from([0.0, 0.25, 1.0, 0.0375]))  # a pause (or none) before it
        duration = draw(st.floats(0.05, 60))
        spans.append(Span(t, t + duration, text, draw(names)))
        t += duration
    return spans


def per_span(spans: list[Span]) -> list[list[Cue]]:
    return [build_cues([span]) for span in spans]


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- timing ---------------------------------------------------------------------------------


@FAST
@given(timelines())
def test_span_edges_are_exact_and_cues_stay_inside(spans: list[Span]) -> None:
    for span, cues in zip(spans, per_span(spans)):
        assert cues, span
        assert cues[0].start == span.start
        assert abs(cues[-1].end - span.end) < MS
        for a, b in itertools.pairwise(cues):  # no gap inside a span
            assert a.end == b.start
        for cue in cues:
            assert span.start <= cue.start <= cue.end <= span.end


@FAST
@given(timelines())
def test_a_take_is_its_spans_cues_in_order_never_overlapping(spans: list[Span]) -> None:
    cues = build_cues(spans)
    assert cues == [c for group in per_span(spans) for c in group]
    assert build_cues(list(reversed(spans))) == cues  # given in any order
    for a, b in itertools.pairwise(cues):
        assert a.start <= a.end <= b.start <= b.end


@FAST
@given(timelines())
def test_times_are_proportional_to_characters_without_spaces(spans: list[Span]) -> None:
    for span, cues in zip(spans, per_span(spans)):
        prefix = prefix_of(span.speaker)
        texts = [c.text for c in cues]
        if prefix:
            texts[0] = without_prefix(texts[0], prefix)
        total = nonspace(span.text)
        assert sum(nonspace(t) for t in texts) == total
        done = 0
        for cue, text in zip(cues, texts):
            expected = span.start + (span.end - span.start) * done / total
            assert abs(cue.start - expected) < 1e-6
            done += nonspace(text)


def test_sentences_share_a_span_by_their_characters() -> None:
    # "Hi there." has 8 characters that are not spaces, "How are you?" 10: 8/18 of 3 s.
    first, second = build_cues([Span(0.0, 3.0, "Hi there.   How are you?")])
    assert (first.text, second.text) == ("Hi there.", "How are you?")
    assert first.start == 0.0 and second.end == 3.0
    assert first.end == second.start == pytest.approx(3.0 * 8 / 18, abs=1e-9)


def test_a_long_sentence_is_split_into_balanced_cues_timed_by_characters() -> None:
    text = " ".join(["word"] * 40)  # 199 characters: 3 cues of at most 85
    cues = build_cues([Span(10.0, 18.0, text)])
    assert [c.text.replace("\n", " ").count("word") for c in cues] == [14, 13, 13]
    assert cues[1].start == pytest.approx(10.0 + 8.0 * 14 / 40, abs=1e-9)
    assert cues[2].start == pytest.approx(10.0 + 8.0 * 27 / 40, abs=1e-9)


@FAST
@given(timelines(speakers=False))
def test_a_cue_under_the_minimum_is_one_that_could_not_be_merged(spans: list[Span]) -> None:
    def fits(a: Cue, b: Cue) -> bool:
        try:
            wrap_lines(a.text.replace("\n", " ") + " " + b.text.replace("\n", " "))
        except ValueError:
            return False
        return True

    for cues in per_span(spans):
        for k, cue in enumerate(cues):
            if cue.end - cue.start < MIN_CUE_SECONDS - 1e-9:
                assert k == 0 or not fits(cues[k - 1], cue), cues
                assert k + 1 == len(cues) or not fits(cue, cues[k + 1]), cues


def test_short_sentences_are_merged_with_a_neighbour() -> None:
    text = "Yes. This sentence is long enough to take most of the time here."
    cues = build_cues([Span(0.0, 2.0, text)])  # "Yes." alone would last 2 x 4/54 = 0.15 s
    assert [c.text for c in cues] == [
        "Yes. This sentence is long enough\nto take most of the time here."
    ]
    apart = build_cues([Span(0.0, 20.0, text)])  # 1.5 s: long enough to stand alone
    assert [c.text for c in apart] == [
        "Yes.",
        "This sentence is long enough\nto take most of the time here.",
    ]


def test_a_span_too_short_for_its_text_keeps_short_cues() -> None:
    text = " ".join(["word"] * 40)
    cues = build_cues([Span(1.0, 1.2, text)])
    assert len(cues) == 3 and cues[0].start == 1.0 and cues[-1].end == 1.2


def test_spans_with_nothing_to_show_get_no_cue() -> None:
    assert (
        build_cues(
            [Span(0.0, 1.0, "  \n "), Span(1.0, 1.0, "Said in no time."), Span(2.0, 3.0, "")]
        )
        == []
    )
    assert build_cues([]) == []


def test_overlapping_spans_raise_and_float_error_is_absorbed() -> None:
    with pytest.raises(ValueError, match="overlap"):
        build_cues([Span(0.0, 2.0, "One."), Span(1.5, 3.0, "Two.")])
    a, b = build_cues([Span(0.0, 1.2000000000000002, "One."), Span(1.2, 3.0, "Two.")])
    assert a.end <= b.start and b.start == pytest.approx(1.2, abs=MS) and b.end == 3.0


def test_bad_times_are_refused() -> None:
    for start, end in [(-1.0, 1.0), (2.0, 1.0), (0.0, float("nan")), (0.0, float("inf"))]:
        with pytest.raises(ValueError):
            Span(start, end, "x")
        with pytest.raises(ValueError):
            Cue(start, end, "x")


# --- lines ----------------------------------------------------------------------------------


@FAST
@given(timelines())
def test_no_line_over_42_characters_and_no_cue_over_2_lines(spans: list[Span]) -> None:
    for cue in build_cues(spans):
        lines = cue.text.split("\n")
        assert 1 <= len(lines) <= MAX_LINES, cue
        for line in lines:
            assert 0 < len(line) <= MAX_LINE_CHARS, cue
            assert line == line.strip(), cue


@FAST
@given(timelines())
def test_every_word_appears_in_order(spans: list[Span]) -> None:
    for span, cues in zip(spans, per_span(spans)):
        texts = [c.text for c in cues]
        if span.speaker.strip():
            texts[0] = without_prefix(texts[0], prefix_of(span.speaker))
        shown = " ".join(texts).split()
        # Words of up to 42 characters intact; longer ones in pieces of 42, in order.
        assert shown == [p for word in span.text.split() for p in pieces(word)]


@FAST
@given(span_texts())
def test_wrap_lines_keeps_every_character_and_fits(text: str) -> None:
    lines = wrap_lines(text, max_lines=None)
    assert all(0 < len(line) <= MAX_LINE_CHARS for line in lines)
    assert "".join(lines).replace(" ", "") == "".join(text.split())


def test_lines_are_balanced_and_one_line_when_it_fits() -> None:
    text = "one two three four five six seven eight nine ten eleven twelve"
    # Greedy filling would give 39 + 22 characters.
    assert wrap_lines(text) == ["one two three four five six seven", "eight nine ten eleven twelve"]
    assert wrap_lines("  short   text ") == ["short text"]
    assert wrap_lines("aaaa bbbb cccc", width=9) == ["aaaa", "bbbb cccc"]  # a tie: top line shorter
    assert wrap_lines(" \n ") == []


def test_wrap_lines_refuses_text_for_more_lines() -> None:
    with pytest.raises(ValueError):
        wrap_lines(" ".join(["word"] * 24))  # 8 words (39 characters) a line: 3 lines
    assert wrap_lines(" ".join(["word"] * 24), max_lines=3) == [" ".join(["word"] * 8)] * 3


def test_a_word_over_42_characters_is_hard_split() -> None:
    (cue,) = build_cues([Span(0.0, 5.0, f"{LONG_WORD} now.")])
    assert cue.text == LONG_WORD[:42] + "\n" + LONG_WORD[42:] + " now."
    # Pieces are cut from the word's start, so a word before it takes a line of its own.
    first, second = build_cues([Span(0.0, 5.0, f"See {LONG_WORD} now.")])
    assert (first.text, second.text) == ("See\n" + LONG_WORD[:42], LONG_WORD[42:] + " now.")


def test_sound_tags_stay_as_written_and_whole() -> None:
    text = (
        "Well [clear throat] I think, honestly, that the answer is rather obvious [laugh] really."
    )
    cues = build_cues([Span(0.0, 6.0, text)])
    lines = [line for c in cues for line in c.text.split("\n")]
    assert any("[clear throat]" in line for line in lines)
    assert any("[laugh]" in line for line in lines)
    assert " ".join(lines) == text


# --- sentences ------------------------------------------------------------------------------

SENTENCES = "Hello Mr. Smith. How are you? I said [really?] fine… Then what."


def test_sentences_by_pysbd_with_tags_masked() -> None:
    assert split_sentences(SENTENCES) == [
        "Hello Mr. Smith.",
        "How are you?",
        "I said [really?] fine…",
        "Then what.",
    ]


def test_sentences_without_pysbd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pysbd", None)  # import pysbd now raises ImportError
    assert split_sentences(SENTENCES) == [
        "Hello Mr.",
        "Smith.",
        "How are you?",
        "I said [really?] fine…",
        "Then what.",
    ]


def test_no_cue_holds_two_sentences_unless_merged() -> None:
    cues = build_cues([Span(0.0, 10.0, "One two three. Four five six! Seven eight? Nine.")])
    assert [c.text for c in cues] == ["One two three.", "Four five six!", "Seven eight?", "Nine."]
    assert captions._REGEX_END.pattern  # the documented fallback exists


# --- speakers -------------------------------------------------------------------------------


def test_speaker_prefix_on_the_first_cue_of_each_span() -> None:
    spans = [
        Span(0.0, 10.0, "First sentence here. " + " ".join(["word"] * 30), "Ann"),
        Span(11.0, 12.0, "Second span.", "Dr.  Jane\tSmith"),
        Span(12.5, 13.5, "No speaker."),
    ]
    cues = build_cues(spans)
    assert cues[0].text == "Ann: First sentence here."
    assert all(not c.text.startswith("Ann") for c in cues[1:])
    assert [c.text for c in cues if c.start >= 11.0] == [
        "Dr. Jane Smith: Second span.",
        "No speaker.",
    ]
    # The prefix takes no time: the first cue's share is that of "First sentence here." alone.
    assert cues[0].end == pytest.approx(10.0 * 18 / (18 + 30 * 4), abs=1e-9)


def test_a_long_speaker_name_is_shortened_and_never_alone() -> None:
    (cue,) = build_cues([Span(0.0, 2.0, "Hi.", "N" * 60)])
    assert cue.text == "N" * 40 + "…:\nHi."
    assert all(len(line) <= MAX_LINE_CHARS for line in cue.text.split("\n"))


# --- speed ----------------------------------------------------------------------------------


@pytest.mark.parametrize("speed", [0.5, 2.0])
def test_scale_cues_divides_every_time_by_the_speed(speed: float) -> None:
    cues = build_cues([Span(1.0, 4.0, "Hi there. How are you?"), Span(6.0, 9.0, "Fine.")])
    scaled = scale_cues(cues, speed)
    assert [c.text for c in scaled] == [c.text for c in cues]
    assert [(c.start, c.end) for c in scaled] == [(c.start / speed, c.end / speed) for c in cues]
    assert scaled[-1].end == 9.0 / speed


def test_scale_cues_refuses_a_speed_that_is_not_positive() -> None:
    for speed in [0.0, -1.0, float("nan"), float("inf")]:
        with pytest.raises(ValueError):
            scale_cues([Cue(0.0, 1.0, "x")], speed)


# --- files ----------------------------------------------------------------------------------

EXAMPLE = [
    Span(0.0, 2.0, "Hello there. How are you today?", "Ann"),
    # 18 + 36 characters without spaces: "Fine [laugh] thanks." ends at 2.5 + 4 x 18/54.
    Span(2.5, 6.5, "Fine [laugh] thanks. The quick brown fox jumps over the lazy dog."),
]


def test_webvtt_of_a_known_take() -> None:
    assert to_webvtt(build_cues(EXAMPLE)) == (
        "WEBVTT\n"
        "\n"
        "00:00:00.000 --> 00:00:00.846\n"
        "Ann: Hello there.\n"
        "\n"
        "00:00:00.846 --> 00:00:02.000\n"
        "How are you today?\n"
        "\n"
        "00:00:02.500 --> 00:00:03.833\n"
        "Fine [laugh] thanks.\n"
        "\n"
        "00:00:03.833 --> 00:00:06.500\n"
        "The quick brown fox\n"
        "jumps over the lazy dog.\n"
    )


def test_srt_of_a_known_take() -> None:
    assert to_srt(build_cues(EXAMPLE)) == (
        "1\n"
        "00:00:00,000 --> 00:00:00,846\n"
        "Ann: Hello there.\n"
        "\n"
        "2\n"
        "00:00:00,846 --> 00:00:02,000\n"
        "How are you today?\n"
        "\n"
        "3\n"
        "00:00:02,500 --> 00:00:03,833\n"
        "Fine [laugh] thanks.\n"
        "\n"
        "4\n"
        "00:00:03,833 --> 00:00:06,500\n"
        "The quick brown fox\n"
        "jumps over the lazy dog.\n"
    )


def test_files_past_an_hour() -> None:
    cues = build_cues([Span(3723.25, 3725.5, "Late.")])
    assert to_srt(cues) == "1\n01:02:03,250 --> 01:02:05,500\nLate.\n"
    assert to_webvtt(cues) == "WEBVTT\n\n01:02:03.250 --> 01:02:05.500\nLate.\n"


def test_timestamps() -> None:
    assert format_timestamp(0.0) == "00:00:00.000"
    assert format_timestamp(59.9996) == "00:01:00.000"
    assert format_timestamp(3600.0, ",") == "01:00:00,000"
    assert format_timestamp(36_000 * 10 + 61.0101) == "100:01:01.010"
    with pytest.raises(ValueError):
        format_timestamp(-0.5)


def test_empty_files_and_webvtt_escaping() -> None:
    assert to_webvtt([]) == "WEBVTT\n"
    assert to_srt([]) == ""
    cue = Cue(0.0, 1.0, "a < b & c > d\n\nnext")
    assert (
        to_webvtt([cue])
        == "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\na &lt; b &amp; c &gt; d\nnext\n"
    )
    assert to_srt([cue]) == "1\n00:00:00,000 --> 00:00:01,000\na < b & c > d\nnext\n"
