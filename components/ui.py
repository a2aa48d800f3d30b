"""The Gradio page: controls derived from the parameter table and presets, wired to Playground."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Iterator
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
from components.parameters import SEED, SLIDER_PARAMETERS, api_docstring, defaults
from components.playground import FinishedTake, Playground, choose_voice, resolve_seed
from components.presets import Preset
from components.request_limits import RequestSizeLimit
from components.settings import Settings
from components.synthesis import RAW_LENGTH_FACTOR, Take

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


def _details(take: Take) -> str:
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


def _preset_js(preset: Preset) -> str:
    values = [preset.values[p.name] for p in SLIDER_PARAMETERS]
    return f"() => {json.dumps(values)}"


def _take_file(record: TakeRecord, wav: bytes) -> AudioFile:
    name = export_filename(record.text, int(record.parameters["seed"]), record.preset, "wav")
    return AudioFile(wav, name)


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


def build_ui(settings: Settings, playground: Playground) -> gr.Blocks:
    presets = playground.presets
    key_hint = (
        "Optional: the owner's key is used when this is empty."
        if playground.owner_key_available
        else "Required: paste your Segmind key (kept in this browser tab only)."
    )

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
            "Type a line, pick a preset or move the sliders, optionally give a reference voice, "
            "and press **Generate**."
        )
        with gr.Row():
            with gr.Column(scale=3):
                text = RawTextbox(
                    label="Text", value=SAMPLE_TEXT, lines=5, max_lines=20, elem_id="text"
                )
                text_stats = gr.Markdown(playground.preview(SAMPLE_TEXT), elem_id="text-stats")
                with gr.Row(elem_id="presets"):
                    preset_buttons = [
                        (gr.Button(p.label, size="sm", elem_id=f"preset-{p.name}"), p)
                        for p in presets
                    ]
                sliders = {
                    p.name: RawSlider(
                        minimum=p.minimum,
                        maximum=p.maximum,
                        value=p.default,
                        step=p.step,
                        label=p.label,
                        info=p.description,
                        elem_id=f"slider-{p.name}",
                    )
                    for p in SLIDER_PARAMETERS
                }
                with gr.Row(equal_height=True):
                    seed = RawNumber(
                        value=SEED.default,
                        label=SEED.label,
                        info=f"{SEED.description} 0 to {int(SEED.maximum):,}.",
                        precision=0,
                        minimum=SEED.minimum,
                        maximum=SEED.maximum,
                        elem_id="seed",
                    )
                    with gr.Column(min_width=160):
                        random_seed = gr.Checkbox(
                            value=False, label="Random seed", elem_id="random-seed"
                        )
                        reuse_seed = gr.Button(
                            "Reuse the last take's seed", size="sm", elem_id="reuse-seed"
                        )
            with gr.Column(scale=2):
                reference_audio = gr.Audio(
                    sources=["upload", "microphone"],
                    type="filepath",
                    label="Reference voice (upload or record; first "
                    f"{settings.reference_seconds:g} s used)",
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
                    info=key_hint,
                    elem_id="api-key",
                )
                generate = gr.Button("Generate", variant="primary", elem_id="generate")
                # Shown only while a take of several calls streams; a one-call take goes
                # straight to the Take player, so there is one obvious place to listen.
                live = LiveAudio(
                    label="Live: plays while the rest of the take is made",
                    streaming=True,
                    autoplay=True,
                    interactive=False,
                    visible=False,
                    elem_id="live",
                )
                player = TakeAudio(
                    label="Take",
                    interactive=False,
                    buttons=["download"],
                    elem_id="player",
                )
                details = gr.Markdown(label="Details", elem_id="details")
                # The page shows the seed in the details line; this carries it, as an integer,
                # to API callers and to the "Reuse seed" button.
                seed_used = gr.Number(
                    visible=False,
                    label="Seed used",
                    precision=0,
                    interactive=False,
                    elem_id="seed-used",
                )

        with gr.Accordion("Takes this session", open=True, elem_id="takes"):
            gr.Markdown(
                "Every take is kept: replaying one costs nothing. Pick a take to play or "
                "download it, put its settings back, compare two side by side, or export it."
            )
            # Only small records live in the browser; the audio stays in the server's cache.
            # The secret is visible to the page (Gradio encrypts client-side); it is fixed only
            # so the list survives an app restart. Records are validated when they come back.
            history = gr.BrowserState(
                [], storage_key="chatterbox-playground-takes", secret="chatterbox-playground"
            )
            with gr.Row():
                take_a = gr.Dropdown(label="Take A", choices=[], elem_id="take-a")
                take_b = gr.Dropdown(label="Take B (compare)", choices=[], elem_id="take-b")
            with gr.Row():
                player_a = TakeAudio(
                    label="A", interactive=False, buttons=["download"], elem_id="player-a"
                )
                player_b = TakeAudio(
                    label="B", interactive=False, buttons=["download"], elem_id="player-b"
                )
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
                    label="Exported file", interactive=False, height=100, scale=2,
                    elem_id="exported",
                )
            takes_note = gr.Markdown(elem_id="takes-note")
        last_record = PageOnlyJSON(None, visible=False)

        slider_list = list(sliders.values())
        for button, preset in preset_buttons:
            # Client-side: a preset only moves sliders, so it needs no server round trip.
            button.click(None, None, slider_list, js=_preset_js(preset))

        reuse_seed.click(
            lambda used: (gr.skip(), gr.skip()) if used is None else (used, False),
            seed_used,
            [seed, random_seed],
            queue=False,
            api_visibility="private",
        )

        text.change(
            playground.preview,
            text,
            text_stats,
            queue=False,
            show_progress="hidden",
            trigger_mode="always_last",
            api_visibility="private",
        )

        # A default of None makes reference_audio optional to API and MCP callers; the others
        # need defaults after it, and take the table's.
        default = defaults()

        def synthesize(
            text: str,
            reference_audio: str | None = None,
            reference_audio_url: str | None = "",
            exaggeration: float = default["exaggeration"],
            temperature: float = default["temperature"],
            seed: int = default["seed"],
            cfg_weight: float = default["cfg_weight"],
            min_p: float = default["min_p"],
            top_p: float = default["top_p"],
            repetition_penalty: float = default["repetition_penalty"],
            random_seed: bool = False,
            api_key: str = "",
            request: gr.Request = None,
            x_segmind_key: gr.Header = None,
            progress: gr.Progress = gr.Progress(),
        ) -> Iterator[tuple]:
            note = ""  # a refused voice clears the last take's note rather than contradict it
            try:
                choice = choose_voice(reference_audio, reference_audio_url, settings)
                note = choice.note
                parameters = {
                    "exaggeration": exaggeration,
                    "temperature": temperature,
                    "seed": resolve_seed(seed, random_seed),
                    "cfg_weight": cfg_weight,
                    "min_p": min_p,
                    "top_p": top_p,
                    "repetition_penalty": repetition_penalty,
                }
                # A key typed into the page (or passed as api_key) wins over the header.
                typed = api_key not in ("", None)  # anything else typed, a non-string too, is checked
                key = api_key if typed or not isinstance(x_segmind_key, str) else x_segmind_key
                live_wanted = not _is_mcp_call(request) and ffmpeg.result().available
                events = playground.generate(
                    text, parameters, choice.voice, key, _visitor(request), live=live_wanted
                )
                streamed = False
                finished: tuple | None = None  # the take's outputs, once it is complete
                for event in events:
                    if isinstance(event, FinishedTake):
                        take = _take_file(event.record, event.wav)
                        finished = (take, _details(event.take), event.take.seed)
                        # After a streamed take Live stays, still playing; otherwise it goes.
                        live_after = gr.skip() if streamed else gr.update(visible=False)
                        yield *finished, live_after, note, event.record.to_json()
                    elif finished:
                        # The tail of a streamed take, for Live. The take's outputs go again,
                        # unchanged, so the last message (what an API caller keeps) holds them.
                        chunk = encode_wav(event.samples, OUTPUT_SAMPLE_RATE)
                        yield *finished, chunk, note, gr.skip()
                    else:
                        done = event.index + event.parts
                        progress((done, event.total), desc="Generating parts")
                        status = f"{done} of {event.total} parts ready, playing in Live…"
                        if not streamed:
                            streamed = True
                            yield gr.skip(), status, gr.skip(), gr.update(visible=True), note, gr.skip()
                        chunk = encode_wav(event.samples, OUTPUT_SAMPLE_RATE)
                        yield gr.skip(), status, gr.skip(), chunk, note, gr.skip()
            except Exception as error:  # noqa: BLE001 — every failure gets a readable message
                message = str(error) if isinstance(error, ChatterboxError) else _unexpected(error)
                # The last take stays in the player: an error never costs a paid take.
                yield gr.skip(), f"**Error:** {message}", gr.skip(), gr.skip(), note, gr.skip()
                raise gr.Error(message, print_exception=False) from None

        synthesize.__doc__ = api_docstring(settings.max_text_chars, settings.reference_seconds)
        synthesize_event = generate.click(
            synthesize,
            inputs=[
                text,
                reference_audio,
                reference_audio_url,
                sliders["exaggeration"],
                sliders["temperature"],
                seed,
                sliders["cfg_weight"],
                sliders["min_p"],
                sliders["top_p"],
                sliders["repetition_penalty"],
                random_seed,
                api_key,
            ],
            outputs=[player, details, seed_used, live, voice_note, last_record],
            api_name="synthesize",
            # Progress and any error badge sit on the live player only, so the error message in
            # the details line and the previous take stay readable.
            show_progress_on=[live],
        )

        def remember_take(carried: Any, stored: Any) -> tuple[Any, Any, Any]:
            """Add the finished take to this browser's list and select it as A. The record
            comes back from the page, so it is verified like any record from the browser."""
            record = playground.takes.verified(carried)
            if record is None:
                return gr.skip(), gr.skip(), gr.skip()
            stored = playground.takes.append_record(stored, record)
            choices = _choices(playground.takes, stored)
            return stored, gr.update(choices=choices, value=record.take_id), gr.update(choices=choices)

        def show_takes(stored: Any) -> tuple[Any, Any]:
            choices = _choices(playground.takes, stored)
            return gr.update(choices=choices), gr.update(choices=choices)

        synthesize_event.success(
            remember_take,
            [last_record, history],
            [history, take_a, take_b],
            api_visibility="private",
        )

        demo.load(show_takes, history, [take_a, take_b], api_visibility="private")

        def play(take_id: str | None, stored: Any) -> tuple[Any, str]:
            record = _find(playground.takes, stored, take_id)
            if record is None:
                return None, ""
            wav = playground.takes.load_take(record.take_id)
            if wav is None:
                return None, "That take is no longer in the cache; generate it again to hear it."
            return _take_file(record, wav), ""

        take_a.change(play, [take_a, history], [player_a, takes_note], api_visibility="private")
        take_b.change(play, [take_b, history], [player_b, takes_note], api_visibility="private")

        def use_settings(take_id: str | None, stored: Any) -> list[Any]:
            record = _find(playground.takes, stored, take_id)
            if record is None:
                return [gr.skip()] * (len(slider_list) + 6) + ["Pick a take in A first."]
            voice, note = None, f"Settings of take “{record.text[:40]}” restored."
            if record.voice_id:
                # Bytes, not a path: Gradio would run ffprobe on a path.
                voice = playground.takes.load_voice(record.voice_id)
                if voice is None:
                    note += " Its uploaded voice is no longer cached: upload it again."
            return [
                record.text,
                *(record.parameters[p.name] for p in SLIDER_PARAMETERS),
                record.parameters["seed"],
                False,
                voice,
                record.voice_url,
                gr.skip(),
                note,
            ]

        restore.click(
            use_settings,
            [take_a, history],
            [text, *slider_list, seed, random_seed, reference_audio, reference_audio_url,
             voice_note, takes_note],
            api_visibility="private",
        )

        def export_take(take_id: str | None, stored: Any, fmt: str, target: str) -> tuple[Any, str]:
            record = _find(playground.takes, stored, take_id)
            wav = playground.takes.load_take(take_id) if record else None
            if record is None or wav is None:
                return None, "Pick a take in A to export (it must still be in the cache)."
            if fmt not in EXPORT_FORMATS or target not in LOUDNESS_TARGETS:
                return None, "Pick an export format and a loudness target from the lists."
            clip = decode_audio(wav)
            data = export_audio(clip.samples, clip.sample_rate, fmt, LOUDNESS_TARGETS[target])
            name = export_filename(record.text, int(record.parameters["seed"]), record.preset, fmt)
            return _write_export(AudioFile(data, name)), f"Exported {name}."

        export.click(
            export_take,
            [take_a, history, export_format, loudness],
            [exported, takes_note],
            api_visibility="private",
        )
    return demo


def _choices(takes: TakeStore, stored: Any) -> list[tuple[str, str]]:
    records = takes.load_records(stored)
    return [(r.label(n), r.take_id) for n, r in reversed(list(enumerate(records, start=1)))]


def _find(takes: TakeStore, stored: Any, take_id: str | None) -> TakeRecord | None:
    return next((r for r in takes.load_records(stored) if r.take_id == take_id), None)
