"""Measure issue 10's quality gates over hedui's four packages and print them; exit 1 when a gate fails.

The gates: no class over 300 lines, no function over 60 lines, no radon cyclomatic grade worse than C, a docstring
on every module, class and function not private to its module (interrogate, configured in pyproject.toml's
[tool.interrogate]; the contents of private modules `_x.py` count like any other), and the import-linter contracts
of pyproject.toml's [tool.importlinter] kept.

While verifier/ and connectors/ are being restructured the gates run against a ratchet: scripts/quality-baseline.json
lists today's known offenders, which are tolerated; any other offender fails. A baseline entry that no longer offends
is reported ("fixed, remove from baseline") and fails too with --strict (as CI runs it), so that what was mended
cannot come back. `--prune-baseline` drops those entries and nothing else; `--write-baseline` rewrites the file from
what is measured now, new offenders included (for the lead, at a merge; never to make a failing gate pass).

    python scripts/quality.py [--strict] [--prune-baseline | --write-baseline] [--baseline FILE] [--root DIR]
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from interrogate.config import InterrogateConfig
from interrogate.coverage import InterrogateCoverage
from radon.complexity import cc_rank, cc_visit

PACKAGES = ("verifier", "connectors", "consent", "audit")
MAX_CLASS_LINES = 300
MAX_FUNCTION_LINES = 60
WORST_GRADE = "C"
# Released schema migrations are history: they are never edited, so they are not measured (mypy skips them too).
NOT_MEASURED = ("verifier/storage/migrations/versions",)
REPO = Path(__file__).resolve().parent.parent
BASELINE = Path("scripts/quality-baseline.json")

CLASS_LINES = "class-lines"
FUNCTION_LINES = "function-lines"
COMPLEXITY = "complexity"
DOCSTRINGS = "docstrings"
IMPORTS = "imports"
MEASURES = (CLASS_LINES, FUNCTION_LINES, COMPLEXITY, DOCSTRINGS, IMPORTS)
TITLES = {
    CLASS_LINES: f"classes over {MAX_CLASS_LINES} lines",
    FUNCTION_LINES: f"functions over {MAX_FUNCTION_LINES} lines",
    COMPLEXITY: f"radon cyclomatic grade worse than {WORST_GRADE}",
    DOCSTRINGS: "modules, classes and functions without a docstring (interrogate)",
    IMPORTS: "import-linter contracts broken (lint-imports)",
}


@dataclass(frozen=True, order=True)
class Offender:
    """One place that fails one measure: `key` names it (package/module.py:Qualified.name), `detail` by how much."""

    measure: str
    key: str
    detail: str = field(compare=False)


@dataclass(frozen=True)
class Verdict:
    """The offenders of one measure set against the baseline: new ones fail, tolerated ones pass, fixed ones nag."""

    measure: str
    new: tuple[Offender, ...]
    tolerated: tuple[Offender, ...]
    fixed: tuple[str, ...]

    def fails(self, *, strict: bool) -> bool:
        """Whether this measure fails the gate: any new offender, or with `strict` any stale baseline entry."""
        return bool(self.new) or (strict and bool(self.fixed))


def _excluded(path: Path) -> bool:
    return "__pycache__" in path.parts or any(path.match(f"{pattern}/*") for pattern in NOT_MEASURED)


def python_files(root: Path, packages: Sequence[str]) -> Iterator[Path]:
    """Every Python source file of the packages, in a stable order (NOT_MEASURED left out)."""
    for package in packages:
        yield from sorted(p for p in (root / package).rglob("*.py") if not _excluded(p.relative_to(root)))


def _relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def _defs(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, Definition]]:
    """Every class and function of a tree with its qualified name (Outer.inner), nested ones included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, Definition):
            name = f"{prefix}{node.name}"
            yield name, node
            yield from _defs(node, f"{name}.")
        else:
            yield from _defs(node, prefix)


def measure_sizes(root: Path, packages: Sequence[str]) -> list[Offender]:
    """Classes over MAX_CLASS_LINES and functions over MAX_FUNCTION_LINES, counting from the `def`/`class` line to
    the last line of the body (decorators not counted)."""
    offenders = []
    for path in python_files(root, packages):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for name, node in _defs(tree):
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            is_class = isinstance(node, ast.ClassDef)
            limit = MAX_CLASS_LINES if is_class else MAX_FUNCTION_LINES
            if lines > limit:
                measure = CLASS_LINES if is_class else FUNCTION_LINES
                offenders.append(Offender(measure, f"{_relative(root, path)}:{name}", f"{lines} lines"))
    return offenders


