"""Issue 10's quality gates (scripts/quality.py): the measures themselves on small trees, and the gate on this repo.

`test_the_repository_passes_its_quality_gates` is the one CI enforces (marked `quality`); on failure its message is
the script's whole report: one table per measure and the summary.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "quality.py"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hedui_quality_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


quality = _load_script()


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")


def _function(name: str, lines: int) -> str:
    """A documented function of exactly `lines` lines, `def` line included."""
    body = "".join(f"    x{i} = {i}\n" for i in range(lines - 3))
    return f'def {name}() -> None:\n    """Doc."""\n{body}    return None\n'


def _keys(offenders: list[object], measure: str) -> set[str]:
    return {o.key for o in offenders if o.measure == measure}  # type: ignore[attr-defined]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """An empty project whose pyproject.toml carries this repository's interrogate options."""
    settings = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["interrogate"]
    options = "\n".join(f"{key} = {str(value).lower()}" for key, value in settings.items())
    _write(tmp_path, "pyproject.toml", f"[tool.interrogate]\n{options}\n")
    return tmp_path


def test_functions_over_60_lines_and_classes_over_300_are_counted_from_def_to_end_of_body(tree: Path) -> None:
    big_class = 'class Big:\n    """Doc."""\n' + "".join(f"    a{i} = {i}\n" for i in range(299))  # 301 lines
    fits_class = 'class Fits:\n    """Doc."""\n' + "".join(f"    a{i} = {i}\n" for i in range(298))  # 300 lines
    outer = _function("outer", 70).replace("    return None\n", textwrap.indent(_function("inner", 61), "    "))
    source = '"""Doc."""\n' + _function("long", 61) + _function("fits", 60) + big_class + fits_class + outer
    _write(tree, "pkg/mod.py", source)

    offenders = quality.measure_sizes(tree, ["pkg"])

    assert _keys(offenders, quality.FUNCTION_LINES) == {"pkg/mod.py:long", "pkg/mod.py:outer", "pkg/mod.py:outer.inner"}
    assert _keys(offenders, quality.CLASS_LINES) == {"pkg/mod.py:Big"}
    details = {o.key: o.detail for o in offenders}
    assert details["pkg/mod.py:long"] == "61 lines"
    assert details["pkg/mod.py:Big"] == "301 lines"


def test_complexity_flags_grade_d_and_worse_but_not_c(tree: Path) -> None:
    # Cyclomatic complexity is 1 + one per `if`: 20 ifs make 21 (D), 19 make 20 (C, the worst tolerated grade).
    def branches(name: str, count: int) -> str:
        ifs = "".join(f"    if x == {i}:\n        return {i}\n" for i in range(count))
        return f'def {name}(x: int) -> int:\n    """Doc."""\n{ifs}    return -1\n'

    _write(tree, "pkg/rules.py", '"""Doc."""\n' + branches("tangled", 20) + branches("busy", 19))

    offenders = quality.measure_complexity(tree, ["pkg"])

    assert [(o.key, o.detail) for o in offenders] == [("pkg/rules.py:tangled", "D (21)")]


def test_docstrings_count_the_contents_of_private_modules(tree: Path) -> None:
    """interrogate's ignore-(semi)private skips names `_x`, not the names inside a module named `_x.py`."""
    _write(
        tree,
        "pkg/_private.py",
        """
        def public_but_undocumented() -> None:
            def nested() -> None:
                pass

        def _private_to_the_module() -> None:
            pass

        class Shown:
            def __init__(self) -> None:
                pass

            def __repr__(self) -> str:
                return ""

            def method(self) -> None:
                pass
        """,
    )
    _write(tree, "pkg/__init__.py", '"""Doc."""\n')

    offenders, coverage = quality.measure_docstrings(tree, ["pkg"])

    assert _keys(offenders, quality.DOCSTRINGS) == {
        "pkg/_private.py",
        "pkg/_private.py:public_but_undocumented",
        "pkg/_private.py:Shown",
        "pkg/_private.py:Shown.method",
    }
    assert coverage == {"pkg": (1, 5)}


def test_the_interrogate_options_are_the_ones_issue_10_names() -> None:
    config = quality.interrogate_config(REPO)

    assert config.ignore_init_method and config.ignore_magic and config.ignore_private
    assert config.ignore_semiprivate and config.ignore_nested_functions
    assert not config.ignore_module and not config.ignore_init_module


