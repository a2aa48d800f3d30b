"""Dialogue: a script spoken by several voices, one turn per line, without Gradio.

A script is plain text, one turn per line, `Name: what they say`:

    Ada: Did you hear that? [pause:500ms] Something moved.
    Bob: [sigh] It's the wind, Ada. It's always the wind.

The cast says who speaks how, as a JSON object keyed by the script's names:

    {"Ada": {"model": "chatterbox", "preset": "theatrical"},
     "Bob": {"model": "chatterbox-turbo", "reference_audio_url": "https://…/bob.wav",
             "parameters": {"temperature": 0.9}}}

Everything here is checked before any call is paid for, and every refusal is an
`InvalidInput` on the field "script" or "cast" whose message names the line or the speaker, so
a person can find what to fix in a long scene. The scene has one seed, chosen like a take's, so
the cast never sets one.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from components.errors import InvalidInput
from components.models import MODELS, SOUND_TAGS, Model, strip_tags
from components.parameters import Parameter, describe_range, format_value
from components.pauses import Segment, split_pauses, strip_pauses
from components.presets import Preset
from components.safe_url import validate_reference_url
from components.synthesis import RAW_LENGTH_FACTOR, Part, TakeRequest, Voice, clean_text

SCRIPT_FIELD = "script"
CAST_FIELD = "cast"
MAX_NAME_CHARS = 40
DEFAULT_PRESET = "default"
CAST_KEYS = ("model", "preset", "reference_audio_url", "parameters")
MAX_SCENE_LINES = 2000  # far beyond any scene a text cap allows; bounds the typing-time parse
# The silence from the end of one speaker's turn to the start of the next: exact, like a pause.
TURN_GAP = Parameter(
    "turn_gap", "Turn gap (s)", 0.0, 2.0, 0.35, 0.05,
    "Silence between one speaker's turn and the next, in seconds.",
)

# Letters and digits of any script (people are called José and Zoë), spaces, and the
# punctuation names carry: O'Brien, Jean-Luc, Dr. Who, npc_2. Nothing else, so a line like
# "He said, quietly: go" is not mistaken for a speaker called "He said, quietly".
_NAME = re.compile(r"[\w '.\-]+")
_FORMAT = '"Name: what they say"'
_NO_UPLOADS: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class Line:
    number: int  # 1-based, as the script box numbers its lines, so errors can point at it
    speaker: str  # as the speaker's name was first written in the script
    text: str  # what they say, cleaned like a take's text; pause and sound tags kept


@dataclass(frozen=True)
class CastMember:
    speaker: str  # as first written in the script
    model: Model
    preset: str  # the preset the values started from (they may differ: see `parameters`)
    parameters: dict  # every tunable field of `model`, validated; never the seed
    reference_audio_url: str  # validated, or "" for none


def _script_error(message: str) -> InvalidInput:
    return InvalidInput(SCRIPT_FIELD, message)


def _cast_error(message: str) -> InvalidInput:
    return InvalidInput(CAST_FIELD, message)


def speaker_error(speaker: str, message: str) -> InvalidInput:
    return _cast_error(f'Speaker "{speaker}": {message}')


def _name_key(name: str) -> str:
    """How names are compared: "BOB", "bob" and "Bob" are one speaker."""
    return name.casefold()


def _is_name(name: str) -> bool:
    """Whether a tidied name is one a script may use (its length is checked apart)."""
    return bool(_NAME.fullmatch(name)) and any(ch.isalnum() for ch in name)


def _tidy_name(name: str) -> str:
    # NFC so a name typed with a combining accent matches the same name typed precomposed;
    # runs of spaces collapse so "Mary  Ann" and "Mary Ann" are one speaker.
    return " ".join(unicodedata.normalize("NFC", name).split())


def parse_script(script: Any, max_chars: int) -> list[Line]:
    """The script's turns in order, or `InvalidInput("script", …)` naming the line to fix.

    `max_chars` bounds the spoken characters of the whole scene: speaker names and pause tags
    are not spoken, so they are not counted.
    """
    if not isinstance(script, str):
        raise _script_error(
            f"The script must be text, got {type(script).__name__}. Write one line per turn, "
            f"as {_FORMAT}."
        )
    # Measured before any other work, so an oversized script costs no more than its length.
    if len(script) > RAW_LENGTH_FACTOR * max_chars:
        raise _script_error(
            f"The script is {len(script):,} characters; the limit is {max_chars:,} spoken "
            "characters. Shorten it, or split it into several scenes."
        )
    # Only the breaks a text box shows count as lines, so "line 3" is the third line on screen.
    rows = script.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    first_spelling: dict[str, str] = {}
    lines: list[Line] = []
    spoken = 0
    for number, row in enumerate(rows, start=1):
        if not row.strip():
            continue
        name, colon, said = row.partition(":")  # only the first colon: "Bob: at 5:30" is fine
        name = _tidy_name(name)
        if not colon or not name:
            raise _script_error(f"Line {number} has no speaker: write it as {_FORMAT}.")
        if not _is_name(name):
            raise _script_error(
                f'Line {number} has no speaker: "{_quoted(name)}" is not a name (a name is '
                f"letters, digits, spaces, and - _ ' .). Write it as {_FORMAT}."
            )
        if len(name) > MAX_NAME_CHARS:
            raise _script_error(
                f'Line {number}: the name "{_quoted(name)}" is {len(name)} characters; a name '
                f"has at most {MAX_NAME_CHARS}."
            )
        speaker = first_spelling.setdefault(_name_key(name), name)
        if not said.strip():
            raise _script_error(
                f'Line {number} has no text after "{name}:": write what {speaker} says, or '
                "delete the line."
            )
        try:
            # The same cleaning a single take gets (invisible characters out, spaces folded),
            # and its pause tags checked now, so a bad one is refused with its line number.
            text = clean_text(said, max_chars)
            split_pauses(text)
        except InvalidInput as error:
            raise _script_error(f"Line {number} ({speaker}): {error}") from None
        spoken += len(strip_pauses(text, strict=False))  # a pause is silence, not characters
        lines.append(Line(number, speaker, text))
    if not lines:
        raise _script_error(f"The script is empty: write one line per turn, as {_FORMAT}.")
    if spoken > max_chars:
        raise _script_error(
            f"The script has {spoken:,} spoken characters; the limit is {max_chars:,} (speaker "
            "names and pause tags are not counted). Shorten it, or split it into several scenes."
        )
    return lines


def _quoted(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def speakers(lines: Sequence[Line]) -> list[str]:
    """Each speaker once, in order of first appearance, as first written."""
    seen: dict[str, str] = {}
    for line in lines:
        seen.setdefault(_name_key(line.speaker), line.speaker)
    return list(seen.values())


def parse_cast(
    cast: Any,
    lines: Sequence[Line],
    models: Sequence[Model],
    presets: Mapping[str, Sequence[Preset]],
    uploaded: Mapping[str, Any] = _NO_UPLOADS,
) -> dict[str, CastMember]:
    """Each of the script's speakers, with a model, a preset, full validated parameters and a
    voice; or `InvalidInput("cast", …)` naming the speaker.

    `presets` maps a model's name to its presets (in button order); `uploaded` maps a speaker
    to a voice the caller has already prepared (an upload), which counts as the voice a model
    like Turbo needs. Names match the script's case-insensitively; cast entries for names the
    script does not use are ignored, so one cast can serve several drafts of a scene.
    """
    entries = _cast_object(cast)
    by_key: dict[str, tuple[str, Any]] = {}
    for name, entry in entries.items():
        if not isinstance(name, str):
            raise _cast_error(f"The cast's names must be text, got {type(name).__name__}.")
        key = _name_key(_tidy_name(name))
        if key in by_key:
            raise _cast_error(
                f'The cast names one speaker twice ("{by_key[key][0]}" and "{name}"): keep one.'
            )
        by_key[key] = (name, entry)
    uploads = {_name_key(_tidy_name(str(name))): voice for name, voice in uploaded.items()}
    first_line = {}
    for line in lines:
        first_line.setdefault(_name_key(line.speaker), line.number)
    members: dict[str, CastMember] = {}
    for speaker in speakers(lines):
        key = _name_key(speaker)
        if key not in by_key:
            raise _cast_error(
                f'Speaker "{speaker}" (line {first_line[key]}) is not in the cast: add '
                f'"{speaker}": {_example_entry(models)}.'
            )
        members[speaker] = _member(
            speaker, by_key[key][1], models, presets, uploads.get(key) is not None
        )
    return members


def _cast_object(cast: Any) -> dict:
    """The cast as a dict: given as one, or as the JSON text of one."""
    if isinstance(cast, str):
        if not cast.strip():
            return {}  # an empty box: the first missing speaker is then named, with an example
        try:
            cast = json.loads(cast)
        except (ValueError, RecursionError) as error:  # RecursionError: absurdly deep nesting
            raise _cast_error(
                f"The cast is not valid JSON ({_quoted(str(error), 120)}). Write an object "
                'keyed by speaker, like {"Ada": {"model": "chatterbox", "preset": "default"}}.'
            ) from None
    if not isinstance(cast, dict):
        raise _cast_error(
            f"The cast must be a JSON object keyed by speaker, got {_json_kind(cast)}. Write it "
            'like {"Ada": {"model": "chatterbox", "preset": "default"}}.'
        )
    return cast


def _json_kind(value: Any) -> str:
    """A value's type as a JSON author knows it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (int, float)):
        return "a number"
    return type(value).__name__