def measure_complexity(root: Path, packages: Sequence[str]) -> list[Offender]:
    """Blocks (functions, methods, classes) whose radon cyclomatic grade is worse than WORST_GRADE, as
    `radon cc -s -n D` lists them."""
    offenders = []
    for path in python_files(root, packages):
        for block in cc_visit(path.read_text(encoding="utf-8")):
            grade = cc_rank(block.complexity)
            if grade > WORST_GRADE:
                key = f"{_relative(root, path)}:{block.fullname}"
                offenders.append(Offender(COMPLEXITY, key, f"{grade} ({block.complexity})"))
    return offenders


def interrogate_config(root: Path) -> InterrogateConfig:
    """interrogate's options as pyproject.toml's [tool.interrogate] sets them (fail-under is this script's gate)."""
    settings = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["interrogate"]
    options = {key.replace("-", "_"): value for key, value in settings.items() if key not in ("fail-under", "verbose")}
    return InterrogateConfig(**options)


def measure_docstrings(root: Path, packages: Sequence[str]) -> tuple[list[Offender], dict[str, tuple[int, int]]]:
    """Names without a docstring, and per package (covered, total) as interrogate counts them.

    interrogate's ignore-private and ignore-semiprivate skip only classes and functions named `_x`/`__x`; a module's
    own name is never tested, so the contents of a private module `_x.py` are counted (tests/test_quality.py checks)."""
    offenders = []
    coverage: dict[str, tuple[int, int]] = {}
    config = interrogate_config(root)
    for package in packages:
        excluded = tuple(str(root / pattern) for pattern in NOT_MEASURED)
        results = InterrogateCoverage(paths=[str(root / package)], conf=config, excluded=excluded).get_coverage()
        covered = total = 0
        for file_result in sorted(results.file_results, key=lambda result: result.filename):
            module = _relative(root, Path(file_result.filename))
            for node in file_result.nodes:
                total += 1
                if node.covered:
                    covered += 1
                    continue
                where = module if node.node_type == "Module" else f"{module}:{node.path.split(':', 1)[-1]}"
                kind = {"Module": "module", "ClassDef": "class"}.get(node.node_type, "function")
                offenders.append(Offender(DOCSTRINGS, where, f"{kind}, line {node.lineno or 1}"))
        coverage[package] = (covered, total)
    return offenders, coverage


def contract_names(root: Path) -> list[str]:
    """The names of the import-linter contracts pyproject.toml declares."""
    settings = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    return [contract["name"] for contract in settings.get("contracts", [])]


def _folded(text: str) -> str:
    return " ".join(text.split())


def measure_imports(root: Path) -> tuple[list[Offender], str]:
    """Broken import-linter contracts (by name), and lint-imports' own report (from its contracts on) to print.

    A contract lint-imports did not report KEPT counts as broken, so an error in the configuration fails too."""
    lint_imports = Path(sys.executable).parent / "lint-imports"
    command = [str(lint_imports) if lint_imports.exists() else "lint-imports", "--no-cache"]
    run = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    report = run.stdout + run.stderr
    report = report[report.find("Analyzed") :] if "Analyzed" in report else report
    folded = _folded(report)  # lint-imports wraps long contract names over lines
    offenders = [
        Offender(IMPORTS, name, "broken" if f"{_folded(name)} BROKEN" in folded else "not run")
        for name in contract_names(root)
        if f"{_folded(name)} KEPT" not in folded
    ]
    if run.returncode != 0 and not offenders:
        offenders.append(Offender(IMPORTS, "lint-imports", f"exit {run.returncode}"))
    return offenders, report


def judge(offenders: Iterable[Offender], baseline: dict[str, list[str]]) -> list[Verdict]:
    """Set each measure's offenders against the baseline's tolerated keys."""
    verdicts = []
    by_measure: dict[str, list[Offender]] = {measure: [] for measure in MEASURES}
    for offender in sorted(set(offenders)):
        by_measure[offender.measure].append(offender)
    for measure, found in by_measure.items():
        tolerated_keys = set(baseline.get(measure, []))
        found_keys = {offender.key for offender in found}
        verdicts.append(
            Verdict(
                measure=measure,
                new=tuple(o for o in found if o.key not in tolerated_keys),
                tolerated=tuple(o for o in found if o.key in tolerated_keys),
                fixed=tuple(sorted(tolerated_keys - found_keys)),
            )
        )
    return verdicts


def baseline_of(offenders: Iterable[Offender]) -> dict[str, list[str]]:
    """The baseline that tolerates exactly these offenders."""
    return {measure: sorted({o.key for o in offenders if o.measure == measure}) for measure in MEASURES}


