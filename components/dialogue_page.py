"""The Dialogue tab: a script, a cast slot per speaker found in it, the turn gap, the scene's
cost, and "Redo a line". The handlers that make takes live with the page's (page.py).

The cast is a fixed number of slots rather than controls rendered per speaker: every control
exists from the start, so Generate reads them all as plain inputs, a restored scene can set
them, and nothing is rebuilt (and reset) while a person types. Slot i casts the i-th speaker to
appear in the script; the API takes any number of speakers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from gradio import utils as gradio_utils

from components.dialogue import CAST_FIELD, DEFAULT_PRESET, TURN_GAP, speakers_in
from components.errors import InvalidInput
from components.history import TakeRecord
from components.models import Model
from components.playground import Playground
from components.presets import Preset
from components.ui import CastJSON, PageOnlyJSON, RawSlider, RawTextbox, control

MAX_CAST_SLOTS = 4
SAMPLE_SCRIPT = (
    "Ada: Did you hear that? [pause:500ms] Something moved downstairs.\n"
    "Bob: It's the wind, Ada. It's always the wind.\n"
    "Ada: The wind doesn't knock twice."
)
# A file inside the cast JSON: Gradio checks that a file it recognises was uploaded with the
# call; anything else claiming a path is checked here against the same upload folder.
UPLOADED_VOICE_KEY = "reference_audio"

CSS = """
.cast-slot .upload-container { min-height: 0 !important; height: 120px !important; }
.cast-name p { margin: 0; font-size: 1.05em; }
/* The single-voice text, examples, voice and speed do not apply to a scene. */
body.dialogue-open #text, body.dialogue-open #text-stats, body.dialogue-open #examples,
body.dialogue-open #reference-audio, body.dialogue-open #reference-url,
body.dialogue-open #voice-note, body.dialogue-open #speed { display: none !important; }
"""

# Seen with Gradio 6.31 and run_history off (see PlaygroundBlocks): the script box's change
# events, in their "always_last" trigger mode, ran again after every answer, forever; and in
# "once" mode a change made while the last one was answered was dropped, leaving a stale cast.
# So the browser passes on only real changes of the text, a moment after typing pauses, as
# clicks on a hidden button whose events run once for every click.
_SCRIPT_CHANGED_JS = """(script) => {
    clearTimeout(window.__dialogueTimer);
    window.__dialogueTimer = setTimeout(() => {
        if (window.__dialogueScript === script) return;
        window.__dialogueScript = script;
        document.getElementById('dialogue-script-changed')?.click();
    }, 150);
}"""

# The page's single-voice controls hide while the Dialogue tab is open.
SHOW_DIALOGUE_JS = (
    "(model) => { document.body.classList.toggle('dialogue-open', model === 'dialogue'); }"
)


@dataclass
class CastSlot:
    """The controls that cast one speaker: model, preset and fine-tuning per model, voice."""

    index: int
    column: gr.Column
    name: gr.Markdown
    model: gr.Radio
    sections: dict[str, gr.Column]  # model name → its preset and controls, shown when chosen
    presets: dict[str, gr.Dropdown]
    controls: dict[str, dict[str, gr.components.Component]]  # model → field → control
    reference_audio: gr.Audio
    reference_audio_url: RawTextbox
    voice_note: gr.Markdown

    def inputs(self) -> list[Any]:
        """What Generate reads from this slot, in the order `entry` takes them."""
        per_model = [
            component
            for name in self.controls
            for component in (self.presets[name], *self.controls[name].values())
        ]
        return [self.model, self.reference_audio, self.reference_audio_url, *per_model]

    def entry(self, values: Sequence[Any]) -> tuple[dict[str, Any], Any]:
        """The cast entry (as the API takes it) and the uploaded voice, from `inputs()` values."""
        model, upload, url, *rest = values
        fields: dict[str, Any] = {}
        position = 0
        for name, controls in self.controls.items():
            chunk = rest[position : position + 1 + len(controls)]
            fields[name] = (chunk[0], dict(zip(controls, chunk[1:])))
            position += 1 + len(controls)
        preset, parameters = fields.get(model, (None, {}))
        entry = {"model": model, "preset": preset, "reference_audio_url": url or "",
                 "parameters": parameters}
        return entry, upload

    def updates_for(self, entry: Mapping[str, Any]) -> dict:
        """The slot set to a cast entry of a stored scene."""
        model = entry["model"]
        updates: dict = {self.model: model, self.reference_audio_url: entry["reference_audio_url"]}
        if model in self.controls:
            updates[self.presets[model]] = entry["preset"] or None
            updates |= {control: entry["parameters"][name]
                        for name, control in self.controls[model].items()
                        if name in entry["parameters"]}
        return updates


@dataclass
class DialogueTab:
    tab: gr.Tab
    script: RawTextbox
    cost: gr.Markdown
    turn_gap: RawSlider
    slots: list[CastSlot]
    overflow: gr.Markdown
    script_changed: gr.Button  # clicked by the browser when the script's text really changes
    cast_names: gr.State  # the speaker each slot shows, so typing updates only what changed
    run: gr.Button  # the page's Generate for a scene (page-only: it reads every slot)
    api_run: gr.Button  # /synthesize_dialogue, never clicked by the page
    api_cast: CastJSON  # the API's cast argument
    redo_line: gr.Dropdown
    redo: gr.Button
    scene_record: PageOnlyJSON  # the last scene made on this page, for "Redo a line"

    def slot_inputs(self) -> list[Any]:
        return [component for slot in self.slots for component in slot.inputs()]

    def cast_from(self, script: Any, values: Sequence[Any]) -> tuple[dict, dict]:
        """The cast and the uploaded voices from the slots' values, for the script's speakers."""
        names = speakers_in(script)
        if len(names) > len(self.slots):
            raise InvalidInput(
                CAST_FIELD,
                f"The script has {len(names)} speakers; the page casts up to {len(self.slots)}. "
                "Merge some, or use the API (/synthesize_dialogue), which takes any number.",
            )
        cast, uploads = {}, {}
        position = 0
        for slot in self.slots:
            width = len(slot.inputs())
            if slot.index < len(names):
                entry, upload = slot.entry(values[position : position + width])
                cast[names[slot.index]] = entry
                if upload:
                    uploads[names[slot.index]] = upload
            position += width
        return cast, uploads


def build_dialogue_tab(playground: Playground, tab: gr.Tab) -> DialogueTab:
    gr.Markdown(
        "One line per turn, written `Name: what they say`. Pause tags work inside lines, and "
        "speakers cast with Chatterbox Turbo perform sound tags. Each speaker found in the "
        "script gets a voice, a model and a preset below; lines are made in parallel and "
        "stitched in order.",
        elem_id="dialogue-help",
    )
    script = RawTextbox(
        label="Script", value=SAMPLE_SCRIPT, lines=6, max_lines=30, elem_id="dialogue-script",
    )
    models = {model.name: model for model in playground.models}
    names = speakers_in(SAMPLE_SCRIPT)
    cost = gr.Markdown(
        playground.scene_preview(SAMPLE_SCRIPT, {}), elem_id="dialogue-cost"
    )
    turn_gap = RawSlider(
        minimum=TURN_GAP.minimum, maximum=TURN_GAP.maximum, value=TURN_GAP.default,
        step=TURN_GAP.step, label=TURN_GAP.label, info=TURN_GAP.description,
        elem_id="dialogue-turn-gap",
    )
    gr.Markdown("### Cast")
    slots = [
        _cast_slot(index, names[index] if index < len(names) else "", models, playground.presets)
        for index in range(MAX_CAST_SLOTS)
    ]
    overflow = gr.Markdown(elem_id="dialogue-overflow")
    with gr.Row(equal_height=True):
        redo_line = gr.Dropdown(
            label="Redo a line of the last scene (new seed; only that line costs a call)",
            choices=[], scale=3, elem_id="redo-line",
        )
        redo = gr.Button("Redo line", size="sm", scale=1, elem_id="redo-line-button")
    script_changed = gr.Button(visible="hidden", elem_id="dialogue-script-changed")
    run = gr.Button("Generate the scene", visible="hidden", elem_id="run-dialogue")
    api_run = gr.Button("Generate a scene (API)", visible="hidden", elem_id="api-dialogue")
    api_cast = CastJSON(visible=False, label="cast")
    return DialogueTab(
        tab, script, cost, turn_gap, slots, overflow, script_changed, gr.State(names), run,
        api_run, api_cast,
        redo_line, redo, PageOnlyJSON(None, visible=False),
    )


def _cast_slot(
    index: int, name: str, models: Mapping[str, Model], presets: Mapping[str, Sequence[Preset]]
) -> CastSlot:
    first = next(iter(models.values()))
    with gr.Column(
        variant="panel", visible=bool(name), elem_id=f"cast-{index}", elem_classes=["cast-slot"]
    ) as column:
        heading = gr.Markdown(_heading(name), elem_id=f"cast-{index}-name", elem_classes=["cast-name"])
        model = gr.Radio(
            [(m.label, m.name) for m in models.values()], value=first.name, label="Model",
            elem_id=f"cast-{index}-model",
        )
        sections, preset_menus, controls = {}, {}, {}
        for model_name, described in models.items():
            with gr.Column(visible=described is first, elem_id=f"cast-{index}-{model_name}") as section:
                available = presets.get(model_name, ())
                preset_menus[model_name] = gr.Dropdown(
                    [(p.label, p.name) for p in available],
                    value=DEFAULT_PRESET if any(p.name == DEFAULT_PRESET for p in available) else None,
                    label="Preset",
                    elem_id=f"cast-{index}-{model_name}-preset",
                )
                with gr.Accordion("Fine-tune", open=False, elem_id=f"cast-{index}-{model_name}-fine-tune"):
                    controls[model_name] = {
                        p.name: control(p, f"cast-{index}-{model_name}-{p.name}")
                        for p in described.tunable
                    }
            sections[model_name] = section
        with gr.Row():
            reference_audio = gr.Audio(
                sources=["upload", "microphone"], type="filepath", label="Voice (upload or record)",
                elem_id=f"cast-{index}-voice",
            )
            reference_audio_url = RawTextbox(
                value="", label="…or a voice URL", placeholder="https://example.com/voice.mp3",
                elem_id=f"cast-{index}-url",
            )
        voice_note = gr.Markdown(
            voice_note_for(name, first, None, ""), elem_id=f"cast-{index}-voice-note"
        )
    return CastSlot(index, column, heading, model, sections, preset_menus, controls,
                    reference_audio, reference_audio_url, voice_note)


def _heading(name: str) -> str:
    return f"**{name}**" if name else ""


def voice_note_for(name: str, model: Model, upload: Any, url: Any) -> str:
    """What the page says about a speaker's voice; a missing one is said out loud."""
    who = name or "This speaker"
    if upload:
        return f"{who} speaks with the uploaded voice."
    if isinstance(url, str) and url.strip():
        return f"{who} speaks with the voice at the URL."
    if model.reference_required:
        return f"**{model.label} needs a voice:** upload, record or link one for {who}."
    return f"No voice set: {who} uses Segmind's default voice."