def _shown(value: Any) -> str:
    """A name from the cast, quoted as written, or its type when it is not text."""
    return f'"{_quoted(value)}"' if isinstance(value, str) else _json_kind(value)


def _example_entry(models: Sequence[Model]) -> str:
    """The smallest cast entry that works with the first model, for an error message."""
    model = models[0]
    voice = ', "reference_audio_url": "https://…"' if model.reference_required else ""
    return f'{{"model": "{model.name}"{voice}}}'


def _member(
    speaker: str,
    entry: Any,
    models: Sequence[Model],
    presets: Mapping[str, Sequence[Preset]],
    has_upload: bool,
) -> CastMember:
    if not isinstance(entry, dict):
        raise speaker_error(
            speaker,
            f"the cast entry must be an object like {_example_entry(models)}, got "
            f"{_json_kind(entry)}.",
        )
    unknown = [key for key in entry if key not in CAST_KEYS]
    if unknown:
        hint = (
            ' (model settings go inside "parameters")'
            if any(str(key) in m.parameters_by_name for key in unknown for m in models)
            else ""
        )
        raise speaker_error(
            speaker,
            f'unknown field "{_quoted(str(unknown[0]))}"{hint}; a cast entry may have '
            f"{', '.join(CAST_KEYS)}.",
        )
    model = _model(speaker, entry.get("model"), models)
    preset = _preset(speaker, entry.get("preset"), model, presets.get(model.name, ()))
    parameters = _parameters(speaker, entry.get("parameters"), model, preset)
    url = _reference_url(speaker, entry.get("reference_audio_url"))
    if model.reference_required and not url and not has_upload:
        raise speaker_error(
            speaker,
            f"{model.label} needs a voice: give a voice URL as \"reference_audio_url\" in "
            f"the cast, or upload a recording for {speaker}.",
        )
    return CastMember(speaker, model, preset.name if preset else "", parameters, url)


