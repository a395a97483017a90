"""Resolving local `$ref` in profiles at deploy (executors/runtime/profile_refs.py)."""

from __future__ import annotations

from executors.runtime.profile_refs import MAX_EXPANDED_NODES, TYPE_MARK, resolve_profiles


def test_siblings_win_and_objects_carry_their_type_name() -> None:
    profiles = {
        "Order": {
            "type": "object",
            "$defs": {"Line": {"type": "object", "description": "a line", "properties": {}}},
            "properties": {"line": {"$ref": "#/$defs/Line", "description": "the first line"}},
        }
    }
    resolved, issues = resolve_profiles(profiles, "service.profiles")
    assert issues == []
    assert resolved["Order"] == {
        "type": "object",
        "properties": {
            "line": {
                "type": "object",
                "description": "the first line",
                "properties": {},
                TYPE_MARK: "Order - Line",
            }
        },
    }
    assert profiles["Order"]["properties"]["line"] == {  # the package's own text is untouched
        "$ref": "#/$defs/Line",
        "description": "the first line",
    }


def test_a_reference_bomb_is_refused_not_expanded() -> None:
    """Each level references the next twice: 2**30 copies if inlined blindly."""
    defs = {
        f"L{n}": {
            "type": "object",
            "properties": {"a": {"$ref": f"#/$defs/L{n + 1}"}, "b": {"$ref": f"#/$defs/L{n + 1}"}},
        }
        for n in range(30)
    }
    defs["L30"] = {"type": "string"}
    profiles = {
        "Bomb": {"type": "object", "$defs": defs, "properties": {"x": {"$ref": "#/$defs/L0"}}}
    }
    resolved, issues = resolve_profiles(profiles, "service.profiles")
    assert resolved == {}
    (issue,) = issues
    assert issue.path == "service.profiles.Bomb"
    assert f"more than {MAX_EXPANDED_NODES:,} schema nodes" in issue.message
