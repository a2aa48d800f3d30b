"""The Gradio page: controls derived from the parameter table and presets, wired to Playground."""

from __future__ import annotations

import inspect
import json
import logging
import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from gradio import processing_utils
from gradio.data_classes import FileData
from starlette.middleware import Middleware

from components import gradio_fixes
from components.audio import OUTPUT_SAMPLE_RATE, AudioFile, decode_audio, encode_wav
from components.errors import ChatterboxError
from components.export import DEFAULT_EXPORT_FORMAT, EXPORT_FORMATS, export_audio, export_filename
from components.history import MAX_TAKES, TakeRecord, TakeStore
from components.media_tools import ffmpeg_check
from components.models import Model
from components.parameters import Parameter
from components.playground import FinishedTake, Playground, choose_voice, resolve_seed
from components.presets import Preset
from components.request_limits import RequestSizeLimit
from components.settings import Settings
from components.synthesis import RAW_LENGTH_FACTOR, ChunkAudio, Take

log = logging.getLogger("chatterbox.ui")

SAMPLE_TEXT = (
    "Welcome to Chatterbox TTS, where your text turns into captivating audio effortlessly."
)
LOUDNESS_TARGETS = {
    "As generated": None,
    "-16 LUFS (podcast)": -16.0,
    "-23 LUFS (broadcast)": -23.0,
}
_OUTPUT_DIR = tempfile.mkdtemp(prefix="chatterbox-exports-")
# Gradio copies each served file into its own cache (deleted by `delete_cache`), so our
# copies only need to outlive that hand-over; an hour is generous.
OUTPUT_MAX_AGE_SECONDS = 3600


