"""The docs say what the code does: checked against the code, not against a copy of the docs."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
import yaml

from gateway.auth import Authenticator, AuthError

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
SEPARATOR = re.compile(r"^\|(\s*:?-+:?\s*\|)+\s*$")


def _tables(text: str) -> list[list[str]]:
    """Runs of consecutive ``|`` lines outside code fences: each is one Markdown table."""
    tables: list[list[str]] = []
    current: list[str] = []
    fenced = False
    for line in [*text.splitlines(), ""]:
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("|"):
            current.append(line)
            continue
        if current:
            tables.append(current)
            current = []
    return tables


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_table_has_its_header(doc: Path) -> None:
    """A blank line inside a table makes its second half a paragraph of pipes when rendered."""
    broken = [
        table[0]
        for table in _tables(doc.read_text())
        if len(table) < 2 or not SEPARATOR.match(table[1])
    ]
    assert broken == [], f"{doc.name}: table rows without a header (a blank line above them?)"


def test_the_401_codes_documented_are_the_ones_answered() -> None:
    authenticator = Authenticator()
    answered = set()
    for header in (None, "Basic !!!", "Basic " + base64.b64encode(b"nobody:guess").decode()):
        with pytest.raises(AuthError) as caught:
            authenticator.authenticate(header)
        answered.add(caught.value.code)
    row = next(
        line
        for line in (ROOT / "docs" / "operations.md").read_text().splitlines()
        if line.startswith("| 401 |") and "basic auth" in line
    )
    assert set(re.findall(r"`([a-z_]+)`", row)) == answered


def test_the_example_says_how_many_message_actions_it_has() -> None:
    text = (ROOT / "flowhost" / "examples" / "shop.yaml").read_text()
    numbers = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
    claimed = re.search(r"with (\w+) message actions?", text.splitlines()[0])
    assert claimed is not None
    actions = yaml.safe_load(text)["service"]["actions"]
    assert numbers[claimed.group(1)] == len(actions)


def test_the_architecture_picture_names_only_what_exists() -> None:
    """docs/architecture.dot names each room's files in its tooltips: a move or a rename that
    forgets the picture fails here (redraw with `make diagram`)."""
    source = (ROOT / "docs" / "architecture.dot").read_text()
    named = [
        path
        for tooltip in re.findall(r'tooltip="([^"]*)"', source)
        for path in tooltip.split()
        if path != "-"
    ]
    assert len(named) > 20
    assert [path for path in named if not (ROOT / path).exists()] == []
    svg = (ROOT / "docs" / "architecture.svg").read_text()
    labels = re.findall(r'label="([^"\\]+)', source)
    assert all(label.split(" ")[0] in svg for label in labels if label[:1].isalpha())
