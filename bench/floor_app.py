"""The floor bench/overhead.py measures the app against: a bare Gradio app with one endpoint.

gr.Blocks() with a Textbox in, a Textbox out and a button whose click handler echoes the
string (api_name="echo"), queued like the app (demo.queue()). Nothing else: whatever the app
costs beyond this is the app's own. Host and port come from GRADIO_SERVER_NAME and
GRADIO_SERVER_PORT, read by Gradio's launch(), as for `python app.py`.

    python bench/floor_app.py
    python bench/floor_app.py --concurrency-limit 16   # the app's CHATTERBOX_CONCURRENCY_LIMIT
"""

from __future__ import annotations

import argparse

import gradio as gr


def echo(text: str) -> str:
    return text


def build_floor(concurrency_limit: int = 1) -> gr.Blocks:
    with gr.Blocks() as demo:
        text_in = gr.Textbox(label="In")
        text_out = gr.Textbox(label="Out")
        button = gr.Button("Echo")
        button.click(echo, text_in, text_out, api_name="echo")
    demo.queue(default_concurrency_limit=concurrency_limit)
    return demo


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency-limit", type=int, default=1,
                        help="events run at once (Gradio's default: 1)")
    build_floor(parser.parse_args().concurrency_limit).launch()