class PlaygroundBlocks(gr.Blocks):
    """Blocks that always launch with the server's own limits, whoever calls launch(): uploads
    capped by Gradio, every other request body capped by RequestSizeLimit, no run history
    (Gradio 6 would keep every event's inputs, a typed API key included, in the browser's
    localStorage, beyond the tab), readable errors, and no traffic dashboard."""

    def __init__(self, *, upload_max_bytes: int, request_max_bytes: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.upload_max_bytes = upload_max_bytes
        self.request_max_bytes = request_max_bytes

    def launch(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("max_file_size", self.upload_max_bytes)
        kwargs.setdefault("run_history", False)
        # Gradio's own refusals (a server path given as a file, a value not among a list's
        # choices) then say what was wrong instead of a bare "Error". The app's handlers catch
        # their own exceptions and word them without inputs, so nothing secret is in them.
        kwargs.setdefault("show_error", True)
        # Gradio's traffic dashboard would rebuild a pandas summary of up to 10,000 past
        # events after every event, a cost per request that grows with uptime.
        kwargs.setdefault("enable_monitoring", False)
        if not kwargs["enable_monitoring"]:
            gradio_fixes.skip_queue_summary(self)
        app_kwargs = dict(kwargs.get("app_kwargs") or {})
        app_kwargs["middleware"] = [
            *app_kwargs.get("middleware", []),
            Middleware(RequestSizeLimit, max_bytes=self.request_max_bytes),
        ]
        kwargs["app_kwargs"] = app_kwargs
        return super().launch(*args, **kwargs)


class RawTextbox(gr.Textbox):
    """A text field whose value reaches the handler as sent: gr.Textbox turns true, 5, [] and
    {} from an API caller into text, which would then be spoken and billed."""

    is_template = True

    def preprocess(self, payload: Any) -> Any:
        return payload


class RawSlider(gr.Slider):
    """A slider whose value reaches the handler unchecked, so the app's own validation can
    refuse out-of-range API values with a message that names the field."""

    # A template reuses its parent's frontend; without this Gradio looks for a custom
    # "rawslider" bundle, gets 404s and never finishes loading the page.
    is_template = True

    def preprocess(self, payload: Any) -> Any:
        return payload


class TakeAudio(gr.Audio):
    """A player fed an AudioFile: Gradio stores the bytes under their content hash with the
    file's own name, and never runs ffprobe on them, as it does on every file path."""

    is_template = True

    def postprocess(self, value: Any) -> Any:
        if isinstance(value, AudioFile):
            return FileData(path=_content_addressed(value, self.GRADIO_CACHE), orig_name=value.name)
        return super().postprocess(value)


class LiveAudio(gr.Audio):
    """The Live player. Streaming is a courtesy: if encoding a chunk fails (ffmpeg gone, a full
    disk), Live stops and the take, already paid for, still arrives whole in the Take player."""

    is_template = True

    async def stream_output(self, value: Any, output_id: str, first_chunk: bool) -> Any:
        try:
            return await super().stream_output(value, output_id, first_chunk)
        except Exception as error:  # noqa: BLE001 — any failure here only costs the stream
            log.warning("Live streaming failed (%s: %s); the take will still arrive whole",
                        type(error).__name__, error)
            self.end_stream_output(output_id)
            return None, {"path": output_id, "is_stream": True, "meta": {"_type": "gradio.FileData"}}


class PageOnlyJSON(gr.JSON):
    """Carries a value between a public event and its follow-up in the page, like gr.State,
    but out of the API. Gradio 6.31's MCP server fails on a gr.State output of a tool (it
    pops a list that holds one tuple), so the take record cannot travel in a State."""

    is_template = True

    @property
    def skip_api(self) -> bool:
        return True


class RawCheckbox(gr.Checkbox):
    """A checkbox whose value reaches the handler as sent: gr.Checkbox turns 1 or "yes" into
    true, where the app's validation should refuse them by name."""

    is_template = True

    def preprocess(self, payload: Any) -> Any:
        return payload


class RawNumber(gr.Number):
    """The seed field, passed through for the same reason as RawSlider."""

    is_template = True

    def preprocess(self, payload: Any) -> Any:
        return payload


def _visitor(request: gr.Request | None) -> str:
    """Who the per-visitor limit counts. uvicorn has already applied X-Forwarded-For from
    proxies in FORWARDED_ALLOW_IPS only; reading the header here would let anyone forge it."""
    if request is None:
        return "local"
    return (request.client.host if request.client else "") or request.session_hash or "unknown"


def _details(take: Take, removed_tags: tuple[str, ...] = ()) -> str:
    parts = [
        f"{take.clip.duration:.1f} s of audio",
        f"took {take.seconds:.1f} s",
        f"seed {take.seed}",
    ]
    if take.calls_made == 0:
        parts.append("from cache, 0 credits")
    else:
        calls = f"{take.calls_made} call{'s' * (take.calls_made != 1)}"
        if take.from_cache:
            calls += f" + {take.from_cache} from cache"
        parts.append(calls)
        if take.remaining_credits is not None:
            parts.append(f"{take.remaining_credits} credits remaining")
    if removed_tags:
        parts.append(
            f"sound tags left out ({', '.join(removed_tags)}): only Chatterbox Turbo performs them"
        )
    return " · ".join(parts)


def _unexpected(error: Exception) -> str:
    """The message for a failure no check foresaw. Paid calls cannot be behind it (generate
    turns those into LocalFailure), so nothing was charged. The log names the place but not the
    exception's text, which could quote an input such as a key."""
    where = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    log.error("unexpected %s at %s:%s", type(error).__name__,
              where.filename if where else "?", where.lineno if where else "?")
    return (
        f"This server could not handle that request ({type(error).__name__}). Nothing was "
        "charged. Check the inputs and try again; if it keeps happening, please report it."
    )


def _take_file(record: TakeRecord, wav: bytes) -> AudioFile:
    return AudioFile(wav, _file_name(record, "wav"))


def _file_name(record: TakeRecord, fmt: str) -> str:
    seed = int(record.parameters["seed"])
    return export_filename(record.text, seed, record.preset, fmt, record.model)


def _is_mcp_call(request: gr.Request | None) -> bool:
    """Gradio's MCP server calls the app through its own client, which marks itself."""
    return request is not None and request.headers.get("x-gradio-user") == "mcp"


def _content_addressed(file: AudioFile, folder: str) -> str:
    """The file under <folder>/<hash of its bytes>/<its name>, written only if not there yet:
    serving the same take again (a replay, the play event, an export) writes nothing new.
    Its time is refreshed, so Gradio's delete_cache, which ages files, keeps what is in use."""
    path = Path(folder) / processing_utils.hash_bytes(file.data) / Path(file.name).name
    if path.exists():
        os.utime(path)
        os.utime(path.parent)  # exports are aged by their folder
        return str(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written under a temporary name and renamed, so a concurrent request for the same file
    # never serves half of it.
    descriptor, temp_name = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(file.data)
    os.replace(temp_name, path)
    return str(path)


def _write_export(file: AudioFile) -> str:
    _remove_old_outputs()
    return _content_addressed(file, _OUTPUT_DIR)


def _remove_old_outputs() -> None:
    cutoff = time.time() - OUTPUT_MAX_AGE_SECONDS
    for entry in os.scandir(_OUTPUT_DIR):
        if entry.stat().st_mtime < cutoff:
            shutil.rmtree(entry.path, ignore_errors=True)


# --- The page, one builder per section -------------------------------------------------------


@dataclass
class ModelTab:
    """One model's tab: exactly its own controls, presets and sound-tag buttons, and the hidden
    button whose click event is the model's API endpoint (/synthesize, /synthesize_turbo)."""

    model: Model
    tab: gr.Tab
    controls: dict[str, gr.components.Component]  # every tunable field, in the table's order
    presets: list[tuple[gr.Button, Preset]]
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
    export_format: gr.Radio
    loudness: gr.Dropdown
    exported: gr.File
    note: gr.Markdown


@dataclass
class Page:
    """The controls every model shares, built once."""

    text: RawTextbox
    text_stats: gr.Markdown
    selected_model: gr.Textbox  # the open tab's model, for Generate and the cost preview
    tabs: gr.Tabs
    model_tabs: list[ModelTab]
    seed: RawNumber
    random_seed: gr.Checkbox
    reuse_seed: gr.Button
    reference_audio: gr.Audio
    reference_audio_url: RawTextbox
    voice_note: gr.Markdown
    api_key: RawTextbox
    generate: gr.Button
    live: LiveAudio
    player: TakeAudio
    details: gr.Markdown
    seed_used: gr.Number
    last_record: PageOnlyJSON
    takes: TakesPanel

    def synthesis_inputs(self, tab: ModelTab) -> list[Any]:
        """The endpoint's inputs, in its signature's order (see _api_signature)."""
        fields = [self.seed if p.is_seed else tab.controls[p.name] for p in tab.model.parameters]
        return [self.text, self.reference_audio, self.reference_audio_url, *fields,
                self.random_seed, self.api_key]

    @property
    def synthesis_outputs(self) -> list[Any]:
        return [self.player, self.details, self.seed_used, self.live, self.voice_note,
                self.last_record]


def build_ui(settings: Settings, playground: Playground) -> gr.Blocks:
    ffmpeg = ffmpeg_check()  # started now, in the background; the first long take waits for it
    # The largest body a page sends: the take list (MAX_TAKES records, each with a text of up
    # to max_text_chars at 6 bytes a character when JSON-escaped) and a text, plus the rest.
    request_max_bytes = 1_000_000 + 6 * settings.max_text_chars * (MAX_TAKES + RAW_LENGTH_FACTOR)
    with PlaygroundBlocks(
        upload_max_bytes=int(settings.upload_max_mb * 1_000_000),
        request_max_bytes=request_max_bytes,
        title="Chatterbox TTS Playground",
        delete_cache=(OUTPUT_MAX_AGE_SECONDS, OUTPUT_MAX_AGE_SECONDS),
    ) as demo:
        gr.Markdown(
            "# Chatterbox TTS Playground\n"
            "Resemble AI's expressive open-source text-to-speech, served by Segmind. "
            "Type a line, pick a model and a preset, optionally give a reference voice, "
            "and press **Generate**."
        )
        with gr.Row():
            with gr.Column(scale=3):
                text, text_stats, selected_model = _text_section(playground)
                tabs, model_tabs = _model_tabs(playground)
                seed, random_seed, reuse_seed = _seed_row(playground.models[0].seed)
            with gr.Column(scale=2):
                reference_audio, reference_audio_url, voice_note, api_key = _voice_and_key(
                    settings, playground
                )
                generate, live, player, details, seed_used = _output_section()
        page = Page(
            text, text_stats, selected_model, tabs, model_tabs, seed, random_seed, reuse_seed,
            reference_audio, reference_audio_url, voice_note, api_key, generate, live, player,
            details, seed_used, PageOnlyJSON(None, visible=False), _takes_section(),
        )
        _wire_page(page, playground)
        for tab in model_tabs:
            _wire_model_tab(page, tab, playground, settings, ffmpeg)
        _wire_takes(demo, page, playground)
    return demo


def _text_section(playground: Playground) -> tuple[RawTextbox, gr.Markdown, gr.Textbox]:
    first = playground.models[0]
    text = RawTextbox(label="Text", value=SAMPLE_TEXT, lines=5, max_lines=20, elem_id="text")
    text_stats = gr.Markdown(playground.preview(SAMPLE_TEXT, first), elem_id="text-stats")
    selected_model = gr.Textbox(first.name, visible="hidden", elem_id="selected-model")
    return text, text_stats, selected_model


def _model_tabs(playground: Playground) -> tuple[gr.Tabs, list[ModelTab]]:
    model_tabs = []
    with gr.Tabs(elem_id="models") as tabs:
        for model in playground.models:
            with gr.Tab(model.label, id=model.name, elem_id=f"tab-{model.name}") as tab:
                model_tabs.append(_model_controls(model, tab, playground.presets[model.name]))
    return tabs, model_tabs


def _model_controls(model: Model, tab: gr.Tab, presets: list[Preset]) -> ModelTab:
    voice = (
        f" It needs a reference voice of at least {model.min_reference_seconds:g} s."
        if model.reference_required
        else ""
    )
    gr.Markdown(
        f"{model.summary[0].upper()}{model.summary[1:]}; about ${model.cost_per_call:g} "
        f"a call.{voice}",
        elem_id=f"{model.name}-summary",
    )
    with gr.Row(elem_id=f"{model.name}-presets"):
        preset_buttons = [
            (gr.Button(p.label, size="sm", elem_id=f"{model.name}-preset-{p.name}"), p)
            for p in presets
        ]
    tag_buttons = []
    if model.tags:
        gr.Markdown("Sound tags, performed by the model: click to insert at the cursor.")
        with gr.Row(elem_id=f"{model.name}-tags"):
            tag_buttons = [
                (gr.Button(tag, size="sm", min_width=60, elem_classes=["sound-tag"]), tag)
                for tag in model.tags
            ]
    controls = {p.name: _control(model, p) for p in model.tunable}
    run = gr.Button(f"Generate with {model.label}", visible="hidden", elem_id=f"run-{model.name}")
    return ModelTab(model, tab, controls, preset_buttons, tag_buttons, run)


def _control(model: Model, parameter: Parameter) -> gr.components.Component:
    elem_id = f"{model.name}-{parameter.name}"
    if parameter.boolean:
        return RawCheckbox(
            value=parameter.default, label=parameter.label, info=parameter.description,
            elem_id=elem_id,
        )
    return RawSlider(
        minimum=parameter.minimum,
        maximum=parameter.maximum,
        value=parameter.default,
        step=parameter.step,
        label=parameter.label,
        info=parameter.description,
        elem_id=elem_id,
    )


def _seed_row(seed_parameter: Parameter) -> tuple[RawNumber, gr.Checkbox, gr.Button]:
    with gr.Row(equal_height=True):
        seed = RawNumber(
            value=seed_parameter.default,
            label=seed_parameter.label,
            info=f"{seed_parameter.description} 0 to {int(seed_parameter.maximum):,}.",
            precision=0,
            minimum=seed_parameter.minimum,
            maximum=seed_parameter.maximum,
            elem_id="seed",
        )
        with gr.Column(min_width=160):
            random_seed = gr.Checkbox(value=False, label="Random seed", elem_id="random-seed")
            reuse_seed = gr.Button("Reuse the last take's seed", size="sm", elem_id="reuse-seed")
    return seed, random_seed, reuse_seed


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


def _output_section() -> tuple[gr.Button, LiveAudio, TakeAudio, gr.Markdown, gr.Number]:
    generate = gr.Button("Generate", variant="primary", elem_id="generate")
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
    # The page shows the seed in the details line; this carries it, as an integer, to API
    # callers and to the "Reuse seed" button.
    seed_used = gr.Number(
        visible=False, label="Seed used", precision=0, interactive=False, elem_id="seed-used"
    )
    return generate, live, player, details, seed_used


def _takes_section() -> TakesPanel:
    with gr.Accordion("Takes this session", open=True, elem_id="takes"):
        gr.Markdown(
            "Every take is kept: replaying one costs nothing. Pick a take to play or download "
            "it, put its settings (and model) back, compare two side by side, or export it."
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
        with gr.Row():
            with gr.Column(scale=1, min_width=160):
                restore = gr.Button("Use A's settings", size="sm", elem_id="restore")
                export = gr.Button("Export A", size="sm", elem_id="export")
            export_format = gr.Radio(
                [(f"{name.upper()}", name) for name in EXPORT_FORMATS],
                value=DEFAULT_EXPORT_FORMAT,
                label="Export format",
                scale=2,
                elem_id="export-format",
            )
            loudness = gr.Dropdown(
                list(LOUDNESS_TARGETS), value="As generated", label="Loudness", scale=2,
                elem_id="loudness",
            )
            exported = gr.File(
                label="Exported file", interactive=False, height=100, scale=2, elem_id="exported"
            )
        note = gr.Markdown(elem_id="takes-note")
    return TakesPanel(history, take_a, take_b, player_a, player_b, restore, export,
                      export_format, loudness, exported, note)


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


def _wire_page(page: Page, playground: Playground) -> None:
    page.generate.click(None, [page.selected_model], None, js=_RUN_SELECTED_JS)

    def preview(text: Any, model_name: Any) -> str:
        try:
            model = playground.model(model_name)
        except ChatterboxError:
            model = playground.models[0]
        return playground.preview(text, model)

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


def _wire_model_tab(
    page: Page, tab: ModelTab, playground: Playground, settings: Settings, ffmpeg: Any
) -> None:
    model = tab.model
    # Client-side: choosing a tab, a preset or a tag changes only what the page shows.
    tab.tab.select(None, None, page.selected_model, js=f"() => {json.dumps(model.name)}")
    for button, preset in tab.presets:
        values = [preset.values[p.name] for p in model.tunable]
        button.click(None, None, list(tab.controls.values()), js=f"() => {json.dumps(values)}")
    for button, tag in tab.tags:
        button.click(None, [page.text], [page.text], js=_INSERT_TAG_JS % json.dumps(tag))

    handler = _synthesis_handler(model, page, playground, settings, ffmpeg)
    event = tab.run.click(
        handler,
        inputs=page.synthesis_inputs(tab),
        outputs=page.synthesis_outputs,
        api_name=model.api_name,
        # Progress and any error badge sit on the live player only, so the error message in
        # the details line and the previous take stay readable.
        show_progress_on=[page.live],
    )
    event.success(
        _remember_take(playground, page.takes),
        [page.last_record, page.takes.history],
        [page.takes.history, page.takes.take_a, page.takes.take_b],
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
            # A key typed into the page (or passed as api_key) wins over the header; anything
            # typed that is not empty, a non-string too, is checked as a key.
            typed, header = given["api_key"], given["x_segmind_key"]
            key = typed if typed not in ("", None) or not isinstance(header, str) else header
            request = given["request"]
            live_wanted = not _is_mcp_call(request) and ffmpeg.result().available
            events = playground.generate(
                model, given["text"], values, choice.voice, key, _visitor(request), live=live_wanted
            )
            yield from _take_updates(page, events, note, given["progress"])
        except Exception as error:  # noqa: BLE001 — every failure gets a readable message
            message = str(error) if isinstance(error, ChatterboxError) else _unexpected(error)
            # The last take stays in the player: an error never costs a paid take.
            yield {page.details: f"**Error:** {message}", page.voice_note: note}
            raise gr.Error(message, print_exception=False) from None

    synthesize.__signature__ = signature  # type: ignore[attr-defined]
    # Gradio finds gr.Request and gr.Header by their annotations.
    synthesize.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}
    synthesize.__name__ = synthesize.__qualname__ = model.api_name
    synthesize.__doc__ = model.api_docstring(settings.max_text_chars, settings.reference_seconds)
    return synthesize


def _take_updates(
    page: Page, events: Iterator[ChunkAudio | FinishedTake], note: str, progress: gr.Progress
) -> Iterator[dict]:
    """What the page shows as a take is made: Live while parts stream, then the take."""
    streamed = False
    finished: dict | None = None  # the take's outputs, once it is complete
    for event in events:
        if isinstance(event, FinishedTake):
            finished = {
                page.player: _take_file(event.record, event.wav),
                page.details: _details(event.take, event.removed_tags),
                page.seed_used: event.take.seed,
                page.voice_note: note,
            }
            # After a streamed take Live stays, still playing; otherwise it goes.
            live_after = {} if streamed else {page.live: gr.update(visible=False)}
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
                yield {**status, page.live: gr.update(visible=True)}
            yield {**status, page.live: encode_wav(event.samples, OUTPUT_SAMPLE_RATE)}


def _remember_take(playground: Playground, panel: TakesPanel) -> Callable[[Any, Any], dict]:
    takes = playground.takes

    def remember_take(carried: Any, stored: Any) -> dict:
        """Add the finished take to this browser's list and select it as A. The record comes
        back from the page, so it is verified like any record from the browser."""
        record = takes.verified(carried)
        if record is None:
            return {}
        stored = takes.append_record(stored, record)
        choices = _choices(takes, stored)
        return {
            panel.history: stored,
            panel.take_a: gr.update(choices=choices, value=record.take_id),
            panel.take_b: gr.update(choices=choices),
        }

    return remember_take


def _wire_takes(demo: gr.Blocks, page: Page, playground: Playground) -> None:
    takes, panel = playground.takes, page.takes

    def show_takes(stored: Any) -> dict:
        choices = _choices(takes, stored)
        return {panel.take_a: gr.update(choices=choices), panel.take_b: gr.update(choices=choices)}

    demo.load(show_takes, panel.history, [panel.take_a, panel.take_b], api_visibility="private")

    def play(take_id: str | None, stored: Any) -> tuple[Any, str]:
        record = _find(takes, stored, take_id)
        if record is None:
            return None, ""
        wav = takes.load_take(record.take_id)
        if wav is None:
            return None, "That take is no longer in the cache; generate it again to hear it."
        return _take_file(record, wav), ""

    for dropdown, player in ((panel.take_a, panel.player_a), (panel.take_b, panel.player_b)):
        dropdown.change(play, [dropdown, panel.history], [player, panel.note], api_visibility="private")

    model_tabs = {tab.model.name: tab for tab in page.model_tabs}
    all_controls = [control for tab in page.model_tabs for control in tab.controls.values()]

    def use_settings(take_id: str | None, stored: Any) -> dict:
        """Put a take's model, text, settings and voice back."""
        record = _find(takes, stored, take_id)
        tab = model_tabs.get(record.model) if record else None
        if record is None or tab is None:
            return {panel.note: "Pick a take in A first."}
        note = f"Settings of take “{record.text[:40]}” restored ({tab.model.label})."
        voice = None
        if record.voice_id:
            # Bytes, not a path: Gradio would run ffprobe on a path.
            voice = takes.load_voice(record.voice_id)
            if voice is None:
                note += " Its uploaded voice is no longer cached: upload it again."
        return {
            page.tabs: gr.Tabs(selected=tab.model.name),
            page.selected_model: tab.model.name,
            page.text: record.text,
            **{control: record.parameters[name] for name, control in tab.controls.items()},
            page.seed: record.parameters["seed"],
            page.random_seed: False,
            page.reference_audio: voice,
            page.reference_audio_url: record.voice_url,
            panel.note: note,
        }

    panel.restore.click(
        use_settings,
        [panel.take_a, panel.history],
        [page.tabs, page.selected_model, page.text, *all_controls, page.seed, page.random_seed,
         page.reference_audio, page.reference_audio_url, panel.note],
        api_visibility="private",
    )

    def export_take(take_id: str | None, stored: Any, fmt: str, target: str) -> tuple[Any, str]:
        record = _find(takes, stored, take_id)
        wav = takes.load_take(take_id) if record else None
        if record is None or wav is None:
            return None, "Pick a take in A to export (it must still be in the cache)."
        if fmt not in EXPORT_FORMATS or target not in LOUDNESS_TARGETS:
            return None, "Pick an export format and a loudness target from the lists."
        clip = decode_audio(wav)
        data = export_audio(clip.samples, clip.sample_rate, fmt, LOUDNESS_TARGETS[target])
        name = _file_name(record, fmt)
        return _write_export(AudioFile(data, name)), f"Exported {name}."

    panel.export.click(
        export_take,
        [panel.take_a, panel.history, panel.export_format, panel.loudness],
        [panel.exported, panel.note],
        api_visibility="private",
    )


def _choices(takes: TakeStore, stored: Any) -> list[tuple[str, str]]:
    records = takes.load_records(stored)
    return [(r.label(n), r.take_id) for n, r in reversed(list(enumerate(records, start=1)))]


def _find(takes: TakeStore, stored: Any, take_id: str | None) -> TakeRecord | None:
    return next((r for r in takes.load_records(stored) if r.take_id == take_id), None)
