"""The Python examples of docs/consent.md run against a real service, so the guide cannot rot."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import re
from pathlib import Path
from typing import Any

import pytest
from harness import REPO, Harness, example_request

from consent import SigningKey
from hedui.v1 import consent_pb2

pytestmark = pytest.mark.integration
GUIDE = REPO / "docs" / "consent.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_the_guide_has_its_examples() -> None:
    blocks = python_blocks()
    assert len(blocks) == 2
    assert 'HEDUI = "127.0.0.1:50051"' in blocks[0]


async def test_the_guides_examples_register_authorizations(harness: Harness, tmp_path: Path) -> None:
    # The case system's key is the one the harness trusts for 533401-civil-affairs.
    (tmp_path / "case-system.pem").write_bytes(harness.key.private_pem())
    (tmp_path / "form-scan.pdf").write_bytes(b"%PDF-1.4 scanned form with fingerprints")
    # Issue 13: the harness's CA and its case system's client certificate, as the guide's files.
    assert harness.pki is not None and harness.client_pair is not None
    (tmp_path / "hedui-ca.pem").write_bytes(harness.pki.ca)
    (tmp_path / "client.pem").write_bytes(harness.client_pair[0])
    (tmp_path / "client.key").write_bytes(harness.client_pair[1])
    blocks = [b.replace('"127.0.0.1:50051"', f'"127.0.0.1:{harness.port}"') for b in python_blocks()]
    namespace: dict[str, Any] = {}
    out = io.StringIO()

    def run() -> None:  # the examples use the blocking gRPC client: run them off the event loop
        with contextlib.chdir(tmp_path), contextlib.redirect_stdout(out):
            for block in blocks:
                exec(compile(block, str(GUIDE), "exec"), namespace)

    await asyncio.to_thread(run)
    paper, own = namespace["authorization"], namespace["own"]
    assert paper.name.startswith("authorizations/") and all(m.signed for m in paper.members)
    assert [(s.kind, s.organisation) for s in paper.signers] == [("organisation", "533401-civil-affairs")]
    assert [s.kind for s in own.signers] == ["member"] and own.members[0].signed
    assert own.signers[0].certified_by == harness.key.keyid
    printed = out.getvalue().splitlines()
    assert printed[0] == f"{paper.name} [('0118', True), ('022X', True)]"
    assert printed[1].startswith(own.name)
    # what the guide registered covers a verification of the two signers
    request = example_request()
    request["members"] = request["members"][:2]
    request["deductions"] = [
        d for d in request["deductions"] if d["id_number"] in {m["id_number"] for m in request["members"]}
    ]
    v = await harness.settle((await harness.create(request, [paper.name])).name)
    assert v.latest_report
    again = await harness.consent.GetAuthorization(consent_pb2.GetAuthorizationRequest(name=own.name))
    assert len(again.member_key_certificates) == 1
    assert isinstance(namespace["phone"], SigningKey)
    assert dt.date.fromisoformat(paper.valid_until) > dt.date.fromisoformat(paper.valid_from)
