"""Dialogue scenes: a scene's wall time against its slowest line's, in the same run.

A three-voice scene of about three minutes of audio (24 lines; one speaker on Chatterbox Turbo
with a voice URL) is made against the loopback contract server, whose latency model makes a
call take `scale * (8 + 0.12 * characters)` seconds (Segmind's 85-character sample: ~18 s at
scale 1). The floors, measured first in the same run: each line alone as one direct HTTP call
(`requests.post` to the contract server), giving the slowest line and the sum of all lines (what
one line after another would take). Then the scene, cache off, three ways: the Playground
alone (no Gradio), /synthesize_dialogue through raw HTTP (Gradio's REST call and its event
stream), and through gradio_client, which polls. Median of --repeat runs.

    python bench/dialogue.py                   # scale 0.02: an 18 s call takes 0.36 s
    python bench/dialogue.py --concurrency 24  # every line at once

Runs in about 40 s at the defaults.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import requests  # noqa: E402

from bench._common import (  # noqa: E402
    BENCH_KEY,
    app_client,
    bench_settings,
    contract_server,
    markdown_table,
    reset_log,
    served_app,
)
from bench.long_text import SENTENCES  # noqa: E402
from components.playground import FinishedTake, Playground  # noqa: E402
from tests.gradio_http import call_events  # noqa: E402

SPEAKERS = ("Ada", "Bob", "Cy")
LINES = 24
VOICE_URL = "https://example.com/cy.wav"
CAST = {
    "Ada": {"model": "chatterbox", "preset": "theatrical"},
    "Bob": {"model": "chatterbox", "preset": "neutral"},
    "Cy": {"model": "chatterbox-turbo", "reference_audio_url": VOICE_URL},
}


def scene_script() -> str:
    """24 lines in turn, one to three sentences each: about three minutes of simulated speech."""
    lines, sentence = [], 0
    for turn in range(LINES):
        said = []
        for _ in range(1 + turn % 3):
            said.append(SENTENCES[sentence % len(SENTENCES)])
            sentence += 1
        # The sentences come round again after 12 lines: the line's number keeps each line its
        # own call (identical lines in one voice would be one call).
        said.append(f"That was line {turn + 1}.")
        lines.append(f"{SPEAKERS[turn % len(SPEAKERS)]}: {' '.join(said)}")
    return "\n".join(lines)


def line_floors(server, playground: Playground, script: str) -> list[float]:
    """Each line alone as one direct HTTP call, one after another: the floor of each line."""
    from components.dialogue import Scene, parse_cast, parse_script

    lines = parse_script(script, playground.settings.max_text_chars)
    cast = parse_cast(CAST, lines, playground.models, playground.presets)
    scene = Scene.build(lines, cast, {}, 0.35, 42, {}, playground.settings.max_text_chars)
    seconds = []
    with requests.Session() as session:
        for request in scene.requests:
            url = f"{server.url}/{request.model.endpoint}"
            started = time.perf_counter()
            response = session.post(url, json=request.body(request.text),
                                    headers={"x-api-key": BENCH_KEY}, timeout=120)
            response.raise_for_status()
            seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.02)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=None,
                        help="calls in flight per key (default: the app's setting)")
    args = parser.parse_args()
    script = scene_script()
    workdir = tempfile.mkdtemp(prefix="bench-dialogue-")
    with contract_server(args.scale) as server:
        overrides = {"max_concurrency": args.concurrency} if args.concurrency else {}
        settings = bench_settings(server, workdir, **overrides)
        playground = Playground(settings)
        floors = line_floors(server, playground, script)

        direct, audio_seconds, calls = [], 0.0, 0
        for _ in range(args.repeat):
            reset_log(server)
            started = time.perf_counter()
            events = playground.generate_scene(script, CAST, 0.35, 42, "", "bench", live=False)
            take = next(e for e in events if isinstance(e, FinishedTake)).take
            direct.append(time.perf_counter() - started)
            audio_seconds, calls = take.clip.duration, len(server.state.synthesis_requests())
        playground.close()

        raw, polled = [], []
        arguments = {"script": script, "cast": CAST, "turn_gap": 0.35, "seed": 42,
                     "random_seed": False, "api_key": ""}
        with served_app(settings) as url, requests.Session() as session:
            client = app_client(url)
            for _ in range(args.repeat):
                started = time.perf_counter()
                for _event in call_events(session, url.rstrip("/"), "synthesize_dialogue",
                                          list(arguments.values())):
                    pass
                raw.append(time.perf_counter() - started)
                started = time.perf_counter()
                client.predict(**arguments, api_name="/synthesize_dialogue")
                polled.append(time.perf_counter() - started)
            client.close()

    slowest, total = max(floors), sum(floors)
    concurrency = settings.max_concurrency
    print(f"#### A three-voice scene: {LINES} lines, {len(script):,} characters, {calls} calls, "
          f"{audio_seconds:.0f} s of audio (scale {args.scale:g}; concurrency {concurrency}; "
          f"cache off; median of {args.repeat})\n")
    rows = [
        ["slowest line alone (direct HTTP)", f"{slowest:.2f}", "1.00×"],
        ["every line one after another (direct HTTP, sum)", f"{total:.2f}", f"{total / slowest:.2f}×"],
    ]
    for label, values in (("the scene, Playground alone (no Gradio)", direct),
                          ("the scene, /synthesize_dialogue over raw HTTP", raw),
                          ("the scene, /synthesize_dialogue through gradio_client", polled)):
        median = statistics.median(values)
        rows.append([label, f"{median:.2f}", f"{median / slowest:.2f}×"])
    print(markdown_table(["what", "wall (s)", "× slowest line"], rows))
    rounds = -(-LINES // concurrency)
    print(f"\nWith {concurrency} calls in flight, {LINES} lines need at least {rounds} "
          f"round{'s' * (rounds != 1)} of calls; against Segmind, divide the walls by {args.scale:g}.")
    print(json.dumps({"slowest_line": slowest, "lines_sum": total,
                      "scene_direct": statistics.median(direct),
                      "scene_raw_http": statistics.median(raw),
                      "scene_gradio_client": statistics.median(polled)}), file=sys.stderr)


if __name__ == "__main__":
    main()
