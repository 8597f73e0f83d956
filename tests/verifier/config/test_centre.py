"""``[centre]`` (issue 14, review B13): every text it prints is bounded, on one line and printable, the seal and
a signature are there, and the report-number format uses each field once; each refusal names its dotted key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hedui_cli import hedui_here

from verifier.config import CentreIdentity, ConfigError, load_settings

LONG_NAME = "香格里拉市居民家庭经济状况核对中心" * 4  # 68 characters: over the documented 60


def _toml(body: str) -> str:
    return "[centre]\n" + body


def load(tmp_path: Path, text: str) -> CentreIdentity:
    path = tmp_path / "hedui.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, tmp_path / "base", create_keys=False).centre


def q(value: str) -> str:
    """A TOML basic string of ``value`` (JSON's escapes are TOML's for these characters)."""
    return json.dumps(value, ensure_ascii=True)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (f"name = {q('中心' + chr(0x202E) + '0987' + chr(0x202C))}\n", "centre.name: contains U+202E"),
        (f"name = {q(LONG_NAME)}\n", "centre.name: is longer than 60 characters"),
        ('name = "  "\n', "centre.name: must not be empty"),
        (f"name = {q('核对' + chr(0x200B) + '中心')}\n", "centre.name: contains U+200B"),
        ('seal = ""\n', "centre.seal: must not be empty"),
        (f"seal = {q('核对中心' + chr(0x2028) + '（盖章）')}\n", "centre.seal: contains U+2028"),
        ("signatures = []\n", "centre.signatures: must have at least one signature"),
        ('signatures = ["核对经办人", ""]\n', "centre.signatures: signature 2 must not be empty"),
        (f"signatures = [{q('核对经办人' * 5)}]\n", "centre.signatures: signature 1 is longer than 20 characters"),
        (f"signatures = {json.dumps(['经办人'] * 7, ensure_ascii=True)}\n", "centre.signatures: has more than 6"),
        ('legal_basis = ["", "《社会救助暂行办法》"]\n', "centre.legal_basis: line 1 must not be empty"),
        (f"legal_basis = [{q(chr(7) + '《x》')}]\n", "centre.legal_basis: line 1 contains U+0007"),
        (f"legal_basis = [{q('《x》' + chr(0x85))}]\n", "centre.legal_basis: line 1 contains U+0085"),
        ("legal_basis = []\n", "centre.legal_basis: must have at least one line"),
        (f"legal_basis = [{q('《' + '办' * 100 + '》')}]\n", "centre.legal_basis: line 1 is longer than 100"),
        ('[centre.locality_legal_basis]\n"533401" = [""]\n', "centre.locality_legal_basis: '533401': line 1 must"),
        (
            f'[centre.organisations]\n"533401-civil-affairs" = {q(chr(0x2066) + "民政局")}\n',
            "centre.organisations: the name of '533401-civil-affairs' contains U+2066",
        ),
        (
            '[centre.organisations]\n"533401-civil-affairs" = ""\n',
            "centre.organisations: the name of '533401-civil-affairs' must not",
        ),
        ('report_number_format = "{serial}{serial}号"\n', "centre.report_number_format: '{serial}{serial}号' must"),
        ('report_number_format = "{serial}\\n第{version}号"\n', "centre.report_number_format: contains U+000A"),
        ('report_number_format = "{serial:>9999}"\n', "centre.report_number_format: '{serial:>9999}' must"),
        ('report_number_format = "{serial!r}"\n', "centre.report_number_format: '{serial!r}' must"),
        ('report_number_format = "{year}号"\n', "centre.report_number_format: '{year}号' must"),
        (f"report_number_format = {q('核' * 61 + '{serial}')}\n", "centre.report_number_format: is longer than 60"),
        ('check_url = "https://x.example/\\u202e{sha256}"\n', "centre.check_url: contains U+202E"),
    ],
)
def test_each_bad_text_is_refused_naming_its_key(tmp_path: Path, body: str, message: str) -> None:
    # A table header in ``body`` follows the [centre] keys; the dotted key is the table's.
    text = _toml(body) if not body.startswith("[") else _toml("") + body
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    assert str(caught.value).startswith(message), str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_centre_within_the_limits_loads_as_given(tmp_path: Path) -> None:
    text = _toml(
        'name = "香格里拉市居民家庭经济状况核对中心"\n'
        'report_number_format = "香核字〔{year}〕{serial}号（第{version}版）"\n'
        'seal = "香格里拉市居民家庭经济状况核对中心（盖章）"\n'
        'signatures = ["核对经办人", "复核人"]\n'
        'legal_basis = ["《社会救助暂行办法》"]\n'
        '[centre.organisations]\n"533401-civil-affairs" = "香格里拉市民政局"\n'
        '[centre.locality_legal_basis]\n"533401" = ["《香格里拉市关于改革完善社会救助制度的实施方案》"]\n'
    )
    centre = load(tmp_path, text)
    assert centre.name == "香格里拉市居民家庭经济状况核对中心"
    assert centre.signatures == ("核对经办人", "复核人")
    assert centre.legal_basis_for("533401") == (
        "《社会救助暂行办法》",
        "《香格里拉市关于改革完善社会救助制度的实施方案》",
    )
    assert centre.report_number_format == "香核字〔{year}〕{serial}号（第{version}版）"
    # Exactly at the limit: 60 characters of name.
    assert load(tmp_path, _toml(f"name = {q('中' * 60)}\n")).name == "中" * 60


def test_config_check_reports_the_reviewers_hostile_centre(tmp_path: Path) -> None:
    name = "中心\u202e0987\u202c" + "长" * 3000
    (tmp_path / "hostile.toml").write_text(
        _toml(
            f"name = {q(name)}\n"
            'seal = ""\nsignatures = []\n'
            'legal_basis = ["", "\\u0007《x》"]\n'
            'report_number_format = "{serial}{serial}\\n第{version}号"\n'
        ),
        encoding="utf-8",
    )
    done = hedui_here("config", "check", str(tmp_path / "hostile.toml"), cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.splitlines() == ["hedui: error: centre.name: is longer than 60 characters"]