def pruned(baseline: dict[str, list[str]], verdicts: Iterable[Verdict]) -> dict[str, list[str]]:
    """The baseline without the entries that no longer offend."""
    fixed = {(v.measure, key) for v in verdicts for key in v.fixed}
    return {measure: [k for k in keys if (measure, k) not in fixed] for measure, keys in baseline.items()}


def table(rows: Sequence[tuple[str, str, str]], header: tuple[str, str, str]) -> str:
    """A plain text table, columns as wide as their widest cell."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    rule = "  ".join("-" * width for width in widths)
    return "\n".join(["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip(), rule, *lines])


def render(verdicts: Sequence[Verdict], coverage: dict[str, tuple[int, int]], imports_report: str, strict: bool) -> str:
    """Every measure's table, lint-imports' report, the docstring coverage and the summary."""
    out = [f"not measured: {', '.join(NOT_MEASURED)} (released migrations are history, never edited)", ""]
    for verdict in verdicts:
        rows = [("NEW", o.key, o.detail) for o in verdict.new]
        rows += [("fixed, remove from baseline", key, "") for key in verdict.fixed]
        rows += [("tolerated (baseline)", o.key, o.detail) for o in verdict.tolerated]
        out.append(f"== {TITLES[verdict.measure]} ==")
        out.append(table(rows, ("status", "where", "measured")) if rows else "none")
        out.append("")
    out.append("== docstring coverage (interrogate) ==")
    cov_rows = [(p, f"{c}/{t}", f"{100 * c / t:.1f}%" if t else "-") for p, (c, t) in coverage.items()]
    out += [table(cov_rows, ("package", "covered", "coverage")), ""]
    out += ["== lint-imports ==", imports_report.strip(), ""]
    summary = [
        (
            v.measure,
            f"{len(v.new)} new, {len(v.tolerated)} tolerated, {len(v.fixed)} fixed",
            "FAIL" if v.fails(strict=strict) else "pass",
        )
        for v in verdicts
    ]
    out += ["== summary ==", table(summary, ("measure", "offenders", "gate"))]
    failed = any(v.fails(strict=strict) for v in verdicts)
    out.append(f"quality gates {'FAILED' if failed else 'passed'}{' (strict)' if strict else ''}")
    if any(v.new for v in verdicts):
        out.append("NEW offenders: mend them (the limits are in this script's docstring); the baseline is not for them")
    if strict and any(v.fixed for v in verdicts):
        out.append("fixed entries: run `python scripts/quality.py --prune-baseline` and commit the baseline")
    return "\n".join(out)


def measure(root: Path, packages: Sequence[str]) -> tuple[list[Offender], dict[str, tuple[int, int]], str]:
    """Every measure over the packages: the offenders, the docstring coverage and lint-imports' report."""
    offenders = measure_sizes(root, packages) + measure_complexity(root, packages)
    docstrings, coverage = measure_docstrings(root, packages)
    imports, imports_report = measure_imports(root)
    return offenders + docstrings + imports, coverage, imports_report


def _write_baseline(path: Path, baseline: dict[str, list[str]]) -> None:
    path.write_text(json.dumps(baseline, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """Measure, print, and return the exit status (0 passed, 1 a gate failed)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--root", type=Path, default=REPO, help="the repository (default: this script's)")
    parser.add_argument("--baseline", type=Path, help=f"tolerated offenders (default: ROOT/{BASELINE})")
    parser.add_argument("--strict", action="store_true", help="also fail on baseline entries that no longer offend")
    writes = parser.add_mutually_exclusive_group()
    writes.add_argument("--prune-baseline", action="store_true", help="drop baseline entries that no longer offend")
    writes.add_argument("--write-baseline", action="store_true", help="rewrite the baseline from today's offenders")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    baseline_path = args.baseline or root / BASELINE
    offenders, coverage, imports_report = measure(root, PACKAGES)
    if args.write_baseline:
        _write_baseline(baseline_path, baseline_of(offenders))
        print(f"wrote {len(offenders)} tolerated offenders to {baseline_path}")
        return 0
    baseline = json.loads(baseline_path.read_text(encoding="utf-8")) if baseline_path.exists() else {}
    verdicts = judge(offenders, baseline)
    if args.prune_baseline:
        _write_baseline(baseline_path, pruned(baseline, verdicts))
        print(f"removed {sum(len(v.fixed) for v in verdicts)} fixed entries from {baseline_path}")
        verdicts = judge(offenders, pruned(baseline, verdicts))
    print(render(verdicts, coverage, imports_report, args.strict))
    return 1 if any(v.fails(strict=args.strict) for v in verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())
