"""The jq worker process: reads (program, input) frames on stdin, answers the outputs on stdout.

Started by jqworkers.py as ``python -P <this file>`` so it imports nothing of flowhost (start-up
~60 ms, ~25 MB). It holds no state that matters: the executor kills it when a program overruns
its deadline and starts another. Its address space is capped (``RLIMIT_AS``), so a program that
builds a huge value inside libjq ends this process, not the host.

A request frame is an orjson array ``[source, input_text, max_outputs, max_output_bytes,
max_total_bytes]``; the answer is one tag byte and a payload: ``o`` + a JSON array of the
outputs, ``e`` + jq's error message, ``n`` + the limit that stopped the program (``outputs``,
``output_bytes`` or ``total_bytes``): the program is stopped as soon as it passes one. Frames
are a 4-byte big-endian length and the bytes.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import resource
import signal
import struct
import sys
from collections import OrderedDict
from typing import Any, BinaryIO

import jq
import orjson

#: Compiled programs kept; a package has a few dozen programs, a runtime a few hundred.
PROGRAM_CACHE = 512
_HEADER = struct.Struct(">I")
_PR_SET_PDEATHSIG = 1


def main(memory_bytes: int) -> None:
    _die_with_parent()
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    programs: OrderedDict[str, Any] = OrderedDict()
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    while True:
        frame = _read(requests)
        if frame is None:
            return
        _write(answers, _answer(programs, *orjson.loads(frame)))


def _answer(
    programs: OrderedDict[str, Any],
    source: str,
    text: str,
    max_outputs: int,
    max_output_bytes: int,
    max_total_bytes: int,
) -> bytes:
    try:
        program = programs.pop(source, None) or jq.compile(source)
        programs[source] = program
        if len(programs) > PROGRAM_CACHE:
            programs.popitem(last=False)
        encoded: list[bytes] = []
        size = 0
        for value in program.input_text(text):
            if len(encoded) == max_outputs:
                return b"noutputs"
            one = _encode(value)
            if len(one) > max_output_bytes:
                return b"noutput_bytes"
            size += len(one) + 1
            if size > max_total_bytes:
                return b"ntotal_bytes"
            encoded.append(one)
            if max_outputs == 1:
                break
        return b"o[" + b",".join(encoded) + b"]"
    except ValueError as error:
        return b"e" + str(error).encode()


def _encode(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # an integral double beyond 64 bits, handed back as a Python int
        return json.dumps(value).encode()


def _read(stream: BinaryIO) -> bytes | None:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (length,) = _HEADER.unpack(header)
    data = stream.read(length)
    return data if len(data) == length else None


def _write(stream: BinaryIO, data: bytes) -> None:
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _die_with_parent() -> None:
    """Linux: be killed when the executor dies, even while stuck in libjq."""
    # Not Linux: no prctl; the end of stdin still stops an idle worker.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
