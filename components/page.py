"""The page: one builder per section, then what each control does.

Layout, demo first: the text, the examples, the open model's presets and main controls on the
left, and Generate with the player right beside them (on a phone, right after them); the
voice, key and seed below the player, fine-tuning folded away, the takes underneath.
"""

from __future__ import annotations

import inspect
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from components.audio import OUTPUT_SAMPLE_RATE, AudioFile, decode_audio, encode_wav
from components.errors import ChatterboxError, InvalidInput
from components.examples import Example, load_examples
from components.export import DEFAULT_EXPORT_FORMAT, EXPORT_FORMATS, export_audio
from components.dialogue import TURN_GAP
from components.dialogue import api_docstring as dialogue_docstring
from components.dialogue_page import CSS as DIALOGUE_CSS
from components.dialogue_page import (
    SHOW_DIALOGUE_JS,
    DialogueTab,
    build_dialogue_tab,
    redo_choices,
    scene_updates,
    uploaded_voices,
    wire_cast,
)
from components.history import DIALOGUE, MAX_TAKES, Captions, TakeRecord, TakeStore
from components.media_tools import ffmpeg_check
from components.models import Model
from components.parameters import Parameter
from components.playground import FinishedTake, Playground, choose_voice, resolve_seed
from components.presets import Preset, preset_status
from components.settings import Settings
from components.speed import DEFAULT_SPEED, MAX_SPEED, MIN_SPEED
from components.synthesis import RAW_LENGTH_FACTOR, ChunkAudio
from components.ui import (
    OUTPUT_MAX_AGE_SECONDS,
    LiveAudio,
    PageOnlyJSON,
    PlaygroundBlocks,
    RawNumber,
    RawSlider,
    RawTextbox,
    ServedFiles,
    TakeAudio,
    chosen_key,
    content_addressed,
    control,
    details_line,
    file_name,
    is_mcp_call,
    processed_in_handler,
    take_file,
    unexpected_error,
    visitor_of,
)

SAMPLE_TEXT = (
    "Welcome to Chatterbox TTS, where your text turns into captivating audio effortlessly."
)
LOUDNESS_TARGETS = {
    "As generated": None,
    "-16 LUFS (podcast)": -16.0,
    "-23 LUFS (broadcast)": -23.0,
}

CSS = """
/* The take list's labels are long: keep them clear of the dropdown's chevron. */
#take-a input, #take-b input { padding-right: 2.2rem; text-overflow: ellipsis; }
#examples button, .sound-tag { flex-grow: 0; min-width: fit-content; }
/* Three preset buttons fit one row even on a phone. */
.preset-row { flex-wrap: nowrap !important; }
.preset-row button { min-width: 0 !important; }
/* An empty voice drop zone need not be 240 px tall. */
#reference-audio .upload-container { min-height: 0 !important; height: 120px !important; }
.preset-line p { margin: 0; font-size: 0.9em; }
"""


# --- Sections -------------------------------------------------------------------------------


@dataclass
class ModelTab:
    """One model's tab: exactly its own controls, presets and sound-tag buttons, and the hidden
    button whose click event is the model's API endpoint (/synthesize, /synthesize_turbo)."""

    model: Model
    tab: gr.Tab
    controls: dict[str, gr.components.Component]  # every tunable field, in the table's order
    presets: list[tuple[gr.Button, Preset]]
    preset_line: gr.Markdown
    tags: list[tuple[gr.Button, str]]
    run: gr.Button


@dataclass
class TakesPanel:
    history: gr.BrowserState
    take_a: gr.Dropdown
    take_b: gr.Dropdown
    player_a: TakeAudio
    player_b: TakeAudio
    restore: gr.Button
    export: gr.Button
    share: gr.Button
    export_format: gr.Radio
    loudness: gr.Dropdown
    note: gr.Markdown  # feedback of restore, export and share, right under their buttons
    exported: ServedFiles
    share_link: gr.Textbox


class LiveShowing:
    """The sessions whose Live player is showing (their last take streamed). A one-call take
    hides Live only there: every update of a player makes Gradio build a new component (about
    0.6 ms), and an API caller's session never shows Live at all. Bounded, oldest out first."""

    LIMIT = 10_000

    def __init__(self) -> None:
        self._sessions: dict[str, None] = {}
        self._lock = threading.Lock()

    def shown(self, session: str | None) -> None:
        if session is None:
            return
        with self._lock:
            self._sessions.pop(session, None)
            self._sessions[session] = None
            while len(self._sessions) > self.LIMIT:
                del self._sessions[next(iter(self._sessions))]

    def hidden(self, session: str | None) -> bool:
        """Whether Live may be showing in `session` (then it counts as hidden from now on)."""
        if session is None:
            return True  # not known: hide it, as hiding a hidden player is harmless
        with self._lock:
            return self._sessions.pop(session, False) is None