def wire_cast(dialogue: DialogueTab, playground: Playground) -> None:
    """What the tab does before anything is spent: the cast follows the script as it is
    typed, each slot shows its model's controls, presets fill them, and the cost is shown."""
    slots = dialogue.slots
    quiet = {"queue": False, "show_progress": "hidden", "api_visibility": "private",
             "trigger_mode": "multiple"}
    dialogue.script.change(None, dialogue.script, None, js=_SCRIPT_CHANGED_JS)

    def follow_script(script: Any, shown: list[str]) -> dict:
        names = speakers_in(script)
        if names == shown:
            # Nothing at all, not even the same values: an update re-renders the tab, whose
            # script box then reports a change, which would run this again, and again.
            return {dialogue.cast_names: gr.skip()}
        updates: dict = {dialogue.cast_names: names}
        for slot in slots:
            name = names[slot.index] if slot.index < len(names) else ""
            before = shown[slot.index] if slot.index < len(shown) else ""
            if name != before:
                updates[slot.column] = gr.Column(visible=bool(name))
                updates[slot.name] = _heading(name)
        extra = names[len(slots):]
        updates[dialogue.overflow] = (
            f"The page casts up to {len(slots)} speakers; {', '.join(extra)} "
            f"{'has' if len(extra) == 1 else 'have'} no slot. Use the API for larger casts."
            if extra else ""
        )
        return updates

    dialogue.script_changed.click(
        follow_script,
        [dialogue.script, dialogue.cast_names],
        [dialogue.cast_names, dialogue.overflow, *[c for s in slots for c in (s.column, s.name)]],
        **quiet,
    )

    def cost(script: Any, *models_chosen: Any) -> str:
        names = speakers_in(script)
        models_of = {
            name: _model_named(playground, chosen)
            for name, chosen in zip(names, models_chosen)
        }
        return playground.scene_preview(script, models_of)

    gr.on(
        [dialogue.script_changed.click, *[slot.model.change for slot in slots]],
        cost,
        [dialogue.script, *[slot.model for slot in slots]],
        dialogue.cost,
        **quiet,
    )
    for slot in slots:
        _wire_slot(slot, dialogue, playground, quiet)


