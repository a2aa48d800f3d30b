"""One-click examples, one JSON file each in presets/examples/: a text, a model and one of its
presets, for each of the model page's "Best Use Cases". They only fill the page: nothing is
synthesized until a person presses Generate (start-up has no key to pay with)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from components.models import PRESETS_ROOT, Model
from components.presets import Preset, PresetError

EXAMPLES_DIR = PRESETS_ROOT / "examples"
_FILE_KEYS = {"label", "use_case", "model", "preset", "text"}


@dataclass(frozen=True)
class Example:
    name: str  # the file's stem
    label: str
    use_case: str  # the model page's words for what it is for
    model: Model
    preset: Preset
    text: str


def load_examples(
    models: Sequence[Model],
    presets: Mapping[str, Sequence[Preset]],
    directory: Path = EXAMPLES_DIR,
) -> list[Example]:
    """Every example in `directory`, in file order; a file naming a model or preset that does
    not exist stops start-up, naming the file, as a bad preset does."""
    by_name = {model.name: model for model in models}
    examples = []
    for path in sorted(directory.glob("*.json")):
        def fail(what: str, path: Path = path) -> PresetError:
            return PresetError(f"Example file {path.name}: {what}")

        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise fail(f"is not valid JSON ({error})") from None
        if not isinstance(document, dict) or set(document) != _FILE_KEYS:
            raise fail(f"must hold exactly the fields {', '.join(sorted(_FILE_KEYS))}")
        if not all(isinstance(document[key], str) and document[key].strip() for key in _FILE_KEYS):
            raise fail("every field must be a non-empty string")
        model = by_name.get(document["model"])
        if model is None:  # a model this app was built without: its example is not offered
            continue
        preset = next((p for p in presets[model.name] if p.name == document["preset"]), None)
        if preset is None:
            raise fail(f"{model.label} has no preset {document['preset']!r}")
        examples.append(Example(path.stem, document["label"], document["use_case"], model, preset,
                                document["text"]))
    return examples
