"""Dialogue scripts and casts: parsed in order, every refusal naming the line or the speaker."""

from __future__ import annotations

import json

import pytest

from components.dialogue import (
    CastMember,
    Line,
    cost_line,
    parse_cast,
    parse_script,
    scene_cost,
    speakers,
)
from components.errors import InvalidInput
from components.models import CHATTERBOX, CHATTERBOX_TURBO, MODELS
from components.presets import Preset, load_presets

LIMIT = 1000
VOICE = "https://example.com/voice.wav"


@pytest.fixture(scope="module")
def presets():
    return {model.name: load_presets(model) for model in MODELS}


def refused(call, *args, **kwargs) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        call(*args, **kwargs)
    return caught.value


def tunable_defaults(model):
    return {p.name: p.default for p in model.tunable}


# --- the script ---------------------------------------------------------------------------


def test_three_speakers_parsed_in_order_blank_lines_skipped():
    script = "Ada: Did you hear that?\n\nBob: It's the wind.\n   \nCy: Or a ghost.\nAda: Hush."
    lines = parse_script(script, LIMIT)
    assert lines == [
        Line(1, "Ada", "Did you hear that?"),
        Line(3, "Bob", "It's the wind."),
        Line(5, "Cy", "Or a ghost."),
        Line(6, "Ada", "Hush."),
    ]
    assert speakers(lines) == ["Ada", "Bob", "Cy"]


def test_windows_line_breaks_keep_the_line_numbers_on_screen():
    lines = parse_script("Ada: one\r\n\r\nBob: two", LIMIT)
    assert [(line.number, line.speaker) for line in lines] == [(1, "Ada"), (3, "Bob")]


def test_speakers_match_case_insensitively_and_keep_the_first_spelling():
    script = "McKay: Hello.\nmckay: Again.\nMCKAY  : Louder.\nO'Brien-2 Jr.: Hi."
    lines = parse_script(script, LIMIT)
    assert [line.speaker for line in lines] == ["McKay", "McKay", "McKay", "O'Brien-2 Jr."]
    assert speakers(lines) == ["McKay", "O'Brien-2 Jr."]


def test_only_the_first_colon_separates_the_speaker():
    lines = parse_script("Ada: Meet at 5:30: sharp, then ratio 2:1.", LIMIT)
    assert lines == [Line(1, "Ada", "Meet at 5:30: sharp, then ratio 2:1.")]


def test_pause_and_sound_tags_stay_in_the_text():
    lines = parse_script("Bob: [sigh] Fine. [pause:1.5s] Let's go. [laugh]", LIMIT)
    assert lines[0].text == "[sigh] Fine. [pause:1.5s] Let's go. [laugh]"


def test_pause_tags_and_names_are_not_counted_in_the_length():
    # 20 spoken characters per line, each with a name and a pause tag that are not spoken.
    script = "Ada: " + "a" * 20 + " [pause:1s]\nBob: " + "b" * 20 + " [pause:1s]"
    assert len(script) > 40  # would be refused if the tags or the names were counted
    assert [line.speaker for line in parse_script(script, 40)] == ["Ada", "Bob"]
    error = refused(parse_script, script, 39)
    assert error.field == "script"
    assert str(error).startswith("The script has 40 spoken characters; the limit is 39")


def test_a_line_without_a_speaker_is_refused_by_number():
    error = refused(parse_script, "Ada: Hi.\nBob: Hello.\nand then silence", LIMIT)
    assert error.field == "script"
    assert str(error) == 'Line 3 has no speaker: write it as "Name: what they say".'


@pytest.mark.parametrize("row", [": no name", "   : still no name"])
def test_an_empty_name_is_no_speaker(row):
    error = refused(parse_script, f"Ada: Hi.\n{row}", LIMIT)
    assert str(error) == 'Line 2 has no speaker: write it as "Name: what they say".'