def _wire_slot(slot: CastSlot, dialogue: DialogueTab, playground: Playground, quiet: dict) -> None:
    def show_model(chosen: Any) -> dict:
        return {section: gr.Column(visible=name == chosen) for name, section in slot.sections.items()}

    slot.model.change(show_model, slot.model, list(slot.sections.values()), **quiet)
    for model_name, menu in slot.presets.items():
        values = {p.name: [p.values[f] for f in slot.controls[model_name]]
                  for p in playground.presets.get(model_name, ())}
        # .input, not .change: a restored scene sets the menu and its own values together.
        menu.input(None, menu, list(slot.controls[model_name].values()),
                   js=f"(name) => ({json.dumps(values)})[name] ?? []")

    def note(script: Any, chosen: Any, upload: Any, url: Any) -> str:
        names = speakers_in(script)
        name = names[slot.index] if slot.index < len(names) else ""
        return voice_note_for(name, _model_named(playground, chosen), upload, url)

    gr.on(
        [dialogue.script_changed.click, slot.model.change, slot.reference_audio.change,
         slot.reference_audio_url.change],
        note,
        [dialogue.script, slot.model, slot.reference_audio, slot.reference_audio_url],
        slot.voice_note,
        **quiet,
    )


def _model_named(playground: Playground, name: Any) -> Model:
    return next((m for m in playground.models if m.name == name), playground.models[0])