def _model(speaker: str, name: Any, models: Sequence[Model]) -> Model:
    if name is None:
        return models[0]
    found = next((model for model in models if model.name == name), None)
    if found is None:
        known = ", ".join(model.name for model in models)
        raise speaker_error(speaker, f"unknown model {_shown(name)}; pick one of {known}.")
    return found


def _preset(
    speaker: str, name: Any, model: Model, available: Sequence[Preset]
) -> Preset | None:
    """The named preset, or the model's default one; None when the model has no presets."""
    if name is None:
        if not available:
            return None  # the model's documented defaults stand in
        return next((p for p in available if p.name == DEFAULT_PRESET), available[0])
    found = next((p for p in available if p.name == name), None)
    if found is None:
        choices = (
            f"pick one of {', '.join(p.name for p in available)}"
            if available
            else "it has none; leave \"preset\" out"
        )
        raise speaker_error(speaker, f"{model.label} has no preset {_shown(name)}; {choices}.")
    return found


def _parameters(speaker: str, given: Any, model: Model, preset: Preset | None) -> dict:
    """The model's default, overridden by the preset, overridden by the cast: all validated."""
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise speaker_error(
            speaker,
            f'"parameters" must be an object of {model.label} settings, like '
            f'{{"temperature": 0.8}}, got {_json_kind(given)}.',
        )
    if model.seed.name in given:
        raise speaker_error(
            speaker,
            "the seed is not set per speaker: the scene has one seed for every line. Remove "
            '"seed" from "parameters".',
        )
    values = {p.name: p.default for p in model.tunable}
    if preset is not None:
        values.update(preset.values)
    values.update(given)
    try:
        # The model's own checks, so a cast is held to what the sliders and the API allow;
        # it wants every field, so the shared seed's default stands in and is dropped after.
        checked = model.validate({**values, model.seed.name: model.seed.default})
    except InvalidInput as error:
        raise speaker_error(speaker, str(error)) from None
    return {p.name: checked[p.name] for p in model.tunable}


