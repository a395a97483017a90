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

``folder`` is relative to the runtime's files root (the operator's policy, files_root.py):
absolute paths, ``..`` out of it and symbolic links out of it are refused
(``path_outside_root``). ``save`` only takes a file an upload spooled (``file_path`` of the
upload document) or one inside the root, so a process cannot copy a host file into the root.
"""

from __future__ import annotations

import asyncio
import datetime
import mimetypes
import os
import shutil
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

from ..compile import CompileContext, StepTypeDef
from ..context import RunContext
from ..documents import Document
from ..errors import StepError
from ..expressions import JqProgram
from ..files_root import resolve, root_folder

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
        root = ctx.policy.files_root
        target = resolve(root, folder)
        if self.action == "list":
            records = await asyncio.to_thread(_list, target)
            return [Document.from_value(r) for r in records]
        output = []
        for document in documents:
            value = document.value
            source = value.get("file_path") if isinstance(value, dict) else None
            if not isinstance(source, str):
                raise StepError("save needs an upload document with file_path")
            name = _plain_name(await self.name.first(document, ctx))
            try:
                record = await asyncio.to_thread(_save, _upload_source(root, source), target, name)
            except OSError as error:  # its text names the path; the reason is enough
                reason = error.strerror or type(error).__name__
                raise StepError(f"cannot store the file: {reason}", code="file_error") from None
            if isinstance(value, dict) and value.get("file_content_type"):
                record["mimeType"] = value["file_content_type"]
            output.append(document.with_value(record))
        return output


# Longest name stored, in UTF-8 bytes: what common file systems hold (NAME_MAX).
NAME_MAX_BYTES = 255


def _plain_name(name: Any) -> str:
    """The name, when it is a plain file name; the refusals never repeat it (no path echoes)."""
    if not isinstance(name, str) or not name.strip():
        raise StepError("name must give a file name (a non-empty string)", code="invalid_file_name")
    if "/" in name or "\\" in name or name in (".", ".."):
        raise StepError("the file name is not a plain file name", code="invalid_file_name")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):  # NUL, breaks
        raise StepError("the file name holds a control character", code="invalid_file_name")
    if len(name.encode("utf-8", "surrogatepass")) > NAME_MAX_BYTES:
        raise StepError(
            f"the file name is longer than {NAME_MAX_BYTES} bytes", code="invalid_file_name"
        )
    return name


#: Uploads are spooled to temporary files of this prefix (executors/uploads.py).
UPLOAD_PREFIX = "flowhost-upload-"


def _upload_source(root: str, source: str) -> Path:
    """The file `save` copies: an upload's spooled file, or a file inside the files root."""
    path = Path(os.path.realpath(source))
    spooled = Path(os.path.realpath(tempfile.gettempdir()))
    if path.parent == spooled and path.name.startswith(UPLOAD_PREFIX):
        return path
    inside = root_folder(root)
    if inside in path.parents:
        return path
    raise StepError(
        "save takes the file of an upload (file_path of the upload document) or a file inside "
        "the runtime's files root",
        code="path_outside_root",
    )


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
    # Symbolic links are not listed: one could point out of the root.
    return [_record(p) for p in sorted(folder.iterdir()) if p.is_file() and not p.is_symlink()]


def _save(source: Path, folder: Path, name: str) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    stem, suffix = os.path.splitext(name)
    target = folder / name
    count = 0
    while True:
        try:
            # O_EXCL claims the name, so two uploads of one name never overwrite each other.
            # O_NOFOLLOW: never write through a symbolic link planted under that name.
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
            fd = os.open(target, flags, 0o600)
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