@dataclass
class Page:
    """The controls every model shares, built once."""

    text: RawTextbox
    text_stats: gr.Markdown
    examples: list[tuple[gr.Button, Example]]
    selected_model: gr.Textbox  # the open tab's model, for Generate and the cost preview
    tabs: gr.Tabs
    model_tabs: list[ModelTab]
    generate: gr.Button
    live: LiveAudio
    player: TakeAudio
    captions: ServedFiles
    details: gr.Markdown
    speed: RawSlider
    reference_audio: gr.Audio
    reference_audio_url: RawTextbox
    voice_note: gr.Markdown
    api_key: RawTextbox
    seed: RawNumber
    random_seed: gr.Checkbox
    reuse_seed: gr.Button
    seed_used: gr.Number
    last_record: PageOnlyJSON
    takes: TakesPanel
    dialogue: DialogueTab
    live_showing: LiveShowing = field(default_factory=LiveShowing)

    def synthesis_inputs(self, tab: ModelTab) -> list[Any]:
        """The endpoint's inputs, in its signature's order (see _api_signature)."""
        fields = [self.seed if p.is_seed else tab.controls[p.name] for p in tab.model.parameters]
        return [self.text, self.reference_audio, self.reference_audio_url, *fields,
                self.random_seed, self.api_key, self.speed]

    @property
    def synthesis_outputs(self) -> list[Any]:
        # last_record is page-only; an API caller gets the take, details, seed, Live, voice
        # note and the captions, in that order.
        return [self.player, self.details, self.seed_used, self.live, self.voice_note,
                self.captions, self.last_record]


def build_ui(settings: Settings, playground: Playground) -> gr.Blocks:
    ffmpeg = ffmpeg_check()  # started now, in the background; the first long take waits for it
    examples = load_examples(playground.models, playground.presets)
    # The largest body a page sends: the take list (MAX_TAKES records, each with a text of up
    # to max_text_chars at 6 bytes a character when JSON-escaped) and a text, plus the rest.
    request_max_bytes = 1_000_000 + 6 * settings.max_text_chars * (MAX_TAKES + RAW_LENGTH_FACTOR)
    with PlaygroundBlocks(
        upload_max_bytes=int(settings.upload_max_mb * 1_000_000),
        request_max_bytes=request_max_bytes,
        # Generate mostly waits on HTTP, so many can run at once; the queue bounds the rest.
        queue_max_size=settings.queue_max_size,
        concurrency_limit=settings.concurrency_limit,
        title="Chatterbox TTS Playground",
        delete_cache=(OUTPUT_MAX_AGE_SECONDS, OUTPUT_MAX_AGE_SECONDS),
        css=CSS + DIALOGUE_CSS,
    ) as demo:
        gr.Markdown(
            "## Chatterbox TTS Playground\n"
            "Resemble AI's expressive text-to-speech, served by Segmind: type a line, pick a "
            "model and a preset, press **Generate**."
        )
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=320):
                text, text_stats, selected_model = _text_section(playground)
                example_buttons = _examples_row(examples)
                tabs, model_tabs, dialogue = _model_tabs(playground)
            with gr.Column(scale=2, min_width=320):
                generate, live, player, captions, details = _output_section()
                speed, seed, random_seed, reuse_seed, seed_used = _speed_and_seed(
                    playground.models[0].seed
                )
                reference_audio, reference_audio_url, voice_note, api_key = _voice_and_key(
                    settings, playground
                )
        page = Page(
            text, text_stats, example_buttons, selected_model, tabs, model_tabs, generate, live,
            player, captions, details, speed, reference_audio, reference_audio_url, voice_note,
            api_key, seed, random_seed, reuse_seed, seed_used, PageOnlyJSON(None, visible=False),
            _takes_section(), dialogue,
        )
        _wire_page(page, playground)
        for tab in model_tabs:
            _wire_model_tab(page, tab, playground, settings, ffmpeg)
        wire_cast(dialogue, playground)
        _wire_dialogue(page, playground, settings, ffmpeg)
        _wire_takes(demo, page, playground)
    return demo


def _text_section(playground: Playground) -> tuple[RawTextbox, gr.Markdown, gr.Textbox]:
    first = playground.models[0]
    text = RawTextbox(
        label="Text", value=SAMPLE_TEXT, lines=4, max_lines=20, elem_id="text",
        info="Pause with [pause:500ms] or [pause:1.5s]: exact silence, never sent to the model.",
    )
    text_stats = gr.Markdown(playground.preview(SAMPLE_TEXT, first), elem_id="text-stats")
    selected_model = gr.Textbox(first.name, visible="hidden", elem_id="selected-model")
    return text, text_stats, selected_model


def _examples_row(examples: list[Example]) -> list[tuple[gr.Button, Example]]:
    with gr.Row(elem_id="examples"):
        return [
            (gr.Button(example.label, size="sm", elem_id=f"example-{example.name}"), example)
            for example in examples
        ]


def _model_tabs(playground: Playground) -> tuple[gr.Tabs, list[ModelTab], DialogueTab]:
    model_tabs = []
    with gr.Tabs(elem_id="models") as tabs:
        for model in playground.models:
            with gr.Tab(model.label, id=model.name, elem_id=f"tab-{model.name}") as tab:
                model_tabs.append(_model_controls(model, tab, playground.presets[model.name]))
        with gr.Tab("Dialogue", id=DIALOGUE, elem_id=f"tab-{DIALOGUE}") as tab:
            dialogue = build_dialogue_tab(playground, tab)
    return tabs, model_tabs, dialogue


