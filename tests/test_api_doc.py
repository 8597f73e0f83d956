"""docs/api.md stays true to the code: the error table is the catalogue, the page sizes are the code's, and the
vendored google/rpc protos are the ones hedui's Python side uses."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import google.rpc
import pytest

from verifier.errors import Reason
from verifier.operations import _names, audit_queries

ROOT = Path(__file__).resolve().parents[1]
API = ROOT / "docs" / "api.md"
VENDORED = ROOT / "proto" / "third_party" / "google" / "rpc"


def _error_rows() -> list[tuple[str, str]]:
    """(reason, status) of each row of the error table, in order."""
    section = API.read_text(encoding="utf-8").split("## Errors", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([A-Z_]+)` \| `([A-Z_]+)` \|", section, flags=re.MULTILINE)


def catalogue_rows() -> list[tuple[str, str]]:
    """The rows the catalogue (verifier/errors.py) generates: every reason with its gRPC code, in its order."""
    return [(reason.value, reason.code) for reason in Reason]


def test_the_error_table_is_the_catalogue() -> None:
    missing = [row for row in catalogue_rows() if row not in _error_rows()]
    template = "\n".join(f"| `{reason}` | `{code}` | … |" for reason, code in missing)
    assert _error_rows() == catalogue_rows(), f"docs/api.md's error table differs; rows to add:\n{template}"


def test_the_page_sizes_are_the_codes() -> None:
    text = " ".join(API.read_text(encoding="utf-8").split())
    assert f"20, at most {_names.MAX_PAGE_SIZE}, for `ListVerifications` and `ListAuthorizations`" in text
    assert f"50, at most {audit_queries.MAX_AUDIT_PAGE_SIZE}, for `ListAuditEvents`" in text
    sources = {
        20: ("verifier/operations/verifications.py", "verifier/operations/authorizations.py"),
        50: ("verifier/operations/audit_queries.py",),
    }
    for default, modules in sources.items():
        for module in modules:
            assert f"page_size or {default}," in (ROOT / module).read_text(encoding="utf-8"), module


@pytest.mark.parametrize("name", ["status.proto", "error_details.proto", "code.proto"])
def test_the_vendored_protos_are_googleapis_unchanged(name: str) -> None:
    installed = Path(google.rpc.__path__[0]) / name
    assert (VENDORED / name).read_bytes() == installed.read_bytes()


def test_the_vendored_protos_compile_beside_hedui_s(tmp_path: Path) -> None:
    protos = [str(p.relative_to(ROOT / "proto")) for p in (ROOT / "proto" / "hedui" / "v1").glob("*.proto")]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-I",
            str(ROOT / "proto"),
            "-I",
            str(ROOT / "proto" / "third_party"),
            f"--descriptor_set_out={tmp_path / 'all.pb'}",
            *protos,
            "google/rpc/status.proto",
            "google/rpc/error_details.proto",
            "google/rpc/code.proto",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "all.pb").stat().st_size > 0
