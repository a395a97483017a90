"""A streaming reader of Flow's multipart upload body (``POST /file/content``).

Flow sends two parts (flow-protocol.md §3.4): the ``FileDataRequest`` JSON (the part of that
name, or the one whose content type is ``application/json``) and the file (the part with a file
name, usually named ``file``). Body chunks go in as they arrive; the file's bytes come out as
they are parsed, so nothing holds the whole file. The JSON part is kept, up to `json_limit`
bytes. Parsing is python-multipart's low-level parser.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from gateway.errors import BadRequest, PayloadTooLarge

JSON_PART = b"FileDataRequest"
# Characters a plain file name never holds: controls, format characters (bidi overrides) and
# line or paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def file_name_problem(raw: bytes, max_bytes: int) -> str | None:
    """Why `raw` is not a plain file name a file resource may store, or None.

    The reason never repeats the name: a refusal must not echo paths back.
    """
    if len(raw) > max_bytes:
        return f"it is longer than {max_bytes} bytes (upload_file_name_max_bytes)"
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "it is not UTF-8 text"
    if not name.strip():
        return "it is empty"
    if "/" in name or "\\" in name:
        return "it holds a path separator (/ or \\); send a plain file name"
    if name in (".", ".."):
        return "it names a folder (. or ..), not a file"
    if any(unicodedata.category(c) in _REFUSED_CATEGORIES for c in name):
        return "it holds a control character (NUL, line breaks and the like)"
    return None


@dataclass
class FilePart:
    name: str
    content_type: str


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    kind: str = "ignored"  # json | file | ignored


def boundary(content_type: bytes | None) -> bytes:
    """The boundary of a multipart/form-data body; 400 for any other body."""
    media, options = parse_options_header(content_type or b"")
    if media != b"multipart/form-data" or not options.get(b"boundary"):
        raise BadRequest(
            "an upload is multipart/form-data with a FileDataRequest JSON part and a file part",
            code="not_multipart",
        )
    return options[b"boundary"]


class MultipartReader:
    def __init__(
        self, content_type: bytes | None, json_limit: int, name_max_bytes: int = 255
    ) -> None:
        self._json_limit = json_limit
        self._name_max_bytes = name_max_bytes
        self.json: bytearray | None = None
        self.file: FilePart | None = None
        self._pending: list[bytes] = []
        self._part = _Part()
        self._field = b""
        self._value = b""
        self.ended = False
        self._parser = MultipartParser(
            boundary(content_type),
            {
                "on_part_begin": self._begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._data,
                "on_end": self._end,
            },
        )

    def feed(self, chunk: bytes) -> list[bytes]:
        """Parse the next body chunk; answer the file bytes it held (slices, in order)."""
        try:
            self._parser.write(chunk)
        except MultipartParseError as error:
            raise BadRequest(
                f"malformed multipart body: {error}", code="malformed_multipart"
            ) from None
        pending, self._pending = self._pending, []
        return pending

    # python-multipart callbacks -------------------------------------------------------------

    def _begin(self) -> None:
        self._part = _Part()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._part.headers[self._field.lower()] = self._value
        self._field = self._value = b""

    def _headers_finished(self) -> None:
        _, disposition = parse_options_header(self._part.headers.get(b"content-disposition"))
        media, _ = parse_options_header(self._part.headers.get(b"content-type"))
        name = disposition.get(b"name")
        filename = disposition.get(b"filename")
        if self.json is None and (
            name == JSON_PART or (media == b"application/json" and not filename)
        ):
            self._part.kind = "json"
            self.json = bytearray()
        elif filename is not None or name == b"file":
            if self.file is not None:
                raise BadRequest("an upload holds one file part", code="malformed_multipart")
            # Refused here, before a byte of the file is handed on to an executor.
            problem = file_name_problem(filename or b"", self._name_max_bytes)
            if problem is not None:
                raise BadRequest(
                    f"the upload's file name is refused: {problem}", code="invalid_file_name"
                )
            self._part.kind = "file"
            self.file = FilePart(
                name=(filename or b"").decode("utf-8"),
                content_type=media.decode("latin-1") or "application/octet-stream",
            )

    def _data(self, data: bytes, start: int, end: int) -> None:
        kind = self._part.kind
        if kind == "file":
            self._pending.append(data[start:end])
        elif kind == "json":
            assert self.json is not None
            self.json += data[start:end]
            if len(self.json) > self._json_limit:
                raise PayloadTooLarge(
                    f"the FileDataRequest part is larger than {self._json_limit} bytes"
                )

    def _end(self) -> None:
        self.ended = True
