"""Takes: the cache through the real pipeline, restarts, corruption, and records from the browser."""

from __future__ import annotations

from dataclasses import replace

import pytest

import math
import time

from components.audio import decode_audio

from components.cache import cache_key
from components.history import TakeRecord, matching_preset
from components.models import CHATTERBOX
from components.playground import FinishedTake, Playground
from components.synthesis import Voice
from tests.test_audio import encoded, tone

TEXT = "The same line, played again and again in a demo."


def finish(playground: Playground, text: str = TEXT, voice: Voice = Voice(), **parameters) -> FinishedTake:
    *_, finished = playground.generate(CHATTERBOX, text, {**CHATTERBOX.defaults(), **parameters}, voice, "", "visitor")
    assert isinstance(finished, FinishedTake)
    return finished


def test_a_repeated_take_makes_no_backend_call(settings, contract_server):
    # How fast a hit is, is measured by bench/cache.py, not asserted here.
    playground = Playground(settings)
    first = finish(playground)
    assert first.take.calls_made == 1
    again = finish(playground)
    assert again.take.calls_made == 0 and again.take.from_cache == 1
    assert len(contract_server.state.synthesis_requests()) == 1
    assert (again.take.clip.samples == first.take.clip.samples).all()


def test_a_take_wholly_from_the_cache_is_not_streamed(settings, contract_server):
    playground = Playground(settings)
    text = " ".join(f"Sentence {i} makes this passage long enough to need chunks." for i in range(12))
    first = list(playground.generate(CHATTERBOX, text, CHATTERBOX.defaults(), Voice(), "", "visitor"))
    again = list(playground.generate(CHATTERBOX, text, CHATTERBOX.defaults(), Voice(), "", "visitor"))
    assert len(first) > 2  # chunks streamed while they were being paid for
    assert len(again) == 1 and isinstance(again[0], FinishedTake)
    assert again[0].take.calls_made == 0


@pytest.mark.parametrize(
    "change",
    [{"text": TEXT + "!"}, *({name: "next"} for name in CHATTERBOX.defaults()), {"voice": "url"}, {"voice": "bytes"}],
)
def test_any_change_misses_the_cache(settings, contract_server, tmp_path, change):
    playground = Playground(settings)
    voice_wav = encoded("wav", tone(6.0))
    base_voice = Voice.from_upload(voice_wav, "v")
    finish(playground, voice=base_voice)
    text, voice, parameters = TEXT, base_voice, {}
    if "text" in change:
        text = change["text"]
    elif change.get("voice") == "url":
        voice = Voice.from_url("https://example.com/v.mp3")
    elif change.get("voice") == "bytes":
        changed = bytearray(voice_wav)
        changed[-1] ^= 1  # one byte of the reference audio
        voice = Voice.from_upload(bytes(changed), "v")
    else:
        (name,) = change
        parameters = {name: 7 if name == "seed" else 0.55 if name != "repetition_penalty" else 1.55}
    assert finish(playground, text, voice, **parameters).take.calls_made == 1
    assert len(contract_server.state.synthesis_requests()) == 2


def test_the_file_name_of_a_voice_does_not_matter(settings, contract_server):
    playground = Playground(settings)
    wav = encoded("wav", tone(6.0))
    finish(playground, voice=Voice.from_upload(wav, "first-name.wav"))
    assert finish(playground, voice=Voice.from_upload(wav, "other-name.wav")).take.calls_made == 0


def test_the_cache_survives_a_restart(settings, contract_server):
    finish(Playground(settings))
    restarted = Playground(settings)
    assert finish(restarted).take.calls_made == 0


def test_the_cache_can_be_switched_off(settings, contract_server):
    playground = Playground(replace(settings, cache_enabled=False))
    finish(playground)
    assert finish(playground).take.calls_made == 1
    assert len(contract_server.state.synthesis_requests()) == 2


