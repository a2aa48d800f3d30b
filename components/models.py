"""The Segmind models the playground speaks, each described once, as data.

A `Model` holds everything that differs between models: its endpoint, its parameter table (in
Segmind's field order, which is also the Gradio API's argument order), whether it needs a
reference voice, its price, the sound tags it speaks and its presets folder. Validation,
request bodies, the page's controls, the API signature and docs, the README's tables, the cost
preview and the cache key all read it; adding a model is one `Model` and one presets folder.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.errors import InvalidInput
from components.parameters import SEED_MAX, Parameter, describe_range, format_value

PRESETS_ROOT = Path(__file__).resolve().parent.parent / "presets"

# Resemble's Turbo demo and Replicate's listing of Turbo: the tags the model performs.
SOUND_TAGS: tuple[str, ...] = (
    "[clear throat]", "[sigh]", "[shush]", "[cough]", "[groan]",
    "[sniff]", "[gasp]", "[chuckle]", "[laugh]",
)


@dataclass(frozen=True)
class Model:
    name: str  # the id in take records, the cache key, file names and the API's cast
    label: str
    endpoint: str  # Segmind's endpoint name, after the API root
    api_name: str  # the Gradio API endpoint, e.g. "synthesize" for /synthesize
    summary: str  # one sentence for the page, the API docs and the README
    parameters: tuple[Parameter, ...]  # Segmind's field order
    cost_per_call: float  # US dollars, as Segmind lists it
    listed_seconds: float  # Segmind's listed latency per call
    reference_required: bool = False
    min_reference_seconds: float = 1.0  # a shorter clip is refused before any call
    tags: tuple[str, ...] = ()  # sound tags the model speaks, written in the text
    main_controls: tuple[str, ...] = ()  # shown above the fold; the rest fold under "Fine-tune"
    presets_dir: Path | None = None  # default: presets/<name>
    parameters_by_name: dict[str, Parameter] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parameters_by_name", {p.name: p for p in self.parameters})
        if "seed" not in self.parameters_by_name:
            raise ValueError(f"model {self.name}: every model needs a seed (takes are named by it)")

    @property
    def presets_folder(self) -> Path:
        return self.presets_dir or PRESETS_ROOT / self.name

    @property
    def tunable(self) -> tuple[Parameter, ...]:
        """What a preset sets and the model's tab shows: every field but the shared seed."""
        return tuple(p for p in self.parameters if not p.is_seed)

    @property
    def seed(self) -> Parameter:
        return self.parameters_by_name["seed"]

    def defaults(self) -> dict[str, Any]:
        """The documented default of every field: what Segmind applies when one is omitted."""
        return {p.name: p.default for p in self.parameters}

    def validate(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Every field of the table, checked; an unknown or missing field is an error."""
        unknown = sorted(set(values) - set(self.parameters_by_name))
        if unknown:
            raise InvalidInput(
                unknown[0], f"{self.label} has no parameter {unknown[0]!r}."
            )
        missing = [p.name for p in self.parameters if p.name not in values]
        if missing:
            raise InvalidInput(missing[0], f"Parameter {missing[0]!r} is missing.")
        return {p.name: p.validate(values[p.name]) for p in self.parameters}

    def request_body(self, text: str, parameters: Mapping[str, Any], reference: str | None) -> dict:
        """One call's JSON body, fields in the order of Segmind's sample request."""
        body: dict[str, Any] = {"text": text}
        if reference is not None:
            body["reference_audio"] = reference
        body.update((p.name, parameters[p.name]) for p in self.parameters)
        return body

    def markdown_table(self) -> str:
        """The README's parameter table for this model."""
        rows = ["| field | range | default | what it does |", "|---|---|---|---|"]
        rows += [
            f"| `{p.name}` | {describe_range(p)} | {format_value(p.default)} | {p.description} |"
            for p in self.parameters
        ]
        return "\n".join(rows)

    def api_docstring(self, max_text_chars: int, reference_seconds: float) -> str:
        """The endpoint's docstring, which Gradio turns into the API page's and the MCP tool's
        descriptions: every argument, with this model's ranges and defaults."""
        voice = (
            f"A recording of the voice to clone (WAV, MP3, FLAC or OGG; at least "
            f"{self.min_reference_seconds:g} s, the first {reference_seconds:g} s are used)"
        )
        if self.reference_required:
            voice += f". {self.label} needs a voice: give this or reference_audio_url."
        else:
            voice += ", or null for Segmind's default voice."
        tags = (
            f" Sound tags written in the text are performed: {', '.join(self.tags)}."
            if self.tags
            else ""
        )
        lines = [
            f"Speak `text` with {self.label} ({self.summary}, served by Segmind) and return "
            "the take as a 24 kHz WAV file, then a details line, the seed used, the live stream "
            "and a note on the voice." + tags,
            "Every value is checked against its documented range before anything is sent; long "
            "text is split at sentence boundaries and synthesized in parallel. Give the Segmind "
            "key in the X-Segmind-Key request header (or leave it out when the app's owner pays).",
            "",
            "Args:",
            f"    text: What to say, 1 to {max_text_chars:,} characters.",
            f"    reference_audio: {voice}",
            "    reference_audio_url: An http(s) URL of the voice to clone, used when "
            "reference_audio is null; empty for none.",
        ]
        for p in self.parameters:
            kind = {"integer": "An integer", "boolean": "true or false"}.get(p.kind, "A number")
            where = "" if p.boolean else f" from {format_value(p.minimum)} to {format_value(p.maximum)}"
            lines.append(f"    {p.name}: {p.description} {kind}{where}; default {format_value(p.default)}.")
        lines += [
            "    random_seed: true draws a new seed for this take (reported in the outputs); "
            "default false.",
            "    api_key: A Segmind API key; prefer the X-Segmind-Key header, which keeps the key "
            "out of the arguments. Default empty.",
        ]
        return "\n".join(lines)


def _seed(description: str) -> Parameter:
    return Parameter("seed", "Seed", 0, SEED_MAX, 42, 1, description, kind="integer")


CHATTERBOX = Model(
    name="chatterbox",
    label="Chatterbox",
    endpoint="chatterbox-tts",
    api_name="synthesize",
    summary="Resemble AI's expressive 500M model, with exaggeration and CFG",
    parameters=(
        Parameter(
            "exaggeration", "Exaggeration", 0, 2, 0.5, 0.05,
            "Adjusts speech expressiveness. Use lower values for neutrality, higher for dramatic "
            "effect.",
        ),
        Parameter(
            "temperature", "Temperature", 0, 2, 0.8, 0.05,
            "Controls speech variation. Use lower for consistent tone, higher for diverse "
            "expressions.",
        ),
        _seed("Ensures consistent output with the same input. Adjust for diverse generations."),
        Parameter(
            "cfg_weight", "CFG weight", 0, 2, 0.5, 0.05,
            "Balances creativity and adherence to text. Use lower for strict interpretation, "
            "higher for flexibility.",
        ),
        Parameter(
            "min_p", "min_p", 0, 1, 0.05, 0.01,
            "Ensures minimum probability for content inclusion. Useful for removing unlikely "
            "phrases.",
        ),
        Parameter(
            "top_p", "top_p", 0, 1, 1, 0.01,
            "Determines output randomness. Lower for focused content, higher for creative "
            "diversity.",
        ),
        Parameter(
            "repetition_penalty", "Repetition penalty", 1, 2, 1.2, 0.05,
            "Penalizes repeated words in speech. Higher values reduce redundancy.",
        ),
    ),
    cost_per_call=0.02,
    listed_seconds=18.0,
    # The two controls the model page's prompt tips are about.
    main_controls=("exaggeration", "cfg_weight"),
)

CHATTERBOX_TURBO = Model(
    name="chatterbox-turbo",
    label="Chatterbox Turbo",
    endpoint="chatterbox-turbo-tts",
    api_name="synthesize_turbo",
    summary="Resemble AI's faster 350M model, which performs sound tags",
    parameters=(
        Parameter(
            "temperature", "Temperature", 0.05, 2, 0.7, 0.05,
            "Controls speech variation. Use lower for consistent tone, higher for diverse "
            "expressions.",
        ),
        _seed("Ensures consistent output with the same input; the page calls 0 random."),
        Parameter(
            "min_p", "min_p", 0, 1, 0, 0.01,
            "Minimum token probability, relative to the likeliest; 0 turns it off.",
        ),
        Parameter(
            "top_p", "top_p", 0, 1, 0.9, 0.01,
            "Determines output randomness. Lower for focused content, higher for creative "
            "diversity.",
        ),
        # Segmind's page gives no range; Resemble's code defaults to 1000 and its demo's slider
        # stops there, so 1–1000 is what is known to be safe.
        Parameter(
            "top_k", "top_k", 1, 1000, 500, 1,
            "Samples only from the k likeliest tokens. Lower for steadier speech.",
            kind="integer",
        ),
        Parameter(
            "repetition_penalty", "Repetition penalty", 1, 2, 1.3, 0.05,
            "Penalizes repeated words in speech. Higher values reduce redundancy.",
        ),
        Parameter(
            "norm_loudness", "Normalise loudness", 0, 1, True, 1,
            "Normalises the output's loudness to the reference voice's.",
            kind="boolean",
        ),
    ),
    cost_per_call=0.021,
    listed_seconds=13.6,
    reference_required=True,
    # Resemble's Turbo asserts that the reference clip is longer than 5 s.
    min_reference_seconds=5.0,
    tags=SOUND_TAGS,
    main_controls=("temperature",),  # Turbo's expressiveness comes from sampling and tags
)

MODELS: tuple[Model, ...] = (CHATTERBOX, CHATTERBOX_TURBO)

_TAG = re.compile(r"\[[^\[\]\n]{1,40}\]")


def tags_in(text: str, known: tuple[str, ...]) -> list[str]:
    """The known sound tags written in `text`, in order, matched case-insensitively."""
    lowered = {tag.lower() for tag in known}
    return [match.group(0) for match in _TAG.finditer(text) if match.group(0).lower() in lowered]


def left_out_note(removed: Sequence[str]) -> str:
    """What the page says about sound tags removed for a model that does not perform them."""
    return (
        f"{len(removed)} sound tag{'s' * (len(removed) != 1)} left out ({', '.join(removed)}): "
        "only Chatterbox Turbo performs them"
    )


def strip_tags(text: str, known: tuple[str, ...]) -> tuple[str, list[str]]:
    """`text` without the known sound tags (and the space each leaves), and the tags removed.

    For a model that does not perform them: it would read "[laugh]" aloud as a word."""
    removed = tags_in(text, known)
    if not removed:
        return text, []
    lowered = {tag.lower() for tag in known}
    stripped = _TAG.sub(lambda m: "" if m.group(0).lower() in lowered else m.group(0), text)
    stripped = re.sub(r"[ \t]{2,}", " ", stripped)
    stripped = re.sub(r"[ \t]+([,.;:!?])", r"\1", stripped)
    return stripped.strip(), removed
