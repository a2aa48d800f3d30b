"""Per-request work Gradio 6.31 repeats for nothing; installed once, before the app is built.

Every raw API call (`/gradio_api/call/...`, gradio_client, MCP) gets a new session, and a new
session builds the config of every block on the page, calling `get_config()` (an
`inspect.signature` per call) and `api_info()` (a pydantic JSON schema per call) for each. On
this page that is about 8 ms of CPU per request, most of the app's overhead over a bare Gradio
app. The config of a block is a pure function of the block, so it is computed once per block
object and copied after that (about 2 ms for the page). A block that is replaced (a session's
update makes a new object) misses and is computed afresh, exactly as before.

The version is pinned in requirements.txt; the app, MCP and browser tests all run through it.
"""

from __future__ import annotations

import copy
import threading
import weakref
from typing import Any

from gradio.blocks import BlocksConfig

_MAX_ENTRIES = 4096
_configs: dict[tuple[int, int], tuple[weakref.ref, dict]] = {}
_lock = threading.Lock()
_compute_config = BlocksConfig.config_for_block


def _config_for_block(_id: int, rendered_ids: list[int], block: Any, renderable: Any = None) -> dict:
    if renderable is not None or rendered_ids:  # dynamic (gr.render) blocks: not memoised
        return _compute_config(_id, rendered_ids, block, renderable)
    key = (_id, id(block))
    with _lock:
        known = _configs.get(key)
    if known is not None and known[0]() is block:  # the same object, not a reused id
        return copy.deepcopy(known[1])
    config = _compute_config(_id, rendered_ids, block, renderable)
    with _lock:
        if len(_configs) >= _MAX_ENTRIES:
            _configs.clear()
        _configs[key] = (weakref.ref(block), copy.deepcopy(config))
    return config


def install() -> None:
    BlocksConfig.config_for_block = staticmethod(_config_for_block)
