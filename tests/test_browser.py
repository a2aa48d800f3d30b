"""The page as a person uses it: headless Chromium (Debian's) driving the launched app.

Every test clicks, types, uploads and presses keys on the real page, served by the real app,
which talks to the loopback contract server standing in for Segmind. Screenshots go to
`artifacts/` at the repository root (gitignored) so a person can look at the page.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect, sync_playwright

from components.models import CHATTERBOX, CHATTERBOX_TURBO
from components.presets import load_presets

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
LOAD_TIMEOUT = 30_000  # ms: the first page load builds Gradio's bundle cache
TAKE_TIMEOUT = 60_000  # ms: a take against the loopback server, with room for a slow machine

# The take in `#player` is a waveform player; the file it plays is the download link's target.
PLAYER_FILE = "#player a[data-testid='download-link']"
LIVE_AUDIO = "#live audio"


@pytest.fixture(scope="module")
def browser() -> Iterator:
    # tests/run.sh installs Debian's Chromium; without it these tests fail rather than skip.
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser) -> Iterator:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(LOAD_TIMEOUT)
    yield page
    context.close()


# --- helpers -------------------------------------------------------------------------------


def open_app(page, url: str, *, wait_until_usable: bool = True) -> None:
    """Load the page; by default also wait until a person could press Generate."""
    page.goto(url)
    expect(page.locator("#generate")).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(page.locator("#text textarea")).to_be_visible(timeout=LOAD_TIMEOUT)
    if wait_until_usable:
        assert_usable(page)


def assert_usable(page) -> None:
    """Generate can really be clicked: nothing (such as a stuck "Loading..." cover) is on top."""
    try:
        page.locator("#generate").click(trial=True, timeout=LOAD_TIMEOUT)
    except PlaywrightTimeoutError as error:
        covers = (
            page.locator("[data-testid='status-tracker']:not(.hide)")
            .filter(has_text="Loading")
            .count()
        )
        pytest.fail(
            f"The page never became usable: Generate cannot be clicked ({covers} "
            f"'Loading...' cover(s) still over the page).\n{error}"
        )


def open_fine_tune(page, model=None) -> None:
    """Unfold a model's fine-tuning sliders, as a person clicks "Fine-tune"."""
    name = model.name if model else "chatterbox"
    fold = page.locator(f"#{name}-fine-tune")
    if fold.locator("input").count() == 0:
        fold.get_by_text(re.compile("^Fine-tune")).click()
    expect(fold.locator("input").first).to_be_visible()


def type_text(page, text: str) -> None:
    """Replace the Text box's content as a person would: select all, then paste."""
    box = page.locator("#text textarea")
    box.click()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(text)  # one input event, like a paste
    expect(box).to_have_value(text)


def slider_value(page, name: str) -> float:
    """A slider's value as shown; the range and the number box must agree."""
    slider = page.locator(f"#chatterbox-{name}")
    range_value = float(slider.locator("input[type=range]").input_value())
    number_value = float(slider.locator("input[type=number]").input_value())
    assert range_value == pytest.approx(number_value), f"{name}: range and number box disagree"
    return range_value


def watch_first_times(page) -> None:
    """Record, in the page, when each thing first happens (a MutationObserver misses nothing):
    Live gets a source, Live plays, the take arrives, progress shows. Read `window.__seen`."""
    page.evaluate(
        """(PLAYER_FILE) => {
        const seen = window.__seen = {};
        const mark = (name) => { if (!(name in seen)) seen[name] = performance.now(); };
        const check = () => {
            const live = document.querySelector('#live audio');
            if (live && live.getAttribute('src')) mark('live_src');
            if (live && !live.paused && live.currentTime > 0) mark('live_playing');
            if (document.querySelector(PLAYER_FILE)) mark('take');
            const busy = /Generating parts|\\d+\\/\\d+ steps/;
            for (const el of document.querySelectorAll('.progress-level, .progress-text')) {
                if (busy.test(el.textContent)) mark('progress');
            }
        };
        new MutationObserver(check).observe(document.body, {
            subtree: true, childList: true, attributes: true, characterData: true,
        });
        setInterval(check, 25);
    }""",
        PLAYER_FILE,
    )


def wait_for_take(page) -> str:
    """Wait until the Take player holds a clip; return the clip's absolute URL."""
    link = page.locator(PLAYER_FILE)
    expect(link).to_have_attribute(
        "href", re.compile(r"/gradio_api/file=.+\.wav$"), timeout=TAKE_TIMEOUT
    )
    expect(page.locator("#details")).to_contain_text("s of audio", timeout=TAKE_TIMEOUT)
    return link.get_attribute("href")


def fetch_wav(page, url: str) -> tuple[bytes, float]:
    response = page.request.get(url)
    assert response.ok, f"GET {url} answered {response.status}"
    data = response.body()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE", "the take is not a WAV file"
    info = sf.info(io.BytesIO(data))
    return data, info.frames / info.samplerate


def synthesis_bodies(contract_server) -> list[dict]:
    return [r.body for r in contract_server.state.synthesis_requests()]


def header(request, name: str) -> str | None:
    return next((v for k, v in request.headers.items() if k.lower() == name), None)


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def visible_error(page, text: str):
    """Where a readable error shows: Gradio's toast, or the Details text under the player."""
    return (
        page.locator("[data-testid='toast-body'], #details")
        .filter(has_text=text)
        .first
    )


# --- tests ---------------------------------------------------------------------------------