def _model_controls(model: Model, tab: gr.Tab, presets: list[Preset]) -> ModelTab:
    voice = (
        f" Needs a reference voice of at least {model.min_reference_seconds:g} s."
        if model.reference_required
        else ""
    )
    gr.Markdown(
        f"{model.summary[0].upper()}{model.summary[1:]}; about ${model.cost_per_call:g} "
        f"a call.{voice}",
        elem_id=f"{model.name}-summary",
    )
    status = preset_status(model, presets, model.defaults())
    with gr.Row(elem_id=f"{model.name}-presets", elem_classes=["preset-row"]):
        preset_buttons = [
            (gr.Button(p.label, size="sm", elem_id=f"{model.name}-preset-{p.name}",
                       variant="primary" if p.name == status.selected else "secondary"), p)
            for p in presets
        ]
    preset_line = gr.Markdown(
        status.line, elem_id=f"{model.name}-preset-line", elem_classes=["preset-line"]
    )
    tag_buttons = []
    if model.tags:
        with gr.Row(elem_id=f"{model.name}-tags"):
            tag_buttons = [
                (gr.Button(tag, size="sm", min_width=60, elem_classes=["sound-tag"]), tag)
                for tag in model.tags
            ]
    main = model.main_controls
    controls = {p.name: control(p, f"{model.name}-{p.name}") for p in model.tunable if p.name in main}
    with gr.Accordion(
        "Fine-tune",
        open=not main,
        elem_id=f"{model.name}-fine-tune",
    ):
        controls |= {p.name: control(p, f"{model.name}-{p.name}") for p in model.tunable if p.name not in main}
    controls = {p.name: controls[p.name] for p in model.tunable}  # the table's order
    run = gr.Button(f"Generate with {model.label}", visible="hidden", elem_id=f"run-{model.name}")
    return ModelTab(model, tab, controls, preset_buttons, preset_line, tag_buttons, run)


def _output_section() -> tuple[gr.Button, LiveAudio, TakeAudio, ServedFiles, gr.Markdown]:
    generate = gr.Button("Generate", variant="primary", size="lg", elem_id="generate")
    # Shown only while a take of several calls streams; a one-call take goes straight to the
    # Take player, so there is one obvious place to listen.
    live = LiveAudio(
        label="Live: plays while the rest of the take is made",
        streaming=True,
        autoplay=True,
        interactive=False,
        visible=False,
        elem_id="live",
    )
    player = TakeAudio(label="Take", interactive=False, buttons=["download"], elem_id="player")
    details = gr.Markdown(label="Details", elem_id="details")
    captions = ServedFiles(
        label="Captions (WebVTT, SRT)", file_count="multiple", interactive=False, visible=False,
        height=80, elem_id="captions",
    )
    return generate, live, player, captions, details


def _voice_and_key(
    settings: Settings, playground: Playground
) -> tuple[gr.Audio, RawTextbox, gr.Markdown, RawTextbox]:
    reference_audio = gr.Audio(
        sources=["upload", "microphone"],
        type="filepath",
        label=f"Reference voice (upload or record; first {settings.reference_seconds:g} s used)",
        elem_id="reference-audio",
    )
    reference_audio_url = RawTextbox(
        value="",
        label="…or a reference voice URL (http or https)",
        placeholder="https://example.com/voice.mp3",
        elem_id="reference-url",
    )
    voice_note = gr.Markdown(label="Voice", elem_id="voice-note")
    api_key = RawTextbox(
        value="",
        label="Segmind API key",
        type="password",
        placeholder="SG_…",
        info=(
            "Optional: the owner's key is used when this is empty."
            if playground.owner_key_available
            else "Required: paste your Segmind key (kept in this browser tab only)."
        ),
        elem_id="api-key",
    )
    return reference_audio, reference_audio_url, voice_note, api_key


def _speed_and_seed(
    seed_parameter: Parameter,
) -> tuple[RawSlider, RawNumber, gr.Checkbox, gr.Button, gr.Number]:
    with gr.Row(equal_height=True):
        speed = RawSlider(
            minimum=MIN_SPEED, maximum=MAX_SPEED, value=DEFAULT_SPEED, step=0.05, label="Speed",
            info="Pitch kept; a new speed on a take already made costs no call.",
            scale=3,
            elem_id="speed",
        )
        seed = RawNumber(
            value=seed_parameter.default,
            label=seed_parameter.label,
            info=f"0 to {int(seed_parameter.maximum):,}; the same seed gives the same take.",
            precision=0,
            minimum=seed_parameter.minimum,
            maximum=seed_parameter.maximum,
            scale=2,
            elem_id="seed",
        )
    with gr.Row(equal_height=True):
        random_seed = gr.Checkbox(value=False, label="Random seed", elem_id="random-seed")
        reuse_seed = gr.Button("Reuse the last take's seed", size="sm", elem_id="reuse-seed")
    # The page shows the seed in the details line; this carries it, as an integer, to API
    # callers and to the "Reuse seed" button.
    seed_used = gr.Number(
        visible=False, label="Seed used", precision=0, interactive=False, elem_id="seed-used"
    )
    return speed, seed, random_seed, reuse_seed, seed_used


