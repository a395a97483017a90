"""The keys that encrypt secret configuration values at rest, kept outside the database.

`cryptography`'s Fernet (AES-128-CBC + HMAC-SHA256, with a timestamp) is made for exactly this,
and MultiFernet gives rotation: encrypt with the first key, decrypt with any, `rotate` re-encrypts
a token under the first key.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from gateway.settings import GatewaySettings

log = logging.getLogger("flowhost.gateway")

KEY_FILE = "config.key"

__all__ = ["KEY_FILE", "ConfigKeyError", "ConfigKeys", "load_keys", "new_key"]


class ConfigKeyError(Exception):
    """A key is malformed, or a value cannot be decrypted with the keys at hand."""


def new_key() -> str:
    return Fernet.generate_key().decode()


class ConfigKeys:
    """Encrypts with the first key; decrypts with any."""

    def __init__(self, keys: list[str], source: str) -> None:
        if not keys:
            raise ConfigKeyError(f"{source} holds no key")
        try:
            self._fernet = MultiFernet([Fernet(key.strip().encode()) for key in keys])
        except (ValueError, TypeError):
            raise ConfigKeyError(
                f"{source}: a configuration key must be 32 url-safe base64-encoded bytes "
                "(make one with `flowhost config new-key`)"
            ) from None
        self.count = len(keys)
        self.source = source
        #: The encrypting key, which every gateway sharing the store holds: download links are
        #: signed with a key derived from it (gateway/flow/download_links.py).
        self.first = keys[0].strip().encode()

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise ConfigKeyError(
                f"a secret value cannot be decrypted with the keys of {self.source}"
            ) from None

    def rotate(self, token: str) -> str:
        """The same value encrypted under the first key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise ConfigKeyError(
                f"a secret value cannot be decrypted with the keys of {self.source}"
            ) from None


def load_keys(settings: GatewaySettings) -> ConfigKeys | None:
    """The configured keys; None when there are none (secret values then cannot be set).

    Order: FLOWHOST_CONFIG_KEY, then config_key_file, then data_dir/config.key, which is
    generated on first start when the store is the embedded SQLite (`flowhost up`): a gateway
    sharing PostgreSQL with others must be given the same key as they, never a fresh one.
    """
    inline = settings.config_key.get_secret_value()
    if inline.strip():
        return ConfigKeys(_split(inline.replace(",", "\n")), "FLOWHOST_CONFIG_KEY")
    if settings.config_key_file is not None:
        return ConfigKeys(_read(settings.config_key_file), str(settings.config_key_file))
    path = settings.data_dir / KEY_FILE
    if path.exists():
        return ConfigKeys(_read(path), str(path))
    if settings.database_url:
        return None
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(new_key() + "\n")
    log.info("generated the configuration encryption key in %s", path)
    return ConfigKeys(_read(path), str(path))


def _read(path: Path) -> list[str]:
    try:
        return _split(path.read_text())
    except OSError as error:
        raise ConfigKeyError(f"cannot read the configuration key file {path}: {error}") from None


def _split(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
