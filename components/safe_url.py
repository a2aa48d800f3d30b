"""Reference-audio URL checks: the shape the app forwards; public-only addresses for a fetch."""

from __future__ import annotations

import ipaddress
import socket
import unicodedata
from urllib.parse import urlsplit

from components.errors import InvalidInput

FIELD = "reference_audio_url"
MAX_URL_LENGTH = 2048
_SCHEMES = ("http", "https")
_HOST_PUNCTUATION = frozenset("-._")

# Embedded-IPv4 prefixes: an address inside these is only as public as the IPv4 it carries.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")


def _refuse(message: str) -> InvalidInput:
    return InvalidInput(FIELD, message)


def validate_reference_url(url: str) -> str:
    """Return the stripped URL if it is an absolute http(s) URL with a host, no user:password,
    no whitespace/control chars inside, length <= 2048; else raise InvalidInput.

    The scheme is returned lower-cased ("HTTPS://x" -> "https://x"), which means the same URL.
    """
    if not isinstance(url, str):
        raise _refuse("The reference audio URL must be text. Paste a link starting with https://.")
    url = url.strip()
    if not url:
        raise _refuse("The reference audio URL is empty. Paste a link starting with https://.")
    if len(url) > MAX_URL_LENGTH:
        raise _refuse(
            f"The reference audio URL is {len(url)} characters long; the limit is "
            f"{MAX_URL_LENGTH}. Host the file somewhere with a shorter link, or upload it instead."
        )
    for ch in url:
        # Whitespace and control/format characters (incl. invisible bidi overrides) have no
        # place in a URL; urlsplit would also silently drop some of them (tab, CR, LF).
        if ch.isspace() or unicodedata.category(ch).startswith("C"):
            raise _refuse(
                f"The reference audio URL contains a space or invisible character "
                f"({ascii(ch)}). Remove it, or percent-encode spaces as %20."
            )
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a non-numeric or out-of-range port
        host = parts.hostname
    except ValueError as exc:
        raise _refuse(
            f"The reference audio URL could not be parsed ({exc}). Paste a link like "
            "https://example.com/voice.wav."
        ) from None

    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        what = f"uses '{parts.scheme}:'" if parts.scheme else "has no scheme"
        raise _refuse(
            f"The reference audio URL {what}; only http:// and https:// links work. Paste a "
            "link like https://example.com/voice.wav."
        )
    if "@" in parts.netloc:
        # Credentials would be sent to the backend and could end up in its logs; "@" is also
        # the classic trick for making one host look like another.
        raise _refuse(
            "The reference audio URL contains a user name or password (the part before '@'). "
            "Remove it and use a link that works without logging in."
        )
    if not parts.netloc or not host:
        raise _refuse(
            "The reference audio URL has no host. Paste a full link like "
            "https://example.com/voice.wav."
        )
    if not _plausible_host(host):
        raise _refuse(
            f"The reference audio URL's host '{host}' is not a valid host name. Check the link."
        )
    if port == 0:
        raise _refuse("The reference audio URL uses port 0, which cannot be reached. Check the link.")
    # urlsplit only finds a host after "scheme://", so the scheme is followed by "://".
    return scheme + url[len(parts.scheme) :]


def _plausible_host(host: str) -> bool:
    """A DNS name (letters of any script, digits, '-', '.', '_') or an IP literal."""
    if ":" in host:
        # urlsplit has unwrapped "[...]"; only a real IPv6 address (no zone id) may remain.
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return False
        return "%" not in host
    return any(ch.isalnum() for ch in host) and all(
        ch.isalnum() or ch in _HOST_PUNCTUATION for ch in host
    )


def is_public_address(ip: str) -> bool:
    """False for loopback, private, link-local (incl. 169.254.169.254 metadata), multicast,
    reserved, unspecified, shared (100.64/10), IPv4-mapped IPv6 of any of those, and the IPv6
    equivalents (::1, fc00::/7, fe80::/10). Also False for text that is not an IP address.
    """
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address):
        # An IPv6 address that carries an IPv4 one reaches that IPv4 host; judge that instead.
        embedded = _embedded_ipv4(addr)
        if embedded is not None:
            return is_public_address(str(embedded))
    if (
        addr.is_loopback
        or addr.is_private
        or addr.is_link_local
        or addr.is_multicast
        or addr.is_reserved
        or addr.is_unspecified
        or (isinstance(addr, ipaddress.IPv4Address) and addr in _SHARED)
    ):
        return False
    # is_global also consults the stdlib's copy of IANA's special-purpose registries
    # (documentation, benchmarking, Teredo ...), which the checks above do not all cover.
    return addr.is_global


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if addr.ipv4_mapped is not None:  # ::ffff:a.b.c.d
        return addr.ipv4_mapped
    if addr.sixtofour is not None:  # 2002:aabb:ccdd::/48
        return addr.sixtofour
    if addr in _NAT64:  # 64:ff9b::a.b.c.d
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def resolve_public(host: str, port: int) -> list[str]:
    """Resolve with socket.getaddrinfo; raise InvalidInput if ANY resolved address is not public.

    Return the addresses. A fetcher must connect to these very addresses rather than resolve
    the name again, or a second DNS answer (rebinding) could point somewhere private.
    """
    name = host.strip("[]")  # accept a bracketed IPv6 literal as written in a URL
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise _refuse(
            f"Could not look up the host '{host}' ({exc}). Check the reference audio URL."
        ) from None
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise _refuse(f"The host '{host}' has no addresses. Check the reference audio URL.")
    # Refuse if ANY address is private: a fetcher might pick that one.
    private = [a for a in addresses if not is_public_address(a)]
    if private:
        raise _refuse(
            f"The host '{host}' points to a private or local address ({', '.join(private)}), "
            "which is not allowed. Use a link to a publicly hosted file."
        )
    return addresses
