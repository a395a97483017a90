"""``file``: store uploaded files in a folder, and list a folder, as Flow ``$File`` documents.

::

    file: {action: save, folder: '$config.invoiceFolder'}             # name: '.file_name'
    file: {action: list, folder: '$config.invoiceFolder'}

``save`` takes an upload process's document (``file_path``, ``file_name``, …; see
docs/packages.md) and moves the uploaded file into the folder under ``name`` (a plain file name;
an existing file is never overwritten: `` (1)``, `` (2)``, … is added). ``list`` gives one
document per regular file of the folder, by name. Both give ``$File`` documents:
``{id, name, mimeType, size, dateCreated, dateModified}``. File system work runs in a worker
thread.
"""

from __future__ import annotations

import asyncio
import datetime
import mimetypes
import os
import shutil
from pathlib import Path
from typing import Any

from ..compile import CompileContext, StepTypeDef
from ..context import RunContext
from ..documents import Document
from ..errors import StepError
from ..expressions import JqProgram

ACTIONS = ("save", "list")


class File:
    __slots__ = ("action", "folder", "name")

    def __init__(self, action: str, folder: JqProgram, name: JqProgram):
        self.action = action
        self.folder = folder
        self.name = name

    async def run(self, documents: list[Document], ctx: RunContext) -> list[Document]:
        folder = await self.folder.first(documents[0], ctx)
        if not isinstance(folder, str) or not folder:
            raise StepError("folder must give a folder path (a string)")
        if self.action == "list":
            records = await asyncio.to_thread(_list, Path(folder))
            return [Document.from_value(r) for r in records]
        output = []
        for document in documents:
            value = document.value
            source = value.get("file_path") if isinstance(value, dict) else None
            if not isinstance(source, str):
                raise StepError("save needs an upload document with file_path")
            name = _plain_name(await self.name.first(document, ctx))
            record = await asyncio.to_thread(_save, Path(source), Path(folder), name)
            if isinstance(value, dict) and value.get("file_content_type"):
                record["mimeType"] = value["file_content_type"]
            output.append(document.with_value(record))
        return output


def _plain_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise StepError("name must give a file name (a non-empty string)")
    if "/" in name or "\\" in name or "\x00" in name or name in (".", ".."):
        raise StepError(f"{name!r} is not a plain file name")
    return name


def _record(path: Path) -> dict[str, Any]:
    stat = path.stat()
    modified = datetime.datetime.fromtimestamp(stat.st_mtime, datetime.UTC)
    return {
        "id": path.name,
        "name": path.name,
        "mimeType": mimetypes.guess_type(path.name)[0] or "application/octet-stream",
        "size": stat.st_size,
        "dateCreated": modified.isoformat(timespec="milliseconds"),
        "dateModified": modified.isoformat(timespec="milliseconds"),
    }


def _list(folder: Path) -> list[dict[str, Any]]:
    if not folder.is_dir():
        return []
    return [_record(p) for p in sorted(folder.iterdir()) if p.is_file()]


def _save(source: Path, folder: Path, name: str) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    stem, suffix = os.path.splitext(name)
    target = folder / name
    count = 0
    while True:
        try:
            # O_EXCL claims the name, so two uploads of one name never overwrite each other.
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            break
        except FileExistsError:
            count += 1
            target = folder / f"{stem} ({count}){suffix}"
    with os.fdopen(fd, "wb") as out, source.open("rb") as data:
        shutil.copyfileobj(data, out, 1024 * 1024)
    return _record(target)


def compile_file(config: Any, ctx: CompileContext) -> File:
    options = ctx.options(config, required=("action", "folder"), optional=("name",))
    action = options.get("action", "save")
    if action not in ACTIONS:
        ctx.issue(f"expected one of {', '.join(ACTIONS)}, got {action!r}", "action")
        action = "save"
    if action == "list" and "name" in options:
        ctx.issue("name goes with action: save", "name")
    return File(
        action,
        ctx.jq(options.get("folder", "."), "folder"),
        ctx.jq(options.get("name", ".file_name"), "name"),
    )


step_type = StepTypeDef("file", compile_file)