def _reference_url(speaker: str, url: Any) -> str:
    if url is None or (isinstance(url, str) and not url.strip()):
        return ""
    try:
        return validate_reference_url(url)
    except InvalidInput as error:
        raise speaker_error(speaker, str(error)) from None


def scene_cost(
    lines: Sequence[Line],
    models_of: Mapping[str, Model],
    plan_calls: Callable[[str], int],
) -> dict[str, tuple[int, float]]:
    """Calls and dollars per model name, in order of the models' first lines.

    `models_of` maps each speaker to their model; `plan_calls` is the app's planner: how many
    calls one text takes. Each line is planned as its model will receive it, so a model that
    does not perform sound tags is planned without them, as the single-take preview does.
    """
    by_key = {_name_key(name): model for name, model in models_of.items()}
    calls: dict[str, int] = {}
    price: dict[str, float] = {}
    for line in lines:
        model = by_key.get(_name_key(line.speaker))
        if model is None:
            raise _cast_error(f'Speaker "{line.speaker}" (line {line.number}) is not in the cast.')
        text = line.text if model.tags else strip_tags(line.text, SOUND_TAGS)[0]
        calls[model.name] = calls.get(model.name, 0) + plan_calls(text)
        price[model.name] = model.cost_per_call
    # Multiplied once per model rather than summed per line, so 3 calls cost 3 × price exactly.
    return {name: (count, count * price[name]) for name, count in calls.items()}


def cost_line(costs: Mapping[str, tuple[int, float]], models: Sequence[Model] = MODELS) -> str:
    """The scene's cost preview: "5 calls · about $0.101 (3 to Chatterbox at $0.02, …)"."""
    spent = {name: cost for name, cost in costs.items() if cost[0] > 0}
    total_calls = sum(count for count, _ in spent.values())
    if not total_calls:
        return "0 calls"
    by_name = {model.name: model for model in models}
    parts = []
    for name, (count, dollars) in spent.items():
        model = by_name.get(name)
        label = model.label if model else name
        each = model.cost_per_call if model else dollars / count
        parts.append(f"{count} to {label} at ${each:g}")
    total = sum(dollars for _, dollars in spent.values())
    plural = "s" * (total_calls != 1)
    return f"{total_calls} call{plural} · about ${total:.3f} ({', '.join(parts)})"


def speakers_in(script: Any) -> list[str]:
    """The speakers of a script being typed, in order of first appearance: lines that are not
    (yet) `Name: text` are skipped rather than refused, so the cast follows the typing."""
    if not isinstance(script, str):
        return []
    seen: dict[str, str] = {}
    for row in script.splitlines()[: MAX_SCENE_LINES]:
        name, colon, said = row.partition(":")
        name = _tidy_name(name)
        if colon and said.strip() and _is_name(name) and len(name) <= MAX_NAME_CHARS:
            seen.setdefault(_name_key(name), name)
    return list(seen.values())


def member_named(members: Mapping[str, CastMember], name: Any) -> CastMember | None:
    """The cast member `name` means, matched as the script's names are (case and runs of
    spaces aside); None for a name the script does not use."""
    key = _name_key(_tidy_name(str(name)))
    return next((m for m in members.values() if _name_key(m.speaker) == key), None)


