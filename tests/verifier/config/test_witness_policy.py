"""``[witness_policy]`` and ``tiles_listen`` in hedui.toml (verifier/config/_witness_policy.py, issue 12)."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.witness_server import CosignatureSigner
from verifier.config import ConfigError, Settings, load_settings

VKEY = CosignatureSigner("witness.example/w1", bytes(range(32))).vkey
OTHER = CosignatureSigner("witness.example/w2", bytes(range(1, 33))).vkey


@pytest.fixture(autouse=True)
def _no_hedui_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("HEDUI_"):
            monkeypatch.delenv(name)


def load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "hedui.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, tmp_path)


def test_the_policy_reaches_the_settings(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        'tiles_listen = "127.0.0.1:8080"\n'
        "[witness_policy]\nquorum = 2\ntimeout_seconds = 3\nlag_bound_seconds = 60\n"
        f'[[witness_policy.witnesses]]\nname = "a"\nurl = "http://a.example:7380"\nvkey = "{VKEY}"\n'
        f'[[witness_policy.witnesses]]\nname = "b"\nurl = "https://b.example/w"\nvkey = "{OTHER}"\n',
    )
    policy = settings.witness_policy
    assert (policy.quorum, policy.timeout_seconds, policy.lag_bound_seconds) == (2, 3.0, 60.0)
    assert [(w.name, w.url, w.verifier.vkey) for w in policy.witnesses] == [
        ("a", "http://a.example:7380", VKEY),
        ("b", "https://b.example/w", OTHER),
    ]
    assert settings.tiles_listen == "127.0.0.1:8080"


def test_no_policy_means_no_witnesses_and_no_quorum(tmp_path: Path) -> None:
    policy = load(tmp_path, "").witness_policy
    assert (policy.witnesses, policy.quorum) == ((), 0)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[witness_policy]\nquorum = 1\n", "quorum must be between 0 and the number of witnesses"),
        (f'[[witness_policy.witnesses]]\nname = "a"\nurl = "ftp://x"\nvkey = "{VKEY}"\n', "http:// or https://"),
        ('[[witness_policy.witnesses]]\nname = "a"\nurl = "http://x"\nvkey = "a+b+AQ=="\n', "type 0x01"),
        (
            f'[[witness_policy.witnesses]]\nname = "a"\nurl = "http://x"\nvkey = "{VKEY}"\n'
            f'[[witness_policy.witnesses]]\nname = "a"\nurl = "http://y"\nvkey = "{OTHER}"\n',
            "two witnesses share a name",
        ),
        ("[witness_policy]\ntimeout_seconds = 0\n", "positive"),
        ('tiles_listen = "nowhere"\n', "tiles_listen"),
    ],
)
def test_a_bad_policy_is_refused_naming_its_key(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        load(tmp_path, text)
