"""The Settings value: defaults, per-department deadlines, overrides."""

from __future__ import annotations

import dataclasses

import pytest

from connectors.departments import DEFAULT_DEPARTMENTS
from verifier.config import Settings


def test_a_department_s_own_deadline_overrides_the_common_one() -> None:
    settings = Settings(department_deadline_seconds=8.0, department_deadlines={"banks": 30.0})
    assert (settings.deadline("banks"), settings.deadline("tax"), settings.deadline("market_regulation")) == (
        30.0,
        8.0,
        8.0,
    )


def test_overrides_make_a_copy_and_keep_the_rest() -> None:
    settings = Settings(listen="127.0.0.1:6000")
    changed = settings.with_overrides(database_url="sqlite:///other.db")
    assert (changed.database_url, changed.listen) == ("sqlite:///other.db", "127.0.0.1:6000")
    assert settings.database_url == "sqlite:///.hedui/hedui.db"
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.listen = "x"  # type: ignore[misc]


def test_built_directly_it_has_fresh_keys_and_the_six_departments() -> None:
    one, two = Settings(), Settings()
    assert len(one.audit_subject_key) == 32 and one.audit_subject_key != two.audit_subject_key
    assert list(one.catalogue) == [d.id for d in DEFAULT_DEPARTMENTS]
    assert "audit_log_key" not in repr(one) and one.audit_log_key.hex() not in repr(one)