@dataclass(frozen=True)
class Scene:
    """A validated scene: every line's request (its speaker's model, voice and parameters, and
    its seed), ready to synthesize. Nothing in it is unchecked."""

    lines: tuple[Line, ...]
    cast: Mapping[str, CastMember]
    requests: tuple[TakeRequest, ...]  # one per line, in script order
    turn_gap: float
    seed: int  # the scene's seed, used by every line a redo has not given its own
    line_seeds: Mapping[int, int]  # turn (1-based, in script order) → its own seed

    @classmethod
    def build(
        cls,
        lines: Sequence[Line],
        cast: Mapping[str, CastMember],
        voices: Mapping[str, Voice],
        turn_gap: Any,
        seed: Any,
        line_seeds: Mapping[Any, Any],
        max_chars: int,
    ) -> Scene:
        """`voices` maps a speaker to a voice already prepared (an upload); the others use
        their cast entry's URL, or the default voice."""
        gap = TURN_GAP.validate(turn_gap)
        scene_seed = MODELS[0].seed.validate(seed)
        own_seeds = _line_seeds(line_seeds, len(lines))
        members = {_name_key(name): member for name, member in cast.items()}
        uploads = {_name_key(name): voice for name, voice in voices.items()}
        requests = []
        for turn, line in enumerate(lines, start=1):
            key = _name_key(line.speaker)
            member = members[key]
            voice = uploads.get(key) or (
                Voice.from_url(member.reference_audio_url) if member.reference_audio_url else Voice()
            )
            parameters = {**member.parameters, "seed": own_seeds.get(turn, scene_seed)}
            try:
                request = TakeRequest.build(member.model, line.text, parameters, voice, max_chars)
            except InvalidInput as error:
                raise _script_error(f"Line {line.number} ({line.speaker}): {error}") from None
            requests.append(request)
        return cls(tuple(lines), dict(cast), tuple(requests), gap, scene_seed, own_seeds)

    def parts(self, plan_parts: Callable[[Sequence[Segment]], list[Part]]) -> list[Part]:
        """Every call of the scene in script order, each with its line's request. The first
        call of a line names its speaker (for the captions); between two lines the silence is
        exactly the turn gap, plus any pause tag that ends one line or starts the next."""
        parts: list[Part] = []
        for line, request in zip(self.lines, self.requests):
            planned = [replace(part, request=request) for part in plan_parts(request.segments)]
            planned[0] = replace(planned[0], speaker=line.speaker)
            if parts:
                # The turn: the silence after the previous line, exact like a pause tag's.
                previous = parts[-1]
                written = previous.pause if previous.exact else 0.0
                parts[-1] = replace(
                    previous, pause=written + self.turn_gap + planned[0].lead, exact=True
                )
                planned[0] = replace(planned[0], lead=0.0)
            parts += planned
        last = parts[-1]
        if not last.exact:
            parts[-1] = replace(last, pause=0.0)  # the scene ends with its last word
        return parts

    def normalized_script(self) -> str:
        """The script as it was understood: one `Name: text` per turn, names as first written."""
        return "\n".join(f"{line.speaker}: {line.text}" for line in self.lines)


def _line_seeds(given: Mapping[Any, Any], turns: int) -> dict[int, int]:
    if not isinstance(given, Mapping):
        raise _script_error("line_seeds must map a line's turn number to its seed.")
    seeds = {}
    for turn, seed in given.items():
        try:
            number = int(turn)
        except (TypeError, ValueError):
            number = 0
        if not 1 <= number <= turns:
            raise _script_error(f"There is no line {turn!r} to give a seed; the scene has {turns}.")
        seeds[number] = MODELS[0].seed.validate(seed)
    return seeds


def api_docstring(
    models: Sequence[Model], presets: Mapping[str, Sequence[Preset]], max_chars: int
) -> str:
    """/synthesize_dialogue's docstring, which Gradio turns into the API page's and the MCP
    tool's descriptions: the script format and the cast, with each model's fields, ranges and
    defaults from its table."""
    fields = []
    for model in models:
        names = ", ".join(p.name for p in presets.get(model.name, ())) or "none"
        settings = "; ".join(
            f"{p.name} {describe_range(p)} (default {format_value(p.default)})"
            for p in model.tunable
        )
        voice = " Needs a voice." if model.reference_required else ""
        fields.append(f'"{model.name}" ({model.label}; presets {names}): {settings}.{voice}')
    return "\n".join([
        "Speak a dialogue scene with several voices and return it as one 24 kHz WAV take, then "
        "its captions (WebVTT, each line starting with the speaker's name), a details line and "
        "the seed used. Every line is synthesized in parallel, in its speaker's voice and "
        "settings, and cached on its own; everything is checked before any call.",
        "Give the Segmind key in the X-Segmind-Key request header (or leave it out when the "
        "app's owner pays).",
        "",
        "Args:",
        f"    script: One turn per line, written {_FORMAT}; [pause:500ms] tags work inside "
        f"lines. At most {max_chars:,} spoken characters.",
        "    cast: A JSON object mapping each speaker's name to {\"model\", \"preset\", "
        "\"reference_audio_url\", \"parameters\"}, all optional; parameters override the "
        "preset, which overrides the model's defaults; no voice means Segmind's default voice. "
        "Models: " + " ".join(fields),
        f"    turn_gap: {TURN_GAP.description} {describe_range(TURN_GAP)}; default "
        f"{format_value(TURN_GAP.default)}.",
        f"    seed: The scene's seed, shared by every line, {describe_range(models[0].seed)}; "
        f"default {format_value(models[0].seed.default)}.",
        "    random_seed: true draws a new seed for this scene; default false.",
        "    api_key: A Segmind API key; prefer the X-Segmind-Key header. Default empty.",
    ])
