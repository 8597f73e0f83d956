"""The committed protobuf/gRPC modules must match the .proto sources."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness import REPO


def test_generated_modules_are_fresh(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(REPO / "scripts" / "gen_proto.py"), "--out", str(tmp_path)], check=True)
    fresh = {p.relative_to(tmp_path): p.read_bytes() for p in (tmp_path / "hedui" / "v1").glob("*_pb2*.py*")}
    committed = {p.relative_to(REPO): p.read_bytes() for p in (REPO / "hedui" / "v1").glob("*_pb2*.py*")}
    assert set(fresh) == set(committed), "generated files differ: run scripts/gen_proto.py"
    stale = sorted(str(name) for name, data in fresh.items() if committed[name] != data)
    assert not stale, f"stale generated modules {stale}: run `python scripts/gen_proto.py`"