def test_page_loads_with_documented_controls(app, page):
    open_app(page, app.url, wait_until_usable=False)  # report missing controls first
    assert len(CHATTERBOX.tunable) == 6

    # Exactly the six documented sliders in the model's tab, no more; two of them stay out,
    # the rest fold under "Fine-tune".
    tab = page.locator("#tab-chatterbox")
    expect(tab.locator("input[type=range]")).to_have_count(2, timeout=LOAD_TIMEOUT)
    open_fine_tune(page)
    expect(tab.locator("input[type=range]")).to_have_count(6, timeout=LOAD_TIMEOUT)
    for parameter in CHATTERBOX.tunable:
        slider = page.locator(f"#chatterbox-{parameter.name}")
        expect(slider).to_be_visible()
        expect(slider).to_contain_text(parameter.label)
        range_input = slider.locator("input[type=range]")
        expect(range_input).to_have_count(1)
        assert float(range_input.get_attribute("min")) == parameter.minimum, parameter.name
        assert float(range_input.get_attribute("max")) == parameter.maximum, parameter.name
        assert float(range_input.get_attribute("step")) == pytest.approx(parameter.step)
        assert slider_value(page, parameter.name) == pytest.approx(parameter.default)

    seed = page.locator("#seed input[type=number]")
    expect(seed).to_be_visible()
    expect(seed).to_have_value(str(int(CHATTERBOX.seed.default)))
    assert float(seed.get_attribute("min")) == CHATTERBOX.seed.minimum
    assert float(seed.get_attribute("max")) == CHATTERBOX.seed.maximum
    expect(page.locator("#seed")).to_contain_text(CHATTERBOX.seed.label)

    presets = load_presets(CHATTERBOX)
    buttons = page.locator("#chatterbox-presets button")
    expect(buttons).to_have_text([p.label for p in presets])
    assert [buttons.nth(i).get_attribute("id") for i in range(len(presets))] == [
        f"chatterbox-preset-{p.name}" for p in presets
    ]

    for selector in (
        "#text textarea",
        "#reference-audio",
        "#reference-url textarea",
        "#api-key input[type=password]",
        "#random-seed input[type=checkbox]",
        "#player",
    ):
        expect(page.locator(selector)).to_be_visible()
    # Live shows only while a take of several calls streams.
    expect(page.locator("#live")).to_be_hidden()
    expect(page.locator("#generate")).to_have_text("Generate")
    expect(page.locator("#text-stats")).to_contain_text("1 call")
    assert_usable(page)


def test_slider_and_presets(app, contract_server, page):
    open_app(page, app.url)
    open_fine_tune(page)
    temperature = next(p for p in CHATTERBOX.tunable if p.name == "temperature")

    # Keyboard: focus the range and press the arrow key, as a person tabbing through would.
    range_input = page.locator("#chatterbox-temperature input[type=range]")
    # The fold has just opened: focus the range once it has settled, as a person tabbing in.
    expect(range_input).to_be_visible()
    range_input.focus()
    expect(range_input).to_be_focused()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#chatterbox-temperature input[type=number]")).to_have_value(
        re.compile(rf"^{re.escape(f'{temperature.default + temperature.step:g}')}0*$")
    )
    page.keyboard.press("ArrowRight")
    expected = temperature.default + 2 * temperature.step
    expect(page.locator("#chatterbox-temperature input[type=number]")).to_have_value(
        re.compile(rf"^{re.escape(f'{expected:g}')}0*$")
    )
    assert slider_value(page, "temperature") == pytest.approx(expected)

    # Typing in the number box moves the range too.
    number = page.locator("#chatterbox-top_p input[type=number]")
    number.fill("0.9")
    number.press("Tab")
    expect(page.locator("#chatterbox-top_p input[type=range]")).to_have_value("0.9")

    presets = load_presets(CHATTERBOX)
    for preset in presets:
        page.locator(f"#chatterbox-preset-{preset.name}").click()
        for parameter in CHATTERBOX.tunable:
            want = preset.values[parameter.name]
            expect(page.locator(f"#chatterbox-{parameter.name} input[type=range]")).to_have_value(
                re.compile(rf"^{re.escape(f'{float(want):g}')}(\.0*)?$")
            )
            assert slider_value(page, parameter.name) == pytest.approx(want), (
                f"{preset.label}: {parameter.name}"
            )

    # What the sliders show is what is sent: Generate after the last preset.
    page.locator("#generate").click()
    wait_for_take(page)
    bodies = synthesis_bodies(contract_server)
    assert len(bodies) == 1
    last = presets[-1]
    for parameter in CHATTERBOX.tunable:
        assert bodies[0][parameter.name] == pytest.approx(last.values[parameter.name])


def test_reference_upload_and_url(app, contract_server, page, tmp_path):
    voice = tmp_path / "voice.wav"
    t = np.arange(3 * 24_000) / 24_000
    sf.write(voice, 0.3 * np.sin(2 * np.pi * 440 * t), 24_000)
    url = "https://example.com/voice.mp3"

    open_app(page, app.url)
    page.locator("#reference-audio input[type=file]").set_input_files(str(voice))
    # The upload is done when the component offers the uploaded file back.
    expect(page.locator("#reference-audio a[data-testid='download-link']")).to_have_attribute(
        "href", re.compile(r"gradio_api/file="), timeout=LOAD_TIMEOUT
    )
    url_box = page.locator("#reference-url textarea")
    url_box.click()
    page.keyboard.type(url)
    expect(url_box).to_have_value(url)

    page.locator("#generate").click()
    wait_for_take(page)
    note = page.locator("#voice-note")
    expect(note).to_contain_text("Using the uploaded voice")
    expect(note).to_contain_text("3.0 s reference")
    expect(note).to_contain_text("URL is ignored")

    bodies = synthesis_bodies(contract_server)
    assert len(bodies) == 1
    reference = bodies[0]["reference_audio"]
    assert url not in reference and not reference.startswith(("http://", "https://"))
    audio = base64.b64decode(reference, validate=True)
    info = sf.info(io.BytesIO(audio))
    assert info.frames / info.samplerate == pytest.approx(3.0, abs=0.1)


