"""Encryption of PII at rest (AES-256-GCM) with rotatable keys, and masking for display.

Ciphertexts are `v1.<key id>.<nonce+ciphertext, base64url>`: the key id names which key of the
keyring sealed it, so the current key can change while old values stay readable; `rotate`
re-seals a value under the current key.
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_PREFIX = "v1"


class Keyring:
    """Keys by id; the first one given seals new values, all of them open old ones."""

    def __init__(self, secrets: list[str]) -> None:
        if not secrets:
            raise ValueError("a keyring needs at least one key")
        # Any secret string becomes a 256-bit key; its id is a short digest of the key.
        self._keys: dict[str, AESGCM] = {}
        self._current = ""
        for i, secret in enumerate(secrets):
            key = hashlib.sha256(secret.encode()).digest()
            key_id = hashlib.sha256(b"id" + key).hexdigest()[:8]
            self._keys[key_id] = AESGCM(key)
            if i == 0:
                self._current = key_id

    def seal(self, plaintext: str, *, context: str = "") -> str:
        """Encrypt; `context` (for example the column name) must match when opening."""
        nonce = os.urandom(12)
        sealed = self._keys[self._current].encrypt(nonce, plaintext.encode(), context.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{_PREFIX}.{self._current}.{body}"

    def open(self, token: str, *, context: str = "") -> str:
        prefix, key_id, body = token.split(".", 2)
        if prefix != _PREFIX or key_id not in self._keys:
            raise ValueError("sealed with an unknown key")
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        return self._keys[key_id].decrypt(raw[:12], raw[12:], context.encode()).decode()

    def needs_rotation(self, token: str) -> bool:
        return token.split(".", 2)[1] != self._current

    def rotate(self, token: str, *, context: str = "") -> str:
        return self.seal(self.open(token, context=context), context=context)


def mask(value: str, *, visible: int = 4) -> str:
    """`XXXXXX1234`: only the last characters show."""
    if len(value) <= visible:
        return "X" * len(value)
    return "X" * (len(value) - visible) + value[-visible:]
