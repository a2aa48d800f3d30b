"""The per-request shortcuts in components/gradio_fixes.py give what Gradio's own code gives."""

from __future__ import annotations

import os

import pytest
from gradio.state_holder import SessionState

from components import gradio_fixes

gradio_fixes.install()  # as app.py does (idempotent)


@pytest.fixture
def demo(settings):
    from app import build_demo

    return build_demo(settings)


def eager_session(demo) -> SessionState:
    """A session as Gradio 6.31 makes it, every block's config up front."""
    session = SessionState.__new__(SessionState)
    gradio_fixes._session_state_init(session, demo)
    return session


def test_a_sessions_configs_made_on_demand_list_as_gradios_do(demo):
    assert SessionState.__init__ is gradio_fixes._session_state_on_demand
    lazy, eager = SessionState(demo), eager_session(demo)
    assert dict.__len__(lazy.config_values) == 0  # nothing made yet
    some_block = next(iter(demo.blocks))
    for session in (lazy, eager):
        session._update_value_in_config(some_block, "a value")
    assert list(lazy.components) == list(eager.components)
    assert len(list(lazy.components)) > 200
    assert any(c.get("props", {}).get("value") == "a value" for c in lazy.components)


def test_only_plain_paths_inside_the_cache_skip_gradios_file_checks(tmp_path):
    folder = os.path.join(str(tmp_path), "")

    def file(path: str, **extra) -> dict:
        return {"path": path, "meta": {"_type": "gradio.FileData"}, **extra}

    inside = os.path.join(folder, "ab12", "take.wav")
    assert gradio_fixes._plainly_inside(file(inside), folder)
    for outside in (
        file("/etc/passwd"),
        file(os.path.join(folder, "..", "secret.wav")),  # climbs out
        file(os.path.join(folder, "ab12", ".env")),  # a dotfile
        file("relative/take.wav"),
        file(str(tmp_path) + "-sibling/take.wav"),  # shares the folder's name as a prefix
        file(inside, url="http://example.com/take.wav"),
        file(inside, is_stream=True),
    ):
        assert not gradio_fixes._plainly_inside(outside, folder), outside


@pytest.mark.parametrize("given", [["text"], ["text", "number"]])
def test_outputs_left_out_of_a_dict_are_skipped_without_being_rebuilt(given):
    import asyncio

    import gradio as gr

    with gr.Blocks() as blocks:
        outputs = {"text": gr.Textbox(), "number": gr.Number(), "audio": gr.Audio()}
        button = gr.Button()
        button.click(lambda: None, None, list(outputs.values()))
    block_fn = blocks.fns[0]
    values = {"text": "hello", "number": 3}
    predictions = {outputs[name]: values[name] for name in given}
    session = SessionState(blocks)
    built = []
    original_init = gr.Audio.__init__

    def counting_init(self, *args, **kwargs):
        built.append(self)
        original_init(self, *args, **kwargs)

    gr.Audio.__init__ = counting_init
    try:
        processed = asyncio.run(blocks.postprocess_data(block_fn, predictions, session))
    finally:
        gr.Audio.__init__ = original_init
    expected = [values[name] if name in given else {"__type__": "update"} for name in outputs]
    assert processed == expected
    assert built == []  # the left-out player is not rebuilt