def test_a_name_with_other_characters_is_no_speaker():
    error = refused(parse_script, "Ada: Hi.\nShe said, quietly: go", LIMIT)
    assert error.field == "script"
    assert str(error).startswith('Line 2 has no speaker: "She said, quietly" is not a name')


def test_a_name_of_punctuation_only_is_no_speaker():
    error = refused(parse_script, "...: hm", LIMIT)
    assert str(error).startswith('Line 1 has no speaker: "..." is not a name')


def test_names_of_forty_characters_pass_and_longer_are_refused():
    assert parse_script("A" * 40 + ": hi", LIMIT)[0].speaker == "A" * 40
    error = refused(parse_script, "Ada: hi\n" + "B" * 41 + ": hi", LIMIT)
    assert str(error).startswith("Line 2: the name")
    assert "41 characters" in str(error) and "at most 40" in str(error)


def test_a_line_with_no_text_after_the_colon_is_refused_by_number():
    error = refused(parse_script, "Ada: Hi.\nBob:   ", LIMIT)
    assert error.field == "script"
    assert str(error).startswith('Line 2 has no text after "Bob:"')


def test_a_bad_pause_tag_is_refused_with_its_line():
    error = refused(parse_script, "Ada: Hi.\nBob: Wait [pause:500] for it.", LIMIT)
    assert error.field == "script"
    assert str(error).startswith('Line 2 (Bob): The pause tag "[pause:500]" has no unit')


@pytest.mark.parametrize("script", [None, 42, ["Ada: hi"], b"Ada: hi"])
def test_a_script_that_is_not_text_is_refused(script):
    error = refused(parse_script, script, LIMIT)
    assert error.field == "script"
    assert str(error).startswith(f"The script must be text, got {type(script).__name__}.")


@pytest.mark.parametrize("script", ["", "\n\n   \n"])
def test_an_empty_script_is_refused(script):
    assert str(refused(parse_script, script, LIMIT)).startswith("The script is empty")


def test_over_the_limit_names_the_count_and_the_limit():
    script = "Ada: " + "a" * 60 + "\nBob: " + "b" * 50
    error = refused(parse_script, script, 100)
    assert error.field == "script"
    assert str(error).startswith("The script has 110 spoken characters; the limit is 100")


def test_a_raw_length_over_twice_the_limit_is_refused_before_anything_else():
    # The first line has no speaker: only the length check, done first, reports the length.
    script = "no speaker here\n" + "Ada: " + "a" * 200
    error = refused(parse_script, script, 100)
    assert str(error).startswith(f"The script is {len(script):,} characters; the limit is 100")


def test_the_raw_length_may_reach_twice_the_limit():
    script = "Ada: " + "a" * 10 + " [pause:1s]" * 16  # 191 characters, 10 of them spoken
    assert len(script) <= 200
    assert parse_script(script, 100)[0].speaker == "Ada"


# --- the cast -----------------------------------------------------------------------------

SCRIPT = "Ada: Did you hear that?\nBob: [sigh] It's the wind.\nAda: Hush."


@pytest.fixture
def lines():
    return parse_script(SCRIPT, LIMIT)


def test_a_full_cast_from_json_text(lines, presets):
    cast = json.dumps({
        "Ada": {"model": "chatterbox", "preset": "theatrical"},
        "Bob": {"model": "chatterbox-turbo", "preset": "neutral", "reference_audio_url": VOICE},
    })
    members = parse_cast(cast, lines, MODELS, presets)
    assert list(members) == ["Ada", "Bob"]
    theatrical = next(p for p in presets["chatterbox"] if p.name == "theatrical")
    neutral = next(p for p in presets["chatterbox-turbo"] if p.name == "neutral")
    assert members["Ada"] == CastMember("Ada", CHATTERBOX, "theatrical", theatrical.values, "")
    assert members["Bob"] == CastMember("Bob", CHATTERBOX_TURBO, "neutral", neutral.values, VOICE)


