"""Per-request work Gradio 6.31 repeats for nothing; installed once, before the app is built.

Every raw API call (`/gradio_api/call/...`, gradio_client, MCP) gets a new session, and a new
session builds the config of every block on the page, calling `get_config()` (an
`inspect.signature` per call) and `api_info()` (a pydantic JSON schema per call) for each. On
this page that is about 8 ms of CPU per request, most of the app's overhead over a bare Gradio
app. The config of a block is a pure function of the block, so it is computed once per block
object and copied after that. A block that is replaced (a session's update makes a new object)
misses and is computed afresh, exactly as before.

Even copied, every block's config for every session is work a call rarely needs: a call reads
and writes the configs of its own inputs and outputs, and only a deep link reads them all. A
session's configs (`SessionState.config_values`) are therefore made when first used.

A block that an update replaces also rebuilds its API schema, which depends on its data model
alone; it is kept per model.

Every output file also goes through Gradio's file checks (is it static, allowed, blocked, a
dotfile, already cached?), each resolving both paths on disk: about 1 ms a file, 3 files a take.
A component that writes its outputs into its own cache folder itself (TakeAudio, ServedFiles:
`writes_own_cache_files`) gets them served as they are, when every path is plainly inside that
folder; anything else goes through Gradio's checks as before, and the file route checks every
download again.

A handler that returns a dict leaves out the outputs it does not change; Gradio fills each gap
with `gr.skip()`, an update with no props, and then treats it like any update: it builds a new
component from the old one's arguments and recomputes its config (about 0.6 ms for the Live
player, which a one-call take leaves alone). `_postprocess_present_outputs` processes only the
outputs a handler gave and sends the plain skip for the rest, which the page applies as "no
change" just the same.

Gradio also tries `import matplotlib` twice around every event (to switch its backend); where
matplotlib is not installed, each try searches the whole import path again. It is marked
missing once.

At start-up, Gradio writes a `.pyi` stub for every component class as it is defined, parsing
the whole module's source once per class: about 0.2 s of every start, for a file nothing reads
at run time. `skip_interface_stubs` stops that, before the app's component classes.

The queue also rebuilds a pandas summary of every event it has run (up to 10,000) after each
event, for the monitoring page: a per-request cost that grows with the app's uptime. The app
launches without that page, and `skip_queue_summary` stops the summary.

The version is pinned in requirements.txt; the app, MCP and browser tests all run through it.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import sys
import threading
import weakref
from types import SimpleNamespace
from typing import Any

from gradio import component_meta, processing_utils
from gradio.blocks import Block, Blocks, BlocksConfig
from gradio.components.base import Component
from gradio.route_utils import API_PREFIX
from gradio.state_holder import SessionState
from gradio_client import utils as client_utils

_MAX_ENTRIES = 4096
_configs: dict[tuple[int, int], tuple[weakref.ref, dict]] = {}
_lock = threading.Lock()
_compute_config = BlocksConfig.config_for_block
_component_api_info = Component.api_info
_schemas: dict[type, dict] = {}
_move_files_to_cache = processing_utils.async_move_files_to_cache
_session_state_init = SessionState.__init__
_postprocess_data = Blocks.postprocess_data
_SKIP = {"__type__": "update"}


def _config_for_block(_id: int, rendered_ids: list[int], block: Any, renderable: Any = None) -> dict:
    if renderable is not None or rendered_ids:  # dynamic (gr.render) blocks: not memoised
        return _compute_config(_id, rendered_ids, block, renderable)
    key = (_id, id(block))
    with _lock:
        known = _configs.get(key)
    if known is not None and known[0]() is block:  # the same object, not a reused id
        return _own_copy(known[1])
    config = _compute_config(_id, rendered_ids, block, renderable)
    with _lock:
        if len(_configs) >= _MAX_ENTRIES:
            _configs.clear()
        _configs[key] = (weakref.ref(block), copy.deepcopy(config))
    return config


def _own_copy(config: dict) -> dict:
    """A copy the caller may change as Gradio does: a session assigns a block's value into its
    "props" (state_holder.py), so the top level and "props" are the caller's own; everything
    below them (the API schemas, most of a config's size) is shared and only read."""
    if "props" not in config:
        return dict(config)
    return {**config, "props": dict(config["props"])}


class _ConfigsOnDemand(dict):
    """SessionState.config_values: a block's config is made when the session first reads or
    writes it (Gradio's own `_update_value_in_config` makes a missing one); listing them all,
    as a deep link does, makes the rest, in the page's order."""

    def __init__(self, blocks_config: Any, block_ids: list[int]) -> None:
        super().__init__()
        self._blocks_config = blocks_config
        self._block_ids = block_ids

    def _complete(self) -> None:
        for block_id in self._block_ids:
            if not dict.__contains__(self, block_id):
                block = self._blocks_config.blocks.get(block_id)
                if block is not None:
                    self[block_id] = self._blocks_config.config_for_block(block_id, [], block)
        page_ids = set(self._block_ids)
        ordered = [(key, self[key]) for key in self._block_ids if dict.__contains__(self, key)]
        ordered += [(key, value) for key, value in super().items() if key not in page_ids]
        self.clear()
        self.update(ordered)

    def items(self):  # type: ignore[override]
        self._complete()
        return super().items()

    def values(self):  # type: ignore[override]
        self._complete()
        return super().values()


def _session_state_on_demand(self: SessionState, blocks: Any) -> None:
    # Gradio's own __init__, given no blocks to configure up front.
    _session_state_init(self, SimpleNamespace(default_config=blocks.default_config, blocks={}))
    self.config_values = _ConfigsOnDemand(
        self.blocks_config, [key for key in self.blocks_config.blocks if key in blocks.blocks]
    )


async def _postprocess_present_outputs(
    self: Blocks, block_fn: Any, predictions: Any, state: Any
) -> list[Any]:
    outputs = list(block_fn.outputs)
    if not (
        isinstance(predictions, dict) and predictions and len(outputs) > 1
        and all(isinstance(key, Block) for key in predictions)
        and not block_fn.batch and not block_fn.is_validator_function
    ):
        return await _postprocess_data(self, block_fn, predictions, state)
    given = {key._id: value for key, value in predictions.items()}
    present = [block for block in outputs if block._id in given]
    if len(present) == len(outputs) or not present:
        return await _postprocess_data(self, block_fn, predictions, state)
    only_present = copy.copy(block_fn)
    only_present.outputs = present
    values = [given[block._id] for block in present]
    # Gradio takes a lone output's value bare, not in a list.
    processed = iter(await _postprocess_data(
        self, only_present, values if len(values) > 1 else values[0], state
    ))
    return [next(processed) if block._id in given else dict(_SKIP) for block in outputs]


def skip_interface_stubs() -> None:
    component_meta.create_or_modify_pyi = lambda *args, **kwargs: None


def skip_queue_summary(demo: Any) -> None:
    """For an app launched with enable_monitoring=False, after demo.queue(): the summary feeds
    only the monitoring page, so it is never recomputed (it stays empty)."""
    queue = getattr(demo, "_queue", None)
    if queue is not None:
        queue.ANAYLTICS_CACHE_FREQUENCY = 2**62  # events between two recomputations


def _api_info_per_model(self: Component) -> dict:
    """Component.api_info, a pydantic JSON schema of the component's data model, is cached per
    instance; an update makes a new instance (the Live player shown or hidden), which would
    build the same schema again. It depends on the data model alone, so it is kept per model."""
    model = self.data_model
    if self._api_info_cache is None and model is not None:
        schema = _schemas.get(model)
        if schema is None:
            schema = _schemas.setdefault(model, _component_api_info(self))
        self._api_info_cache = schema
    return _component_api_info(self)


async def _serve_own_cache_files(
    data: Any, block: Any, postprocess: bool = False, check_in_upload_folder: bool = False,
    keep_in_cache: bool = False,
) -> Any:
    if postprocess and getattr(block, "writes_own_cache_files", False) and not keep_in_cache:
        files: list[dict] = []
        client_utils.traverse(data, files.append, client_utils.is_file_obj_with_meta)
        folder = os.path.join(os.path.abspath(block.GRADIO_CACHE), "")
        if files and all(_plainly_inside(file, folder) for file in files):
            for file in files:
                file["url"] = f"{API_PREFIX}/file={client_utils.encode_file_path(file['path'])}"
                block.temp_files.add(file["path"])
            return data
    return await _move_files_to_cache(
        data, block, postprocess=postprocess, check_in_upload_folder=check_in_upload_folder,
        keep_in_cache=keep_in_cache,
    )


def _plainly_inside(file: dict, folder: str) -> bool:
    """An absolute path with no `..`, no dotfile, under `folder`, not a stream or a URL."""
    path = file.get("path")
    return (
        isinstance(path, str) and not file.get("url") and not file.get("is_stream")
        and path == os.path.normpath(path) and path.startswith(folder)
        and not os.path.basename(path).startswith(".")
    )


def install() -> None:
    BlocksConfig.config_for_block = staticmethod(_config_for_block)
    Component.api_info = _api_info_per_model
    processing_utils.async_move_files_to_cache = _serve_own_cache_files
    SessionState.__init__ = _session_state_on_demand
    Blocks.postprocess_data = _postprocess_present_outputs
    if importlib.util.find_spec("matplotlib") is None:
        sys.modules.setdefault("matplotlib", None)  # `import matplotlib` then fails at once
