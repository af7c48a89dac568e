"""Pseudonymous identifiers and field encryption: the two things that keep a leaked database from naming anyone.

Platform ids become keyed hashes (HMAC-SHA256 with a secret kept outside the database), so a copy of the
database alone cannot be joined back to Telegram or Slack accounts. Message text and other free text are
encrypted field by field with AES-GCM when `privacy.encryption_key` is set.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_SECRET_FILE = "pseudonym.key"
_CIPHER_PREFIX = "enc1:"


def generate_key() -> str:
    """A new `privacy.encryption_key`: 32 random bytes, URL-safe base64 (what `haven keygen` prints)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")


def load_or_create_secret(data_dir: Path) -> bytes:
    """The pseudonymisation secret, created on first run with owner-only permissions."""
    path = data_dir / _SECRET_FILE
    if path.exists():
        return base64.urlsafe_b64decode(path.read_text(encoding="ascii").strip())
    secret = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(base64.urlsafe_b64encode(secret).decode("ascii"))
    return secret


class Pseudonymizer:
    """Stable keyed hashes of platform identifiers."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def key(self, *parts: str) -> str:
        message = "\x1f".join(parts).encode("utf-8")
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    def user_key(self, platform: str, user_id: str) -> str:
        return "u_" + self.key("user", platform, user_id)

    def conversation_key(self, conversation_key: str) -> str:
        return "c_" + self.key("conv", conversation_key)

    def case_id(self, seed: str) -> str:
        """A short case id staff can read aloud; derived, so the same crisis gives the same case."""
        return "HC-" + self.key("case", seed)[:8].upper()


class EncryptionKeyError(ValueError):
    """The configured encryption key is malformed."""


class FieldCipher:
    """AES-256-GCM per field. Without a key it stores text as-is (and the app warns at start)."""

    def __init__(self, key: str | None) -> None:
        self._aead: AESGCM | None = None
        if key:
            try:
                raw = base64.urlsafe_b64decode(key.encode("ascii"))
            except (binascii.Error, ValueError, UnicodeEncodeError):
                raise EncryptionKeyError("privacy.encryption_key is not URL-safe base64; run `haven keygen`") from None
            if len(raw) != 32:
                raise EncryptionKeyError("privacy.encryption_key must decode to 32 bytes; run `haven keygen`")
            self._aead = AESGCM(raw)

    @property
    def enabled(self) -> bool:
        return self._aead is not None

    def encrypt(self, text: str, context: str = "") -> str:
        if self._aead is None:
            return text
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, text.encode("utf-8"), context.encode("utf-8") or None)
        return _CIPHER_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, stored: str, context: str = "") -> str:
        if not stored.startswith(_CIPHER_PREFIX):
            return stored
        if self._aead is None:
            return "[encrypted]"
        blob = base64.urlsafe_b64decode(stored[len(_CIPHER_PREFIX):])
        try:
            return self._aead.decrypt(blob[:12], blob[12:], context.encode("utf-8") or None).decode("utf-8")
        except InvalidTag:
            return "[unreadable: wrong key]"