def test_parameters_override_the_preset(lines, presets):
    cast = {
        "Ada": {"preset": "theatrical", "parameters": {"temperature": 1.9, "top_p": 0.5}},
        "Bob": {"preset": "neutral"},
    }
    ada = parse_cast(cast, lines, MODELS, presets)["Ada"]
    theatrical = next(p for p in presets["chatterbox"] if p.name == "theatrical")
    assert ada.parameters == {**theatrical.values, "temperature": 1.9, "top_p": 0.5}
    assert ada.preset == "theatrical"


def test_missing_keys_take_the_first_model_its_default_preset_and_no_voice(lines, presets):
    members = parse_cast({"Ada": {}, "Bob": {}}, lines, MODELS, presets)
    default = next(p for p in presets["chatterbox"] if p.name == "default")
    for name in ("Ada", "Bob"):
        assert members[name] == CastMember(name, CHATTERBOX, "default", default.values, "")
    # The shipped "default" preset is the model's documented defaults; the seed is never set.
    assert members["Ada"].parameters == tunable_defaults(CHATTERBOX)
    assert "seed" not in members["Ada"].parameters


def test_without_a_default_preset_the_first_is_used_and_gaps_take_model_defaults(lines):
    # Hand-made presets: no "default", and the first one leaves most fields out.
    calm = Preset("calm", "Calm", "", {"temperature": 0.3}, order=1)
    loud = Preset("loud", "Loud", "", {"exaggeration": 1.5}, order=2)
    cast = {"Ada": {}, "Bob": {"preset": "loud"}}
    members = parse_cast(cast, lines, MODELS, {"chatterbox": [calm, loud]})
    assert members["Ada"].preset == "calm"
    assert members["Ada"].parameters == {**tunable_defaults(CHATTERBOX), "temperature": 0.3}
    assert members["Bob"].parameters == {**tunable_defaults(CHATTERBOX), "exaggeration": 1.5}


def test_a_model_without_presets_uses_its_defaults(lines):
    members = parse_cast({"Ada": {}, "Bob": {}}, lines, MODELS, {})
    assert members["Ada"].preset == ""
    assert members["Ada"].parameters == tunable_defaults(CHATTERBOX)
    error = refused(parse_cast, {"Ada": {"preset": "calm"}, "Bob": {}}, lines, MODELS, {})
    assert str(error) == (
        'Speaker "Ada": Chatterbox has no preset "calm"; it has none; leave "preset" out.'
    )


def test_cast_names_match_case_insensitively_and_extras_are_ignored(lines, presets):
    cast = {
        "ADA": {"preset": "neutral"},
        "bob": {},
        # Not in the script, and invalid: ignored, so one cast serves several drafts.
        "Zed": {"model": "no-such-model", "parameters": {"seed": 1}},
    }
    members = parse_cast(cast, lines, MODELS, presets)
    assert list(members) == ["Ada", "Bob"]  # the script's spelling
    assert members["Ada"].preset == "neutral" and members["Ada"].speaker == "Ada"


def test_a_speaker_missing_from_the_cast_is_named_with_its_line(lines, presets):
    error = refused(parse_cast, {"Ada": {}}, lines, MODELS, presets)
    assert error.field == "cast"
    assert str(error) == (
        'Speaker "Bob" (line 2) is not in the cast: add "Bob": {"model": "chatterbox"}.'
    )


def test_an_empty_cast_text_names_the_first_speaker(lines, presets):
    error = refused(parse_cast, "  ", lines, MODELS, presets)
    assert str(error).startswith('Speaker "Ada" (line 1) is not in the cast')


def test_an_unknown_model_lists_the_known_ones(lines, presets):
    cast = {"Ada": {}, "Bob": {"model": "chatterbox-xl"}}
    error = refused(parse_cast, cast, lines, MODELS, presets)
    assert error.field == "cast"
    assert str(error) == (
        'Speaker "Bob": unknown model "chatterbox-xl"; pick one of chatterbox, chatterbox-turbo.'
    )