def test_generate_plays_the_clip(app, contract_server, page):
    text = "Hello from the browser test. This line should come back as a short clip."
    words = len(text.split())
    open_app(page, app.url)
    type_text(page, text)
    page.locator("#generate").click()

    src = wait_for_take(page)
    _, seconds = fetch_wav(page, src)
    assert 0.15 * words < seconds < 0.3 * words + 1.5, f"{seconds:.2f} s for {words} words"
    # One call, one place to listen: the Take player, with a name that says what it is.
    expect(page.locator("#live")).to_be_hidden()
    assert src.endswith("/chatterbox_hello-from-the-browser-test-this_seed42_default.wav")
    expect(page.locator(PLAYER_FILE)).to_have_attribute(
        "download", "chatterbox_hello-from-the-browser-test-this_seed42_default.wav"
    )
    # The waveform player has loaded the same clip (it shows a non-zero duration).
    expect(page.locator("#player time#duration")).not_to_have_text("0:00", timeout=TAKE_TIMEOUT)

    details = page.locator("#details")
    expect(details).to_contain_text(f"{seconds:.1f} s of audio")
    expect(details).to_contain_text("seed 42")
    expect(details).to_contain_text("credits remaining")
    expect(page.locator("#seed-used")).to_have_count(0)  # shown in the details line instead
    expect(page.locator("#voice-note")).to_contain_text("default voice")

    bodies = synthesis_bodies(contract_server)
    assert len(bodies) == 1
    assert bodies[0] == {"text": text, **CHATTERBOX.defaults()}
    screenshot(page, "browser-generate.png")


def test_rejected_key_shows_a_readable_error(launch_app, settings, contract_server, page):
    app = launch_app(replace(settings, api_key=""))
    wrong = "sg-wrong-0a1b2c3d4e5f"
    open_app(page, app.url)
    expect(page.locator("#api-key")).to_contain_text("Required")

    key_box = page.locator("#api-key input")
    key_box.click()
    page.keyboard.type(wrong)
    page.locator("#generate").click()

    expect(visible_error(page, "Check the Segmind API key")).to_be_visible(timeout=TAKE_TIMEOUT)
    requests = contract_server.state.synthesis_requests()
    assert len(requests) == 1 and header(requests[0], "x-api-key") == wrong
    # The typed key stays only in the password box: not in the markup, not in any text.
    assert wrong not in page.content()
    assert wrong not in page.evaluate("() => document.body.innerText")
    expect(key_box).to_have_attribute("type", "password")
    expect(key_box).to_have_value(wrong)
    expect(page.locator(PLAYER_FILE)).to_have_count(0)
    screenshot(page, "browser-error.png")

    # Still usable: fix the key and generate.
    key_box.fill("")
    key_box.click()
    page.keyboard.type("test-key")
    page.locator("#generate").click()
    wait_for_take(page)
    expect(page.locator("#details")).to_contain_text("credits remaining", timeout=TAKE_TIMEOUT)
    assert len(contract_server.state.synthesis_requests()) == 2

    # No key at all: the page says how to give one, and nothing is sent.
    key_box.fill("")
    page.locator("#text textarea").press("End")
    page.keyboard.type(" Again.")
    page.locator("#generate").click()
    # (The wrong-key toast also names SEGMIND_API_KEY, so look for this error's own words.)
    missing = visible_error(page, "No Segmind API key")
    expect(missing).to_be_visible(timeout=TAKE_TIMEOUT)
    expect(missing).to_contain_text("SEGMIND_API_KEY")
    expect(page.locator("#details")).to_contain_text("No Segmind API key")
    assert len(contract_server.state.synthesis_requests()) == 2


def test_a_typed_key_is_stored_nowhere_in_the_browser(launch_app, settings, contract_server, page):
    """Not in localStorage, sessionStorage, cookies or IndexedDB, after a take and after a
    reload: the page promises the key stays in the tab's password box."""
    key = "sg-visitor-7f3a9c2e1b4d"
    contract_server.state.valid_keys.add(key)
    app = launch_app(replace(settings, api_key=""))
    open_app(page, app.url)
    page.locator("#api-key input").fill(key)
    page.locator("#generate").click()
    wait_for_take(page)
    assert header(contract_server.state.synthesis_requests()[0], "x-api-key") == key

    def stored_anywhere() -> str:
        state = page.context.storage_state(indexed_db=True)
        session = page.evaluate("() => JSON.stringify(Object.entries(sessionStorage))")
        return json.dumps(state) + session

    for moment in ("after a take", "after a reload"):
        everything = stored_anywhere()
        assert "chatterbox-playground-takes" in everything, moment  # the take list is stored
        for form in (key, base64.b64encode(key.encode()).decode(), key[3:15]):
            assert form not in everything, (moment, form)
        page.reload()
        open_app(page, app.url)


SENTENCES = [
    "The lighthouse keeper climbed the spiral stairs before dawn, counting each iron step.",
    "Below him the harbor slept under a blanket of grey fog.",
    "A fishing boat coughed into life somewhere beyond the breakwater.",
    "Gulls wheeled overhead, complaining loudly about the cold.",
    "He trimmed the wick, polished the great lens and checked the clockwork.",
    "Forty years he had done this, and the sea had never once said thank you.",
    "Still, he liked the quiet hour when the town had not yet woken.",
    "Bread ovens glowed in the bakery on Quay Street.",
    "A cat watched him from the harbormaster's window, unimpressed.",
    "By seven the fog thinned and the islands appeared, one by one, like shy guests.",
    "The ferry would leave at nine, carrying tourists, mail and a crate of lemons.",
    "Nobody knew why there were always lemons.",
    "Some said the mayor's sister ordered them for her famous marmalade.",
    "Others swore they were ballast, a tradition older than the pier itself.",
    "The keeper suspected the truth was more ordinary and far less interesting.",
    "He poured his coffee, black and bitter, and sat by the western window.",
    "Out past the rocks, a seal lifted its head and considered the morning.",
    "Clouds stacked up on the horizon, heavy with the promise of afternoon rain.",
    "Radio chatter crackled from the small receiver on the shelf.",
    "A trawler reported nets full of mackerel and a torn jib.",
    "The coast guard answered with a weather warning for the northern channel.",
    "He wrote it all down in the logbook, in careful blue ink.",
    "Then he closed the book, rinsed his cup and listened to the wind rising.",
    "It would be a long night, and the light would have to burn bright.",
    "Somewhere a child on the ferry would see it and wonder who kept it turning.",
]


