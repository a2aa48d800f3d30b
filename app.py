"""Chatterbox TTS Playground: `python app.py` serves it; tests import `build_demo()`."""

from __future__ import annotations

import logging

import gradio as gr

from components import gradio_fixes
from components.models import MODELS, Model
from components.playground import Playground
from components.settings import Settings
from components.page import build_ui

THEME = gr.themes.Soft(primary_hue="orange")
# The page, its REST API and, at /gradio_api/mcp/, an MCP server with one tool per model.
LAUNCH_OPTIONS = {"theme": THEME, "mcp_server": True}


gradio_fixes.install()


def build_demo(settings: Settings | None = None, models: tuple[Model, ...] = MODELS) -> gr.Blocks:
    """The whole app, queued; settings default to the environment, models to Segmind's two."""
    settings = settings or Settings.from_env()
    return build_ui(settings, Playground(settings, models))


if __name__ == "__main__":
    # Before the demo is built, so the start-up lines (such as whether Live can stream) show.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

demo = build_demo()

if __name__ == "__main__":
    # Host and port come from GRADIO_SERVER_NAME / GRADIO_SERVER_PORT, read by Gradio itself.
    demo.launch(**LAUNCH_OPTIONS)
