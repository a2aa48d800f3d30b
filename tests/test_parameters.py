"""Each model's parameter table against the documented contract, and validation of every field."""

from __future__ import annotations

import math

import pytest

from components.errors import InvalidInput
from components.models import CHATTERBOX, CHATTERBOX_TURBO, MODELS, SOUND_TAGS, strip_tags, tags_in
from components.parameters import SEED_MAX
from components.synthesis import Voice

# The contracts as CONTRACT.md states them: (minimum, maximum, default).
DOCUMENTED = {
    CHATTERBOX: {
        "exaggeration": (0, 2, 0.5),
        "temperature": (0, 2, 0.8),
        "seed": (0, 4294967295, 42),
        "cfg_weight": (0, 2, 0.5),
        "min_p": (0, 1, 0.05),
        "top_p": (0, 1, 1),
        "repetition_penalty": (1, 2, 1.2),
    },
    CHATTERBOX_TURBO: {
        "temperature": (0.05, 2, 0.7),
        "seed": (0, 4294967295, 42),
        "min_p": (0, 1, 0),
        "top_p": (0, 1, 0.9),
        "top_k": (1, 1000, 500),
        "repetition_penalty": (1, 2, 1.3),
        "norm_loudness": (0, 1, True),
    },
}
NUMERIC = [(m, p.name) for m in MODELS for p in m.parameters if not p.boolean]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_table_matches_the_documented_contract_in_segminds_order(model):
    table = {p.name: (p.minimum, p.maximum, p.default) for p in model.parameters}
    assert table == DOCUMENTED[model] and list(table) == list(DOCUMENTED[model])
    assert model.seed.integer and SEED_MAX == 2**32 - 1
    assert all(p.description.endswith(".") for p in model.parameters)


def test_turbo_differs_where_its_page_says():
    assert CHATTERBOX_TURBO.reference_required and not CHATTERBOX.reference_required
    assert CHATTERBOX_TURBO.parameters_by_name["top_k"].integer
    assert CHATTERBOX_TURBO.parameters_by_name["norm_loudness"].boolean
    assert {"exaggeration", "cfg_weight"}.isdisjoint(CHATTERBOX_TURBO.parameters_by_name)
    assert CHATTERBOX_TURBO.tags == SOUND_TAGS and not CHATTERBOX.tags
    assert (CHATTERBOX.cost_per_call, CHATTERBOX_TURBO.cost_per_call) == (0.02, 0.021)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_defaults_are_valid(model):
    assert model.validate(model.defaults()) == model.defaults()


@pytest.mark.parametrize(("model", "name"), NUMERIC, ids=lambda v: getattr(v, "name", v))
def test_range_edges_are_accepted_and_beyond_refused(model, name):
    parameter = model.parameters_by_name[name]
    for value in (parameter.minimum, parameter.maximum):
        assert model.validate({**model.defaults(), name: value})[name] == value
    for value in (parameter.minimum - 0.01, parameter.maximum + 1):
        with pytest.raises(InvalidInput) as refused:
            model.validate({**model.defaults(), name: value})
        assert refused.value.field == name
        assert name in str(refused.value)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "0.5", None, True, [0.5], {}])
@pytest.mark.parametrize(("model", "name"), [(CHATTERBOX, "temperature"), (CHATTERBOX, "seed"),
                                            (CHATTERBOX_TURBO, "top_k")], ids=str)
def test_non_numbers_and_non_finite_values_are_refused(model, name, bad):
    with pytest.raises(InvalidInput) as refused:
        model.validate({**model.defaults(), name: bad})
    assert refused.value.field == name


@pytest.mark.parametrize(("model", "name"), [(CHATTERBOX, "seed"), (CHATTERBOX_TURBO, "top_k")], ids=str)
def test_integers_must_be_whole_but_may_arrive_as_a_float(model, name):
    assert model.validate({**model.defaults(), name: 7.0})[name] == 7
    assert isinstance(model.validate({**model.defaults(), name: 7.0})[name], int)
    with pytest.raises(InvalidInput, match="whole number"):
        model.validate({**model.defaults(), name: 7.5})


@pytest.mark.parametrize("bad", [1, 0, 1.0, "true", None, [True]])
def test_norm_loudness_is_strictly_true_or_false(bad):
    assert CHATTERBOX_TURBO.validate({**CHATTERBOX_TURBO.defaults(), "norm_loudness": False})[
        "norm_loudness"] is False
    with pytest.raises(InvalidInput, match="norm_loudness must be true or false") as refused:
        CHATTERBOX_TURBO.validate({**CHATTERBOX_TURBO.defaults(), "norm_loudness": bad})
    assert refused.value.field == "norm_loudness"


def test_unknown_and_missing_fields_are_refused():
    with pytest.raises(InvalidInput, match="has no parameter 'speed'"):
        CHATTERBOX.validate({**CHATTERBOX.defaults(), "speed": 1})
    with pytest.raises(InvalidInput, match="Chatterbox Turbo has no parameter 'exaggeration'"):
        CHATTERBOX_TURBO.validate({**CHATTERBOX_TURBO.defaults(), "exaggeration": 0.5})
    values = CHATTERBOX.defaults()
    del values["top_p"]
    with pytest.raises(InvalidInput, match="'top_p' is missing"):
        CHATTERBOX.validate(values)


def test_request_body_is_the_documented_body():
    body = CHATTERBOX.request_body("Hi.", CHATTERBOX.defaults(), "https://example.com/v.mp3")
    assert list(body.items()) == [
        ("text", "Hi."),
        ("reference_audio", "https://example.com/v.mp3"),
        ("exaggeration", 0.5),
        ("temperature", 0.8),
        ("seed", 42),
        ("cfg_weight", 0.5),
        ("min_p", 0.05),
        ("top_p", 1),
        ("repetition_penalty", 1.2),
    ]


def test_turbo_request_body_is_its_documented_body_in_segminds_order():
    body = CHATTERBOX_TURBO.request_body("Hi [laugh].", CHATTERBOX_TURBO.defaults(), "UklGRg==")
    assert list(body.items()) == [
        ("text", "Hi [laugh]."),
        ("reference_audio", "UklGRg=="),
        ("temperature", 0.7),
        ("seed", 42),
        ("min_p", 0),
        ("top_p", 0.9),
        ("top_k", 500),
        ("repetition_penalty", 1.3),
        ("norm_loudness", True),
    ]


def test_without_a_voice_no_reference_audio_is_sent():
    assert "reference_audio" not in CHATTERBOX.request_body("Hi.", CHATTERBOX.defaults(), None)


def test_sound_tags_are_found_and_stripped_for_a_model_that_does_not_speak_them():
    text = "Well [Laugh], that was fun. [clear throat] Next [citation needed] item [sigh]."
    assert tags_in(text, SOUND_TAGS) == ["[Laugh]", "[clear throat]", "[sigh]"]
    stripped, removed = strip_tags(text, SOUND_TAGS)
    assert stripped == "Well, that was fun. Next [citation needed] item."
    assert removed == ["[Laugh]", "[clear throat]", "[sigh]"]
    assert strip_tags("No tags here.", SOUND_TAGS) == ("No tags here.", [])


def test_uploaded_voice_is_bare_base64_unless_a_data_uri_is_asked_for():
    assert Voice.from_upload(b"RIFFxxxxWAVE", "v").payload == "UklGRnh4eHhXQVZF"
    uri = Voice.from_upload(b"RIFFxxxxWAVE", "v", encoding="data-uri").payload
    assert uri == "data:audio/wav;base64,UklGRnh4eHhXQVZF"
