"""Chatterbox TTS Playground: `python app.py` serves it; tests import `build_demo()`."""

from __future__ import annotations

import logging

import gradio as gr

from components.playground import Playground
from components.settings import Settings
from components.ui import build_ui

THEME = gr.themes.Soft(primary_hue="orange")


def build_demo(settings: Settings | None = None) -> gr.Blocks:
    """The whole app, queued; settings default to the environment."""
    settings = settings or Settings.from_env()
    playground = Playground(settings)
    demo = build_ui(settings, playground)
    # Generate mostly waits on HTTP, so many can run at once; the queue bounds the rest.
    demo.queue(max_size=settings.queue_max_size, default_concurrency_limit=settings.concurrency_limit)
    return demo


demo = build_demo()

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # Host and port come from GRADIO_SERVER_NAME / GRADIO_SERVER_PORT, read by Gradio itself.
    demo.launch(theme=THEME)
