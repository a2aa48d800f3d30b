"""Preset files: one JSON file in presets/ per button, validated against the parameter table."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from components.errors import InvalidInput
from components.parameters import PARAMETERS_BY_NAME, SLIDER_PARAMETERS

PRESETS_DIR = Path(__file__).resolve().parent.parent / "presets"
_FILE_KEYS = {"label", "order", "description", "values"}


class PresetError(ValueError):
    """A preset file that must stop start-up; the message names the file and the field."""


@dataclass(frozen=True)
class Preset:
    name: str  # the file's stem
    label: str
    description: str
    values: dict[str, float]  # every slider, in PARAMETERS order
    order: int = 0


def load_preset(path: Path) -> Preset:
    def fail(what: str) -> PresetError:
        return PresetError(f"Preset file {path.name}: {what}")

    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise fail(f"is not valid JSON ({error})") from None
    if not isinstance(document, dict):
        raise fail("must hold a JSON object")
    for key in document:
        if key not in _FILE_KEYS:
            raise fail(f"unknown field {key!r}; allowed: {', '.join(sorted(_FILE_KEYS))}")
    values = document.get("values")
    if not isinstance(values, dict):
        raise fail("field 'values' must be an object of slider values")
    for name in values:
        if name not in PARAMETERS_BY_NAME:
            raise fail(f"unknown field {name!r} in 'values'")
        if name not in {p.name for p in SLIDER_PARAMETERS}:
            raise fail(f"field {name!r} is not a slider; a preset sets the sliders only")
    checked: dict[str, float] = {}
    for parameter in SLIDER_PARAMETERS:
        if parameter.name not in values:
            raise fail(f"field {parameter.name!r} is missing; a preset sets every slider")
        try:
            checked[parameter.name] = parameter.validate(values[parameter.name])
        except InvalidInput as error:
            raise fail(f"field {parameter.name!r}: {error}") from None
    label = document.get("label", path.stem.title())
    order = document.get("order", 0)
    if not isinstance(label, str) or not label.strip():
        raise fail("field 'label' must be a non-empty string")
    if isinstance(order, bool) or not isinstance(order, int):
        raise fail("field 'order' must be an integer")
    return Preset(path.stem, label, str(document.get("description", "")), checked, order)


def load_presets(directory: Path = PRESETS_DIR) -> list[Preset]:
    """Every *.json preset in `directory`, in button order; any bad file raises PresetError."""
    presets = [load_preset(path) for path in sorted(directory.glob("*.json"))]
    if not presets:
        raise PresetError(f"No preset files in {directory}; at least one *.json is needed.")
    return sorted(presets, key=lambda preset: (preset.order, preset.name))
