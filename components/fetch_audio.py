"""Reading HTTP bodies within limits, and downloading the audio link of a Segmind answer safely.

`read_body` reads every body the client receives, from Segmind or from an audio link.

A JSON answer may point to its audio by URL. That URL is text from the network, so following it
blindly would let whoever shapes the answer make this server fetch its own internal addresses
(cloud metadata, admin ports). The default policy downloads only https links whose host
resolves to public addresses only, and connects to the very address it checked: a second DNS
lookup could answer differently (DNS rebinding). No redirects are followed, and the download is
capped in size and time like any answer.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3

from components.errors import InvalidInput
from components.safe_url import resolve_public, validate_reference_url

BLOCK_BYTES = 64 * 1024
# Past the deadline, how long the last bytes of an answer already arriving are waited for.
LATE_GRACE_SECONDS = 1.0


class BodyProblem(Exception):
    """A body that could not be read whole; `received` holds what did arrive."""

    def __init__(self, received: bytes) -> None:
        super().__init__(f"{len(received)} bytes received")
        self.received = received


class BodyTooLarge(BodyProblem):
    pass


class BodyTooSlow(BodyProblem):
    """Still arriving after the deadline and its grace, or silent for a whole read timeout."""


class BodyBrokenOff(BodyProblem):
    """The connection broke, or closed before the declared length arrived."""

    def __init__(self, received: bytes, expected: int | None) -> None:
        super().__init__(received)
        self.expected = expected


def read_body(response: urllib3.HTTPResponse, *, deadline: float, max_bytes: int) -> bytes:
    """The whole body of a streamed response, at most `max_bytes`, read by `deadline`
    (a time.monotonic() value).

    The socket's read timeout applies per read, so a server trickling bytes would never trip
    it; read1 returns whatever has arrived, so the deadline is checked between arrivals. An
    answer still arriving at the deadline gets LATE_GRACE_SECONDS more for its last bytes (they
    may come in several reads), and one that turns out complete is returned whenever that is
    noticed: throwing away an answer that was paid for, for its last bytes being late, helps
    nobody.
    """
    declared = response.length_remaining  # the Content-Length; None when chunked or absent
    if declared is not None and declared > max_bytes:
        raise BodyTooLarge(b"")
    body = bytearray()
    looked_for_the_end = False
    try:
        while block := response.read1(BLOCK_BYTES, decode_content=True):
            body += block
            if len(body) > max_bytes:
                raise BodyTooLarge(bytes(body[:max_bytes]))
            # `closed` turns true once the whole body is in: its length reached, or the end
            # of a chunked body read.
            if time.monotonic() > deadline + LATE_GRACE_SECONDS and not response.closed:
                if response.length_remaining is not None or looked_for_the_end:
                    raise BodyTooSlow(bytes(body))
                # Without a length, only one more read tells whether the body has ended: the
                # end of a chunked body follows its last chunk at once.
                looked_for_the_end = True
    except urllib3.exceptions.ReadTimeoutError:
        raise BodyTooSlow(bytes(body)) from None
    except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError):
        raise BodyBrokenOff(bytes(body), declared) from None
    if response.length_remaining:  # urllib3 raises for this itself; this keeps it so
        raise BodyBrokenOff(bytes(body), declared)
    return bytes(body)


@dataclass(frozen=True)
class AudioUrlPolicy:
    """Which audio links in Segmind's answers may be downloaded.

    `resolve(host, port)` returns the addresses to connect to, or raises InvalidInput to
    refuse; the default, safe_url.resolve_public, refuses a host if any of its addresses is not
    public. Tests swap in a resolver that allows loopback, and "http" in `schemes`.
    """

    schemes: frozenset[str] = frozenset({"https"})
    resolve: Callable[[str, int], Sequence[str]] = resolve_public
    max_urls: int = 3  # links tried per answer; each costs a DNS lookup at least
    ca_certs: str | None = None  # None: the bundle the client verifies Segmind with


class AudioUrlRefused(Exception):
    """The policy forbids this link; nothing was sent to it. The message names no URL."""


class AudioDownloadFailed(Exception):
    """The link was allowed but its download failed; the message names no URL."""


def fetch_audio(
    url: str,
    policy: AudioUrlPolicy,
    *,
    connect_timeout: float,
    read_timeout: float,
    max_bytes: int,
    ca_certs: str,
) -> bytes | None:
    """GET one audio link: its body when it answers 200, else None (a redirect is not
    followed: it could lead anywhere).

    Raises AudioUrlRefused before any connection when the policy forbids the link, and
    AudioDownloadFailed when the download itself fails. The whole download, connecting
    included, takes at most `read_timeout`.
    """
    link = _Link.parse(url, policy)
    deadline = time.monotonic() + read_timeout
    for address in link.addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        timeout = urllib3.Timeout(connect=min(connect_timeout, remaining), read=remaining)
        with link.pool(address, timeout, policy.ca_certs or ca_certs) as pool:
            try:
                response = pool.urlopen(
                    "GET", link.target, headers=link.headers, redirect=False, retries=False,
                    preload_content=False,
                )
            except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError):
                continue  # this address does not answer; the host may have another
            except (urllib3.exceptions.HTTPError, OSError, ValueError) as error:
                raise AudioDownloadFailed(
                    f"the link's server failed ({type(error).__name__})"
                ) from None
            try:
                if response.status != 200:
                    return None
                return read_body(response, deadline=deadline, max_bytes=max_bytes)
            except BodyTooLarge:
                raise AudioDownloadFailed(
                    f"the file is over the {max_bytes / 1e6:g} MB size limit"
                ) from None
            except BodyTooSlow:
                raise AudioDownloadFailed(f"it did not arrive within {read_timeout:g} s") from None
            except BodyBrokenOff as broken:
                raise AudioDownloadFailed(
                    f"it broke off after {len(broken.received):,} bytes"
                ) from None
            finally:
                response.close()
    raise AudioDownloadFailed("could not connect to the link's server")


@dataclass(frozen=True)
class _Link:
    """An allowed link, resolved: where to connect, and what to ask for there."""

    scheme: str
    host: str  # ASCII (IDNA): for the Host header, TLS's server name and its certificate check
    port: int
    addresses: list[str]
    target: str
    headers: dict[str, str]

    @classmethod
    def parse(cls, url: str, policy: AudioUrlPolicy) -> _Link:
        try:
            parts = urlsplit(validate_reference_url(url))  # http(s), a host, no user:password
            port = parts.port or (443 if parts.scheme == "https" else 80)
            host = parts.hostname or ""
            host = host if host.isascii() else host.encode("idna").decode("ascii")
        except (InvalidInput, ValueError, UnicodeError):
            raise AudioUrlRefused("the link is not a valid URL") from None
        if parts.scheme not in policy.schemes:
            only = " and ".join(sorted(policy.schemes))
            raise AudioUrlRefused(f"only {only} links are downloaded")
        try:
            addresses = list(policy.resolve(host, port))
        except InvalidInput:
            raise AudioUrlRefused("the link does not lead to a public address") from None
        if not addresses:
            raise AudioUrlRefused("the link's host has no address")
        bracketed = f"[{host}]" if ":" in host else host
        return cls(
            scheme=parts.scheme,
            host=host,
            port=port,
            addresses=addresses,
            target=(parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
            # The connection goes to a checked address; the Host header stays the link's.
            headers={
                "Host": bracketed if parts.port is None else f"{bracketed}:{parts.port}",
                "Accept": "audio/*",
            },
        )

    def pool(
        self, address: str, timeout: urllib3.Timeout, ca_certs: str
    ) -> urllib3.HTTPConnectionPool:
        """A pool for this one address: urllib3 connects to it as given, with no DNS lookup."""
        if self.scheme == "http":
            return urllib3.HTTPConnectionPool(
                address, self.port, timeout=timeout, retries=False, maxsize=1
            )
        return urllib3.HTTPSConnectionPool(
            address, self.port, timeout=timeout, retries=False, maxsize=1,
            cert_reqs="CERT_REQUIRED", ca_certs=ca_certs,
            server_hostname=self.host, assert_hostname=self.host,
        )
