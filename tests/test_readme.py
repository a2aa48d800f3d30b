"""The README tells the truth: its generated tables match their sources, its commands exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from components import models, readme_tables
from components.settings import ENVIRONMENT

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", readme_tables.TABLES)
def test_generated_table_is_in_step_with_its_source(name):
    assert readme_tables.read_table(README, name) == readme_tables.TABLES[name](), (
        f"README's {name} table is stale: run python -m components.readme_tables"
    )


def test_every_environment_variable_the_code_reads_is_documented():
    read_in_code = set()
    for path in [ROOT / "app.py", *(ROOT / "components").glob("*.py")]:
        read_in_code |= set(re.findall(r"\b((?:SEGMIND|CHATTERBOX)_[A-Z_]+)\b", path.read_text()))
    documented = {var.name for var in ENVIRONMENT}
    model_constants = set(vars(models))  # CHATTERBOX_TURBO is a model, not a variable
    assert read_in_code - model_constants <= documented


def test_space_front_matter_pins_the_tested_gradio():
    import gradio

    front = README.split("---")[1]
    for line in ("sdk: gradio", "app_file: app.py", f"sdk_version: {gradio.__version__}"):
        assert line in front
    for key in ("title:", "emoji:", "short_description:", "license:"):
        assert key in front
    pinned = re.search(r"^gradio(?:\[mcp\])?==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M)
    assert pinned and pinned.group(1) == gradio.__version__


def test_the_commands_it_gives_exist():
    assert "pip install -r requirements.txt && python app.py" in README
    assert "bash tests/run.sh" in README
    assert "bash tests/run.sh" in (ROOT / ".ci" / "run").read_text()
    assert (ROOT / "tests" / "run.sh").exists()
