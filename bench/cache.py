"""Cache: what replaying takes costs — miss and hit latency, hit rate, calls and credits saved.

Against the loopback contract server (127.0.0.1), whose latency model makes a call take
`scale * (8 + 0.12 * characters)` s (Segmind's 85-character sample: ~18 s at scale 1, 0.36 s
at the default --scale 0.02), with the clip cache on. A demo script of 10 distinct lines, like
Segmind's sample (one of them long enough for 4 chunks at chunk_chars=300), is played --passes
times (5), each pass in a fixed shuffled order, through each of:

  app     gradio_client.Client.predict(..., api_name="/synthesize") against build_demo(settings)
          served on 127.0.0.1 in this process; the take is downloaded, as a caller gets it
  direct  Playground(settings).generate(...) run to its FinishedTake (components/playground.py)

each with a cache of its own in a temp dir, so each starts cold (after one untimed warm-up
line). A request that makes no backend call (the contract server's log) is a hit; the first
play of each line is a miss. Every clip is checked to speak its own line (tone-burst pitches).
Reported per path: miss p50, hit p50/p99/max, hit rate, backend calls against requests and
against calls without a cache, credits saved at the app's cost_per_call ($0.02), and PASS/MISS
for the issue's target "a hit well under half a second" at p99.

Partial change: a 5-chunk passage (one chunk per paragraph) is played, then played again with
one sentence edited: the edited passage should cost 1 call, the other 4 chunks coming from
the cache.

    python bench/cache.py
    python bench/cache.py --passes 10 --scale 0.05

Runs in about 35 s at the defaults.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from bench._common import (  # noqa: E402
    SAMPLE_TEXT,
    app_client,
    bench_settings,
    clip_mismatch,
    contract_server,
    enter_app_environment,
    markdown_table,
    ms,
    percentile,
    reset_log,
    served_app,
    speech_mismatch,
    synthesize_arguments,
)
from components.models import CHATTERBOX  # noqa: E402
from components.playground import FinishedTake, Playground  # noqa: E402
from components.settings import Settings  # noqa: E402
from components.synthesis import Voice  # noqa: E402
from tests.contract_server import ContractServer, modelled_latency  # noqa: E402

HIT_TARGET_SECONDS = 0.5
SEED = int(CHATTERBOX.defaults()["seed"])
ORDER_SEED = 20240611  # fixes the shuffled order of every pass
WARM_UP_TEXT = "A warm-up line that is never timed."
DEMO_SCRIPT = (
    SAMPLE_TEXT,
    "Good evening, and thank you for joining us tonight for a live broadcast from the harbour.",
    "Our next guest has sailed around the world twice, and still gets seasick in the bath.",
    "Please keep your hands inside the vehicle until the ride comes to a complete stop.",
    "The quarterly numbers are in, and for once the news is better than anyone expected.",
    "Press one for opening hours, press two to speak to someone, or stay on the line.",
    "Breaking news: the city council has voted to paint every bridge in town bright orange.",
    "Thank you for listening. If you enjoyed this episode, tell a friend about the show.",
    "Once upon a time, in a village at the edge of a very old forest, there lived a "
    "clockmaker who never slept. Every night, while the village dreamed, he sat at his bench "
    "and listened to the ticking of a hundred clocks, each one a little out of step with the "
    "others. The villagers said he was mad, but they brought him their broken watches all the "
    "same, and he mended every one of them for the price of a story. Over the years he "
    "collected thousands of stories: of first loves and last letters, of storms at sea and "
    "harvests that failed, of children who ran away and came home taller. He wrote them all "
    "down in a great green ledger, and when the ledger was full, he began to build a clock "
    "that could tell them back, one story for every hour of the night.",
    "And that is all for today. Stay curious, stay kind, and we will see you next week.",
)
PASSAGE = (
    "Chapter three: the lighthouse.",
    "The keeper climbed the spiral stairs every evening at dusk, counting the steps as her "
    "grandfather had taught her. There were one hundred and twelve, and she had never once "
    "lost count, not even in the worst of the winter storms.",
    "From the gallery she could see the whole bay: the fishing boats coming home, the gulls "
    "settling on the breakwater, and the grey line of the far shore where the mountains met "
    "the sea. On clear nights the stars seemed to float on the water.",
    "The supply boat came on Thursdays, weather permitting, with letters, flour and news from "
    "the mainland. Sometimes it did not come for weeks, and the news, when it finally arrived, "
    "was already old.",
    "Years later an automatic lamp replaced her, and the tower fell silent at last. Still, on "
    "clear nights, people in the village swear they can see a figure on the gallery, waving "
    "at the ships as they pass.",
)
EDIT = ("the grey line of the far shore", "the silver line of the distant shore")


@dataclass(frozen=True)
class Played:
    line: int
    seconds: float
    calls: int
    chunks: int
    mismatch: str | None


# Speaks a text and returns a check of the clip, run after the timing: what is wrong, or None.
Take = Callable[[str], Callable[[], str | None]]


def script_order(lines: int, passes: int) -> list[int]:
    """Line numbers of `passes` passes over the script, each pass shuffled (fixed seed)."""
    rng = random.Random(ORDER_SEED)
    order: list[int] = []
    for _ in range(passes):
        this_pass = list(range(lines))
        rng.shuffle(this_pass)
        order += this_pass
    return order


def calls_made(server: ContractServer) -> int:
    return len(server.state.synthesis_requests())


def play(server: ContractServer, take: Take, text: str) -> tuple[float, int, str | None]:
    """Seconds, backend calls and what was wrong with the clip, for one take of `text`."""
    before = calls_made(server)
    started = time.monotonic()
    check = take(text)
    seconds = time.monotonic() - started
    return seconds, calls_made(server) - before, check()


def play_script(server: ContractServer, take: Take, chunks: list[int], passes: int) -> list[Played]:
    take(WARM_UP_TEXT)  # the first request pays for imports and connections, not for misses
    reset_log(server)
    played = []
    for line in script_order(len(DEMO_SCRIPT), passes):
        seconds, calls, mismatch = play(server, take, DEMO_SCRIPT[line])
        played.append(Played(line, seconds, calls, chunks[line], mismatch))
    return played


def partial_change(server: ContractServer, take: Take) -> tuple[int, int, float]:
    """Calls for the passage, calls and seconds for the passage with one sentence edited."""
    original = "\n\n".join(PASSAGE)
    _, first_calls, _ = play(server, take, original)
    seconds, edited_calls, _ = play(server, take, original.replace(*EDIT))
    return first_calls, edited_calls, seconds


@contextmanager
def app_take(settings: Settings, downloads: str) -> Iterator[Take]:
    """A take through gradio_client against the app served in this process."""
    with served_app(settings) as url:
        client = app_client(url, downloads)

        def take(text: str) -> Callable[[], str | None]:
            path, *_ = client.predict(**synthesize_arguments(text), api_name="/synthesize")
            return lambda: clip_mismatch(path, text, SEED)

        try:
            yield take
        finally:
            client.close()


@contextmanager
def direct_take(playground: Playground) -> Iterator[Take]:
    """A take through Playground.generate, no Gradio; the playground is closed on exit."""

    def take(text: str) -> Callable[[], str | None]:
        for event in playground.generate(CHATTERBOX, text, CHATTERBOX.defaults(), Voice(), "", "bench"):
            if isinstance(event, FinishedTake):
                clip = event.take.clip
                return lambda: speech_mismatch(clip.samples, clip.sample_rate, text, SEED)
        raise AssertionError("generate() ended without a FinishedTake")

    try:
        yield take
    finally:
        playground.close()


def summary(played: list[Played], cost_per_call: float) -> dict[str, str]:
    misses = [p for p in played if p.calls]
    hits = [p for p in played if not p.calls]
    calls = sum(p.calls for p in played)
    without_cache = sum(p.chunks for p in played)
    hit_p99 = percentile([p.seconds for p in hits], 0.99) if hits else float("inf")
    verdict = "PASS" if hit_p99 < HIT_TARGET_SECONDS else "MISS"
    saved, full_price = (without_cache - calls) * cost_per_call, without_cache * cost_per_call
    return {
        "requests": str(len(played)),
        "misses / hits": f"{len(misses)} / {len(hits)}",
        "hit rate (hits / requests)": f"{len(hits) / len(played):.0%}",
        "backend calls / requests": f"{calls} / {len(played)}",
        "backend calls without a cache": str(without_cache),
        f"credits saved (at ${cost_per_call:g} a call)": f"${saved:.2f} of ${full_price:.2f}",
        "miss latency p50, first play of each line (ms)": ms([p.seconds for p in misses], 0.5),
        "hit latency p50 (ms)": ms([p.seconds for p in hits], 0.5),
        "hit latency p99 (ms)": ms([p.seconds for p in hits], 0.99),
        "hit latency max (ms)": ms([p.seconds for p in hits], 1.0),
        "hit latency p50 / max by chunks in the take (ms)": " · ".join(
            f"{size}: {ms(group, 0.5)} / {ms(group, 1.0)}"
            for size in sorted({p.chunks for p in hits})
            for group in [[p.seconds for p in hits if p.chunks == size]]
        ),
        f"hit < {HIT_TARGET_SECONDS:g} s at p99": f"**{verdict}**",
        "clips not speaking their own line": f"{sum(p.mismatch is not None for p in played)}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.02, help="latency model scale (0.02)")
    parser.add_argument("--passes", type=int, default=5, help="plays of the whole script (5)")
    args = parser.parse_args()

    workspace = tempfile.TemporaryDirectory(prefix="chatterbox-bench-", ignore_cleanup_errors=True)
    with workspace as workdir, contract_server(args.scale) as server:
        enter_app_environment(server.url, workdir)

        def settings(path: str) -> Settings:
            return bench_settings(server, os.path.join(workdir, f"cache-{path}"),
                                  cache_enabled=True)

        playground = Playground(settings("direct"))
        planner = playground.synthesizer  # how the app splits text into calls
        chunks = [len(planner.plan(line)) for line in DEMO_SCRIPT]
        passage = "\n\n".join(PASSAGE)
        original_chunks = [c.spoken for c in planner.plan(passage)]
        edited_chunks = [c.spoken for c in planner.plan(passage.replace(*EDIT))]
        changed = sum(chunk not in original_chunks for chunk in edited_chunks)

        results = {}
        for path, take_context in (
            ("app (gradio_client)", app_take(settings("app"), os.path.join(workdir, "downloads"))),
            ("direct (Playground.generate)", direct_take(playground)),
        ):
            with take_context as take:
                played = play_script(server, take, chunks, args.passes)
                results[path] = (played, partial_change(server, take))

    cost = CHATTERBOX.cost_per_call
    summaries = {path: summary(played, cost) for path, (played, _) in results.items()}
    print(f"## Cache: a {len(DEMO_SCRIPT)}-line demo script played {args.passes} times "
          f"(scale {args.scale:g}: the 85-character sample's call takes "
          f"{modelled_latency(SAMPLE_TEXT, args.scale):.2f} s; lines of "
          f"{min(map(len, DEMO_SCRIPT))}–{max(map(len, DEMO_SCRIPT))} characters, "
          f"{sum(chunks)} chunks in all, the longest {max(chunks)})\n")
    measures = list(next(iter(summaries.values())))
    print(markdown_table(
        ["measure", *summaries],
        [[measure, *(values[measure] for values in summaries.values())] for measure in measures],
    ))
    print("\nA hit is a request that made no backend call; every pass plays the "
          f"{len(DEMO_SCRIPT)} lines in a fixed shuffled order (seed {ORDER_SEED}). Credits saved = (calls without a cache − "
          "calls made) × cost per call.\n")

    print(f"## Partial change: a {len(original_chunks)}-chunk passage ({len(passage):,} "
          f"characters), then the same with one sentence edited ({changed} chunk changed)\n")
    print(markdown_table(
        ["path", "calls for the passage", "calls for the edited passage (expect 1)",
         "edited take (ms)"],
        [[path, first, edited, f"{seconds * 1000:.0f}"]
         for path, (_, (first, edited, seconds)) in results.items()],
    ))


if __name__ == "__main__":
    main()