def test_an_unknown_preset_lists_the_models_presets(lines, presets):
    cast = {
        "Ada": {"model": "chatterbox-turbo", "preset": "loud", "reference_audio_url": VOICE},
        "Bob": {},
    }
    error = refused(parse_cast, cast, lines, MODELS, presets)
    names = ", ".join(p.name for p in presets["chatterbox-turbo"])
    assert str(error) == (
        f'Speaker "Ada": Chatterbox Turbo has no preset "loud"; pick one of {names}.'
    )


def test_an_unknown_parameter_uses_the_models_message(lines, presets):
    cast = {"Ada": {}, "Bob": {"parameters": {"top_k": 50}}}
    error = refused(parse_cast, cast, lines, MODELS, presets)
    assert error.field == "cast"
    assert str(error) == "Speaker \"Bob\": Chatterbox has no parameter 'top_k'."


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"temperature": 2.5}, "temperature must be between 0 and 2, got 2.5."),
        ({"top_k": 2.5}, "top_k must be a whole number, got 2.5."),
        ({"norm_loudness": 1}, "norm_loudness must be true or false, got 1."),
        ({"top_p": "high"}, "top_p must be a number, got str."),
    ],
)
def test_an_out_of_range_parameter_uses_the_models_message(lines, presets, parameters, message):
    turbo = {"model": "chatterbox-turbo", "reference_audio_url": VOICE}
    cast = {"Ada": {}, "Bob": {**turbo, "parameters": parameters}}
    if "temperature" in parameters:
        cast["Bob"] = {"parameters": parameters}  # the original model's 0–2 range
    error = refused(parse_cast, cast, lines, MODELS, presets)
    assert error.field == "cast"
    assert str(error) == f'Speaker "Bob": {message}'


def test_a_seed_in_the_cast_is_refused(lines, presets):
    cast = {"Ada": {"parameters": {"seed": 7}}, "Bob": {}}
    error = refused(parse_cast, cast, lines, MODELS, presets)
    assert error.field == "cast"
    assert str(error).startswith('Speaker "Ada": the seed is not set per speaker')


def test_turbo_without_a_voice_is_refused(lines, presets):
    cast = {"Ada": {}, "Bob": {"model": "chatterbox-turbo", "reference_audio_url": ""}}
    error = refused(parse_cast, cast, lines, MODELS, presets)
    assert error.field == "cast"
    assert str(error).startswith('Speaker "Bob": Chatterbox Turbo needs a voice')
    assert "reference_audio_url" in str(error) and "upload a recording for Bob" in str(error)


def test_turbo_with_an_upload_needs_no_url(lines, presets):
    cast = {"Ada": {}, "Bob": {"model": "chatterbox-turbo"}}
    # The upload's name is matched like the cast's: case-insensitively.
    members = parse_cast(cast, lines, MODELS, presets, uploaded={"BOB": object()})
    assert members["Bob"].model is CHATTERBOX_TURBO
    assert members["Bob"].reference_audio_url == ""
    # An upload for another speaker is no voice for Bob.
    error = refused(parse_cast, cast, lines, MODELS, presets, uploaded={"Ada": object()})
    assert str(error).startswith('Speaker "Bob": Chatterbox Turbo needs a voice')


def test_a_bad_voice_url_is_refused_with_the_speaker(lines, presets):
    cast = {"Ada": {"reference_audio_url": "ftp://example.com/a.wav"}, "Bob": {}}
    error = refused(parse_cast, cast, lines, MODELS, presets)
    assert error.field == "cast"
    assert str(error).startswith('Speaker "Ada": The reference audio URL uses \'ftp:\'')


def test_a_voice_url_is_kept_validated(lines, presets):
    cast = {"Ada": {"reference_audio_url": "  HTTPS://example.com/a.wav "}, "Bob": {}}
    ada = parse_cast(cast, lines, MODELS, presets)["Ada"]
    assert ada.reference_audio_url == "https://example.com/a.wav"


