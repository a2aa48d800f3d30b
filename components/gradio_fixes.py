"""Per-request work Gradio 6.31 repeats for nothing; installed once, before the app is built.

Every raw API call (`/gradio_api/call/...`, gradio_client, MCP) gets a new session, and a new
session builds the config of every block on the page, calling `get_config()` (an
`inspect.signature` per call) and `api_info()` (a pydantic JSON schema per call) for each. On
this page that is about 8 ms of CPU per request, most of the app's overhead over a bare Gradio
app. The config of a block is a pure function of the block, so it is computed once per block
object and copied after that. A block that is replaced (a session's update makes a new object)
misses and is computed afresh, exactly as before.

A block that an update replaces also rebuilds its API schema, which depends on its data model
alone; it is kept per model.

The queue also rebuilds a pandas summary of every event it has run (up to 10,000) after each
event, for the monitoring page: a per-request cost that grows with the app's uptime. The app
launches without that page, and `skip_queue_summary` stops the summary.

The version is pinned in requirements.txt; the app, MCP and browser tests all run through it.
"""

from __future__ import annotations

import copy
import threading
import weakref
from typing import Any

from gradio.blocks import BlocksConfig
from gradio.components.base import Component

_MAX_ENTRIES = 4096
_configs: dict[tuple[int, int], tuple[weakref.ref, dict]] = {}
_lock = threading.Lock()
_compute_config = BlocksConfig.config_for_block
_component_api_info = Component.api_info
_schemas: dict[type, dict] = {}


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


def install() -> None:
    BlocksConfig.config_for_block = staticmethod(_config_for_block)
    Component.api_info = _api_info_per_model
