"""Shared fixtures: the loopback contract server, settings pointing at it, and a launched app."""

from __future__ import annotations

import os
import tempfile

# Before gradio or app is imported: no real key from the developer's shell ever reaches a
# test, nothing is written to the real cache, and Gradio's files stay in a temp folder.
os.environ.pop("SEGMIND_API_KEY", None)
os.environ["CHATTERBOX_CACHE_DIR"] = tempfile.mkdtemp(prefix="chatterbox-test-cache-")
os.environ.setdefault("GRADIO_TEMP_DIR", tempfile.mkdtemp(prefix="chatterbox-test-gradio-"))
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

from collections.abc import Iterator  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from components.settings import Settings  # noqa: E402
from tests.contract_server import ContractServer, ContractState  # noqa: E402
from tests.served import free_port  # noqa: E402

TEST_KEY = "test-key"


@pytest.fixture
def contract_server() -> Iterator[ContractServer]:
    server = ContractServer(state=ContractState(valid_keys={TEST_KEY})).start()
    yield server
    server.stop()


@pytest.fixture
def settings(contract_server: ContractServer, tmp_path: Path) -> Settings:
    """Settings for the loopback server, with short waits so retries stay fast."""
    return replace(
        Settings(),
        api_key=TEST_KEY,
        api_base=contract_server.url,
        connect_timeout=2.0,
        read_timeout=5.0,
        backoff_seconds=0.01,
        max_backoff_seconds=0.5,
        cache_dir=str(tmp_path / "cache"),
    )


class LaunchedApp:
    """The app served on a free loopback port, with a gradio_client talking to it."""

    def __init__(self, settings: Settings, models: tuple | None = None) -> None:
        from gradio_client import Client

        from app import LAUNCH_OPTIONS, build_demo

        self.settings = settings
        self.demo = build_demo(settings, models) if models else build_demo(settings)
        self.demo.launch(
            **LAUNCH_OPTIONS, prevent_thread_lock=True, quiet=True, server_port=free_port()
        )
        self.url = self.demo.local_url
        # Files are downloaded, as a real API caller gets them.
        self.client = Client(
            self.url, verbose=False, download_files=tempfile.mkdtemp(), analytics_enabled=False
        )

    def synthesize(self, *text: str, **overrides: object) -> tuple:
        """Call /synthesize with the documented defaults for every argument not given."""
        from components.models import CHATTERBOX

        arguments = {
            "text": text[0] if text else "Hello there.",
            "reference_audio": None,
            "reference_audio_url": "",
            **CHATTERBOX.defaults(),
            "random_seed": False,
            "api_key": "",
        }
        arguments.update(overrides)
        return self.client.predict(**arguments, api_name="/synthesize")

    def close(self) -> None:
        self.client.close()
        self.demo.close()


@pytest.fixture
def launch_app() -> Iterator:
    """Call with Settings to get a LaunchedApp; every app launched is closed afterwards."""
    launched: list[LaunchedApp] = []

    def launch(settings: Settings, models: tuple | None = None) -> LaunchedApp:
        app = LaunchedApp(settings, models)
        launched.append(app)
        return app

    yield launch
    for app in launched:
        app.close()


@pytest.fixture
def app(launch_app, settings: Settings) -> LaunchedApp:
    return launch_app(settings)
