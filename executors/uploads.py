"""An uploaded file on its way to an upload process: chunks spooled to a temporary file.

The gateway streams a file as chunks (never one message); each is appended to a temporary file
(in ``TMPDIR``) as it arrives, refusing any chunk that would take it past the limit, so neither
memory nor disk holds more than the limit. The upload process gets the file's path in its
document (docs/packages.md, "File resources"); the file is deleted when the execution ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from typing import Any, BinaryIO

import orjson

from executors.runtime.documents import Document


class UploadTooLarge(Exception):
    """The file passed the upload limit; nothing past the limit was written."""


class SpooledUpload:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        fd, self.path = tempfile.mkstemp(prefix="flowhost-upload-")
        self._file: BinaryIO | None = os.fdopen(fd, "wb")
        self.size = 0

    async def write(self, data: bytes) -> None:
        if self.size + len(data) > self.max_bytes:
            raise UploadTooLarge(
                f"the file is larger than the upload limit of {self.max_bytes} bytes"
            )
        assert self._file is not None
        await asyncio.to_thread(self._file.write, data)
        self.size += len(data)

    async def complete(self) -> None:
        if self._file is not None:
            await asyncio.to_thread(self._file.close)
            self._file = None

    def document(self, sent: list[Document]) -> list[Document]:
        """The upload process's document: what the gateway sent, plus file_path and file_size."""
        first = sent[0] if sent else Document.from_value({})
        value: Any = first.value if isinstance(first.value, dict) else {}
        value = {**value, "file_path": self.path, "file_size": self.size}
        return [Document(orjson.dumps(value), value, dict(first.properties))]

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
