"""Regenerate the Python code for protos/*.proto, or check that the committed code matches.

python -m protos.generate          # rewrite protos/flowhost/v1/*_pb2*.py(i)
python -m protos.generate --check  # exit 1 when the committed code has drifted
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "protos" / "flowhost" / "v1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def _generate(out_dir: Path) -> list[Path]:
    from grpc_tools import protoc  # only a development dependency

    sources = sorted(PROTO_DIR.glob("*.proto"))
    args = [
        "protoc",
        f"-I{ROOT}",
        f"-I{Path(protoc.__file__).parent / '_proto'}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(str(s.relative_to(ROOT)) for s in sources),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return sorted(
        p for p in (out_dir / "protos/flowhost/v1").iterdir() if p.name.endswith(GENERATED_SUFFIXES)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when committed code drifted")
    check = parser.parse_args(argv).check
    with tempfile.TemporaryDirectory() as tmp:
        fresh = {p.name: p.read_text() for p in _generate(Path(tmp))}
    committed = {
        p.name: p.read_text() for p in PROTO_DIR.iterdir() if p.name.endswith(GENERATED_SUFFIXES)
    }
    if check:
        if fresh != committed:
            drifted = sorted(
                set(fresh) ^ set(committed) | {n for n in fresh if fresh[n] != committed.get(n)}
            )
            print(
                f"generated code is out of date: {', '.join(drifted)}; "
                "run python -m protos.generate",
                file=sys.stderr,
            )
            return 1
        return 0
    for name, text in fresh.items():
        (PROTO_DIR / name).write_text(text)
    print(f"wrote {len(fresh)} files to {PROTO_DIR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
