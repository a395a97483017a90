"""Gateways started together on one empty PostgreSQL database all come up: each creates the
tables it keeps there (the store's, the callback outbox, the history, the console's sessions),
and simultaneous CREATE TABLEs would otherwise collide (DuplicateTable: that gateway exits)."""

from __future__ import annotations

import threading

from sqlalchemy import create_engine, inspect

from gateway.callbacks.outbox import Outbox
from gateway.console.sessions import SessionStore
from gateway.history.store import HistoryStore
from gateway.store import Store

GATEWAYS = 6


def test_gateways_starting_at_once_on_an_empty_database_all_start(
    postgres_schema_url: str,
) -> None:
    ready = threading.Barrier(GATEWAYS)
    failures: list[BaseException] = []
    stores: list[Store] = []

    def start() -> None:
        try:
            store = Store(postgres_schema_url)
            stores.append(store)
            ready.wait(10)  # the store's own schema is serialised; these three race
            Outbox(store.engine)
            HistoryStore(store.engine)
            SessionStore(store.engine, lifetime_s=60, idle_s=60)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=start) for _ in range(GATEWAYS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    try:
        assert failures == []
        engine = create_engine(postgres_schema_url)
        tables = set(inspect(engine).get_table_names())
        engine.dispose()
        assert {"flowhost_callbacks", "flowhost_execution_blocks"} <= tables, tables
    finally:
        for store in stores:
            store.close()
