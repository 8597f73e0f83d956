"""Identity and register rules: each flag names the register department that supplied the record."""

from __future__ import annotations

from assessment_kit import APPLICANT, CHILD, SPOUSE, context, member, person, request, sources

from connectors.departments import DepartmentCatalogue
from verifier.assessment.engine import measure
from verifier.assessment.rules.identity import RegisterIdentity, UndeclaredMembers

HUKOU_BUREAU = DepartmentCatalogue.declare(
    {"hukou_bureau": {"name_zh": "户籍管理部门", "name_en": "Household register", "record_kinds": ["person"]}}
)


def run(rule: RegisterIdentity | UndeclaredMembers, **kw: object) -> list[tuple[str, str | None, str, str]]:
    ctx = context(**kw)  # type: ignore[arg-type]
    return [(f.code, f.id_number, f.department, f.message_zh) for f in rule.flags(ctx, measure(ctx).facts)]


def test_an_unknown_identity_number_and_a_different_name() -> None:
    req = request(member(APPLICANT), member(SPOUSE, name="李秀兰"))
    flags = run(RegisterIdentity(), req=req, srcs=sources(persons=[person(SPOUSE)]))
    assert flags == [
        (
            "IDENTITY_MISMATCH",
            APPLICANT,
            "police",
            "申报的姓名或身份证号与户籍登记不符：身份证号在户籍系统中不存在。",
        ),
        ("IDENTITY_MISMATCH", SPOUSE, "police", "申报的姓名或身份证号与户籍登记不符：申报姓名与登记姓名不一致。"),
    ]


def test_deceased_and_in_custody() -> None:
    req = request(member(APPLICANT), member(SPOUSE))
    srcs = sources(persons=[person(APPLICANT, status="in_custody"), person(SPOUSE, status="deceased")])
    assert [(c, i) for c, i, _, _ in run(RegisterIdentity(), req=req, srcs=srcs)] == [
        ("MEMBER_IN_CUSTODY", APPLICANT),
        ("MEMBER_DECEASED", SPOUSE),
    ]


def test_no_identity_flag_when_the_register_did_not_answer_or_the_member_was_not_queried() -> None:
    req = request(member(APPLICANT), member(SPOUSE))
    assert run(RegisterIdentity(), req=req, srcs=sources(persons=[], statuses={"police": "unavailable"})) == []
    not_queried = sources(persons=[person(APPLICANT)], not_queried={"police": (SPOUSE,)})
    assert run(RegisterIdentity(), req=req, srcs=not_queried) == []


def test_the_register_is_whichever_department_declares_person_records() -> None:
    srcs = sources({"hukou_bureau": [person(APPLICANT, status="deceased")]}, persons=[], departments=("tax",))
    del srcs["police"]
    flags = run(RegisterIdentity(), srcs=srcs, catalogue=HUKOU_BUREAU)
    assert [(c, d) for c, _, d, _ in flags] == [("MEMBER_DECEASED", "hukou_bureau")]


def test_an_undeclared_spouse_and_minor_child_on_the_register() -> None:
    minor = "533401201204010527"  # born 2012-04-01: 14 on the application date
    from connectors.records import PersonRecord

    persons = [
        person(APPLICANT),
        PersonRecord("H-1:s", SPOUSE, "李秀英", "H-1", "spouse", "active", None),
        PersonRecord("H-1:c", CHILD, "张小明", "H-1", "child", "active", None),  # 18: not a minor
        PersonRecord("H-1:k", minor, "张小红", "H-1", "child", "active", None),
    ]
    flags = run(UndeclaredMembers(), srcs=sources(persons=persons))
    assert [(c, i, d) for c, i, d, _ in flags] == [
        ("UNDECLARED_MEMBER", None, "police"),
        ("UNDECLARED_MEMBER", None, "police"),
    ]
    assert [m for _, _, _, m in flags] == [
        "户籍登记中有未申报的未成年子女（533401********0527）。",
        "户籍登记中有未申报的配偶（533401********022X）。",
    ]
