"""Preset files: one JSON file per button in presets/<model>/, validated against the model's table."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from components.errors import InvalidInput
from components.models import Model
from components.parameters import format_value
_FILE_KEYS = {"label", "order", "description", "values"}


class PresetError(ValueError):
    """A preset file that must stop start-up; the message names the file and the field."""


@dataclass(frozen=True)
class Preset:
    name: str  # the file's stem
    label: str
    description: str
    values: dict[str, float | int | bool]  # every tunable field, in the model's order
    order: int = 0


def load_preset(path: Path, model: Model) -> Preset:
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
        raise fail("field 'values' must be an object of the model's settings")
    for name in values:
        if name not in model.parameters_by_name:
            raise fail(f"unknown field {name!r} in 'values'; {model.label} has no such parameter")
        if model.parameters_by_name[name].is_seed:
            raise fail("field 'seed' is not a preset's to set; the seed is chosen per take")
    checked: dict[str, float | int | bool] = {}
    for parameter in model.tunable:
        if parameter.name not in values:
            raise fail(f"field {parameter.name!r} is missing; a preset sets every control")
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


def load_presets(model: Model, root: Path | None = None) -> list[Preset]:
    """Every *.json preset of `model` (in `root`/<model name>, or the model's own folder), in
    button order; any bad file raises PresetError."""
    directory = root / model.name if root is not None else model.presets_folder
    presets = [load_preset(path, model) for path in sorted(directory.glob("*.json"))]
    if not presets:
        raise PresetError(f"No preset files in {directory}; at least one *.json is needed.")
    return sorted(presets, key=lambda preset: (preset.order, preset.name))


@dataclass(frozen=True)
class PresetStatus:
    """Which preset the controls show, for the page: the button to mark, and a line under the
    buttons that gives the preset's description or names every value that differs."""

    selected: str | None  # the matching preset's name, or None for custom values
    line: str


def preset_status(model: Model, presets: list[Preset], values: dict) -> PresetStatus:
    """Compare the controls' `values` with `model`'s presets. Custom values are described
    against the closest preset, naming what differs from it."""

    def differences(preset: Preset) -> list[str]:
        return [
            p.name for p in model.tunable
            if not _same(values.get(p.name), preset.values[p.name])
        ]

    closest = min(presets, key=lambda preset: len(differences(preset)))
    changed = differences(closest)
    if not changed:
        return PresetStatus(closest.name, f"**{closest.label}** · {closest.description}")
    shown = ", ".join(
        f"{name} {format_value(values.get(name))} ({closest.label}: "
        f"{format_value(closest.values[name])})"
        for name in changed
    )
    count = f"{len(changed)} value{'s' * (len(changed) != 1)}"
    return PresetStatus(None, f"**Custom** · {count} changed from {closest.label}: {shown}")


def _same(value: object, preset_value: object) -> bool:
    if isinstance(preset_value, bool) or isinstance(value, bool):
        return value is preset_value
    try:
        return abs(float(value) - float(preset_value)) < 1e-9  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