def scene_updates(dialogue: DialogueTab, record: TakeRecord) -> dict:
    """The tab set to a stored scene: its script, turn gap and each speaker's slot."""
    cast = record.scene["cast"]
    updates: dict = {dialogue.script: record.text, dialogue.turn_gap: record.scene["turn_gap"]}
    for slot, entry in zip(dialogue.slots, cast.values()):
        updates |= slot.updates_for(entry)
    return updates


def redo_choices(record: TakeRecord) -> list[tuple[str, int]]:
    """A scene's lines as "Redo a line" lists them."""
    choices = []
    for turn, line in enumerate(record.text.splitlines(), start=1):
        shown = line if len(line) <= 60 else line[:59] + "…"
        choices.append((f"{turn} · {shown}", turn))
    return choices


def uploaded_voices(cast: Any) -> tuple[Any, dict[str, str]]:
    """The cast without its uploaded files, and those files by speaker. Only a file in
    Gradio's upload folder is taken: a path an API caller merely wrote is refused."""
    if isinstance(cast, str) and cast.strip():
        try:
            cast = json.loads(cast)
        except ValueError:
            return cast, {}  # parse_cast reports the JSON error
    if not isinstance(cast, dict):
        return cast, {}
    folder = Path(gradio_utils.get_upload_folder()).resolve()
    stripped, uploads = {}, {}
    for name, entry in cast.items():
        if isinstance(entry, dict) and UPLOADED_VOICE_KEY in entry:
            entry = dict(entry)
            file = entry.pop(UPLOADED_VOICE_KEY)
            path = file.get("path") if isinstance(file, dict) else None
            if file is not None:
                if not isinstance(path, str) or not Path(path).resolve().is_relative_to(folder):
                    raise InvalidInput(
                        CAST_FIELD,
                        f'Speaker "{name}": "{UPLOADED_VOICE_KEY}" must be a file uploaded with '
                        "the call (gradio_client's handle_file), or use \"reference_audio_url\".",
                    )
                uploads[str(name)] = path
        stripped[name] = entry
    return stripped, uploads