def _takes_section() -> TakesPanel:
    with gr.Accordion("Takes this session", open=True, elem_id="takes"):
        gr.Markdown(
            "Every take is kept: replaying one costs nothing. Pick a take to play or download "
            "it, put its settings (and model) back, compare two side by side, export it, or "
            "share a link to it."
        )
        # Only small records live in the browser; the audio stays in the server's cache. The
        # secret is visible to the page (Gradio encrypts client-side); it is fixed only so the
        # list survives an app restart. Records are verified when they come back.
        history = gr.BrowserState(
            [], storage_key="chatterbox-playground-takes", secret="chatterbox-playground"
        )
        with gr.Row():
            take_a = gr.Dropdown(label="Take A", choices=[], elem_id="take-a")
            take_b = gr.Dropdown(label="Take B (compare)", choices=[], elem_id="take-b")
        with gr.Row():
            player_a = TakeAudio(label="A", interactive=False, buttons=["download"], elem_id="player-a")
            player_b = TakeAudio(label="B", interactive=False, buttons=["download"], elem_id="player-b")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=240):
                with gr.Row():
                    restore = gr.Button("Use A's settings", size="sm", elem_id="restore")
                    export = gr.Button("Export A", size="sm", elem_id="export")
                    share = gr.Button("Share A", size="sm", elem_id="share")
                note = gr.Markdown(elem_id="takes-note")
                share_link = gr.Textbox(
                    label="Link to take A", visible=False, buttons=["copy"], interactive=False,
                    elem_id="share-link",
                )
                exported = ServedFiles(
                    label="Exported files", file_count="multiple", interactive=False,
                    visible=False, height=80, elem_id="exported",
                )
            with gr.Column(scale=3, min_width=240):
                export_format = gr.Radio(
                    [(f"{name.upper()}", name) for name in EXPORT_FORMATS],
                    value=DEFAULT_EXPORT_FORMAT,
                    label="Export format",
                    elem_id="export-format",
                )
                loudness = gr.Dropdown(
                    list(LOUDNESS_TARGETS), value="As generated", label="Loudness",
                    elem_id="loudness",
                )
    return TakesPanel(history, take_a, take_b, player_a, player_b, restore, export, share,
                      export_format, loudness, note, exported, share_link)


# --- What the page does ----------------------------------------------------------------------

# Generate runs the open tab's model: it clicks that model's hidden run button, whose event is
# the model's API endpoint, so the page and API callers share one code path.
_RUN_SELECTED_JS = "(model) => { document.getElementById(`run-${model}`)?.click(); }"

# Insert a sound tag at the text box's cursor (replacing any selection), spaced from its
# neighbours, then put the cursor after it: all in the browser, with no server round trip.
_INSERT_TAG_JS = """(current) => {
    const tag = %s;
    const box = document.querySelector('#text textarea');
    const text = current ?? '';
    const start = box ? box.selectionStart : text.length;
    const end = box ? box.selectionEnd : text.length;
    const before = text.slice(0, start);
    const after = text.slice(end);
    const inserted = (before && !/\\s$/.test(before) ? ' ' : '') + tag
        + (after && !/^\\s/.test(after) ? ' ' : '');
    if (box) {
        const caret = before.length + inserted.length;
        setTimeout(() => { box.focus(); box.setSelectionRange(caret, caret); }, 50);
    }
    return before + inserted + after;
}"""

# A share link is the page's own address with the link's id; the browser knows that address
# (behind a Space's proxy, the server does not).
_SHARE_URL_JS = """(link) => link && !link.includes('://')
    ? `${location.origin}${location.pathname}?take=${link}` : link"""


def _wire_page(page: Page, playground: Playground) -> None:
    page.generate.click(None, [page.selected_model], None, js=_RUN_SELECTED_JS)
    page.selected_model.change(None, page.selected_model, None, js=SHOW_DIALOGUE_JS)
    page.dialogue.tab.select(None, None, page.selected_model, js=f"() => {json.dumps(DIALOGUE)}")

    def preview(text: Any, model_name: Any) -> str:
        return playground.preview(text, _model_or_first(playground, model_name))

    for trigger in (page.text.change, page.selected_model.change):
        trigger(
            preview,
            [page.text, page.selected_model],
            page.text_stats,
            queue=False,
            show_progress="hidden",
            trigger_mode="always_last",
            api_visibility="private",
        )
    page.reuse_seed.click(
        lambda used: {} if used is None else {page.seed: used, page.random_seed: False},
        page.seed_used,
        [page.seed, page.random_seed],
        queue=False,
        api_visibility="private",
    )
    model_tabs = {tab.model.name: tab for tab in page.model_tabs}
    all_controls = [control for tab in page.model_tabs for control in tab.controls.values()]
    for button, example in page.examples:
        tab = model_tabs[example.model.name]

        def use_example(example: Example = example, tab: ModelTab = tab) -> dict:
            """Fill the page with the example; nothing is synthesized until Generate."""
            return {page.text: example.text, **_opened(page, tab, example.preset.values)}

        button.click(use_example, None, [page.text, page.tabs, page.selected_model, *all_controls],
                     queue=False, api_visibility="private")


