"""The scenario x target matrix a person reads at a glance (terminal and out/matrix.md)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

SYMBOL = {"passed": "pass", "failed": "FAIL", "skipped": "skip", "error": "ERROR"}


@dataclass(frozen=True)
class Record:
    scenario: str  # file::test[extra params]
    target: str  # arch-label
    outcome: str
    seconds: float
    reason: str = ""  # why it was skipped


def split_nodeid(nodeid: str, targets: list[str]) -> tuple[str, str] | None:
    """'tests/e2e/test_oom.py::test_x[amd64-alpine-like]' → ('test_oom.py::test_x', 'amd64-alpine-like')."""
    name, _, params = nodeid.partition("[")
    params = params.rstrip("]")
    for target in sorted(targets, key=len, reverse=True):  # "x-rootless" before its prefix "x"
        if params == target or params.startswith(f"{target}-") or params.endswith(f"-{target}"):
            rest = params.replace(target, "", 1).strip("-")
            scenario = name.rsplit("/", 1)[-1] + (f"[{rest}]" if rest else "")
            return scenario, target
    return None


def render(records: list[Record], targets: list[str], legend: dict[str, str]) -> str:
    cells: dict[str, dict[str, Record]] = defaultdict(dict)
    for r in records:
        cells[r.scenario][r.target] = r
    header = "| scenario | " + " | ".join(targets) + " |"
    lines = [header, "|" + "---|" * (len(targets) + 1)]
    totals = defaultdict(int)
    for scenario in sorted(cells):
        row = []
        for t in targets:
            r = cells[scenario].get(t)
            if r is None:
                row.append("")
                continue
            totals[r.outcome] += 1
            why = f" ({r.reason.removeprefix('Skipped: ')[:70]})" if r.outcome == "skipped" and r.reason else ""
            row.append(f"{SYMBOL.get(r.outcome, r.outcome)}{why} {r.seconds:.1f}s")
        lines.append(f"| {scenario} | " + " | ".join(row) + " |")
    summary = ", ".join(f"{totals[k]} {k}" for k in ("passed", "failed", "skipped"))
    if totals["error"]:
        summary += f", {totals['error']} left something behind (error)"
    described = "\n".join(f"- `{t}`: {legend.get(t, '')}" for t in targets)
    return f"{summary}\n\n{described}\n\n" + "\n".join(lines) + "\n"