def test_long_text_streams_then_completes(app, contract_server, page):
    contract_server.state.latency_scale = 0.02  # about 0.9 s per 300-character call
    passage = " ".join(SENTENCES)
    while len(passage) < 1_950:
        passage += " " + SENTENCES[len(passage) % len(SENTENCES)]
    words = len(passage.split())
    assert 1_900 <= len(passage) <= 2_300

    open_app(page, app.url)
    type_text(page, passage)

    stats = page.locator("#text-stats")
    expect(stats).to_contain_text(f"{len(passage):,} characters", timeout=LOAD_TIMEOUT)
    match = re.search(r"(\d+) calls? .*\$(\d+\.\d+)", stats.inner_text())
    assert match, stats.inner_text()
    calls, dollars = int(match.group(1)), float(match.group(2))
    assert calls >= 7
    assert dollars == pytest.approx(calls * CHATTERBOX.cost_per_call)

    watch_first_times(page)
    expect(page.locator("#live")).to_be_hidden()
    page.locator("#generate").click()

    live = page.locator(LIVE_AUDIO)
    expect(page.locator("#live")).to_be_visible(timeout=TAKE_TIMEOUT)
    expect(live).to_have_attribute("src", re.compile(r"."), timeout=TAKE_TIMEOUT)
    src = wait_for_take(page)
    seen = page.evaluate("() => window.__seen")
    assert "live_src" in seen and "take" in seen, seen
    assert seen["live_src"] < seen["take"], f"the live player started after the take: {seen}"
    assert "progress" in seen and seen["progress"] < seen["take"], f"no progress shown: {seen}"
    # Autoplay: the live part is actually heard, not just loaded.
    page.wait_for_function("() => 'live_playing' in window.__seen", timeout=TAKE_TIMEOUT)

    _, seconds = fetch_wav(page, src)
    assert seconds > 0.15 * words, f"{seconds:.1f} s for {words} words"
    details = page.locator("#details")
    expect(details).to_contain_text(f"{calls} calls")
    expect(details).to_contain_text(f"{seconds:.1f} s of audio")
    bodies = synthesis_bodies(contract_server)
    assert len(bodies) == calls
    assert sorted(w for b in bodies for w in b["text"].split()) == sorted(passage.split())
    # Let the waveform finish drawing the long clip before the picture is taken.
    expect(page.locator("#player time#duration")).not_to_have_text("0:00", timeout=TAKE_TIMEOUT)
    screenshot(page, "browser-long-text.png")

    # The next take is one call: Live goes, and the Take player alone has it.
    type_text(page, "A short line after the long one.")
    page.locator("#generate").click()
    expect(page.locator("#player a[data-testid='download-link']")).to_have_attribute(
        "href", re.compile(r"a-short-line-after-the-long_seed42_default\.wav$"),
        timeout=TAKE_TIMEOUT,
    )
    expect(page.locator("#live")).to_be_hidden()


def test_owner_key_never_reaches_the_page(launch_app, settings, contract_server, page):
    owner_key = "sk-owner-9f8e7d6c5b4a-secret"
    contract_server.state.valid_keys.add(owner_key)
    app = launch_app(replace(settings, api_key=owner_key))

    open_app(page, app.url)
    expect(page.locator("#api-key")).to_contain_text("owner's key is used")
    expect(page.locator("#api-key input")).to_have_value("")

    # A take on the owner's key, so every part of the page has been through a full round.
    page.locator("#generate").click()
    wait_for_take(page)
    requests = contract_server.state.synthesis_requests()
    assert len(requests) == 1 and header(requests[0], "x-api-key") == owner_key

    assert owner_key not in page.content()
    assert owner_key not in page.evaluate("() => document.body.innerText")
    assert owner_key not in page.evaluate(
        "() => JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])"
    )
    base = app.url.rstrip("/")
    checked = 0
    for path in ("/", "/config", "/gradio_api/info", "/gradio_api/openapi.json"):
        response = page.request.get(base + path)
        if response.status == 404 and path != "/config":
            continue
        assert response.ok, f"GET {path} answered {response.status}"
        assert owner_key not in response.text(), f"the owner's key is in {path}"
        checked += 1
    assert checked >= 3


def choose_take(page, dropdown: str, excerpt: str) -> None:
    page.locator(f"{dropdown} input").click()
    page.locator("[data-testid='dropdown-option']").filter(has_text=excerpt).first.click()


def player_file(page, player: str) -> str:
    link = page.locator(f"{player} a[data-testid='download-link']")
    expect(link).to_have_attribute("href", re.compile(r"/gradio_api/file=.+\.wav$"), timeout=TAKE_TIMEOUT)
    return link.get_attribute("href")