def _opened(page: Page, tab: ModelTab, values: Mapping[str, Any]) -> dict:
    """The updates that open `tab` with its controls set to `values`."""
    return {
        page.tabs: gr.Tabs(selected=tab.model.name),
        page.selected_model: tab.model.name,
        **{control: values[name] for name, control in tab.controls.items()},
    }


def _model_or_first(playground: Playground, name: Any) -> Model:
    try:
        return playground.model(name)
    except ChatterboxError:
        return playground.models[0]


def _wire_model_tab(
    page: Page, tab: ModelTab, playground: Playground, settings: Settings, ffmpeg: Any
) -> None:
    model, controls = tab.model, list(tab.controls.values())
    presets = playground.presets[model.name]
    # Client-side: choosing a tab, a preset or a tag changes only what the page shows.
    tab.tab.select(None, None, page.selected_model, js=f"() => {json.dumps(model.name)}")
    for button, preset in tab.presets:
        values = [preset.values[p.name] for p in model.tunable]
        button.click(None, None, controls, js=f"() => {json.dumps(values)}")
    for button, tag in tab.tags:
        button.click(None, [page.text], [page.text], js=_INSERT_TAG_JS % json.dumps(tag))

    buttons = [button for button, _ in tab.presets]

    def show_preset(*values: Any) -> dict:
        """Mark the preset the controls match, or say what differs from the closest."""
        status = preset_status(model, presets, dict(zip(tab.controls, values)))
        return {
            **{button: gr.Button(variant="primary" if preset.name == status.selected else "secondary")
               for button, preset in tab.presets},
            # The line, not the fold's label: updating an Accordion re-renders its sliders,
            # which would lose a drag in progress.
            tab.preset_line: status.line,
        }

    gr.on(
        [control.change for control in controls],
        show_preset,
        controls,
        [*buttons, tab.preset_line],
        queue=False,
        show_progress="hidden",
        trigger_mode="always_last",
        api_visibility="private",
    )

    handler = _synthesis_handler(model, page, playground, settings, ffmpeg)
    event = tab.run.click(
        **processed_in_handler(handler, page.synthesis_inputs(tab)),
        outputs=page.synthesis_outputs,
        api_name=model.api_name,
        # Progress and any error badge sit on the live player only, so the error message in
        # the details line and the previous take stay readable.
        show_progress_on=[page.live],
    )
    event.success(
        _remember_take(playground, page),
        [page.last_record, page.takes.history],
        [page.takes.history, page.takes.take_a, page.takes.take_b, page.player, page.captions],
        api_visibility="private",
    )