@pytest.mark.parametrize("cast", [["Ada"], 42, None, "[1, 2]", '"Ada"'])
def test_a_cast_that_is_not_an_object_is_refused(lines, presets, cast):
    error = refused(parse_cast, cast, lines, MODELS, presets)
    assert error.field == "cast"
    assert str(error).startswith("The cast must be a JSON object keyed by speaker, got ")


def test_cast_text_that_is_not_json_is_refused(lines, presets):
    error = refused(parse_cast, '{"Ada": {"model": "chatterbox",}}', lines, MODELS, presets)
    assert error.field == "cast"
    assert str(error).startswith("The cast is not valid JSON (")


@pytest.mark.parametrize("entry", ["chatterbox", ["chatterbox"], None, 3])
def test_a_cast_entry_that_is_not_an_object_is_refused(lines, presets, entry):
    error = refused(parse_cast, {"Ada": {}, "Bob": entry}, lines, MODELS, presets)
    assert error.field == "cast"
    assert str(error).startswith('Speaker "Bob": the cast entry must be an object like')


def test_parameters_that_are_not_an_object_are_refused(lines, presets):
    error = refused(parse_cast, {"Ada": {"parameters": [0.5]}, "Bob": {}}, lines, MODELS, presets)
    assert str(error).startswith('Speaker "Ada": "parameters" must be an object')


def test_a_setting_outside_parameters_is_refused_with_a_hint(lines, presets):
    error = refused(parse_cast, {"Ada": {"temperature": 0.5}, "Bob": {}}, lines, MODELS, presets)
    assert str(error).startswith(
        'Speaker "Ada": unknown field "temperature" (model settings go inside "parameters")'
    )


def test_one_speaker_twice_in_the_cast_is_refused(lines, presets):
    error = refused(parse_cast, {"Ada": {}, "ada": {}, "Bob": {}}, lines, MODELS, presets)
    assert str(error) == 'The cast names one speaker twice ("Ada" and "ada"): keep one.'


# --- the cost -----------------------------------------------------------------------------


def test_the_cost_of_a_mixed_cast(presets):
    lines = parse_script(
        "Ada: Short.\nBob: [laugh] A long one.\nAda: Another long one.\nCy: Fine.", LIMIT
    )
    cast = parse_cast(
        {"Ada": {}, "Bob": {"model": "chatterbox-turbo", "reference_audio_url": VOICE}, "Cy": {}},
        lines, MODELS, presets,
    )
    planned = []

    def plan_calls(text: str) -> int:  # stands in for the app's planner
        planned.append(text)
        return 2 if "long" in text else 1

    costs = scene_cost(lines, {name: m.model for name, m in cast.items()}, plan_calls)
    assert costs == {
        "chatterbox": (4, pytest.approx(0.08)),
        "chatterbox-turbo": (2, pytest.approx(0.042)),
    }
    assert cost_line(costs) == (
        "6 calls · about $0.122 (4 to Chatterbox at $0.02, 2 to Chatterbox Turbo at $0.021)"
    )
    # Turbo performs its sound tag, so it is planned with it.
    assert planned[1] == "[laugh] A long one."


def test_the_original_model_is_planned_without_sound_tags(presets):
    lines = parse_script("Ada: [laugh] Hi there.", LIMIT)
    cast = parse_cast({"Ada": {}}, lines, MODELS, presets)
    planned = []
    scene_cost(lines, {"Ada": cast["Ada"].model}, lambda text: planned.append(text) or 1)
    assert planned == ["Hi there."]


def test_the_cost_line_of_the_example():
    costs = {"chatterbox": (3, 3 * 0.02), "chatterbox-turbo": (2, 2 * 0.021)}
    assert cost_line(costs) == (
        "5 calls · about $0.102 (3 to Chatterbox at $0.02, 2 to Chatterbox Turbo at $0.021)"
    )
    one = cost_line({"chatterbox": (1, 0.02)})
    assert one == "1 call · about $0.020 (1 to Chatterbox at $0.02)"
    assert cost_line({}) == "0 calls"
