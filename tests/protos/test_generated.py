"""The committed generated code matches the .proto files."""

from __future__ import annotations

import pytest

from protos import generate


def test_generated_code_is_current() -> None:
    pytest.importorskip("grpc_tools", reason="grpcio-tools (a dev dependency) regenerates the code")
    assert generate.main(["--check"]) == 0, "run `make proto` and commit the result"