def _api_signature(model: Model) -> inspect.Signature:
    """The endpoint's signature, from the model's table: Gradio reads it for the API page, the
    MCP tool and the defaults that make every argument after `text` optional."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD

    def argument(name: str, annotation: Any, default: Any = inspect.Parameter.empty):
        return inspect.Parameter(name, kind, default=default, annotation=annotation)

    types = {"number": float, "integer": int, "boolean": bool}
    return inspect.Signature([
        argument("text", str),
        # A default of None makes the voice optional to API and MCP callers; a model that needs
        # one refuses its absence with a message, before any call.
        argument("reference_audio", str | None, None),
        argument("reference_audio_url", str | None, ""),
        *(argument(p.name, types[p.kind], p.default) for p in model.parameters),
        argument("random_seed", bool, False),
        argument("api_key", str, ""),
        argument("speed", float, DEFAULT_SPEED),
        argument("request", gr.Request, None),
        argument("x_segmind_key", gr.Header, None),
        argument("progress", gr.Progress, gr.Progress()),
    ])


def _synthesis_handler(
    model: Model, page: Page, playground: Playground, settings: Settings, ffmpeg: Any
) -> Callable[..., Iterator[dict]]:
    signature = _api_signature(model)

    def synthesize(*args: Any, **kwargs: Any) -> Iterator[dict]:
        arguments = signature.bind(*args, **kwargs)
        arguments.apply_defaults()
        given = arguments.arguments
        note = ""  # a refused voice clears the last take's note rather than contradict it
        try:
            choice = choose_voice(given["reference_audio"], given["reference_audio_url"], settings, model)
            note = choice.note
            values = {p.name: given[p.name] for p in model.parameters}
            values["seed"] = resolve_seed(values["seed"], given["random_seed"])
            key = chosen_key(given["api_key"], given["x_segmind_key"])
            request = given["request"]
            live_wanted = not is_mcp_call(request) and ffmpeg.result().available
            events = playground.generate(
                model, given["text"], values, choice.voice, key, visitor_of(request),
                live=live_wanted, speed=given["speed"],
            )
            yield from _take_updates(page, events, note, given["progress"], request)
        except Exception as error:  # noqa: BLE001 — every failure gets a readable message
            message = _message(error)
            # The last take stays in the player: an error never costs a paid take.
            yield {page.details: f"**Error:** {message}", page.voice_note: note}
            raise gr.Error(message, print_exception=False) from None

    synthesize.__signature__ = signature  # type: ignore[attr-defined]
    # Gradio finds gr.Request and gr.Header by their annotations.
    synthesize.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}
    synthesize.__name__ = synthesize.__qualname__ = model.api_name
    synthesize.__doc__ = model.api_docstring(settings.max_text_chars, settings.reference_seconds)
    return synthesize


def _wire_dialogue(page: Page, playground: Playground, settings: Settings, ffmpeg: Any) -> None:
    """A scene is made three ways, all through one path: the page's Generate (reading every
    cast slot), "Redo a line", and /synthesize_dialogue for API and MCP callers."""
    dialogue = page.dialogue
    page_inputs = [dialogue.script, dialogue.turn_gap, page.seed, page.random_seed, page.api_key]

    def generate_scene(request: gr.Request, progress: gr.Progress = gr.Progress(), *values: Any):
        script, turn_gap, seed, random_seed, api_key, *slot_values = values

        def events() -> Iterator[ChunkAudio | FinishedTake]:
            cast, uploads = dialogue.cast_from(script, slot_values)
            return playground.generate_scene(
                script, cast, turn_gap, resolve_seed(seed, random_seed), api_key,
                visitor_of(request), uploads=uploads, live=ffmpeg.result().available,
            )

        yield from _scene_updates(page, events, progress, request)

    def redo_line(carried: Any, turn: Any, api_key: Any, request: gr.Request,
                  progress: gr.Progress = gr.Progress()):
        def events() -> Iterator[ChunkAudio | FinishedTake]:
            record = playground.takes.verified(carried)
            if record is None or not record.scene:
                raise InvalidInput("take", "Generate a scene first, then pick one of its lines.")
            return playground.redo_line(
                record, turn, api_key, visitor_of(request), live=ffmpeg.result().available
            )

        yield from _scene_updates(page, events, progress, request)

    api_outputs = [page.player, page.captions, page.details, page.seed_used]
    seed_parameter = playground.models[0].seed

    def synthesize_dialogue(
        script: str,
        cast: dict | str,
        turn_gap: float = TURN_GAP.default,
        seed: int = int(seed_parameter.default),
        random_seed: bool = False,
        api_key: str = "",
        request: gr.Request = None,
        x_segmind_key: gr.Header = None,
        progress: gr.Progress = gr.Progress(),
    ):
        def events() -> Iterator[ChunkAudio | FinishedTake]:
            stripped, uploads = uploaded_voices(cast)
            return playground.generate_scene(
                script, stripped, turn_gap, resolve_seed(seed, random_seed),
                chosen_key(api_key, x_segmind_key), visitor_of(request), uploads=uploads,
                live=False,
            )

        for update in _scene_updates(page, events, progress, request):
            yield {output: value for output, value in update.items() if output in api_outputs}

    synthesize_dialogue.__doc__ = dialogue_docstring(
        playground.models, playground.presets, settings.max_text_chars
    )
    remember = _remember_take(playground, page)

    def remember_scene(carried: Any) -> dict:
        """Offer the scene's lines to "Redo a line"."""
        record = playground.takes.verified(carried)
        if record is None or not record.scene:
            return {}
        return {dialogue.scene_record: carried,
                dialogue.redo_line: gr.update(choices=redo_choices(record))}

    for trigger, listener in (
        (dialogue.run,
         processed_in_handler(generate_scene, [*page_inputs, *dialogue.slot_inputs()])),
        # Redo's menu gets its choices per session, which only Gradio's own preprocess sees.
        (dialogue.redo,
         {"fn": redo_line, "inputs": [dialogue.scene_record, dialogue.redo_line, page.api_key]}),
    ):
        event = trigger.click(
            **listener, outputs=page.synthesis_outputs, show_progress_on=[page.live],
            api_visibility="private",
        )
        event.success(
            remember, [page.last_record, page.takes.history],
            [page.takes.history, page.takes.take_a, page.takes.take_b, page.player, page.captions],
            api_visibility="private",
        ).then(remember_scene, page.last_record, [dialogue.scene_record, dialogue.redo_line],
               api_visibility="private")
    dialogue.api_run.click(
        **processed_in_handler(synthesize_dialogue, [
            dialogue.script, dialogue.api_cast, dialogue.turn_gap, page.seed, page.random_seed,
            page.api_key,
        ]),
        outputs=api_outputs,
        api_name="synthesize_dialogue",
    )


def _scene_updates(
    page: Page, make_events: Callable[[], Iterator[ChunkAudio | FinishedTake]], progress: Any,
    request: gr.Request | None,
) -> Iterator[dict]:
    try:
        yield from _take_updates(page, make_events(), "", progress, request)
    except Exception as error:  # noqa: BLE001 — every failure gets a readable message
        message = _message(error)
        yield {page.details: f"**Error:** {message}"}
        raise gr.Error(message, print_exception=False) from None


def _message(error: Exception) -> str:
    return str(error) if isinstance(error, ChatterboxError) else unexpected_error(error)


