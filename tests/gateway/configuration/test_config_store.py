"""Operator configuration in a real store (SQLite and PostgreSQL), its keys and its memory copy."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

from gateway.configuration.keys import ConfigKeyError, ConfigKeys, load_keys, new_key
from gateway.configuration.store import (
    ConfigStore,
    InvalidConfig,
    NoConfigKey,
    UndecryptableConfig,
    UnknownConfig,
)
from gateway.configuration.values import OperatorConfig
from gateway.settings import GatewaySettings
from gateway.store import Store

SECRET = "hunter2-and-more"


@pytest.fixture
def keys() -> ConfigKeys:
    return ConfigKeys([new_key()], "test")


@pytest.fixture
def config(store: Store, keys: ConfigKeys) -> ConfigStore:
    return ConfigStore(store, keys, value_max_bytes=1024)


def _raw(store_url: str, name: str) -> tuple[str, bool]:
    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT value, secret FROM flowhost_config_values WHERE name = :n"),
                {"n": name},
            ).one()
        return row.value, bool(row.secret)
    finally:
        engine.dispose()


def test_set_replace_list_and_unset(config: ConfigStore, store: Store) -> None:
    before = store.generation()
    config.set("prod", "", "apiBase", "https://a.example", secret=False)
    config.set("prod", "", "apiBase", "https://b.example", secret=False)
    config.set("prod", "acme", "apiBase", "https://acme.example", secret=False)
    config.set("dev", "", "apiBase", "http://localhost", secret=False)
    assert store.generation() > before  # other gateways notice
    assert store.runtimes() == ["dev", "prod"]
    assert [(e.tenant, e.value) for e in config.entries("prod")] == [
        ("", "https://b.example"),
        ("acme", "https://acme.example"),
    ]
    config.unset("prod", "acme", "apiBase")
    assert [e.tenant for e in config.entries("prod")] == [""]
    with pytest.raises(UnknownConfig, match="no configuration value 'apiBase' for tenant 'acme'"):
        config.unset("prod", "acme", "apiBase")


def test_a_secret_is_ciphertext_in_the_row(
    config: ConfigStore, keys: ConfigKeys, store_url: str
) -> None:
    config.set("prod", "", "apiKey", SECRET, secret=True)
    value, secret = _raw(store_url, "apiKey")
    assert secret is True
    assert SECRET not in value
    assert keys.decrypt(value) == SECRET
    config.set("prod", "", "plain", "visible", secret=False)
    assert _raw(store_url, "plain") == ("visible", False)


def test_names_tenants_and_sizes_are_checked(config: ConfigStore) -> None:
    with pytest.raises(InvalidConfig, match="invalid configuration name"):
        config.set("prod", "", "no spaces", "x", secret=False)
    with pytest.raises(InvalidConfig, match="invalid tenant id"):
        config.set("prod", "../etc", "name", "x", secret=False)
    with pytest.raises(InvalidConfig, match="config_value_max_bytes"):
        config.set("prod", "", "name", "x" * 1025, secret=False)


def test_without_a_key_secrets_are_refused_and_plain_values_work(store: Store) -> None:
    keyless = ConfigStore(store, None, value_max_bytes=1024)
    with pytest.raises(NoConfigKey, match="FLOWHOST_CONFIG_KEY"):
        keyless.set("prod", "", "apiKey", SECRET, secret=True)
    keyless.set("prod", "", "apiBase", "x", secret=False)
    assert [e.name for e in keyless.entries()] == ["apiBase"]


def test_rotation_re_encrypts_under_the_new_key(store: Store, store_url: str) -> None:
    old, new = new_key(), new_key()
    ConfigStore(store, ConfigKeys([old], "old"), 1024).set("p", "", "apiKey", SECRET, True)
    both = ConfigStore(store, ConfigKeys([new, old], "new,old"), 1024)
    assert both.rotate() == 1
    value, _ = _raw(store_url, "apiKey")
    assert ConfigKeys([new], "new only").decrypt(value) == SECRET
    with pytest.raises(ConfigKeyError):
        ConfigKeys([old], "old only").decrypt(value)


def test_rotation_without_the_old_key_changes_nothing(store: Store, store_url: str) -> None:
    old = new_key()
    ConfigStore(store, ConfigKeys([old], "old"), 1024).set("p", "", "apiKey", SECRET, True)
    before, _ = _raw(store_url, "apiKey")
    with pytest.raises(UndecryptableConfig, match="keep the old key"):
        ConfigStore(store, ConfigKeys([new_key()], "new"), 1024).rotate()
    assert _raw(store_url, "apiKey")[0] == before


def test_an_existing_database_gains_the_table(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with Store(url) as store:
        store.add_user("prod", "alice")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE flowhost_config_values"))  # as before this feature
    engine.dispose()
    with Store(url) as store:
        config = ConfigStore(store, None, 1024)
        config.set("prod", "", "x", "1", secret=False)
        assert [u.name for u in store.users()] == ["alice"]


# --- keys -------------------------------------------------------------------------------------


def test_keys_from_the_setting_first_one_encrypting(tmp_path: Path) -> None:
    first, second = new_key(), new_key()
    keys = load_keys(GatewaySettings(data_dir=tmp_path, config_key=f"{first},{second}"))
    assert keys is not None and keys.count == 2
    token = keys.encrypt(SECRET)
    assert Fernet(first.encode()).decrypt(token.encode()).decode() == SECRET
    old_token = Fernet(second.encode()).encrypt(b"old").decode()
    assert keys.decrypt(old_token) == "old"
    assert not (tmp_path / "config.key").exists()


def test_a_key_file_is_generated_0600_for_the_embedded_store(tmp_path: Path) -> None:
    keys = load_keys(GatewaySettings(data_dir=tmp_path))
    path = tmp_path / "config.key"
    assert keys is not None and path.stat().st_mode & 0o777 == 0o600
    again = load_keys(GatewaySettings(data_dir=tmp_path))
    assert again is not None and again.decrypt(keys.encrypt("x")) == "x"  # the same key


def test_no_key_is_invented_for_a_shared_database(tmp_path: Path) -> None:
    settings = GatewaySettings(data_dir=tmp_path, database_url="postgresql://db/flowhost")
    assert load_keys(settings) is None
    assert not (tmp_path / "config.key").exists()


def test_a_malformed_key_is_refused_with_the_way_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigKeyError, match="flowhost config new-key"):
        load_keys(GatewaySettings(data_dir=tmp_path, config_key="not-a-key"))
    keyfile = tmp_path / "keys"
    keyfile.write_text(f"# rotated 2026-12\n{new_key()}\n")
    keys = load_keys(GatewaySettings(data_dir=tmp_path, config_key_file=keyfile))
    assert keys is not None and keys.count == 1


# --- the in-memory copy -----------------------------------------------------------------------


def test_memory_copy_decrypts_merges_tenants_and_marks_secrets(
    config: ConfigStore, keys: ConfigKeys
) -> None:
    config.set("prod", "", "apiBase", "https://all", secret=False)
    config.set("prod", "acme", "apiBase", "https://acme", secret=False)
    config.set("prod", "", "apiKey", SECRET, secret=True)
    config.set("prod", "", "unrelated", "x", secret=False)
    memory = OperatorConfig()
    memory.load(config.entries(), keys)
    prod = memory.of("prod")
    declared = frozenset({"apiBase", "apiKey"})
    assert prod.for_service(declared, None) == {"apiBase": "https://all", "apiKey": SECRET}
    assert prod.for_service(declared, "acme")["apiBase"] == "https://acme"
    assert prod.for_service(declared, "globex")["apiBase"] == "https://all"
    assert prod.secrets == {"apiKey"}
    prod.for_service(declared, None)["apiBase"] = "changed by a caller"
    assert prod.for_service(declared, None)["apiBase"] == "https://all"
    assert memory.of("unknown").for_service(declared, None) == {}


def test_a_value_no_key_decrypts_is_marked_not_served(config: ConfigStore, store: Store) -> None:
    config.set("prod", "", "apiKey", SECRET, secret=True)
    memory = OperatorConfig()
    memory.load(config.entries(), ConfigKeys([new_key()], "another key"))
    assert memory.of("prod").undecryptable == {"apiKey"}
    assert memory.of("prod").for_service(frozenset({"apiKey"}), None) == {}


def test_sealing_encrypts_a_value_that_became_a_password(
    config: ConfigStore, keys: ConfigKeys, store_url: str
) -> None:
    config.set("prod", "", "apiKey", SECRET, secret=False)  # before the package said password
    assert config.seal([("prod", "", "apiKey"), ("prod", "", "absent")]) == 1
    value, secret = _raw(store_url, "apiKey")
    assert secret is True and keys.decrypt(value) == SECRET
    assert config.seal([("prod", "", "apiKey")]) == 0  # idempotent