def test_two_takes_restore_compare_export_and_survive_a_refresh(app, contract_server, page):
    first_text = "The first take, spoken in a theatrical voice."
    second_text = "The second take is calm and quiet, with a random seed."
    theatrical = next(p for p in load_presets(CHATTERBOX) if p.name == "theatrical")
    open_app(page, app.url)

    type_text(page, first_text)
    page.locator("#chatterbox-preset-theatrical").click()
    page.locator("#generate").click()
    wait_for_take(page)
    expect(page.locator("#take-a input")).to_have_value(re.compile("The first take"), timeout=TAKE_TIMEOUT)

    type_text(page, second_text)
    page.locator("#chatterbox-preset-neutral").click()
    page.locator("#random-seed input").check()
    page.locator("#generate").click()
    expect(page.locator("#take-a input")).to_have_value(re.compile("The second take"), timeout=TAKE_TIMEOUT)
    second_seed = int(re.search(r"seed (\d+)", page.locator("#details").inner_text()).group(1))
    assert len(synthesis_bodies(contract_server)) == 2

    # A/B: the first take in A, the second in B, side by side.
    choose_take(page, "#take-a", "The first take")
    choose_take(page, "#take-b", "The second take")
    a_file, b_file = player_file(page, "#player-a"), player_file(page, "#player-b")
    (a_data, a_seconds), (b_data, b_seconds) = fetch_wav(page, a_file), fetch_wav(page, b_file)
    assert a_data != b_data
    assert a_seconds > 0.15 * len(first_text.split()) and b_seconds > 0.15 * len(second_text.split())

    # Every control comes back as it was for the first take.
    page.locator("#restore").click()
    expect(page.locator("#text textarea")).to_have_value(first_text)
    open_fine_tune(page)
    for parameter in CHATTERBOX.tunable:
        expect(page.locator(f"#chatterbox-{parameter.name} input[type=number]")).to_have_value(
            re.compile(rf"^{theatrical.values[parameter.name]:g}$")
        )
    expect(page.locator("#seed input")).to_have_value("42")
    expect(page.locator("#random-seed input")).not_to_be_checked()

    # Export the first take as loudness-normalised FLAC with a name that says what it is.
    page.locator("#export-format label").filter(has_text="FLAC").click()
    page.locator("#loudness input").click()
    page.locator("[data-testid='dropdown-option']").filter(has_text="-16 LUFS").click()
    page.locator("#export").click()
    link = page.locator("#exported a").first
    expect(link).to_have_attribute("href", re.compile(r"chatterbox_the-first-take.*_seed42_theatrical\.flac"),
                                   timeout=TAKE_TIMEOUT)
    exported = page.request.get(link.get_attribute("href")).body()
    info = sf.info(io.BytesIO(exported))
    assert info.format == "FLAC" and info.frames / info.samplerate == pytest.approx(a_seconds, abs=0.05)
    screenshot(page, "browser-takes.png")

    # Regenerating the restored settings is free, and the second take's seed can be reused.
    page.locator("#generate").click()
    expect(page.locator("#details")).to_contain_text("from cache, 0 credits", timeout=TAKE_TIMEOUT)
    assert len(synthesis_bodies(contract_server)) == 2  # replays, A/B and export cost nothing

    # A refresh keeps the list (the records live in the browser, the audio on the server).
    page.reload()
    open_app(page, app.url)
    page.locator("#take-a input").click()
    options = page.locator("[data-testid='dropdown-option']")
    expect(options.filter(has_text="The first take")).to_have_count(1)
    expect(options.filter(has_text=f"seed {second_seed}")).to_have_count(1)


def test_reuse_seed_reproduces_a_random_seed_take(app, contract_server, page):
    open_app(page, app.url)
    type_text(page, "A random seed, then the same take again for nothing.")
    page.locator("#random-seed input").check()
    page.locator("#generate").click()
    wait_for_take(page)
    used = re.search(r"seed (\d+)", page.locator("#details").inner_text()).group(1)
    page.locator("#reuse-seed").click()
    expect(page.locator("#seed input")).to_have_value(used)
    expect(page.locator("#random-seed input")).not_to_be_checked()
    page.locator("#generate").click()
    expect(page.locator("#details")).to_contain_text("from cache, 0 credits", timeout=TAKE_TIMEOUT)
    assert len(synthesis_bodies(contract_server)) == 1


def test_rejected_input_shows_a_readable_error_and_the_page_stays_usable(app, contract_server, page):
    open_app(page, app.url)
    type_text(page, "Far too long. " * 400)
    page.locator("#generate").click()
    expect(visible_error(page, "the limit is 5,000")).to_be_visible(timeout=TAKE_TIMEOUT)

    type_text(page, "A short line is fine.")
    page.locator("#reference-url textarea").fill("ftp://example.com/voice.mp3")
    page.locator("#generate").click()
    expect(visible_error(page, "http")).to_be_visible(timeout=TAKE_TIMEOUT)
    expect(page.locator("#voice-note")).not_to_contain_text("default voice")  # no stale note
    assert synthesis_bodies(contract_server) == []  # nothing invalid was sent
    screenshot(page, "browser-rejected-input.png")

    page.locator("#reference-url textarea").fill("")
    assert_usable(page)
    page.locator("#generate").click()
    wait_for_take(page)
    assert len(synthesis_bodies(contract_server)) == 1


# --- Chatterbox Turbo ------------------------------------------------------------------------


def voice_file(tmp_path: Path, seconds: float) -> Path:
    path = tmp_path / f"voice-{seconds:g}s.wav"
    t = np.arange(int(seconds * 24_000)) / 24_000
    sf.write(path, 0.3 * np.sin(2 * np.pi * 220 * t), 24_000)
    return path


def upload_voice(page, path: Path) -> None:
    page.locator("#reference-audio input[type=file]").set_input_files(str(path))
    expect(page.locator("#reference-audio a[data-testid='download-link']")).to_have_attribute(
        "href", re.compile(r"gradio_api/file="), timeout=LOAD_TIMEOUT
    )


def open_tab(page, model) -> None:
    page.get_by_role("tab", name=model.label, exact=True).click()
    expect(page.locator(f"#{model.name}-summary")).to_be_visible()


