"""Upload file names are checked in the multipart reader, before any file byte is handed on."""

from __future__ import annotations

import pytest

from gateway.errors import BadRequest
from gateway.flow.multipart import MultipartReader, file_name_problem

CONTENT_TYPE = b"multipart/form-data; boundary=b0undary"


def _body(filename: bytes) -> bytes:
    return (
        b"--b0undary\r\n"
        b'Content-Disposition: form-data; name="file"; filename="' + filename + b'"\r\n'
        b"Content-Type: text/plain\r\n\r\n"
        b"secret bytes\r\n"
        b"--b0undary--\r\n"
    )


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        (b"invoice 2026-12.pdf", None),
        ("Rechnung März.pdf".encode(), None),
        (b"..x", None),  # dots inside a name are fine
        (b"../x", "it holds a path separator"),
        (b"/abs", "it holds a path separator"),
        (b"..\\x", "it holds a path separator"),
        (b"..", "it names a folder"),
        (b".", "it names a folder"),
        (b"a\x00b", "it holds a control character"),
        (b"a\x1b[31mb", "it holds a control character"),
        ("a\u202eb".encode(), "it holds a control character"),  # RIGHT-TO-LEFT OVERRIDE
        (b"", "it is empty"),
        (b"   ", "it is empty"),
        (b"\xff\xfe", "it is not UTF-8 text"),
        (b"x" * 256, "it is longer than 255 bytes"),
        ("é".encode() * 128, "it is longer than 255 bytes"),  # 256 bytes, 128 characters
    ],
)
def test_file_names(name: bytes, problem: str | None) -> None:
    found = file_name_problem(name, 255)
    assert found == problem if problem is None else found is not None and found.startswith(problem)


def test_a_bad_name_is_refused_before_any_file_byte_comes_out() -> None:
    reader = MultipartReader(CONTENT_TYPE, 1024)
    body = _body(b"../../etc/passwd")
    with pytest.raises(BadRequest) as caught:
        for i in range(len(body)):  # byte by byte: no chunk boundary lets a byte through
            assert reader.feed(body[i : i + 1]) == []
    assert caught.value.code == "invalid_file_name"
    assert "passwd" not in caught.value.message and "etc" not in caught.value.message


def test_a_good_name_streams_the_file() -> None:
    reader = MultipartReader(CONTENT_TYPE, 1024)
    assert b"".join(reader.feed(_body(b"notes.txt"))) == b"secret bytes"
    assert reader.file is not None and reader.file.name == "notes.txt"
    assert reader.ended
