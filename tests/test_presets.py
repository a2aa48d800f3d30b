"""Preset files: the shipped ones follow the prompt tips; bad files stop start-up by name."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from components.models import CHATTERBOX, CHATTERBOX_TURBO, MODELS
from components.presets import PresetError, load_presets

SLIDERS = {p.name for p in CHATTERBOX.tunable}


def defaults():
    return CHATTERBOX.defaults()


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_shipped_presets_in_button_order(model):
    presets = load_presets(model)
    assert [p.name for p in presets] == ["neutral", "default", "theatrical"]
    assert all(set(p.values) == {q.name for q in model.tunable} for p in presets)
    assert all(p.description for p in presets)


def test_turbo_presets_follow_its_page_resembles_demo_and_the_tips():
    presets = {p.name: p.values for p in load_presets(CHATTERBOX_TURBO)}
    # "default" is Turbo's own API table, which differs from the original model's.
    tunable = {p.name for p in CHATTERBOX_TURBO.tunable}
    assert presets["default"] == {k: v for k, v in CHATTERBOX_TURBO.defaults().items() if k in tunable}
    assert 0.2 <= presets["neutral"]["temperature"] <= 0.5
    assert 0.7 <= presets["neutral"]["top_p"] <= 0.9
    assert 1.0 <= presets["theatrical"]["temperature"] <= 1.5
    # Resemble's Turbo demo: top_p 0.95, top_k 1000, repetition_penalty 1.2.
    assert (presets["theatrical"]["top_p"], presets["theatrical"]["top_k"]) == (0.95, 1000)
    assert all(isinstance(values["top_k"], int) for values in presets.values())
    assert all(values["norm_loudness"] is True for values in presets.values())


def test_presets_follow_the_model_pages_prompt_tips():
    presets = {p.name: p.values for p in load_presets(CHATTERBOX)}
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
    folder = tmp_path / CHATTERBOX.name
    folder.mkdir()
    write(folder, "a.json", {"values": good_values()})
    write(folder, "whisper.json", {"label": "Whisper", "values": good_values()})
    assert [p.label for p in load_presets(CHATTERBOX, tmp_path)] == ["A", "Whisper"]


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
        load_presets(replace(CHATTERBOX, presets_dir=tmp_path))
    assert "broken.json" in str(refused.value) and field in str(refused.value)


def test_invalid_json_names_the_file(tmp_path):
    (tmp_path / "oops.json").write_text("{not json")
    with pytest.raises(PresetError, match="oops.json"):
        load_presets(replace(CHATTERBOX, presets_dir=tmp_path))


def test_a_bad_preset_stops_app_start_up(tmp_path, settings):
    from app import build_demo

    (tmp_path / CHATTERBOX.name).mkdir()
    (tmp_path / CHATTERBOX_TURBO.name).mkdir()
    write(tmp_path / CHATTERBOX.name, "loud.json", {"values": {**good_values(), "exaggeration": 3}})
    with pytest.raises(PresetError, match="loud.json: field 'exaggeration'"):
        build_demo(replace(settings, presets_dir=str(tmp_path)))


@pytest.mark.parametrize(
    ("change", "field"),
    [({"top_k": 500.5}, "'top_k'"), ({"norm_loudness": 1}, "'norm_loudness'"),
     ({"exaggeration": 0.5}, "'exaggeration'"), ({"temperature": 0.01}, "'temperature'")],
)
def test_a_bad_turbo_preset_is_checked_against_turbos_own_table(tmp_path, change, field):
    values = {p.name: p.default for p in CHATTERBOX_TURBO.tunable}
    write(tmp_path, "broken.json", {"values": {**values, **change}})
    with pytest.raises(PresetError) as refused:
        load_presets(replace(CHATTERBOX_TURBO, presets_dir=tmp_path))
    assert "broken.json" in str(refused.value) and field in str(refused.value)


def test_the_preset_status_names_the_match_or_what_differs():
    from components.presets import preset_status

    presets = load_presets(CHATTERBOX)
    values = {p.name: p.default for p in CHATTERBOX.tunable}
    status = preset_status(CHATTERBOX, presets, values)
    assert status.selected == "default" and status.line.startswith("**Default** · The API's")
    theatrical = next(p for p in presets if p.name == "theatrical")
    custom = preset_status(CHATTERBOX, presets, {**theatrical.values, "temperature": 0.9})
    assert custom.selected is None
    assert custom.line == "**Custom** · 1 value changed from Theatrical: temperature 0.9 (Theatrical: 1.2)"
    turbo = {p.name: p.default for p in CHATTERBOX_TURBO.tunable}
    assert preset_status(CHATTERBOX_TURBO, load_presets(CHATTERBOX_TURBO), {**turbo, "norm_loudness": False}).line.endswith(
        "norm_loudness false (Default: true)")


def test_examples_name_a_known_model_and_preset_or_stop_start_up(tmp_path):
    from components.examples import load_examples

    presets = {m.name: load_presets(m) for m in MODELS}
    shipped = load_examples(MODELS, presets)
    assert [e.label for e in shipped] == ["AI agent's reply", "Game character", "Narration",
                                         "Meme one-liner", "Audiobook paragraph"]
    assert all(e.text and e.use_case for e in shipped)
    good = {"label": "L", "use_case": "U", "model": "chatterbox", "preset": "default", "text": "Hi."}
    write(tmp_path, "a.json", {**good, "preset": "whisper"})
    with pytest.raises(PresetError, match="a.json: Chatterbox has no preset 'whisper'"):
        load_examples(MODELS, presets, tmp_path)
    write(tmp_path, "a.json", {**good, "colour": "red"})
    with pytest.raises(PresetError, match="a.json: must hold exactly the fields"):
        load_examples(MODELS, presets, tmp_path)
    write(tmp_path, "a.json", {**good, "model": "chatterbox-multilingual"})
    assert load_examples(MODELS, presets, tmp_path) == []  # a model this app lacks: not offered
