"""Preset files: the shipped ones follow the prompt tips; bad files stop start-up by name."""

from __future__ import annotations

import json

import pytest

from components.parameters import SLIDER_PARAMETERS, defaults
from components.presets import PresetError, load_presets

SLIDERS = {p.name for p in SLIDER_PARAMETERS}


def test_shipped_presets_in_button_order():
    assert [p.name for p in load_presets()] == ["neutral", "default", "theatrical"]


def test_presets_follow_the_model_pages_prompt_tips():
    presets = {p.name: p.values for p in load_presets()}
    neutral, theatrical = presets["neutral"], presets["theatrical"]
    assert 0 <= neutral["exaggeration"] <= 0.5
    assert 0.2 <= neutral["temperature"] <= 0.5
    assert 0.7 <= neutral["top_p"] <= 0.9
    assert 1.5 <= theatrical["exaggeration"] <= 2.0
    assert 1.0 <= theatrical["temperature"] <= 1.5
    assert theatrical["cfg_weight"] == pytest.approx(0.3)
    # "default" is the API's table, not the tips' "0.7 (default)" exaggeration.
    assert presets["default"] == {k: v for k, v in defaults().items() if k in SLIDERS}


def write(tmp_path, name, document):
    (tmp_path / name).write_text(json.dumps(document))


def good_values():
    return {k: v for k, v in defaults().items() if k in SLIDERS}


def test_adding_a_file_adds_a_preset(tmp_path):
    write(tmp_path, "a.json", {"values": good_values()})
    write(tmp_path, "whisper.json", {"label": "Whisper", "values": good_values()})
    assert [p.label for p in load_presets(tmp_path)] == ["A", "Whisper"]


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"values": {**good_values(), "speed": 1}}, "'speed'"),
        ({"values": good_values(), "colour": "red"}, "'colour'"),
        ({"values": {**good_values(), "temperature": 2.5}}, "'temperature'"),
        ({"values": {**good_values(), "top_p": -0.1}}, "'top_p'"),
        ({"values": {**good_values(), "min_p": "low"}}, "'min_p'"),
        ({"values": {**good_values(), "seed": 1}}, "'seed'"),
        ({"values": {k: v for k, v in good_values().items() if k != "cfg_weight"}}, "'cfg_weight'"),
    ],
)
def test_a_bad_preset_names_the_file_and_the_field(tmp_path, document, field):
    write(tmp_path, "good.json", {"values": good_values()})
    write(tmp_path, "broken.json", document)
    with pytest.raises(PresetError) as refused:
        load_presets(tmp_path)
    assert "broken.json" in str(refused.value) and field in str(refused.value)


def test_invalid_json_names_the_file(tmp_path):
    (tmp_path / "oops.json").write_text("{not json")
    with pytest.raises(PresetError, match="oops.json"):
        load_presets(tmp_path)


def test_a_bad_preset_stops_app_start_up(tmp_path, settings):
    from dataclasses import replace

    from app import build_demo

    write(tmp_path, "loud.json", {"values": {**good_values(), "exaggeration": 3}})
    with pytest.raises(PresetError, match="loud.json: field 'exaggeration'"):
        build_demo(replace(settings, presets_dir=str(tmp_path)))
