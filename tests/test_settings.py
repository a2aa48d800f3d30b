"""Settings from the environment: defaults, refusal by variable name, and a key that never shows."""

from __future__ import annotations

import pytest

from components.settings import DEFAULT_API_BASE, ENVIRONMENT, Settings


def test_defaults_without_any_variable():
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.api_base == DEFAULT_API_BASE and settings.api_key == ""
    assert settings.cache_path.name == "chatterbox-playground"


def test_every_settings_field_has_exactly_one_variable():
    from dataclasses import fields

    named = [var.field for var in ENVIRONMENT if var.field]
    assert sorted(named) == sorted(f.name for f in fields(Settings))
    assert all(var.description for var in ENVIRONMENT)


def test_every_default_parses_to_the_dataclass_default():
    parsed = Settings.from_env({})
    for var in ENVIRONMENT:
        if var.field and var.default:
            assert getattr(parsed, var.field) == var.parse(var.default)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SEGMIND_READ_TIMEOUT", "0", "greater than 0"),
        ("SEGMIND_MAX_RETRIES", "-1", "at least 0"),
        ("CHATTERBOX_CACHE", "maybe", "true or false"),
        ("SEGMIND_REFERENCE_ENCODING", "hex", "'base64' or 'data-uri'"),
        ("CHATTERBOX_CHUNK_CHARS", "many", "invalid"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(name, value, message):
    with pytest.raises(ValueError, match=message) as refused:
        Settings.from_env({name: value})
    assert str(refused.value).startswith(f"{name}=")


def test_the_key_never_shows_in_a_repr():
    settings = Settings.from_env({"SEGMIND_API_KEY": " sk-live-123 "})
    assert settings.api_key == "sk-live-123"
    assert "sk-live-123" not in repr(settings) and "api_key=***" in repr(settings)


def test_flags_and_numbers_parse():
    settings = Settings.from_env(
        {"CHATTERBOX_CACHE": "off", "CHATTERBOX_REQUIRE_VISITOR_KEY": "yes", "SEGMIND_MAX_RETRIES": "0"}
    )
    assert (settings.cache_enabled, settings.require_visitor_key, settings.max_retries) == (False, True, 0)