def test_a_corrupted_entry_is_dropped_and_never_played(settings, contract_server):
    playground = Playground(settings)
    first = finish(playground)
    for entry in playground.cache.directory.glob("*.clip"):
        data = bytearray(entry.read_bytes())
        data[len(data) // 2] ^= 0xFF
        entry.write_bytes(bytes(data))
    again = finish(playground)
    assert again.take.calls_made == 1  # paid again rather than playing a damaged clip
    assert (again.take.clip.samples == first.take.clip.samples).all()


def test_a_random_seed_take_is_cached_under_the_seed_used(settings, contract_server):
    from components.playground import resolve_seed

    playground = Playground(settings)
    seed = resolve_seed(42, True)
    first = finish(playground, seed=seed)
    assert first.record.parameters["seed"] == seed
    assert finish(playground, seed=first.record.parameters["seed"]).take.calls_made == 0


def test_a_record_replays_and_restores_its_voice(settings, contract_server):
    playground = Playground(settings)
    wav = encoded("wav", tone(6.0))
    finished = finish(playground, voice=Voice.from_upload(wav, "uploaded voice (6.0 s)"), exaggeration=1.7,
                      temperature=1.2, cfg_weight=0.3)
    record = finished.record
    assert record.preset == "Theatrical" and record.voice_label.startswith("uploaded voice")
    assert playground.takes.load_voice(record.voice_id) == wav
    replayed = decode_audio(playground.takes.load_take(record.take_id))
    # Stored as 16-bit WAV: equal to within one quantisation step.
    assert replayed.samples.shape == finished.take.clip.samples.shape
    assert abs(replayed.samples - finished.take.clip.samples).max() <= 1 / 32767
    assert len(contract_server.state.synthesis_requests()) == 1


def test_records_from_the_browser_are_validated(settings, contract_server):
    playground = Playground(settings)
    takes = playground.takes
    record = finish(playground).record
    stored = takes.append_record([], record)
    assert takes.load_records(stored) == [record]
    tampered = [
        {**stored[0], "take_id": "../../etc/passwd"},
        {**stored[0], "parameters": {**record.parameters, "temperature": 9}},
        {**stored[0], "voice_id": "not-a-key"},
        {"take_id": record.take_id},
        "a string",
        None,
    ]
    assert takes.load_records(tampered) == []
    assert takes.load_records("not a list") == []


@pytest.mark.parametrize(
    "field, forged",
    [
        ("text", "Another line entirely."),
        ("take_id", "0" * 64),
        ("parameters", {**CHATTERBOX.defaults(), "temperature": 0.9}),
        ("voice_url", "https://example.com/v.mp3"),
        ("created", math.nan),
        ("created", math.inf),
        ("created", 10**400),
        ("seconds", -math.inf),
        ("seconds", 1e308 * 10),
        ("signature", ""),
        ("signature", "f" * 64),
        ("parameters", {**CHATTERBOX.defaults(), "seed": 10**400}),
        ("model", "chatterbox-turbo"),  # another model's name: the signature no longer holds
        ("model", "no-such-model"),
        ("model", 7),
    ],
)
def test_a_record_changed_in_any_field_is_dropped(settings, contract_server, field, forged):
    playground = Playground(settings)
    stored = playground.takes.append_record([], finish(playground).record)
    assert playground.takes.load_records([{**stored[0], field: forged}]) == []


def test_take_and_voice_ids_cannot_be_computed_from_guessed_content(settings, contract_server, tmp_path):
    """A take id used to be a plain hash of the chunk keys: anyone who guessed a victim's text
    could compute it, plant it in a forged record and play the take. It is now keyed with a
    secret kept in the cache folder, so another server (another secret) gets other ids."""
    wav = encoded("wav", tone(6.0))
    here = finish(Playground(settings), voice=Voice.from_upload(wav, "v")).record
    elsewhere = finish(
        Playground(replace(settings, cache_dir=str(tmp_path / "other"))), voice=Voice.from_upload(wav, "v")
    ).record
    assert here.take_id != elsewhere.take_id and here.voice_id != elsewhere.voice_id
    # Nor is either id the content hash an attacker can compute.
    assert here.voice_id != cache_key(settings.api_base, {"voice": True}, wav)
    # A record signed by the other server is not accepted here.
    other_stored = [elsewhere.to_json()]
    assert Playground(settings).takes.load_records(other_stored) == []


def test_ids_and_signatures_survive_a_restart(settings, contract_server):
    first = Playground(settings)
    record = finish(first).record
    stored = first.takes.append_record([], record)
    restarted = Playground(settings)
    assert restarted.takes.load_records(stored) == [record]
    assert finish(restarted).record.take_id == record.take_id
    assert (settings.cache_path / "secret.key").stat().st_mode & 0o077 == 0  # ours alone


def test_the_list_is_capped_and_a_replay_moves_up_instead_of_repeating(settings, contract_server):
    playground = Playground(settings)
    records = [finish(playground, f"Line number {i}.").record for i in range(55)]
    stored: list = []
    for record in records:
        stored = playground.takes.append_record(stored, record)
    assert len(stored) == 50 and stored[0]["text"] == "Line number 5."
    stored = playground.takes.append_record(stored, records[10])
    assert len(stored) == 50 and stored[-1]["text"] == "Line number 10."
    assert [r["text"] for r in stored].count("Line number 10.") == 1


def test_matching_preset_names_the_preset_or_custom(settings):
    presets = Playground(settings).presets[CHATTERBOX.name]
    neutral = next(p for p in presets if p.name == "neutral")
    assert matching_preset({**CHATTERBOX.defaults(), **neutral.values}, presets, CHATTERBOX) == "Neutral"
    assert matching_preset({**CHATTERBOX.defaults(), "temperature": 0.81}, presets, CHATTERBOX) == "custom"


def test_record_label_says_what_the_take_is(settings, contract_server):
    record: TakeRecord = finish(Playground(settings)).record
    label = record.label(3)
    assert label.startswith("#3 · ") and "Default" in label and "seed 42" in label and " s" in label
    when = time.strftime("%H:%M UTC", time.gmtime(record.created))
    assert f"#3 · {when} · " in label


def test_a_record_signed_before_models_existed_is_still_a_chatterbox_take(settings, contract_server):
    """Records saved by the previous version name no model; theirs were Chatterbox takes."""
    playground = Playground(settings)
    stored = playground.takes.append_record([], finish(playground).record)
    legacy = {k: v for k, v in stored[0].items() if k != "model"}
    (record,) = playground.takes.load_records([legacy])
    assert record.model == CHATTERBOX.name


def test_a_turbo_record_carries_its_model_into_the_label_and_the_signature(settings, contract_server):
    from components.models import CHATTERBOX_TURBO

    playground = Playground(settings)
    *_, finished = playground.generate(
        CHATTERBOX_TURBO, "A Turbo line [laugh].", CHATTERBOX_TURBO.defaults(),
        Voice.from_url("https://example.com/voice.wav"), "", "visitor",
    )
    record = finished.record
    assert record.model == CHATTERBOX_TURBO.name and record.preset == "Default"
    assert "Turbo" in record.label(1)
    stored = playground.takes.append_record([], record)
    assert playground.takes.load_records(stored) == [record]
    # Claiming it was a Chatterbox take (or dropping the model) breaks the signature.
    assert playground.takes.load_records([{**stored[0], "model": CHATTERBOX.name}]) == []
    assert playground.takes.load_records([{k: v for k, v in stored[0].items() if k != "model"}]) == []


def test_a_share_link_is_random_carries_no_uploaded_voice_and_a_new_one_revokes_it(settings, contract_server):
    playground = Playground(settings)
    voice = Voice.from_upload(encoded("wav", tone(6.0)), "uploaded voice (6.0 s)")
    record = finish(playground, voice=voice).record
    assert record.voice_id
    link = playground.takes.share(record)
    shared = playground.takes.shared(link)
    assert shared is not None and shared.take_id == record.take_id and shared.text == record.text
    assert shared.voice_id == "" and "not shared" in shared.voice_label
    assert playground.takes.verified(shared.to_json()) == shared  # signed for whoever opens it
    again = playground.takes.share(record)
    assert again != link and playground.takes.shared(link) is None
    assert playground.takes.shared(again) is not None
    assert playground.takes.shared("0" * 64) is None and playground.takes.shared("../etc") is None
