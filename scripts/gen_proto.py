"""Regenerate the protobuf/gRPC modules under hedui/v1/ from proto/hedui/v1/*.proto.

Usage: python scripts/gen_proto.py [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent


def generate(out: Path) -> None:
    protos = sorted((ROOT / "proto" / "hedui" / "v1").glob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{ROOT / 'proto'}",
        f"-I{include}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *[str(p.relative_to(ROOT / "proto")) for p in protos],
    ]
    if protoc.main(args) != 0:
        sys.exit("protoc failed")
    for package in (out / "hedui", out / "hedui" / "v1"):
        init = package / "__init__.py"
        if not init.exists():
            init.write_text('"""Generated gRPC API of hedui (package hedui.v1)."""\n')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT)
    generate(parser.parse_args().out)


if __name__ == "__main__":
    main()