def _captions_files(record: TakeRecord, captions: Captions) -> list[AudioFile]:
    """The take's WebVTT and SRT files, named like the take, for a ServedFiles output."""
    return [
        AudioFile(captions.webvtt.encode("utf-8"), file_name(record, "vtt")),
        AudioFile(captions.srt.encode("utf-8"), file_name(record, "srt")),
    ]


def _subtitles(player: TakeAudio, record: TakeRecord, captions: Captions | None) -> str | None:
    """The take's WebVTT file for the player to show under it. It is set by a page-only
    update after the take arrives, so an API caller's outputs stay plain files."""
    if captions is None:
        return None
    vtt = AudioFile(captions.webvtt.encode("utf-8"), file_name(record, "vtt"))
    return content_addressed(vtt, player.GRADIO_CACHE)


def _take_updates(
    page: Page, events: Iterator[ChunkAudio | FinishedTake], note: str, progress: gr.Progress,
    request: gr.Request | None,
) -> Iterator[dict]:
    """What the page shows as a take is made: Live while parts stream, then the take."""
    session = request.session_hash if request is not None else None
    streamed = False
    finished: dict | None = None  # the take's outputs, once it is complete
    for event in events:
        if isinstance(event, FinishedTake):
            finished = {
                page.player: take_file(event.record, event.wav),
                page.details: details_line(event.take, event.notes),
                page.seed_used: event.take.seed,
                page.voice_note: note,
                page.captions: _captions_files(event.record, event.captions),
            }
            # After a streamed take Live stays, still playing; otherwise it goes.
            hide_live = not streamed and page.live_showing.hidden(session)
            live_after = {page.live: gr.update(visible=False)} if hide_live else {}
            yield {**finished, **live_after, page.last_record: event.record.to_json()}
        elif finished:
            # The tail of a streamed take, for Live. The take's outputs go again, unchanged, so
            # the last message (what an API caller keeps) holds them.
            yield {**finished, page.live: encode_wav(event.samples, OUTPUT_SAMPLE_RATE)}
        else:
            done = event.index + event.parts
            progress((done, event.total), desc="Generating parts")
            status = {page.details: f"{done} of {event.total} parts ready, playing in Live…",
                      page.voice_note: note}
            if not streamed:
                streamed = True
                page.live_showing.shown(session)
                yield {**status, page.live: gr.update(visible=True)}
            yield {**status, page.live: encode_wav(event.samples, OUTPUT_SAMPLE_RATE)}


def _remember_take(playground: Playground, page: Page) -> Callable[[Any, Any], dict]:
    takes, panel = playground.takes, page.takes

    def remember_take(carried: Any, stored: Any) -> dict:
        """Add the finished take to this browser's list and select it as A, and show its
        captions in the player. The record comes back from the page, so it is verified like
        any record from the browser."""
        record = takes.verified(carried)
        if record is None:
            return {}
        stored = takes.append_record(stored, record)
        choices = _choices(takes, stored)
        return {
            panel.history: stored,
            panel.take_a: gr.update(choices=choices, value=record.take_id),
            panel.take_b: gr.update(choices=choices),
            page.player: gr.update(
                subtitles=_subtitles(page.player, record, takes.load_captions(record.take_id))
            ),
            page.captions: gr.update(visible=True),
        }

    return remember_take