def test_turbo_shows_its_own_controls_and_presets(app, page):
    open_app(page, app.url)
    open_tab(page, CHATTERBOX_TURBO)
    expect(page.locator("#chatterbox-exaggeration")).to_be_hidden()  # the other tab's
    open_fine_tune(page, CHATTERBOX_TURBO)
    for parameter in CHATTERBOX_TURBO.tunable:
        control = page.locator(f"#chatterbox-turbo-{parameter.name}")
        expect(control).to_be_visible()
        if parameter.boolean:
            expect(control.locator("input[type=checkbox]")).to_be_checked()
            continue
        range_input = control.locator("input[type=range]")
        assert float(range_input.get_attribute("min")) == parameter.minimum, parameter.name
        assert float(range_input.get_attribute("max")) == parameter.maximum, parameter.name
        assert float(range_input.input_value()) == pytest.approx(parameter.default)
    theatrical = next(p for p in load_presets(CHATTERBOX_TURBO) if p.name == "theatrical")
    page.locator("#chatterbox-turbo-preset-theatrical").click()
    for name in ("temperature", "top_k", "top_p"):
        expect(page.locator(f"#chatterbox-turbo-{name} input[type=range]")).to_have_value(
            re.compile(rf"^{theatrical.values[name]:g}(\.0*)?$")
        )
    # The cost preview now prices Turbo's calls.
    expect(page.locator("#text-stats")).to_contain_text("to Chatterbox Turbo")
    expect(page.locator("#text-stats")).to_contain_text(f"${CHATTERBOX_TURBO.cost_per_call:.3f}")


def test_turbo_tag_at_the_cursor_generate_and_switch_back(app, contract_server, page, tmp_path):
    open_app(page, app.url)
    type_text(page, "Well that was unexpected. Anyway, back to work.")
    upload_voice(page, voice_file(tmp_path, 6.0))
    open_tab(page, CHATTERBOX_TURBO)

    # Put the cursor after "unexpected." and insert a tag there with its button.
    box = page.locator("#text textarea")
    box.click()
    cursor = len("Well that was unexpected.")
    box.evaluate("(el, at) => el.setSelectionRange(at, at)", cursor)
    page.locator("#chatterbox-turbo-tags button").filter(has_text="[laugh]").click()
    with_tag = "Well that was unexpected. [laugh] Anyway, back to work."
    expect(box).to_have_value(with_tag)
    # The cursor sits after the tag, so a second tag follows it.
    page.locator("#chatterbox-turbo-tags button").filter(has_text="[sigh]").click()
    with_tags = "Well that was unexpected. [laugh] [sigh] Anyway, back to work."
    expect(box).to_have_value(with_tags)

    page.locator("#generate").click()
    src = wait_for_take(page)
    (request,) = contract_server.state.synthesis_requests()
    assert request.path == "/v1/chatterbox-turbo-tts"
    body = dict(request.body)
    assert base64.b64decode(body.pop("reference_audio"), validate=True)[:4] == b"RIFF"
    assert body == {"text": with_tags, **CHATTERBOX_TURBO.defaults()}  # tags sent as written
    assert "/chatterbox-turbo_well-that-was-unexpected" in src
    expect(page.locator("#take-a input")).to_have_value(re.compile("Turbo"), timeout=TAKE_TIMEOUT)

    # Back to Chatterbox: the text and the voice are kept, and its own controls are back.
    open_tab(page, CHATTERBOX)
    expect(box).to_have_value(with_tags)
    expect(page.locator("#reference-audio a[data-testid='download-link']")).to_have_count(1)
    expect(page.locator("#chatterbox-exaggeration")).to_be_visible()
    expect(page.locator("#text-stats")).to_contain_text("2 sound tags left out")
    page.locator("#generate").click()
    expect(page.locator("#details")).to_contain_text("sound tags left out", timeout=TAKE_TIMEOUT)
    requests = contract_server.state.synthesis_requests()
    assert [r.path for r in requests] == ["/v1/chatterbox-turbo-tts", "/v1/chatterbox-tts"]
    assert requests[1].body["text"] == "Well that was unexpected. Anyway, back to work."
    assert requests[1].body["reference_audio"] == request.body["reference_audio"]

    # "Use A's settings" on the Turbo take brings Turbo back.
    choose_take(page, "#take-a", "Turbo")
    page.locator("#restore").click()
    expect(page.locator("#chatterbox-turbo-summary")).to_be_visible()
    expect(page.locator("#text-stats")).to_contain_text("to Chatterbox Turbo")
    screenshot(page, "browser-turbo.png")


def test_turbo_without_a_voice_says_what_to_do_and_calls_nothing(app, contract_server, page):
    open_app(page, app.url)
    open_tab(page, CHATTERBOX_TURBO)
    page.locator("#generate").click()
    expect(visible_error(page, "needs a reference voice")).to_be_visible(timeout=TAKE_TIMEOUT)
    assert contract_server.state.synthesis_requests() == []
    assert_usable(page)


# --- A page worth showing: layout, presets, examples, captions, share ------------------------


@pytest.mark.parametrize(("size", "viewport"), [("desktop", {"width": 1280, "height": 800}),
                                                ("phone", {"width": 390, "height": 844})])
def test_generate_and_the_player_come_first(app, browser, size, viewport):
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(LOAD_TIMEOUT)
    try:
        open_app(page, app.url)
        generate = page.locator("#generate").bounding_box()
        player = page.locator("#player").bounding_box()
        text = page.locator("#text").bounding_box()
        presets = page.locator("#chatterbox-presets").bounding_box()
        if size == "desktop":
            # The first screen holds the text, the presets, the main controls, Generate and
            # the player, with no scrolling.
            for box in (text, presets, generate, player,
                        page.locator("#chatterbox-exaggeration").bounding_box()):
                assert box["y"] + box["height"] <= viewport["height"], box
        else:
            assert generate["y"] <= 1200, generate
        # The player right after Generate: nothing between them but a few pixels.
        assert 0 <= player["y"] - (generate["y"] + generate["height"]) <= 40, (generate, player)
        screenshot(page, f"browser-{size}.png")
    finally:
        context.close()


