"""The parameter table against the documented contract, and validation of every field."""

from __future__ import annotations

import math

import pytest

from components.errors import InvalidInput
from components.parameters import (
    PARAMETERS,
    PARAMETERS_BY_NAME,
    SEED_MAX,
    defaults,
    validate_parameters,
)
from components.synthesis import Voice, request_payload

# The contract as the issue and CONTRACT.md state it: (minimum, maximum, default).
DOCUMENTED = {
    "exaggeration": (0, 2, 0.5),
    "temperature": (0, 2, 0.8),
    "cfg_weight": (0, 2, 0.5),
    "min_p": (0, 1, 0.05),
    "top_p": (0, 1, 1),
    "repetition_penalty": (1, 2, 1.2),
    "seed": (0, 4294967295, 42),
}


def test_table_matches_the_documented_contract():
    assert {p.name: (p.minimum, p.maximum, p.default) for p in PARAMETERS} == DOCUMENTED
    assert PARAMETERS_BY_NAME["seed"].integer and SEED_MAX == 2**32 - 1
    assert all(p.description.endswith(".") for p in PARAMETERS)


def test_defaults_are_valid():
    assert validate_parameters(defaults()) == defaults()


@pytest.mark.parametrize("name", [p.name for p in PARAMETERS])
def test_range_edges_are_accepted_and_beyond_refused(name):
    parameter = PARAMETERS_BY_NAME[name]
    for value in (parameter.minimum, parameter.maximum):
        assert validate_parameters({**defaults(), name: value})[name] == value
    for value in (parameter.minimum - 1, parameter.maximum + 1):
        with pytest.raises(InvalidInput) as refused:
            validate_parameters({**defaults(), name: value})
        assert refused.value.field == name
        assert name in str(refused.value) and "between" in str(refused.value)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "0.5", None, True, [0.5], {}])
@pytest.mark.parametrize("name", ["temperature", "seed"])
def test_non_numbers_and_non_finite_values_are_refused(name, bad):
    with pytest.raises(InvalidInput) as refused:
        validate_parameters({**defaults(), name: bad})
    assert refused.value.field == name


def test_seed_must_be_whole_but_may_arrive_as_a_float():
    assert validate_parameters({**defaults(), "seed": 7.0})["seed"] == 7
    assert isinstance(validate_parameters({**defaults(), "seed": 7.0})["seed"], int)
    with pytest.raises(InvalidInput, match="whole number"):
        validate_parameters({**defaults(), "seed": 7.5})


def test_unknown_and_missing_fields_are_refused():
    with pytest.raises(InvalidInput, match="Unknown parameter 'speed'"):
        validate_parameters({**defaults(), "speed": 1})
    values = defaults()
    del values["top_p"]
    with pytest.raises(InvalidInput, match="'top_p' is missing"):
        validate_parameters(values)


def test_request_payload_is_the_documented_body():
    body = request_payload("Hi.", defaults(), Voice.from_url("https://example.com/v.mp3"))
    assert body == {
        "text": "Hi.",
        "reference_audio": "https://example.com/v.mp3",
        "exaggeration": 0.5,
        "temperature": 0.8,
        "seed": 42,
        "cfg_weight": 0.5,
        "min_p": 0.05,
        "top_p": 1,
        "repetition_penalty": 1.2,
    }


def test_without_a_voice_no_reference_audio_is_sent():
    assert "reference_audio" not in request_payload("Hi.", defaults(), Voice())


def test_uploaded_voice_is_bare_base64_unless_a_data_uri_is_asked_for():
    assert Voice.from_upload(b"RIFFxxxxWAVE", "v").payload == "UklGRnh4eHhXQVZF"
    uri = Voice.from_upload(b"RIFFxxxxWAVE", "v", encoding="data-uri").payload
    assert uri == "data:audio/wav;base64,UklGRnh4eHhXQVZF"
