"""The request's printed one-line texts, ``household_address`` and ``case_number`` (issue 14, review B11): a
character that would not print as itself (a bidi override reversing a house number, a zero-width or format
character, a line or paragraph separator, a C0 or C1 control) is refused with a field violation naming the field,
by verifier/request.py and over gRPC as ``request.<field>``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import grpc
import pytest
from harness import Harness, error_details, example_request

from verifier.request import RequestError, parse_request

TODAY = dt.date(2026, 11, 1)
ADDRESS = "云南省迪庆州香格里拉市建塘镇1234号"
# One of each kind the rule refuses, by code point (categories Cc, Cf, Zl, Zp, and a lone surrogate Cs).
HOSTILE = [
    "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",  # bidi embeddings and overrides
    "\u2066", "\u2067", "\u2068", "\u2069",  # bidi isolates
    "\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u2060", "\ufeff", "\u00ad", "\u061c",  # zero-width, marks
    "\u2028", "\u2029",  # line and paragraph separators
    "\u0000", "\u0009", "\u000a", "\u001b", "\u007f", "\u0080", "\u0085", "\u009f",  # C0, DEL, C1
    "\ud800",  # a lone surrogate (JSON allows "\\ud800"; UTF-8 cannot carry it)
]  # fmt: skip


def _refused(field: str, value: str) -> str:
    """The one violation parsing the example with ``field`` set to ``value`` gives; its description."""
    with pytest.raises(RequestError) as caught:
        parse_request({**example_request(), field: value}, today=TODAY)
    found = [(v.field, v.description) for v in caught.value.violations]
    assert len(found) == 1 and found[0][0] == field, found
    return found[0][1]


@pytest.mark.parametrize("field", ["household_address", "case_number"])
@pytest.mark.parametrize("character", HOSTILE, ids=[f"U+{ord(c):04X}" for c in HOSTILE])
def test_an_unprintable_character_is_refused_naming_it(field: str, character: str) -> None:
    description = _refused(field, f"建塘镇{character}1234号")
    assert f"contains U+{ord(character):04X}" in description
    assert "at most 200 characters" in description


def test_the_reviewers_bidi_address_and_broken_case_number_are_refused() -> None:
    assert "U+202E" in _refused("household_address", "云南省迪庆州香格里拉市建塘镇\u202e1234\u202c号")
    assert "U+2028" in _refused("case_number", "DB-2026-\u20280001\u0085x")


@pytest.mark.parametrize("field", ["household_address", "case_number"])
def test_the_length_limit_is_stated(field: str) -> None:
    assert parse_request({**example_request(), field: "号" * 200}, today=TODAY)
    assert _refused(field, "号" * 201) == "is longer than 200 characters"


def test_printable_text_is_kept_as_given() -> None:
    # Chinese, full-width brackets, ordinary spaces, a no-break space (Zs) and an ideographic space print as given.
    given = {"household_address": f"{ADDRESS} 金龙街\u00a012\u3000号", "case_number": "香民救〔2026〕0417"}
    parsed = parse_request({**example_request(), **given}, today=TODAY)
    assert (parsed.household_address, parsed.case_number) == (given["household_address"], given["case_number"])


def test_names_follow_the_same_rule_since_issue_13() -> None:
    # Issue 14 left names to issue 13, which refuses in them what this rule refuses in the address.
    raw: dict[str, Any] = example_request()
    raw["members"][0]["name"] = "张\u200b伟"
    with pytest.raises(RequestError) as caught:
        parse_request(raw, today=TODAY)
    assert [(v.field, "U+200B" in v.description) for v in caught.value.violations] == [("members[0].name", True)]


@pytest.mark.integration
async def test_over_grpc_the_violation_names_the_request_field(harness: Harness) -> None:
    auth = await harness.register(harness.envelope(parse_request(example_request())))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.create({**example_request(), "household_address": "建塘镇\u202e1234\u202c号"}, [auth.name])
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    reason, violations = error_details(caught.value)
    assert reason == "INVALID_REQUEST"
    assert [f for f, d in violations if "U+202E" in d] == ["request.household_address"], violations
