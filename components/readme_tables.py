"""The README's generated tables: `python -m components.readme_tables` rewrites them in place.

Each table is written once, in code (components/models.py for the models) or in presets/;
tests/test_readme.py fails when the README drifts from them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from components import errors, settings
from components.models import MODELS, Model
from components.parameters import format_value
from components.presets import load_presets

README = Path(__file__).resolve().parent.parent / "README.md"


def presets_table(model: Model) -> str:
    names = [p.name for p in model.tunable]
    rows = ["| preset | " + " | ".join(names) + " | why |", "|---" * (len(names) + 2) + "|"]
    for preset in load_presets(model):
        values = " | ".join(format_value(preset.values[name]) for name in names)
        rows.append(f"| **{preset.label}** | {values} | {preset.description} |")
    return "\n".join(rows)


def models_table() -> str:
    rows = [
        "| model | Segmind endpoint | Gradio API | reference voice | sound tags | listed price, time per call |",
        "|---|---|---|---|---|---|",
    ]
    for model in MODELS:
        voice = f"required (≥ {model.min_reference_seconds:g} s)" if model.reference_required else "optional"
        tags = " ".join(f"`{tag}`" for tag in model.tags) or "none (removed from the text, and the page says so)"
        rows.append(
            f"| **{model.label}** (`{model.name}`) | `{model.endpoint}` | `/{model.api_name}` | "
            f"{voice} | {tags} | ${model.cost_per_call:g}, about {model.listed_seconds:g} s |"
        )
    return "\n".join(rows)


TABLES: dict[str, Callable[[], str]] = {
    "models": models_table,
    **{f"parameters:{m.name}": m.markdown_table for m in MODELS},
    **{f"presets:{m.name}": (lambda m=m: presets_table(m)) for m in MODELS},
    "configuration": settings.markdown_table,
    "errors": errors.markdown_table,
}


def _block(name: str) -> re.Pattern[str]:
    return re.compile(
        rf"(<!-- table:{name} -->\n)(.*?)(<!-- /table:{name} -->)", re.DOTALL
    )


def read_table(readme: str, name: str) -> str | None:
    match = _block(name).search(readme)
    return match.group(2).rstrip("\n") if match else None


def rewrite(readme: str) -> str:
    for name, make in TABLES.items():
        table = make()
        readme = _block(name).sub(lambda m, t=table: m.group(1) + t + "\n" + m.group(3), readme)
    return readme


if __name__ == "__main__":
    README.write_text(rewrite(README.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"rewrote {', '.join(TABLES)} in {README}")
