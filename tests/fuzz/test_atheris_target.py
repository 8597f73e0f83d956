"""The atheris target (tests/fuzz/atheris_request.py) is correct without atheris: loaded with a stand-in for the
atheris module, its entry point takes hostile inputs of every target and only documented refusals come out."""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

TARGET = Path(__file__).with_name("atheris_request.py")


def _target() -> Any:
    """The target module, imported with a stand-in ``atheris`` (instrumentation is a no-op)."""
    stand_in = types.ModuleType("atheris")
    stand_in.instrument_imports = contextlib.nullcontext  # type: ignore[attr-defined]
    saved = sys.modules.get("atheris")
    sys.modules["atheris"] = stand_in
    try:
        spec = importlib.util.spec_from_file_location("atheris_request", TARGET)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        if saved is None:
            del sys.modules["atheris"]
        else:
            sys.modules["atheris"] = saved


TARGET_MODULE = _target()
SEEDS = [
    b"\x00" + b'{"members": [' * 3,
    b"\x01" + b"[" * 100_000,
    b"\x01" + b'{"commissioned_by": "x", "purpose": "ASSESSMENT", "signed_at": "0001-01-01T00:00:00+14:00"}',
    b"\x02"
    + b'{"payload": "e30=", "payloadType": "x", "signatures": [{"keyid": "533401197803120118", "sig": "AA=="}]}',
    b"\x03" + b"not a token",
]


def test_the_seeds_run() -> None:
    for seed in SEEDS:
        TARGET_MODULE.test_one_input(seed)


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(st.binary(max_size=300))
def test_hostile_bytes_give_only_documented_refusals(data: bytes) -> None:
    TARGET_MODULE.test_one_input(data)
