"""Errors become HTTP in gateway/errors.py: every store refusal has a status chosen for it."""

from __future__ import annotations

import importlib
import pkgutil

import gateway
from gateway.errors import STORE_STATUS, from_store_error
from gateway.store import StoreError, UnknownUser, UserExists


def _store_errors() -> set[type[StoreError]]:
    # Every gateway module, so subclasses defined beside their tables (outbox, configuration)
    # are seen; __main__ would start serving.
    for module in pkgutil.walk_packages(gateway.__path__, "gateway."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    found: set[type[StoreError]] = set()
    pending: list[type[StoreError]] = [StoreError]
    while pending:
        cls = pending.pop()
        found.add(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_every_store_error_code_has_a_status() -> None:
    errors = _store_errors()
    assert len(errors) > 10  # the walk found the subclasses, not only the root
    missing = sorted(cls.code for cls in errors if cls.code not in STORE_STATUS)
    assert missing == [], f"give these store error codes a status in gateway/errors.py: {missing}"


def test_a_store_error_keeps_its_code_message_and_details() -> None:
    error = from_store_error(UserExists("user 'a' already exists", user="a", runtime="prod"))
    assert (error.status, error.code) == (409, "user_exists")
    assert error.message == "user 'a' already exists"
    assert error.details == {"user": "a", "runtime": "prod"}
    assert from_store_error(UnknownUser("no user 'b'", user="b")).status == 404