def test_a_broken_import_contract_is_an_offender(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "pyproject.toml",
        """
        [tool.importlinter]
        root_packages = ["low", "high"]

        [[tool.importlinter.contracts]]
        name = "low never imports high"
        type = "forbidden"
        source_modules = ["low"]
        forbidden_modules = ["high"]

        [[tool.importlinter.contracts]]
        name = "high never imports low"
        type = "forbidden"
        source_modules = ["high"]
        forbidden_modules = ["low"]
        """,
    )
    _write(tmp_path, "low/__init__.py", "import high\n")
    _write(tmp_path, "high/__init__.py", "")

    offenders, report = quality.measure_imports(tmp_path)

    assert [(o.key, o.detail) for o in offenders] == [("low never imports high", "broken")], report


def test_the_baseline_tolerates_its_entries_fails_new_ones_and_reports_fixed_ones() -> None:
    known = quality.Offender(quality.FUNCTION_LINES, "verifier/a.py:known", "70 lines")
    new = quality.Offender(quality.FUNCTION_LINES, "verifier/a.py:new", "61 lines")
    baseline = {quality.FUNCTION_LINES: ["verifier/a.py:known", "verifier/a.py:gone"], quality.COMPLEXITY: ["x:y"]}

    verdicts = {v.measure: v for v in quality.judge([known, new], baseline)}

    lines = verdicts[quality.FUNCTION_LINES]
    assert lines.new == (new,) and lines.tolerated == (known,) and lines.fixed == ("verifier/a.py:gone",)
    assert verdicts[quality.COMPLEXITY].fixed == ("x:y",)
    assert not verdicts[quality.COMPLEXITY].fails(strict=False)
    assert verdicts[quality.COMPLEXITY].fails(strict=True)
    assert not verdicts[quality.DOCSTRINGS].fails(strict=True)
    report = quality.render(list(verdicts.values()), {}, "", strict=False)
    assert "fixed, remove from baseline  verifier/a.py:gone" in report
    assert "quality gates FAILED" in report


def test_pruning_drops_only_the_entries_that_no_longer_offend() -> None:
    known = quality.Offender(quality.COMPLEXITY, "audit/w.py:F.add", "D (22)")
    baseline = {quality.COMPLEXITY: ["audit/w.py:F.add", "audit/w.py:gone"], quality.DOCSTRINGS: ["consent/x.py"]}

    pruned = quality.pruned(baseline, quality.judge([known], baseline))

    assert pruned == {quality.COMPLEXITY: ["audit/w.py:F.add"], quality.DOCSTRINGS: []}


def test_a_written_baseline_tolerates_exactly_what_was_measured() -> None:
    offenders = [
        quality.Offender(quality.DOCSTRINGS, "audit/x.py:f", "function, line 3"),
        quality.Offender(quality.CLASS_LINES, "verifier/s.py:Big", "743 lines"),
    ]

    baseline = quality.baseline_of(offenders)

    assert baseline[quality.DOCSTRINGS] == ["audit/x.py:f"]
    assert baseline[quality.CLASS_LINES] == ["verifier/s.py:Big"]
    assert not any(v.new or v.fixed for v in quality.judge(offenders, baseline))


@pytest.mark.quality
def test_the_repository_passes_its_quality_gates() -> None:
    """The gate CI runs: every offender not in scripts/quality-baseline.json fails, and (strict) so does a baseline
    entry that no longer offends, so that what was mended cannot come back unseen. The tables are the message."""
    command = [sys.executable, str(SCRIPT), "--strict"]
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)

    assert run.returncode == 0, f"scripts/quality.py --strict failed:\n{run.stdout}\n{run.stderr}"


def test_a_contract_lint_imports_cannot_check_fails_too(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "pyproject.toml",
        """
        [tool.importlinter]
        root_packages = ["low"]

        [[tool.importlinter.contracts]]
        name = "low never imports a module that does not exist"
        type = "forbidden"
        source_modules = ["low.missing"]
        forbidden_modules = ["low"]
        """,
    )
    _write(tmp_path, "low/__init__.py", "")

    offenders, report = quality.measure_imports(tmp_path)

    assert [(o.key, o.detail) for o in offenders] == [("low never imports a module that does not exist", "not run")], (
        report
    )
