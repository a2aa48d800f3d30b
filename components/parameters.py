"""The one table of Chatterbox's tunable request fields, and everything derived from it.

Sliders, server-side validation, request building, preset validation and the README's
parameter table all read `PARAMETERS`; nothing else restates a range or a default.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.errors import InvalidInput

SEED_MAX = 4_294_967_295


@dataclass(frozen=True)
class Parameter:
    """One numeric field of the Segmind request, as its API page documents it."""

    name: str
    label: str
    minimum: float
    maximum: float
    default: float
    step: float
    description: str
    integer: bool = False

    def validate(self, value: Any) -> float | int:
        """Return `value` as the field's type, or raise InvalidInput naming the field."""
        # bool is an int subclass; True is never a meaningful temperature.
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidInput(
                self.name,
                f"{self.name} must be a number, got {type(value).__name__}.",
            )
        # math.isfinite would overflow on a huge int (JSON allows 10**400); ints are finite.
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInput(self.name, f"{self.name} must be a finite number, got {value}.")
        if self.integer:
            if value != int(value):
                raise InvalidInput(self.name, f"{self.name} must be a whole number, got {value}.")
            value = int(value)
        if not self.minimum <= value <= self.maximum:
            raise InvalidInput(
                self.name,
                f"{self.name} must be between {_fmt(self.minimum)} and {_fmt(self.maximum)}, "
                f"got {_fmt(value)}.",
            )
        return value


def _fmt(number: float) -> str:
    if isinstance(number, float):
        return f"{number:g}"
    if abs(number) >= 10**15:  # a forged 400-digit integer is named by its size, not printed
        return f"a number of about {int(number.bit_length() * 0.30103) + 1} digits"
    return str(number)


# Order follows the Segmind sample request, which is also the Gradio API's argument order.
PARAMETERS: tuple[Parameter, ...] = (
    Parameter(
        "exaggeration", "Exaggeration", 0, 2, 0.5, 0.05,
        "Adjusts speech expressiveness. Use lower values for neutrality, higher for dramatic effect.",
    ),
    Parameter(
        "temperature", "Temperature", 0, 2, 0.8, 0.05,
        "Controls speech variation. Use lower for consistent tone, higher for diverse expressions.",
    ),
    Parameter(
        "seed", "Seed", 0, SEED_MAX, 42, 1,
        "Ensures consistent output with the same input. Adjust for diverse generations.",
        integer=True,
    ),
    Parameter(
        "cfg_weight", "CFG weight", 0, 2, 0.5, 0.05,
        "Balances creativity and adherence to text. Use lower for strict interpretation, "
        "higher for flexibility.",
    ),
    Parameter(
        "min_p", "min_p", 0, 1, 0.05, 0.01,
        "Ensures minimum probability for content inclusion. Useful for removing unlikely phrases.",
    ),
    Parameter(
        "top_p", "top_p", 0, 1, 1, 0.01,
        "Determines output randomness. Lower for focused content, higher for creative diversity.",
    ),
    Parameter(
        "repetition_penalty", "Repetition penalty", 1, 2, 1.2, 0.05,
        "Penalizes repeated words in speech. Higher values reduce redundancy.",
    ),
)

PARAMETERS_BY_NAME: dict[str, Parameter] = {p.name: p for p in PARAMETERS}
SLIDER_PARAMETERS: tuple[Parameter, ...] = tuple(p for p in PARAMETERS if not p.integer)
SEED = PARAMETERS_BY_NAME["seed"]


def defaults() -> dict[str, float | int]:
    """The documented default of every field: what the API applies when a field is omitted."""
    return {p.name: p.default for p in PARAMETERS}


def validate_parameters(values: Mapping[str, Any]) -> dict[str, float | int]:
    """Validate every field of PARAMETERS in `values`; unknown or missing fields are errors."""
    unknown = sorted(set(values) - set(PARAMETERS_BY_NAME))
    if unknown:
        raise InvalidInput(unknown[0], f"Unknown parameter {unknown[0]!r}.")
    missing = [p.name for p in PARAMETERS if p.name not in values]
    if missing:
        raise InvalidInput(missing[0], f"Parameter {missing[0]!r} is missing.")
    return {p.name: p.validate(values[p.name]) for p in PARAMETERS}


def markdown_table() -> str:
    """The README's parameter table; tests/test_readme.py keeps the README in step with it."""
    rows = ["| field | range | default | what it does |", "|---|---|---|---|"]
    for p in PARAMETERS:
        kind = "integer " if p.integer else ""
        rows.append(
            f"| `{p.name}` | {kind}{_fmt(p.minimum)}–{_fmt(p.maximum)} | {_fmt(p.default)} "
            f"| {p.description} |"
        )
    return "\n".join(rows)


def api_docstring(max_text_chars: int, reference_seconds: float) -> str:
    """The `/synthesize` endpoint's docstring, which Gradio turns into the API page's and the
    MCP tool's descriptions: every argument, with the ranges and defaults of PARAMETERS."""
    lines = [
        "Speak `text` with Resemble AI's Chatterbox TTS (served by Segmind) and return the take "
        "as a 24 kHz WAV file, then a details line, the seed used, the live stream and a note "
        "on the voice.",
        "Every number is checked against its documented range before anything is sent; long "
        "text is split at sentence boundaries and synthesized in parallel. Give the Segmind "
        "key in the X-Segmind-Key request header (or leave it out when the app's owner pays).",
        "",
        "Args:",
        f"    text: What to say, 1 to {max_text_chars:,} characters.",
        "    reference_audio: A recording of the voice to clone (WAV, MP3, FLAC or OGG; the "
        f"first {reference_seconds:g} s are used), or null for the default voice.",
        "    reference_audio_url: An http(s) URL of the voice to clone, used when "
        "reference_audio is null; empty for none.",
    ]
    for p in PARAMETERS:
        kind = "An integer" if p.integer else "A number"
        lines.append(
            f"    {p.name}: {p.description} {kind} from {_fmt(p.minimum)} to "
            f"{_fmt(p.maximum)}; default {_fmt(p.default)}."
        )
    lines += [
        "    random_seed: true draws a new seed for this take (reported in the outputs); "
        "default false.",
        "    api_key: A Segmind API key; prefer the X-Segmind-Key header, which keeps the key "
        "out of the arguments. Default empty.",
    ]
    return "\n".join(lines)
