"""The server's secret, and the keyed hashes made with it: ids of takes and voices that no one
can compute from guessed content, and signatures on the records the browser keeps."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import tempfile
from pathlib import Path

SECRET_FILE = "secret.key"
_SECRET_BYTES = 32

log = logging.getLogger("chatterbox.signing")


class Signer:
    """HMAC-SHA256 under one secret; each use names its purpose, so an id of one kind can never
    pass as another kind (a voice id as a take id, a record's signature as an id)."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the secret must be at least 16 bytes")
        self._secret = secret

    @classmethod
    def in_folder(cls, folder: str | os.PathLike[str]) -> Signer:
        """The secret kept in `folder`, created on first use, so ids and signed records stay
        valid across restarts. A folder that cannot be written gets a secret for this process
        only: takes made before a restart then stop verifying, which loses nothing paid for
        (the browser drops their records; the audio would replay from the cache)."""
        try:
            return cls(_load_or_create(Path(folder) / SECRET_FILE))
        except OSError as error:
            log.warning(
                "could not keep the signing secret in %s (%s); using one for this process only",
                folder, type(error).__name__,
            )
            return cls(secrets.token_bytes(_SECRET_BYTES))

    def digest(self, purpose: str, data: bytes) -> str:
        """64 hex characters, like a cache key."""
        message = purpose.encode("utf-8") + b"\x00" + data
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def verify(self, purpose: str, data: bytes, signature: object) -> bool:
        return isinstance(signature, str) and hmac.compare_digest(
            self.digest(purpose, data), signature
        )


def _load_or_create(path: Path) -> bytes:
    try:
        secret = path.read_bytes()
        if len(secret) >= _SECRET_BYTES:
            return secret
        log.warning("the signing secret in %s is too short; making a new one", path.parent)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole to a private temp file, then linked into place: a crash never leaves half
    # a secret, and of two processes starting at once, the second adopts the first's secret.
    descriptor, temp_name = tempfile.mkstemp(dir=path.parent, prefix=".secret.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:  # mkstemp makes it readable by us only
            file.write(secrets.token_bytes(_SECRET_BYTES))
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temp_name, path)
        except FileExistsError:  # another process won, or a short secret is being replaced
            if len(path.read_bytes()) < _SECRET_BYTES:
                os.replace(temp_name, path)
    finally:
        if os.path.exists(temp_name):
            os.unlink(temp_name)
    return path.read_bytes()
