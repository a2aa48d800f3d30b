"""The README's generated tables: `python -m components.readme_tables` rewrites them in place.

Each table is written once, in code or in presets/; tests/test_readme.py fails when the README
drifts from them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from components import errors, parameters, settings
from components.presets import load_presets

README = Path(__file__).resolve().parent.parent / "README.md"


def presets_table() -> str:
    sliders = [p.name for p in parameters.SLIDER_PARAMETERS]
    rows = ["| preset | " + " | ".join(sliders) + " | why |", "|---" * (len(sliders) + 2) + "|"]
    for preset in load_presets():
        values = " | ".join(f"{preset.values[name]:g}" for name in sliders)
        rows.append(f"| **{preset.label}** | {values} | {preset.description} |")
    return "\n".join(rows)


TABLES: dict[str, Callable[[], str]] = {
    "parameters": parameters.markdown_table,
    "presets": presets_table,
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
