"""Runtime labels (`tier=prod`, `customer=acme`) in the gateway's store, and the selectors that
pick runtimes by them (`flowhost deploy --where customer=acme`).

Keys and values follow Kubernetes label syntax, because operators already know it and it keeps
labels safe in URLs, CLI arguments and tables: a key is a name of at most 63 characters
(letters, digits, `-`, `_`, `.`, starting and ending with a letter or digit), optionally after a
DNS-name prefix and a slash; a value is empty or such a name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from sqlalchemy import delete, insert, select, update

from gateway.store.errors import InvalidLabel, UnknownRuntime
from gateway.store.schema import LABEL_VALUE_MAX, check_name, runtime_labels, runtimes
from gateway.store.store import Store

__all__ = ["LabelStore", "matches", "parse_label", "parse_selector"]

_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?")
_PREFIX = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")
_PREFIX_MAX = 253
#: A runtime carries at most this many labels (GatewaySettings.runtime_labels_max by default).
LABELS_MAX_DEFAULT = 64


def check_key(key: str) -> None:
    prefix, slash, name = key.rpartition("/")
    good_prefix = not slash or (len(prefix) <= _PREFIX_MAX and _PREFIX.fullmatch(prefix))
    if not good_prefix or not _NAME.fullmatch(name):
        raise InvalidLabel(
            f"invalid label key {key[:100]!r}: use at most 63 letters, digits and - _ . "
            "(starting and ending with a letter or digit), optionally after a DNS-name prefix "
            "and a slash (example.com/tier)",
            label=key[:100],
        )


def check_value(key: str, value: str) -> None:
    if value and not _NAME.fullmatch(value):
        raise InvalidLabel(
            f"invalid value {value[:100]!r} of label {key!r}: empty, or at most "
            f"{LABEL_VALUE_MAX} letters, digits and - _ . (starting and ending with a letter or "
            "digit)",
            label=key,
        )


def parse_label(text: str) -> tuple[str, str]:
    """'tier=prod' -> ('tier', 'prod'), checked; InvalidLabel naming what is wrong."""
    key, equals, value = text.partition("=")
    if not equals:
        raise InvalidLabel(f"label {text[:100]!r} is not key=value", label=text[:100])
    check_key(key)
    check_value(key, value)
    return key, value


def parse_selector(texts: Iterable[str]) -> dict[str, str]:
    """`--where` selectors (each key=value, all AND-ed) as one mapping."""
    selector: dict[str, str] = {}
    for text in texts:
        key, value = parse_label(text)
        if key in selector and selector[key] != value:
            raise InvalidLabel(
                f"selector names label {key!r} twice with different values; nothing can match",
                label=key,
            )
        selector[key] = value
    return selector


def matches(labels: Mapping[str, str], selector: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


class LabelStore:
    def __init__(self, store: Store, max_labels: int = LABELS_MAX_DEFAULT) -> None:
        self._store = store
        self._max = max_labels

    def all(self) -> dict[str, dict[str, str]]:
        """Every runtime's labels, by runtime (runtimes without labels are absent)."""
        found: dict[str, dict[str, str]] = {}
        query = select(runtime_labels).order_by(runtime_labels.c.runtime, runtime_labels.c.key)
        with self._store.engine.connect() as conn:
            for row in conn.execute(query):
                found.setdefault(row.runtime, {})[row.key] = row.value
        return found

    def change(
        self,
        runtime: str,
        set_labels: Mapping[str, str],
        remove: Iterable[str] = (),
        create: bool = False,
    ) -> dict[str, str]:
        """Set and remove labels of `runtime` in one write; returns its labels after.

        The runtime must exist unless `create` (`runtimes add --label`): a typo must not make
        a new one."""
        check_name("runtime", runtime)
        for key, value in set_labels.items():
            check_key(key)
            check_value(key, value)
        removed = list(remove)
        for key in removed:
            check_key(key)
        table = runtime_labels
        with self._store.write() as write:
            conn = write.connection
            if create:
                write.ensure_runtime(runtime)
            elif conn.execute(select(runtimes.c.name).where(runtimes.c.name == runtime)).first():
                pass
            else:
                raise UnknownRuntime(
                    f"no runtime {runtime!r}: create it with `flowhost runtimes add {runtime}`",
                    runtime=runtime,
                )
            rows = conn.execute(
                select(table.c.key, table.c.value).where(table.c.runtime == runtime)
            )
            current = {r.key: r.value for r in rows}
            after = {k: v for k, v in current.items() if k not in removed} | dict(set_labels)
            if len(after) > self._max:
                raise InvalidLabel(
                    f"runtime {runtime!r} would carry {len(after)} labels; the limit is "
                    f"{self._max} (setting FLOWHOST_RUNTIME_LABELS_MAX)",
                    runtime=runtime,
                )
            if after == current:
                return after
            for key in set(current) - set(after):
                conn.execute(delete(table).where(table.c.runtime == runtime, table.c.key == key))
            for key, value in after.items():
                if key not in current:
                    conn.execute(insert(table).values(runtime=runtime, key=key, value=value))
                elif current[key] != value:
                    conn.execute(
                        update(table)
                        .where(table.c.runtime == runtime, table.c.key == key)
                        .values(value=value)
                    )
            write.changed()
        return after