def preset_button(page, name: str, model=CHATTERBOX):
    return page.locator(f"#{model.name}-preset-{name}")


def test_the_selected_preset_follows_the_sliders(app, contract_server, page):
    open_app(page, app.url)
    presets = {p.name: p for p in load_presets(CHATTERBOX)}
    line = page.locator("#chatterbox-preset-line")
    # At start the controls hold the API defaults: "Default" is the one marked.
    expect(preset_button(page, "default")).to_have_class(re.compile(r"\bprimary\b"))
    expect(preset_button(page, "neutral")).to_have_class(re.compile(r"\bsecondary\b"))
    expect(line).to_contain_text(presets["default"].description[:40])

    preset_button(page, "theatrical").click()
    expect(preset_button(page, "theatrical")).to_have_class(re.compile(r"\bprimary\b"))
    expect(preset_button(page, "default")).to_have_class(re.compile(r"\bsecondary\b"))
    expect(line).to_contain_text("Theatrical")
    expect(line).to_contain_text(presets["theatrical"].description[:40])

    # A manual change: no preset is marked, "Custom" says what differs, the fold says so too.
    number = page.locator("#chatterbox-temperature input[type=number]")
    open_fine_tune(page)
    expect(number).to_have_value("1.2")  # the unfolded slider holds the preset's value
    number.fill("0.9")
    number.press("Tab")
    expect(line).to_contain_text("Custom")
    expect(line).to_contain_text("temperature 0.9 (Theatrical: 1.2)")
    for name in presets:
        expect(preset_button(page, name)).to_have_class(re.compile(r"\bsecondary\b"))
    assert contract_server.state.requests == []


def test_an_example_fills_the_page_and_spends_nothing(app, contract_server, page):
    from components.examples import load_examples

    playground_presets = {m.name: load_presets(m) for m in (CHATTERBOX, CHATTERBOX_TURBO)}
    examples = {e.name: e for e in load_examples((CHATTERBOX, CHATTERBOX_TURBO), playground_presets)}
    assert len(examples) == 5
    open_app(page, app.url)
    game = examples["2-game-line"]
    page.locator("#example-2-game-line").click()
    expect(page.locator("#text textarea")).to_have_value(game.text)
    expect(preset_button(page, game.preset.name)).to_have_class(re.compile(r"\bprimary\b"))
    meme = examples["4-meme"]
    page.locator("#example-4-meme").click()
    expect(page.locator("#text textarea")).to_have_value(meme.text)
    expect(page.locator("#chatterbox-turbo-summary")).to_be_visible()  # its model's tab opened
    expect(preset_button(page, meme.preset.name, CHATTERBOX_TURBO)).to_have_class(re.compile(r"\bprimary\b"))
    assert contract_server.state.requests == []


def test_a_take_shows_captions_and_a_share_link_plays_it_elsewhere_for_free(app, contract_server, browser, page):
    text = "A line to share. [pause:500ms] It has two parts."
    open_app(page, app.url)
    type_text(page, text)
    page.locator("#chatterbox-preset-theatrical").click()
    page.locator("#speed input[type=number]").fill("1.25")
    page.locator("#speed input[type=number]").press("Tab")
    page.locator("#generate").click()
    src = wait_for_take(page)
    assert src.endswith("_theatrical_1-25x.wav")
    # The captions download beside the take, and the player shows them.
    captions = page.locator("#captions a[href$='.srt'], #captions a[href$='.vtt']")
    expect(captions.first).to_be_visible(timeout=TAKE_TIMEOUT)
    links = sorted({captions.nth(i).get_attribute("href") for i in range(captions.count())},
                   key=lambda href: href.rsplit(".", 1)[1])
    assert len(links) == 2, links
    assert links[0].endswith("_theatrical_1-25x.srt") and links[1].endswith("_theatrical_1-25x.vtt")
    expect(page.locator("#player").get_by_text("CC", exact=True)).to_be_visible()
    vtt = page.request.get(links[1]).text()
    assert vtt.startswith("WEBVTT") and "A line to share." in vtt and "It has two parts." in vtt
    expect(page.locator("#take-a input")).to_have_value(re.compile("A line to share"), timeout=TAKE_TIMEOUT)
    calls = len(synthesis_bodies(contract_server))
    assert calls == 2

    page.locator("#share").click()
    link_box = page.locator("#share-link textarea, #share-link input").first
    expect(link_box).to_have_value(re.compile(r"^http://.+\?take=[0-9a-f]{64}$"), timeout=TAKE_TIMEOUT)
    link = link_box.input_value()
    assert "test-key" not in link and "key" not in link.split("?", 1)[1].split("=")[0]

    # A stranger opens the link in a fresh browser: same text, model, settings and seed, and
    # the take plays from the cache.
    stranger = browser.new_context(viewport={"width": 1280, "height": 900})
    other = stranger.new_page()
    other.set_default_timeout(LOAD_TIMEOUT)
    try:
        other.goto(link)
        expect(other.locator("#text textarea")).to_have_value(text, timeout=LOAD_TIMEOUT)
        expect(other.locator(PLAYER_FILE)).to_have_attribute("href", re.compile(r"_1-25x\.wav$"),
                                                             timeout=TAKE_TIMEOUT)
        expect(other.locator("#details")).to_contain_text("from cache, 0 credits")
        expect(other.locator("#speed input[type=number]")).to_have_value("1.25")
        expect(preset_button(other, "theatrical")).to_have_class(re.compile(r"\bprimary\b"))
        shared_audio, _ = fetch_wav(other, other.locator(PLAYER_FILE).get_attribute("href"))
        own_audio, _ = fetch_wav(page, src)
        assert shared_audio == own_audio
        assert len(synthesis_bodies(contract_server)) == calls  # no backend call
        screenshot(other, "browser-shared-take.png")

        # Sharing again makes a new link and turns the old one off.
        page.locator("#share").click()
        expect(link_box).not_to_have_value(link, timeout=TAKE_TIMEOUT)
        other.goto(link)
        expect(other.locator("#details")).to_contain_text("expired or was replaced", timeout=LOAD_TIMEOUT)
        expect(other.locator(PLAYER_FILE)).to_have_count(0)
    finally:
        stranger.close()


