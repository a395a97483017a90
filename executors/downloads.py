"""A download process's file: found in the runtime's files root, then read out in chunks.

A file resource's ``download`` process gets ``{id, resource_path}`` and returns one document
naming the file: ``file_path`` (relative to the runtime's files root, as every path a step
touches), optionally ``file_name`` and ``file_content_type``. The executor checks the path stays
inside the root and the file is within the gateway's size limit, then streams it; the file is
read as it goes out, never held whole.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from executors.runtime.engine import ExecutionFailure, ProcessResult
from executors.runtime.errors import StepError
from executors.runtime.files_root import resolve

#: Bytes per message of the stream: small enough for gRPC's default message limit.
CHUNK_BYTES = 256 * 1024


@dataclass(frozen=True)
class DownloadFile:
    path: Path
    name: str
    content_type: str
    size: int


class DownloadRefused(Exception):
    """The process ran but points at no file that may be sent: ``code`` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def result(self, ran: ProcessResult) -> ProcessResult:
        """The execution's result, failed with this refusal."""
        failure = ExecutionFailure(self.code, self.message, "", False)
        return ProcessResult("failed", error=failure, trace=ran.trace, duration_us=ran.duration_us)


def locate(result: ProcessResult, files_root: str, max_bytes: int) -> DownloadFile:
    """The file the download process returned (raises DownloadRefused)."""
    value = result.documents[0].value if result.documents else None
    path = value.get("file_path") if isinstance(value, dict) else None
    if not isinstance(path, str) or not path:
        raise DownloadRefused(
            "bad_response_document",
            "the download process must return a document with file_path (a path in the "
            "runtime's files root)",
        )
    try:
        target = resolve(files_root, path, "file_path")
    except StepError as outside:
        raise DownloadRefused(outside.code, outside.message) from None
    if not target.is_file():
        raise DownloadRefused("file_not_found", "the file the download process named is not there")
    size = target.stat().st_size
    if size > max_bytes:
        raise DownloadRefused(
            "file_too_large",
            f"the file is larger than the download limit of {max_bytes} bytes "
            "(gateway setting download_max_bytes)",
        )
    assert isinstance(value, dict)
    name = value.get("file_name")
    name = name if isinstance(name, str) and name.strip() else os.path.basename(target)
    kind = value.get("file_content_type")
    if not isinstance(kind, str) or not kind.strip():
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return DownloadFile(target, name, kind, size)


async def chunks(file: DownloadFile) -> AsyncIterator[bytes]:
    """The file's bytes, at most its size when located (a file growing meanwhile is cut)."""
    left = file.size
    opened = await asyncio.to_thread(file.path.open, "rb")
    try:
        while left > 0:
            data = await asyncio.to_thread(opened.read, min(CHUNK_BYTES, left))
            if not data:
                return
            left -= len(data)
            yield data
    finally:
        opened.close()  # not awaited: it must happen when the stream is cancelled too
