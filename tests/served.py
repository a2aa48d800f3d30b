"""A Gradio app on a free loopback port, in a subprocess of its own, as `python app.py` runs:
for the tests that start the app as a newcomer does, and for the benchmarks.

Nothing here imports gradio: the processes it starts do.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent


# No analytics, no telemetry, no Hugging Face Hub traffic: for every process a test or
# benchmark runs.
NO_TELEMETRY = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}


def isolated_environment(api_url: str, workdir: str) -> dict[str, str]:
    """os.environ for an app that talks only to `api_url` and writes only under `workdir`:
    no developer's key, no analytics, the cache, Gradio's files and temp files in `workdir`."""
    env = {name: value for name, value in os.environ.items() if name != "SEGMIND_API_KEY"}
    env.update(
        NO_TELEMETRY,
        SEGMIND_API_BASE=api_url,
        CHATTERBOX_CACHE_DIR=os.path.join(workdir, "cache"),
        GRADIO_TEMP_DIR=os.path.join(workdir, "gradio"),
        TMPDIR=workdir,
    )
    return env



def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]



@dataclass(frozen=True)
class ServedProcess:
    """A Gradio app serving from a subprocess of its own (see served_process)."""

    process: subprocess.Popen
    url: str  # http://127.0.0.1:<port>, no trailing slash
    log_path: str  # its stdout and stderr
    startup_seconds: float  # from starting the process to the first HTTP 200 on `/`

    def log(self) -> str:
        return Path(self.log_path).read_text(errors="replace")

    def log_tail(self, chars: int = 3000) -> str:
        return self.log()[-chars:]


@contextmanager
def served_process(
    command: Sequence[str], api_url: str, timeout: float = 120.0, **environment: str
) -> Iterator[ServedProcess]:
    """Run `command` (e.g. [sys.executable, "app.py"]) from the repository root, serving on
    127.0.0.1 at a free port (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT, which Gradio's launch()
    reads), in isolated_environment(api_url, <a fresh temp dir>) plus `environment`; yield once
    `/` answers 200. The process is ended and the temp dir removed on exit, whatever happens."""
    workspace = tempfile.TemporaryDirectory(prefix="chatterbox-bench-", ignore_cleanup_errors=True)
    with workspace as workdir:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = isolated_environment(api_url, workdir)
        env.update(environment, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port))
        log_path = os.path.join(workdir, "server.log")
        with open(log_path, "wb") as log:
            started = time.monotonic()
            process = subprocess.Popen(
                list(command), cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # a process group of its own, ended whole
            )
        try:
            startup = _wait_for_page(process, url, started, timeout, log_path)
            yield ServedProcess(process, url, log_path, startup)
        finally:
            _end_process_group(process)


def _end_process_group(process: subprocess.Popen) -> None:
    """SIGTERM to the process's group, 10 s to exit, then SIGKILL to whatever is left of the
    group (a child such as an ffmpeg it started)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _wait_for_page(
    process: subprocess.Popen, url: str, started: float, timeout: float, log_path: str
) -> float:
    """Seconds from `started` to the first HTTP 200 on `url`/, polled every 20 ms."""
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            log = Path(log_path).read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{process.args} exited early (code {process.returncode}):\n{log}")
        try:
            if requests.get(f"{url}/", timeout=1).status_code == 200:
                return time.monotonic() - started
        except requests.RequestException:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"{process.args}: no HTTP 200 on / within {timeout:g} s")