# --- Dialogue --------------------------------------------------------------------------------


def type_script(page, script: str) -> None:
    box = page.locator("#dialogue-script textarea")
    box.click()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(script)
    expect(box).to_have_value(script)


def test_a_two_voice_scene_streams_then_one_line_is_redone(app, contract_server, page, tmp_path):
    contract_server.state.latency_scale = 0.02  # the long last line takes longest
    long_line = " ".join(SENTENCES)[:280].rsplit(" ", 1)[0] + "."
    script = (
        "Ada: Is anyone there?\n"
        "Bob: Only me, and the rain.\n"
        "Ada: Then open the door.\n"
        f"Bob: {long_line}"
    )
    voice_url = "https://example.com/bob.wav"
    open_app(page, app.url)
    page.get_by_role("tab", name="Dialogue", exact=True).click()
    expect(page.locator("#dialogue-script textarea")).to_be_visible()
    expect(page.locator("#text textarea")).to_be_hidden()  # a scene has a script, not a text
    type_script(page, script)

    # The cast follows the script: two speakers, two slots, the third hidden.
    expect(page.locator("#cast-0-name")).to_have_text("Ada")
    expect(page.locator("#cast-1-name")).to_have_text("Bob")
    expect(page.locator("#cast-2")).to_be_hidden()
    expect(page.locator("#cast-1-voice-note")).to_contain_text(
        "No voice set: Bob uses Segmind's default voice."
    )
    expect(page.locator("#dialogue-cost")).to_contain_text("4 lines · 4 calls · about $0.080")

    # Two voices: an upload for Ada, a URL for Bob; Bob gets the theatrical preset.
    page.locator("#cast-0-voice input[type=file]").set_input_files(str(voice_file(tmp_path, 4)))
    expect(page.locator("#cast-0-voice-note")).to_contain_text("Ada speaks with the uploaded voice")
    page.locator("#cast-1-url textarea").fill(voice_url)
    expect(page.locator("#cast-1-voice-note")).to_contain_text("Bob speaks with the voice at the URL")
    page.locator("#cast-1-chatterbox-preset input").click()
    page.locator("[data-testid='dropdown-option']").filter(has_text="Theatrical").first.click()
    theatrical = next(p for p in load_presets(CHATTERBOX) if p.name == "theatrical").values
    page.locator("#cast-1-chatterbox-fine-tune").get_by_text(re.compile("^Fine-tune")).click()
    exaggeration = page.locator("#cast-1-chatterbox-exaggeration input[type=number]")
    expect(exaggeration).to_have_value(f"{theatrical['exaggeration']:g}")

    watch_first_times(page)
    page.locator("#generate").click()
    expect(page.locator("#live")).to_be_visible(timeout=TAKE_TIMEOUT)
    src = wait_for_take(page)
    seen = page.evaluate("() => window.__seen")
    assert seen["live_src"] < seen["take"], f"Live started after the scene was done: {seen}"
    page.wait_for_function("() => 'live_playing' in window.__seen", timeout=TAKE_TIMEOUT)
    assert re.search(r"dialogue_ada-is-anyone-there.*_seed42_scene\.wav$", src), src
    expect(page.locator("#details")).to_contain_text("4 calls")

    requests = contract_server.state.synthesis_requests()
    by_text = {r.body["text"]: r.body for r in requests}
    assert len(requests) == 4
    for text in ("Is anyone there?", "Then open the door."):
        assert by_text[text]["reference_audio"] != voice_url
        assert len(by_text[text]["reference_audio"]) > 1000  # the uploaded recording
    for text in ("Only me, and the rain.", long_line):
        assert by_text[text]["reference_audio"] == voice_url
        assert by_text[text]["exaggeration"] == theatrical["exaggeration"]
    captions = page.locator("#captions a[href$='.vtt']")
    vtt = page.request.get(captions.first.get_attribute("href")).text()
    assert "Ada: Is anyone there?" in vtt and "Bob: Only me, and the rain." in vtt
    screenshot(page, "browser-dialogue.png")

    # Redo Bob's first line with a new seed: one call, and a new scene in the player.
    page.locator("#redo-line input").click()
    page.locator("[data-testid='dropdown-option']").filter(has_text="2 · Bob: Only me").first.click()
    page.locator("#redo-line-button").click()
    expect(page.locator("#details")).to_contain_text("1 call + 3 from cache", timeout=TAKE_TIMEOUT)
    expect(page.locator(PLAYER_FILE)).not_to_have_attribute("href", src, timeout=TAKE_TIMEOUT)
    redone = contract_server.state.synthesis_requests()[4:]
    assert [r.body["text"] for r in redone] == ["Only me, and the rain."]
    assert redone[0].body["seed"] != 42 and redone[0].body["reference_audio"] == voice_url
    expect(page.locator("#take-a input")).to_have_value(re.compile(r"Scene: Ada, Bob · 4 lines"))

    # "Use A's settings" on the scene reopens the Dialogue tab with its script and cast.
    open_tab(page, CHATTERBOX)
    expect(page.locator("#text textarea")).to_be_visible()
    page.locator("#restore").click()
    expect(page.locator("#dialogue-script textarea")).to_have_value(script, timeout=TAKE_TIMEOUT)
    expect(page.locator("#text textarea")).to_be_hidden()
    expect(page.locator("#cast-1-url textarea")).to_have_value(voice_url)
    expect(page.locator("#takes-note")).to_contain_text("restored in the Dialogue tab")