def _wire_takes(demo: gr.Blocks, page: Page, playground: Playground) -> None:
    takes, panel = playground.takes, page.takes
    model_tabs = {tab.model.name: tab for tab in page.model_tabs}
    all_controls = [control for tab in page.model_tabs for control in tab.controls.values()]

    dialogue = page.dialogue
    restorable = {*model_tabs, DIALOGUE}

    def settings_of(record: TakeRecord) -> dict:
        """The page set to a take's model, text, settings, seed, speed and voice URL; for a
        scene, the Dialogue tab set to its script, turn gap, seed and cast."""
        common = {page.seed: record.parameters["seed"], page.random_seed: False}
        if record.scene:
            return {page.tabs: gr.Tabs(selected=DIALOGUE), page.selected_model: DIALOGUE,
                    **common, **scene_updates(dialogue, record)}
        return {
            **_opened(page, model_tabs[record.model], record.parameters),
            **common,
            page.text: record.text,
            page.speed: record.speed,
            page.reference_audio_url: record.voice_url,
        }

    slot_settings = [component for slot in dialogue.slots
                     for component in (slot.model, slot.reference_audio_url,
                                       *slot.presets.values(),
                                       *[c for controls in slot.controls.values() for c in controls.values()])]
    settings_outputs = [page.tabs, page.selected_model, page.text, *all_controls, page.seed,
                        page.random_seed, page.speed, page.reference_audio_url,
                        dialogue.script, dialogue.turn_gap, *slot_settings]

    def open_page(stored: Any, request: gr.Request) -> dict:
        """List this browser's takes; a share link (?take=…) also opens its take."""
        choices = _choices(takes, stored)
        shown = {panel.take_a: gr.update(choices=choices), panel.take_b: gr.update(choices=choices)}
        link = request.query_params.get("take") if request else None
        if not link:
            return shown
        record = takes.shared(link)
        wav = takes.load_take(record.take_id) if record else None
        if record is None or wav is None or record.model not in restorable:
            return {**shown, page.details: "That share link has expired or was replaced by a "
                    "newer one; ask for a new link."}
        stored = takes.append_record(stored, record)
        choices = _choices(takes, stored)
        return {
            **settings_of(record),
            page.player: gr.update(
                value=take_file(record, wav),
                subtitles=_subtitles(page.player, record, takes.load_captions(record.take_id)),
            ),
            page.details: f"A shared take: {record.seconds:.1f} s of audio · seed "
            f"{record.parameters['seed']} · from cache, 0 credits · voice: {record.voice_label}",
            panel.history: stored,
            panel.take_a: gr.update(choices=choices, value=record.take_id),
            panel.take_b: gr.update(choices=choices),
        }

    # No progress overlay: this runs on every page load, and only a share link changes the
    # controls; a spinner over every slider would also swallow a person's first key presses.
    demo.load(open_page, panel.history,
              [*settings_outputs, page.player, page.details, panel.history, panel.take_a,
               panel.take_b],
              show_progress="hidden", api_visibility="private")

    def play(take_id: str | None, stored: Any) -> tuple[Any, str]:
        record = _find(takes, stored, take_id)
        if record is None:
            return None, ""
        wav = takes.load_take(record.take_id)
        if wav is None:
            return None, "That take is no longer in the cache; generate it again to hear it."
        return take_file(record, wav), ""

    for dropdown, player in ((panel.take_a, panel.player_a), (panel.take_b, panel.player_b)):
        dropdown.change(play, [dropdown, panel.history], [player, panel.note], api_visibility="private")

    def use_settings(take_id: str | None, stored: Any) -> dict:
        """Put a take's model, text, settings, speed and voice back."""
        record = _find(takes, stored, take_id)
        if record is None or record.model not in restorable:
            return {panel.note: "Pick a take in A first."}
        if record.scene:
            note = f"Scene “{record.text[:40]}” restored in the Dialogue tab."
            voice_ids = [entry["voice_id"] for entry in record.scene["cast"].values()]
            voice_outputs = [slot.reference_audio for slot in dialogue.slots]
        else:
            note = f"Settings of take “{record.text[:40]}” restored ({model_tabs[record.model].model.label})."
            voice_ids, voice_outputs = [record.voice_id], [page.reference_audio]
        voices = {output: None for output in voice_outputs}
        for output, voice_id in zip(voice_outputs, voice_ids):
            if voice_id:
                # Bytes, not a path: Gradio would run ffprobe on a path.
                voices[output] = takes.load_voice(voice_id)
                if voices[output] is None:
                    note += " An uploaded voice is no longer cached: upload it again."
        return {**settings_of(record), **voices, panel.note: note}

    panel.restore.click(
        use_settings,
        [panel.take_a, panel.history],
        [*settings_outputs, page.reference_audio,
         *[slot.reference_audio for slot in dialogue.slots], panel.note],
        api_visibility="private",
    )

    def export_take(take_id: str | None, stored: Any, fmt: str, target: str) -> dict:
        record = _find(takes, stored, take_id)
        wav = takes.load_take(take_id) if record else None
        if record is None or wav is None:
            return {panel.note: "Pick a take in A to export (it must still be in the cache)."}
        if fmt not in EXPORT_FORMATS or target not in LOUDNESS_TARGETS:
            return {panel.note: "Pick an export format and a loudness target from the lists."}
        clip = decode_audio(wav)
        data = export_audio(clip.samples, clip.sample_rate, fmt, LOUDNESS_TARGETS[target])
        name = file_name(record, fmt)
        files = [AudioFile(data, name)]
        captions = takes.load_captions(record.take_id)
        if captions is not None:
            files += _captions_files(record, captions)
        return {panel.exported: gr.update(value=files, visible=True),
                panel.note: f"Exported {name}" + (" with its captions." if captions else ".")}

    panel.export.click(
        export_take,
        [panel.take_a, panel.history, panel.export_format, panel.loudness],
        [panel.exported, panel.note],
        api_visibility="private",
    )

    def share_take(take_id: str | None, stored: Any) -> dict:
        record = _find(takes, stored, take_id)
        link = takes.share(record) if record else None
        if link is None:
            return {panel.note: "Pick a take in A to share (it must still be in the cache)."}
        return {
            panel.share_link: gr.update(value=link, visible=True),
            panel.note: "Anyone with this link hears take A and sees its settings; never your "
            "key or an uploaded voice. Sharing A again makes a new link and turns this one off.",
        }

    panel.share.click(
        share_take, [panel.take_a, panel.history], [panel.share_link, panel.note],
        api_visibility="private",
    ).then(None, panel.share_link, panel.share_link, js=_SHARE_URL_JS)


def _choices(takes: TakeStore, stored: Any) -> list[tuple[str, str]]:
    records = takes.load_records(stored)
    return [(r.label(n), r.take_id) for n, r in reversed(list(enumerate(records, start=1)))]


def _find(takes: TakeStore, stored: Any, take_id: str | None) -> TakeRecord | None:
    return next((r for r in takes.load_records(stored) if r.take_id == take_id), None)
