"""Tests for reference-URL validation and the public-address checks."""

from __future__ import annotations

import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.errors import InvalidInput
from components.safe_url import is_public_address, resolve_public, validate_reference_url


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/voice.wav",
        "https://example.com/voice.wav",
        "https://example.com:8443/voice.wav",
        "https://cdn.example.com/a/b.mp3?token=abc&x=1",
        "https://example.com/stimmen/grüße/ärger.wav",
        "https://例え.jp/声.wav",
        "https://[2606:4700:4700::1111]/v.wav",
        "https://8.8.8.8/v.wav",
    ],
)
def test_accepted_urls(url: str) -> None:
    assert validate_reference_url(url) == url


def test_surrounding_whitespace_is_stripped() -> None:
    assert validate_reference_url("  https://example.com/v.wav\n") == "https://example.com/v.wav"


def test_scheme_is_lower_cased() -> None:
    assert validate_reference_url("HTTPS://example.com/V.wav") == "https://example.com/V.wav"


@pytest.mark.parametrize(
    ("url", "hint"),
    [
        ("ftp://example.com/voice.wav", "http"),
        ("file:///etc/passwd", "http"),
        ("javascript:alert(1)", "http"),
        ("data:audio/wav;base64,AAAA", "http"),
        ("example.com/voice.wav", "no scheme"),
        ("//example.com/voice.wav", "no scheme"),
        ("https:///voice.wav", "no host"),
        ("https://", "no host"),
        ("https:voice.wav", "no host"),
        ("https://user:pw@example.com/x", "password"),
        ("https://user@example.com/x", "password"),
        ("https://good.com\\@evil.com/x", "password"),
        ("https://example.com/my voice.wav", "%20"),
        ("https://example.com/voice\n.wav", "invisible"),
        ("https://example.com/\u202egnp.wav", "invisible"),
        ("https://example.com/\x00.wav", "invisible"),
        ("https://example.com/" + "a" * 2048, "2048"),
        ("https://example.com:99999/x", "parsed"),
        ("https://example.com:0/x", "port 0"),
        ("https://exa<mple.com/x", "host"),
        ("https://[::1%25eth0]/x", "host"),
        ("", "empty"),
        ("   ", "empty"),
    ],
)
def test_refused_urls(url: str, hint: str) -> None:
    with pytest.raises(InvalidInput) as info:
        validate_reference_url(url)
    assert info.value.field == "reference_audio_url"
    assert hint in str(info.value)


def test_length_limit_is_inclusive() -> None:
    base = "https://example.com/"
    url = base + "a" * (2048 - len(base))
    assert validate_reference_url(url) == url
    with pytest.raises(InvalidInput):
        validate_reference_url(url + "a")


@given(st.text())
def test_arbitrary_text_only_raises_invalid_input(text: str) -> None:
    try:
        result = validate_reference_url(text)
    except InvalidInput:
        return
    assert result.startswith(("http://", "https://"))


@given(
    st.sampled_from(["http", "https", "HTTP", "ftp", "", "javascript"]),
    st.sampled_from([":", "://", ":///", "//"]),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
)
def test_url_shaped_text_only_raises_invalid_input(scheme: str, sep: str, rest: str) -> None:
    # Plain st.text() rarely looks like a URL; this gets past the scheme check far more often.
    try:
        result = validate_reference_url(scheme + sep + rest)
    except InvalidInput:
        return
    assert result.startswith(("http://", "https://"))
    assert "@" not in result.split("/")[2]
    assert not any(ch.isspace() for ch in result)


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fe80::1%eth0",
        "fc00::1",
        "fd12:3456::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "::ffff:10.0.0.1",
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "224.0.0.1",
        "ff02::1",
        "240.0.0.1",
        "255.255.255.255",
        "::",
        "192.0.2.1",
        "not an ip",
        "",
    ],
)
def test_not_public(ip: str) -> None:
    assert is_public_address(ip) is False


@pytest.mark.parametrize(
    "ip", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public(ip: str) -> None:
    assert is_public_address(ip) is True


def test_resolve_localhost_is_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        resolve_public("localhost", 80)
    assert info.value.field == "reference_audio_url"
    assert "private or local" in str(info.value)


def _fake_getaddrinfo(addresses: list[str]):
    def fake(host, port, *args, **kwargs):
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port) if ":" not in a else (a, port, 0, 0),
            )
            for a in addresses
        ]

    return fake


def test_resolve_refuses_if_any_address_is_private(monkeypatch: pytest.MonkeyPatch) -> None:
    # A name answering with one public and one private address: a fetcher might use either.
    monkeypatch.setattr(socket, "getaddrinfo", _fake_getaddrinfo(["8.8.8.8", "10.0.0.5"]))
    with pytest.raises(InvalidInput) as info:
        resolve_public("rebind.example", 443)
    assert "10.0.0.5" in str(info.value)


def test_resolve_returns_public_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        _fake_getaddrinfo(["8.8.8.8", "8.8.8.8", "2606:4700:4700::1111"]),
    )
    assert resolve_public("dns.example", 443) == ["8.8.8.8", "2606:4700:4700::1111"]


def test_resolve_failure_is_invalid_input(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(InvalidInput) as info:
        resolve_public("nowhere.invalid", 443)
    assert "Could not look up" in str(info.value)
