"""App overhead: what the playground adds to one Segmind call, and how long it takes to start.

Against the loopback contract server (latency model off by default, so the backend answers at
once), --requests times each of, one after another, with Segmind's sample text and default
voice and parameters (the same JSON body every time):

  (a) direct      requests.Session().post of the JSON body (keep-alive, like the app's client)
  (b) client      SegmindClient.synthesize(body)
  (c) app         gradio_client.Client(...).predict(..., api_name="/synthesize") against the app
                  launched in this process (build_demo(settings).launch(...)), cache off

and reports p50/p95/mean in ms and the app's overhead (c - a) at p50, after --warmup untimed
requests of each. Start-up: `python -c "import app; app.demo.launch(...)"` in a fresh process
(`import app` itself calls build_demo() from the environment), timed from process start to the
first HTTP 200 on `/`, median of --startups.

    python bench/overhead.py
    python bench/overhead.py --requests 100 --scale 0.001

Runs in under a minute at the defaults.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse  # noqa: E402
import contextlib  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import requests  # noqa: E402

from bench._common import (  # noqa: E402
    BENCH_KEY,
    REPO_ROOT,
    SAMPLE_TEXT,
    bench_settings,
    contract_server,
    free_port,
    isolated_environment,
    markdown_table,
    percentile,
    request_body,
    reset_log,
)
from components.parameters import defaults  # noqa: E402
from components.segmind_client import SegmindClient  # noqa: E402
from tests.contract_server import ContractServer  # noqa: E402

STARTUP_CODE = "import app; app.demo.launch(theme=app.THEME, quiet=True)"
STARTUP_TIMEOUT = 120.0


def startup_seconds(api_url: str) -> float:
    """Seconds from starting a fresh Python process to the first HTTP 200 on the page."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="chatterbox-bench-") as workdir, \
            tempfile.TemporaryFile() as log:
        env = isolated_environment(api_url, workdir)
        env.update(GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port))
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-c", STARTUP_CODE], cwd=REPO_ROOT, env=env, stdout=log, stderr=log
        )
        try:
            while time.monotonic() - started < STARTUP_TIMEOUT:
                if process.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"the app exited early:\n{log.read().decode()[-2000:]}")
                try:
                    if requests.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                        return time.monotonic() - started
                except requests.ConnectionError:
                    pass
                time.sleep(0.02)
            raise RuntimeError(f"no HTTP 200 on / within {STARTUP_TIMEOUT:g} s")
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def timed(call: Callable[[], object], count: int, warmup: int) -> list[float]:
    """Milliseconds of each of `count` calls, after `warmup` untimed ones."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def measure_requests(
    server: ContractServer, count: int, warmup: int, workdir: str
) -> dict[str, tuple[list[float], int]]:
    """{label: (milliseconds per request, backend calls made)} for the direct, client and app
    paths; everything the app writes goes under `workdir`."""
    # Before gradio is imported: `import app` builds a demo from the environment, and
    # components.ui makes its take folder in the temp dir.
    os.environ.pop("SEGMIND_API_KEY", None)
    os.environ.update(isolated_environment(server.url, workdir), CHATTERBOX_CACHE="false")
    tempfile.tempdir = workdir
    from gradio_client import Client

    from app import build_demo
    from components.ui import SAMPLE_TEXT as PAGE_TEXT

    assert SAMPLE_TEXT == PAGE_TEXT, "bench/_common.py's SAMPLE_TEXT drifted from the page's"
    body = request_body(SAMPLE_TEXT)
    session = requests.Session()
    settings = bench_settings(server, os.environ["CHATTERBOX_CACHE_DIR"])
    client = SegmindClient.from_settings(settings)
    demo = build_demo(settings)
    demo.launch(prevent_thread_lock=True, quiet=True, server_port=free_port())
    app_client = Client(demo.local_url, verbose=False, download_files=False)
    arguments = {
        "text": SAMPLE_TEXT,
        "reference_audio": None,
        "reference_audio_url": "",
        **defaults(),
        "random_seed": False,
        "api_key": "",
    }

    def direct() -> None:
        response = session.post(server.url, json=body, headers={"x-api-key": BENCH_KEY})
        response.raise_for_status()

    def through_client() -> None:
        client.synthesize(body, BENCH_KEY)

    def through_app() -> None:
        path, details, *_ = app_client.predict(**arguments, api_name="/synthesize")
        if not path or "1 call" not in details:
            raise RuntimeError(f"unexpected answer from the app: {details!r}")

    results = {}
    try:
        for label, call in (
            ("(a) direct requests.post (Session)", direct),
            ("(b) SegmindClient.synthesize", through_client),
            ("(c) app via gradio_client", through_app),
        ):
            reset_log(server)
            times = timed(call, count, warmup)
            results[label] = (times, len(server.state.synthesis_requests()) - warmup)
    finally:
        app_client.close()
        with contextlib.redirect_stdout(sys.stderr):  # Gradio prints "Closing server ..."
            demo.close()
        client.close()
        session.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30, help="timed requests per path (30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests per path (3)")
    parser.add_argument("--scale", type=float, default=0.0,
                        help="latency model scale (0: the backend answers at once)")
    parser.add_argument("--startups", type=int, default=3, help="fresh-process starts (3)")
    args = parser.parse_args()

    workspace = tempfile.TemporaryDirectory(prefix="chatterbox-bench-", ignore_cleanup_errors=True)
    with contract_server(args.scale) as server, workspace as workdir:
        startups = [startup_seconds(server.url) for _ in range(args.startups)]
        results = measure_requests(server, args.requests, args.warmup, workdir)

    rows = [
        [label, f"{percentile(times, 0.5):.1f}", f"{percentile(times, 0.95):.1f}",
         f"{statistics.fmean(times):.1f}", calls]
        for label, (times, calls) in results.items()
    ]
    p50 = {label: percentile(times, 0.5) for label, (times, _) in results.items()}
    direct, client, app = p50.values()
    print(f"## App overhead per request ({args.requests} requests each after {args.warmup} "
          f"warm-up, latency scale {args.scale:g}, cache off)\n")
    print(markdown_table(["path", "p50 (ms)", "p95 (ms)", "mean (ms)", "backend calls"], rows))
    print(f"\nApp overhead (c − a) at p50: **{app - direct:.1f} ms**; "
          f"client overhead (b − a) at p50: {round(client - direct, 1) + 0.0:.1f} ms.\n")
    runs = f"{args.startups} run{'s' * (args.startups != 1)}"
    print(f"## Start-up (fresh process to first HTTP 200 on /, {runs})\n")
    print(markdown_table(
        ["measure", "median (s)", "min (s)", "max (s)"],
        [[f"`python -c \"{STARTUP_CODE}\"`", f"{statistics.median(startups):.2f}",
          f"{min(startups):.2f}", f"{max(startups):.2f}"]],
    ))


if __name__ == "__main__":
    main()
