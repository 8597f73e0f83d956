"""verifier.report.html_model: the document's view model is frozen value types holding display values only
(text, counts, flags and each other), with defaults that mean "nothing", laid out by the template."""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from pathlib import Path

import pytest

import verifier.report
from verifier.report import html_model
from verifier.report.html_model import ChangesView, Document, FigureRow, RecordRow, Step

VIEW_TYPES = tuple(getattr(html_model, name) for name in html_model.__all__)
TEMPLATE = Path(verifier.report.__file__).parent / "templates" / "report.html.j2"


def test_every_view_type_is_exported_and_every_export_is_a_view_type() -> None:
    defined = {
        name
        for name, value in vars(html_model).items()
        if isinstance(value, type) and dataclasses.is_dataclass(value) and value.__module__ == html_model.__name__
    }
    assert defined == set(html_model.__all__)
    assert len(defined) == 13


@pytest.mark.parametrize("view", VIEW_TYPES, ids=lambda v: v.__name__)
def test_a_view_type_is_frozen_and_slotted(view: type) -> None:
    assert view.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert "__slots__" in vars(view)


def _display_only(annotation: object) -> bool:
    """Whether a field's type is text, a number, a flag, another view type, or tuples / None of those."""
    if annotation in (str, int, bool, type(None)) or annotation in VIEW_TYPES:
        return True
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (tuple, types.UnionType, typing.Union):
        return all(_display_only(a) for a in arguments if a is not Ellipsis)
    return False


@pytest.mark.parametrize("view", VIEW_TYPES, ids=lambda v: v.__name__)
def test_a_view_type_holds_display_values_only(view: type) -> None:
    hints = typing.get_type_hints(view)
    assert hints, view
    offending = {name: hint for name, hint in hints.items() if not _display_only(hint)}
    assert offending == {}  # no report message, mapping or float reaches the template


def test_the_defaults_mean_nothing_extra() -> None:
    assert RecordRow("m", "d", "r", "w", "i", "a", "n").outside_window is False
    assert FigureRow("l", "0.00").total is False
    assert Step("l", "f", "r").comparison == ""
    changes = ChangesView("r", "r", (), (), (), (), (), "DIBAO")
    assert (changes.classification_after, changes.member_rows, changes.warning_rows) == ("", (), ())
    document_fields = {f.name: f for f in dataclasses.fields(Document)}
    assert document_fields["changes"].default is None  # only a recheck's document has a change section
    required = [f.name for f in dataclasses.fields(Document) if f.default is dataclasses.MISSING]
    assert "changes" not in required and len(required) == len(document_fields) - 1


def test_a_view_is_a_value() -> None:
    row = FigureRow("家庭年收入 I", "1.00", total=True)
    assert row == FigureRow("家庭年收入 I", "1.00", total=True) and hash(row) == hash(
        FigureRow("家庭年收入 I", "1.00", True)
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.amount = "2.00"  # type: ignore[misc]


def _unused_fields() -> dict[str, list[str]]:
    """Fields of view types the template never reads (as ``.name``)."""
    template = TEMPLATE.read_text(encoding="utf-8")
    unused: dict[str, list[str]] = {}
    for view in VIEW_TYPES:
        missing = [f.name for f in dataclasses.fields(view) if not re.search(rf"\.{f.name}\b", template)]
        if missing:
            unused[view.__name__] = missing
    return unused


def test_the_template_lays_out_every_field() -> None:
    # A field the view fills and the template never reads is work for nothing (and a sign of a lost column).
    assert _unused_fields() == {}
