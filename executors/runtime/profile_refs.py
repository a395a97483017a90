"""Local ``$ref`` in profiles, resolved once at deploy into plain schemas.

The JSON Schemas teams already have use ``$defs`` / ``definitions`` and ``$ref`` everywhere, so a
profile may reference

- a schema of its own (``#/$defs/Address``, ``#/definitions/Address``, any JSON pointer), and
- another profile of the package (``Address``), or a schema inside one (``Address#/$defs/Street``).

Nothing else: no URLs and no files, so deploying never fetches anything. Resolving inlines each
reference (its sibling keywords, such as ``description``, win over the target's) and marks an
inlined object schema with ``x-flowhost-type``, the stable name of the Flow type it becomes:
the profile's name for a whole profile, ``<profile> - <name>`` for a definition inside one
(``Order - Address``). The gateway names the type after the mark, so an object referenced from
many places is one Flow type, whatever property it appears under. A reference cycle cannot be
inlined (and Flow types cannot nest themselves): it is refused with its path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import Issue

#: The mark an inlined, referenced object schema carries: the name of its Flow type.
TYPE_MARK = "x-flowhost-type"
#: Past this many schema nodes after inlining, a profile is refused: references to references
#: can double the size at each level (ten levels of two references: a thousand times the text).
MAX_EXPANDED_NODES = 100_000
_DEFINITIONS = ("$defs", "definitions")


class RefError(ValueError):
    """A reference that cannot be resolved; ``path`` is where it is written."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def resolve_profiles(
    profiles: Mapping[str, dict[str, Any]], path: str
) -> tuple[dict[str, dict[str, Any]], list[Issue]]:
    """Every profile with its references inlined; issues for those that cannot be resolved.

    ``path`` is where the profiles sit in the package (``service.profiles``). A profile with an
    issue is left out of the result.
    """
    resolved: dict[str, dict[str, Any]] = {}
    issues: list[Issue] = []
    for name, schema in profiles.items():
        if not _has_ref(schema):
            resolved[name] = schema
            continue
        resolver = _Resolver(profiles, path)
        try:
            inlined = resolver.inline(schema, name, f"{path}.{name}", (name,))
        except RefError as error:
            issues.append(Issue(error.path, error.message))
            continue
        if isinstance(inlined, dict):
            for key in _DEFINITIONS:  # inlined where used; Flow has no use for the rest
                inlined.pop(key, None)
            resolved[name] = inlined
    return resolved, issues


def _has_ref(value: Any) -> bool:
    if isinstance(value, dict):
        return "$ref" in value or any(_has_ref(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_ref(v) for v in value)
    return False


class _Resolver:
    def __init__(self, profiles: Mapping[str, dict[str, Any]], path: str) -> None:
        self.profiles = profiles
        self.path = path
        self.nodes = 0

    def inline(self, value: Any, owner: str, at: str, chain: tuple[str, ...]) -> Any:
        """``value`` (written in profile ``owner``) with every reference replaced by its target.

        ``chain`` holds the references being inlined around this point, in order: meeting one
        of them again is a cycle.
        """
        self.nodes += 1
        if self.nodes > MAX_EXPANDED_NODES:
            raise RefError(
                f"{self.path}.{chain[0]}",
                f"with its $ref inlined the profile has more than {MAX_EXPANDED_NODES:,} "
                "schema nodes",
            )
        if isinstance(value, list):
            return [self.inline(v, owner, f"{at}[{i}]", chain) for i, v in enumerate(value)]
        if not isinstance(value, dict):
            return value
        if "$ref" not in value:
            return {
                k: v if k in _DEFINITIONS else self.inline(v, owner, f"{at}.{k}", chain)
                for k, v in value.items()
            }
        ref = value["$ref"]
        if not isinstance(ref, str):
            raise RefError(f"{at}.$ref", f"expected a string, got {type(ref).__name__}")
        target_owner, pointer = self._split(ref, owner, at)
        key = f"{target_owner}#{pointer}" if pointer else target_owner
        if key in chain:
            cycle = " → ".join((*chain[chain.index(key) :], key))
            raise RefError(f"{at}.$ref", f"$ref cycle: {cycle}")
        target = self._target(target_owner, pointer, ref, at)
        inlined = self.inline(target, target_owner, at, (*chain, key))
        siblings = {
            k: self.inline(v, owner, f"{at}.{k}", chain) for k, v in value.items() if k != "$ref"
        }
        if not isinstance(inlined, dict):
            return inlined
        merged = {k: v for k, v in inlined.items() if k not in _DEFINITIONS} | siblings
        if _is_object(merged):
            merged.setdefault(TYPE_MARK, _type_name(target_owner, pointer))
        return merged

    def _split(self, ref: str, owner: str, at: str) -> tuple[str, str]:
        name, hash_, pointer = ref.partition("#")
        if not hash_ and not name:
            raise RefError(f"{at}.$ref", "an empty $ref")
        name = name or owner
        if name not in self.profiles:
            known = ", ".join(sorted(self.profiles)) or "none"
            if ":" in name or "/" in name or "." in name:
                reason = f"{ref!r} is not local: only #/$defs/…, #/definitions/… or a profile name"
            else:
                reason = f"{ref!r}: the package has no profile {name!r} (profiles: {known})"
            raise RefError(f"{at}.$ref", reason)
        if pointer and not pointer.startswith("/"):
            raise RefError(f"{at}.$ref", f"{ref!r}: the part after # must be a JSON pointer (/…)")
        return name, pointer

    def _target(self, owner: str, pointer: str, ref: str, at: str) -> Any:
        value: Any = self.profiles[owner]
        for token in pointer.split("/")[1:]:
            token = token.replace("~1", "/").replace("~0", "~")
            if isinstance(value, dict) and token in value:
                value = value[token]
            elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
                value = value[int(token)]
            else:
                raise RefError(f"{at}.$ref", f"{ref!r} points at nothing (no {token!r})")
        return value


def _is_object(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    return kind == "object" or (kind is None and "properties" in schema)


def _type_name(owner: str, pointer: str) -> str:
    if not pointer:
        return owner
    last = pointer.rsplit("/", 1)[1].replace("~1", "/").replace("~0", "~")
    return f"{owner} - {last}"
