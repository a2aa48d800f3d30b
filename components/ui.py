"""The app's Gradio components and the files they serve: Blocks that launch with the server's
limits, fields that pass API values through unconverted for the app's own validation, players
fed bytes (never probed), and content-addressed output files. The page itself is page.py."""

from __future__ import annotations

import inspect
import logging
import os
import tempfile
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
from gradio import processing_utils
from gradio import utils as gradio_utils
from gradio.data_classes import FileData, GradioModel, GradioRootModel, ListFiles
from starlette.middleware import Middleware

from components import gradio_fixes
from components.audio import AudioFile
from components.export import export_filename
from components.history import TakeRecord
from components.parameters import Parameter
from components.pauses import strip_pauses
from components.request_limits import RequestSizeLimit
from components.synthesis import Take

log = logging.getLogger("chatterbox.ui")
gradio_fixes.skip_interface_stubs()  # before the component classes below

# Served files live in Gradio's cache, whose files `delete_cache` removes after this long (a
# content-addressed file in use is touched whenever it is served again, so it stays).
OUTPUT_MAX_AGE_SECONDS = 3600


class PlaygroundBlocks(gr.Blocks):
    """Blocks that always launch with the server's own limits, whoever calls launch(): uploads
    capped by Gradio, every other request body capped by RequestSizeLimit, no run history
    (Gradio 6 would keep every event's inputs, a typed API key included, in the browser's
    localStorage, beyond the tab), readable errors, and no traffic dashboard."""

    def __init__(
        self, *, upload_max_bytes: int, request_max_bytes: int, queue_max_size: int | None,
        concurrency_limit: int, css: str = "", **kwargs: Any
    ) -> None:
        # Gradio's __init__ queues the Blocks itself (through `queue` below); queueing again
        # after building would rebuild the whole server app, a tenth of a second of start-up.
        self.queue_defaults = {"max_size": queue_max_size,
                               "default_concurrency_limit": concurrency_limit}
        super().__init__(**kwargs)
        self.css_rules = css  # Gradio 6 takes the page's CSS at launch
        self.upload_max_bytes = upload_max_bytes
        self.request_max_bytes = request_max_bytes

    def queue(self, *args: Any, **kwargs: Any) -> PlaygroundBlocks:
        return super().queue(*args, **{**self.queue_defaults, **kwargs})

    def validate_inputs(self, block_fn: Any, inputs: list[Any]) -> None:
        """A raw HTTP caller may leave out trailing arguments that have defaults, as
        gradio_client does: they get those defaults, so an argument added at the end of an
        endpoint (speed) breaks no existing caller."""
        parameters = gradio_utils.get_positional_input_parameters(block_fn.fn) if block_fn.fn else []
        for parameter in parameters[len(inputs) : len(block_fn.inputs)]:
            if parameter.default is inspect.Parameter.empty:
                break
            inputs.append(parameter.default)
        super().validate_inputs(block_fn, inputs)

    def launch(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("max_file_size", self.upload_max_bytes)
        kwargs.setdefault("css", self.css_rules)
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
    writes_own_cache_files = True  # see gradio_fixes

    def postprocess(self, value: Any) -> Any:
        if isinstance(value, AudioFile):
            return FileData(path=content_addressed(value, self.GRADIO_CACHE), orig_name=value.name)
        return super().postprocess(value)


class ServedFiles(gr.File):
    """A file list fed AudioFiles (bytes and a name), like TakeAudio: each is stored once in
    Gradio's cache under its content hash with its own name, so Gradio has nothing to copy."""

    is_template = True
    writes_own_cache_files = True  # see gradio_fixes

    def postprocess(self, value: Any) -> Any:
        if isinstance(value, list) and value and all(isinstance(v, AudioFile) for v in value):
            return ListFiles(root=[
                FileData(path=content_addressed(v, self.GRADIO_CACHE), orig_name=v.name,
                         size=len(v.data))
                for v in value
            ])
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


class CastJSON(gr.JSON):
    """The dialogue endpoint's cast: a JSON object, or its JSON text. gr.JSON describes its
    value as `{"type": {}}`, which is no JSON schema, so the MCP server refused every call."""

    is_template = True

    def api_info(self) -> dict[str, Any]:
        return {"anyOf": [{"type": "object"}, {"type": "string"}],
                "description": "a JSON object keyed by speaker, or its JSON text"}


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


def visitor_of(request: gr.Request | None) -> str:
    """Who the per-visitor limit counts. uvicorn has already applied X-Forwarded-For from
    proxies in FORWARDED_ALLOW_IPS only; reading the header here would let anyone forge it."""
    if request is None:
        return "local"
    return (request.client.host if request.client else "") or request.session_hash or "unknown"


def details_line(take: Take, notes: tuple[str, ...] = ()) -> str:
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
    return " · ".join([*parts, *notes])


def unexpected_error(error: Exception) -> str:
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


def take_file(record: TakeRecord, wav: bytes) -> AudioFile:
    return AudioFile(wav, file_name(record, "wav"))


def file_name(record: TakeRecord, fmt: str) -> str:
    """The take's file name for an audio format, or for its captions ("vtt", "srt")."""
    seed = int(record.parameters["seed"])
    words = strip_pauses(record.text, strict=False)  # "[pause:1s]" is not a word of the take
    audio_format = "wav" if fmt in ("vtt", "srt") else fmt
    name = export_filename(words, seed, record.preset, audio_format, record.model, record.speed)
    return name if audio_format == fmt else f"{name.rsplit('.', 1)[0]}.{fmt}"


def control(parameter: Parameter, elem_id: str) -> gr.components.Component:
    """A parameter's control, bounded to its documented range: a checkbox or a slider."""
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


def chosen_key(typed: Any, header: Any) -> Any:
    """A key typed into the page (or passed as api_key) wins over the X-Segmind-Key header;
    anything typed that is not empty, a non-string too, is checked as a key."""
    return typed if typed not in ("", None) or not isinstance(header, str) else header


def is_mcp_call(request: gr.Request | None) -> bool:
    """Gradio's MCP server calls the app through its own client, which marks itself."""
    return request is not None and request.headers.get("x-gradio-user") == "mcp"


def content_addressed(file: AudioFile, folder: str) -> str:
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


def processed_in_handler(handler: Any, inputs: list[gr.components.Component]) -> dict[str, Any]:
    """The arguments of an event listener (`fn`, `inputs`, `preprocess=False`,
    `postprocess=False`) that runs `handler` with its inputs' preprocess and its outputs'
    postprocess done in the handler's own thread, given together so neither goes without the
    other. Gradio runs each of them in a worker thread of its own, one hop per input and per
    output of every yield: on the 13-input synthesize endpoint its preprocessing took 8.4 ms a
    call (0.7 ms this way), and a Dialogue Generate has 73 inputs. Gradio still validates every
    input against its data model (so a file must have been uploaded with the call) and still
    checks every output file.

    The components' own objects do the processing, not a session's copies: an input whose
    preprocess reads props an event changes per session (a menu's choices) must not use this."""
    signature = inspect.signature(handler)
    hints = gradio_utils.get_type_hints(handler)
    # The arguments Gradio fills in itself (request, headers, progress), by position.
    injected = set()
    for index, parameter in enumerate(signature.parameters.values()):
        if parameter.kind not in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            break
        if isinstance(parameter.default, gr.Progress) or hints.get(parameter.name) in (
            gr.Request, gr.Request | None, gr.Header, gr.Header | None,
        ):
            injected.add(index)

    def run(*args: Any, **kwargs: Any) -> Iterator[Any]:
        blocks = iter(inputs)
        values = [arg if index in injected else _preprocessed(next(blocks), arg)
                  for index, arg in enumerate(args)]
        for updates in handler(*values, **kwargs):
            yield _postprocessed(updates)

    run.__signature__ = signature  # type: ignore[attr-defined]
    run.__annotations__ = hints
    run.__name__ = run.__qualname__ = handler.__name__
    run.__doc__ = handler.__doc__
    return {"fn": run, "inputs": inputs, "preprocess": False, "postprocess": False}


def _preprocessed(block: gr.components.Component, payload: Any) -> Any:
    data_model = getattr(block, "data_model", None)
    if data_model is not None and payload is not None:
        payload = data_model.model_validate(payload)
    return block.preprocess(payload)


def _postprocessed(updates: Any) -> Any:
    """A handler's {component: value} with each value as its component's postprocess makes it;
    updates (gr.update, a component) go as they are, for Gradio to apply."""
    if not isinstance(updates, dict):
        return updates
    processed = {}
    for block, value in updates.items():
        if not (gradio_utils.is_prop_update(value) or isinstance(value, gr.blocks.Block)):
            value = block.postprocess(value)
            if isinstance(value, (GradioModel, GradioRootModel)):
                value = value.model_dump()
        processed[block] = value
    return processed
