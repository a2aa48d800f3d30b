"""Long text: wall time and time to first audio of a take, chunks concurrent vs one after another.

For passages of 1, 5, 20 and 50 chunks (deterministic English text, chunk_chars=300), a
Synthesizer over a real SegmindClient talks to the loopback contract server, whose latency
model makes a call take `scale * (8 + 0.12 * characters)` seconds (Segmind's 85-character
sample: ~18 s at scale 1). Each passage is synthesized with max_concurrency=--concurrency and
with max_concurrency=1; calls and the peak of requests in flight come from the server's log.
Then the issue's targets, at 10 chunks and concurrency 10 (median of --repeat runs):
wall <= 1.5x one call of the longest chunk, first audio <= 1.2x one call of the first chunk.

    python bench/long_text.py                      # scale 0.02: an 18 s call takes 0.36 s
    python bench/long_text.py --scale 0.05 --concurrency 4 --sizes 1 5 20

"Real" columns divide by the scale: what the same take would take against Segmind's latency.
The cache is off, so every chunk is a call. Runs in about 75 s at the defaults.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from bench._common import (  # noqa: E402
    BENCH_KEY,
    SAMPLE_TEXT,
    bench_settings,
    contract_server,
    markdown_table,
    reset_log,
)
from components.models import CHATTERBOX  # noqa: E402
from components.chunking import chunk_text  # noqa: E402
from components.segmind_client import SegmindClient  # noqa: E402
from components.synthesis import ChunkAudio, Synthesizer, Take, TakeRequest, Voice  # noqa: E402
from tests.contract_server import ContractServer, modelled_latency  # noqa: E402

CHUNK_CHARS = 300
TARGET_CHUNKS = 10
TARGET_CONCURRENCY = 10
WALL_TARGET = 1.5  # x one call of the longest chunk
FIRST_AUDIO_TARGET = 1.2  # x one call of the first chunk

SENTENCES = (
    "The lighthouse keeper climbed the spiral stairs every evening at dusk.",
    "Nobody in the village could remember a night when the lamp had failed.",
    "She kept a logbook of passing ships, their flags, and the weather they brought with them.",
    "On calm nights the sea was so still that the stars seemed to float on its surface.",
    "Storms were another matter entirely.",
    "When the wind rose above forty knots, the windows hummed like the strings of an old cello, "
    "and the whole tower swayed ever so slightly.",
    "Her grandfather had built the first wooden beacon on this rock in eighteen sixty-two.",
    "It burned whale oil, then kerosene, and finally electricity brought over by a cable laid "
    "along the seabed.",
    "Each change arrived late, and each was greeted with suspicion.",
    "Fishermen trusted the light more than any chart, and perhaps more than each other.",
    "In spring, migrating birds rested on the gallery rail before the long crossing north.",
    "She counted them, named a few, and fed the tired ones with crumbs from her supper.",
    "Why would anyone choose such a lonely life, the visitors always asked?",
    "She never answered directly; instead she pointed at the horizon and let them look.",
    "The supply boat came on Thursdays, weather permitting, with letters, flour, and news.",
    "Sometimes it did not come for weeks, and the news, when it finally arrived, was already old.",
    "Winter evenings were for mending nets, reading, and listening to the radio crackle.",
    "A station on the mainland played music until midnight, then read the shipping forecast.",
    "Fog was the enemy she feared most, quieter than any storm and far more dangerous.",
    "When it rolled in, she sounded the horn every thirty seconds until dawn broke through.",
    "Years later, an automatic lamp replaced her, and the tower fell silent at last.",
    "Still, on clear nights, people in the village swear they can see a figure on the gallery.",
    "Whether it is a ghost, a memory, or only a trick of the moonlight, no one can say for sure.",
    "What they do agree on is that the ships, somehow, still find their way home.",
)


def story(fits: Callable[[str], bool]) -> str:
    """The longest text built from SENTENCES (in a fixed, shuffled-looking order, a paragraph
    break every eighth sentence) for which `fits(text)` holds.

    Each round through SENTENCES is a new night of the story, so no two chunks are the same
    (the app would make one call for identical chunks, which would flatter the numbers)."""
    text, candidate, index = "", "", 0
    while True:
        night = index // len(SENTENCES)
        sentence = SENTENCES[(index * 7) % len(SENTENCES)]
        if night:
            sentence = f"On night {night + 1}, {sentence[0].lower()}{sentence[1:]}"
        separator = "" if not candidate else ("\n\n" if index % 8 == 0 else " ")
        candidate += separator + sentence
        if not fits(candidate):
            return text
        text, index = candidate, index + 1


def passage(chunks: int, synthesizer: Synthesizer) -> str:
    """story() as long as Synthesizer.plan splits into at most `chunks` chunks."""
    return story(lambda text: len(synthesizer.plan(text)) <= chunks)


@dataclass(frozen=True)
class Run:
    chunks: int
    wall: float
    first_audio: float
    calls: int
    peak_in_flight: int


def run(server: ContractServer, synthesizer: Synthesizer, text: str) -> Run:
    """One take, timed from the call to stream() to its first ChunkAudio and to its Take."""
    request = TakeRequest.build(CHATTERBOX, text, CHATTERBOX.defaults(), Voice(), max_chars=len(text))
    reset_log(server)
    first_audio = None
    started = time.monotonic()
    for event in synthesizer.stream(request, BENCH_KEY):
        if isinstance(event, ChunkAudio) and first_audio is None:
            first_audio = time.monotonic() - started
        elif isinstance(event, Take):
            wall = time.monotonic() - started
            return Run(
                event.chunks,
                wall,
                first_audio if first_audio is not None else wall,
                len(server.state.synthesis_requests()),
                server.state.peak_in_flight,
            )
    raise AssertionError("stream() ended without a Take")


def median_run(server: ContractServer, synthesizer: Synthesizer, text: str, repeat: int) -> Run:
    runs = [run(server, synthesizer, text) for _ in range(repeat)]
    return Run(
        runs[0].chunks,
        statistics.median(r.wall for r in runs),
        statistics.median(r.first_audio for r in runs),
        runs[0].calls,
        max(r.peak_in_flight for r in runs),
    )


def seconds(value: float, scale: float) -> tuple[str, str]:
    """A measured time and its real-time equivalent (measured / scale)."""
    real = f"≈ {value / scale:.1f} s" if scale > 0 else "—"
    return f"{value:.3f}", real


def verdict(ratio: float, target: float) -> str:
    return f"{'PASS' if ratio <= target else 'MISS'}: {ratio:.2f}× (target ≤ {target}×)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.02, help="latency model scale (0.02)")
    parser.add_argument("--concurrency", type=int, default=8, help="max_concurrency (8)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 5, 20, 50],
                        help="passage sizes in chunks (1 5 20 50)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per target measurement, median reported (3)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="chatterbox-bench-") as cache_dir, \
            contract_server(args.scale) as server:
        settings = bench_settings(server, cache_dir)
        client = SegmindClient.from_settings(settings)

        def synthesizer(concurrency: int) -> Synthesizer:
            return Synthesizer(client, None, chunk_chars=CHUNK_CHARS, max_concurrency=concurrency)

        try:
            run(server, synthesizer(1), SENTENCES[0])  # warm-up: connection pool, first decode
            rows = []
            for size in args.sizes:
                text = passage(size, synthesizer(1))
                concurrent = run(server, synthesizer(args.concurrency), text)
                sequential = run(server, synthesizer(1), text)
                speed_up = f"{sequential.wall / concurrent.wall:.2f}×"
                for mode, measured, concurrency, gain in (
                    ("concurrent", concurrent, args.concurrency, speed_up),
                    ("sequential", sequential, 1, ""),
                ):
                    rows.append([
                        measured.chunks, f"{len(text):,}", mode, concurrency,
                        measured.calls, measured.peak_in_flight,
                        *seconds(measured.wall, args.scale),
                        *seconds(measured.first_audio, args.scale), gain,
                    ])

            text = passage(TARGET_CHUNKS, synthesizer(1))
            plan = synthesizer(1).plan(text)
            longest = max((chunk.spoken for chunk in plan), key=len)
            first = plan[0].spoken
            take = median_run(server, synthesizer(TARGET_CONCURRENCY), text, args.repeat)
            one_longest = median_run(server, synthesizer(1), longest, args.repeat)
            one_first = median_run(server, synthesizer(1), first, args.repeat)
        finally:
            client.close()

    sample_call = modelled_latency(SAMPLE_TEXT, 1.0)
    print(f"## Long text: concurrent vs sequential chunks (scale {args.scale:g}: Segmind's "
          f"{sample_call:.1f} s sample call takes {sample_call * args.scale:.3f} s)\n")
    print(markdown_table(
        ["chunks", "chars", "mode", "max_concurrency", "calls", "peak in flight",
         "wall (s)", "wall real", "first audio (s)", "first audio real", "speed-up"],
        rows,
    ))
    real = f"Real = measured / {args.scale:g}. " if args.scale > 0 else ""
    print(f"\nSpeed-up = sequential wall / concurrent wall. {real}chunk_chars={CHUNK_CHARS}, "
          "cache off. Text over the app's 5,000-character limit is measured on the "
          "Synthesizer directly (the page would refuse it).\n")

    print(f"## Targets: {take.chunks} chunks ({len(text):,} chars) at concurrency "
          f"{TARGET_CONCURRENCY}, median of {args.repeat}\n")
    print(markdown_table(
        ["measure", "take (s)", "take real", "one call (s)", "one call real", "target"],
        [
            ["wall vs one call of the longest chunk "
             f"({len(longest)} chars; peak in flight {take.peak_in_flight})",
             *seconds(take.wall, args.scale), *seconds(one_longest.wall, args.scale),
             verdict(take.wall / one_longest.wall, WALL_TARGET)],
            [f"first audio vs one call of the first chunk ({len(first)} chars)",
             *seconds(take.first_audio, args.scale), *seconds(one_first.wall, args.scale),
             verdict(take.first_audio / one_first.wall, FIRST_AUDIO_TARGET)],
        ],
    ))
    print("\nOne call = Synthesizer.stream() of that chunk's text alone: one HTTP call plus "
          "decoding, like every chunk of the take.")

    print("\n## Chunking 100,000 characters (chunk_text, median of 5)\n")
    print(markdown_table(["text", "chunks", "ms"], chunking_speed()))


def chunking_speed() -> list[list[object]]:
    """chunk_text's own cost, far below one call's; measured here, not asserted in a test."""
    prose = " ".join(SENTENCES)
    texts = {
        "prose": (prose + "\n\n") * (100_000 // len(prose) + 1),
        "one sentence, no punctuation": "word " * 20_000,
        "a sentence every 3 characters": "a. " * 34_000,
    }
    rows = []
    for name, text in texts.items():
        text = text[:100_000]
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            chunks = chunk_text(text, CHUNK_CHARS)
            timings.append(time.perf_counter() - started)
        rows.append([name, f"{len(chunks):,}", f"{statistics.median(timings) * 1000:.0f}"])
    return rows


if __name__ == "__main__":
    main()
