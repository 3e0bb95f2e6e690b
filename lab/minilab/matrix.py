"""The scenario x column matrix a person reads at a glance: the terminal, out/matrix.md, and
out/matrix.html (one self-contained file: a colour per outcome, failing cells link to their text).

A column is one host × target (× rootless): `<host>-<arch>-<label>[-rootless]`; its header names the
host and the cgroup version read from that host.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from dataclasses import dataclass

SYMBOL = {"passed": "pass", "failed": "FAIL", "skipped": "skip", "error": "ERROR"}


@dataclass(frozen=True)
class Record:
    scenario: str  # file::test[extra params]
    target: str  # the column: host-arch-label[-rootless]
    outcome: str
    seconds: float
    reason: str = ""  # why it was skipped
    text: str = ""  # the failure, for a failed or error cell
    start: float = 0.0  # epoch seconds (pytest's report.start/stop): a host's wall time
    stop: float = 0.0


@dataclass(frozen=True)
class Column:
    key: str  # as in Record.target
    host: str
    cgroup: str  # "v1" / "v2", read from the host
    label: str  # arch-label[-rootless]
    about: str = ""  # the legend's line

    @property
    def header(self) -> str:
        return f"{self.host} (cgroup {self.cgroup}) {self.label}"


def split_nodeid(nodeid: str, targets: list[str]) -> tuple[str, str] | None:
    """'tests/e2e/test_oom.py::test_x[local-amd64-alpine-like]' → ('test_oom.py::test_x', 'local-amd64-alpine-like').
    An xdist group suffix (`...]@debian-v2-0`, --dist loadgroup) is not part of the test."""
    name, _, params = without_group(nodeid).partition("[")
    params = params.rstrip("]")
    for target in sorted(targets, key=len, reverse=True):  # "x-rootless" before its prefix "x"
        if params == target or params.startswith(f"{target}-") or params.endswith(f"-{target}"):
            rest = params.replace(target, "", 1).strip("-")
            scenario = name.rsplit("/", 1)[-1] + (f"[{rest}]" if rest else "")
            return scenario, target
    return None


def without_group(nodeid: str) -> str:
    """The node id without pytest-xdist's loadgroup suffix (`@<group>`)."""
    return re.sub(r"@[\w.-]+$", "", nodeid)


def _cells(records: list[Record]) -> dict[str, dict[str, Record]]:
    cells: dict[str, dict[str, Record]] = defaultdict(dict)
    for r in records:
        cells[r.scenario][r.target] = r  # the last word wins (a teardown error after a pass)
    return cells


def totals(records: list[Record]) -> str:
    counted: dict[str, int] = defaultdict(int)
    for row in _cells(records).values():
        for r in row.values():
            counted[r.outcome] += 1
    summary = ", ".join(f"{counted[k]} {k}" for k in ("passed", "failed", "skipped"))
    if counted["error"]:
        summary += f", {counted['error']} left something behind (error)"
    return summary


def host_lines(records: list[Record], columns: list[Column], times: dict[str, dict[str, float]]) -> list[str]:
    """Per host: its cgroup version, the lab's boot and provision times, and the tests' wall time."""
    lines = []
    for host in dict.fromkeys(c.host for c in columns):
        keys = {c.key for c in columns if c.host == host}
        mine = [r for r in records if r.target in keys and r.stop > 0]
        wall = max(r.stop for r in mine) - min(r.start for r in mine) if mine else 0.0
        cgroup = next(c.cgroup for c in columns if c.host == host)
        lab = times.get(host, {})
        parts = [f"cgroup {cgroup}"]
        if lab:
            parts.append(f"boot {lab.get('boot', 0):.0f}s, provision {lab.get('provision', 0):.0f}s")
        parts.append(f"tests {wall:.0f}s wall ({len(mine)} cells)")
        lines.append(f"{host}: " + ", ".join(parts))
    return lines


def _cell_text(r: Record) -> str:
    why = f" ({r.reason.removeprefix('Skipped: ')[:70]})" if r.outcome == "skipped" and r.reason else ""
    return f"{SYMBOL.get(r.outcome, r.outcome)}{why} {r.seconds:.1f}s"


def render(records: list[Record], columns: list[Column], times: dict[str, dict[str, float]] | None = None) -> str:
    cells = _cells(records)
    lines = ["| scenario | " + " | ".join(c.header for c in columns) + " |", "|" + "---|" * (len(columns) + 1)]
    for scenario in sorted(cells):
        row = [_cell_text(cells[scenario][c.key]) if c.key in cells[scenario] else "" for c in columns]
        lines.append(f"| {scenario} | " + " | ".join(row) + " |")
    hosts = "\n".join(f"- {line}" for line in host_lines(records, columns, times or {}))
    described = "\n".join(f"- `{c.key}`: {c.about}" for c in columns)
    return f"{totals(records)}\n\n{hosts}\n\n{described}\n\n" + "\n".join(lines) + "\n"


COLOURS = {"passed": "#c8f0c8", "failed": "#f4b0b0", "skipped": "#f0e4a8", "error": "#f0a0e0"}
STYLE = (
    "body{font:13px sans-serif;margin:16px} table{border-collapse:collapse} th,td{border:1px solid #999;"
    "padding:3px 6px;vertical-align:top} th{background:#eee;font-weight:normal;min-width:7em} th b{display:block}"
    "td.scenario{font-family:monospace;white-space:nowrap} pre{background:#f6f6f6;padding:8px;"
    "overflow-x:auto;border-left:4px solid #d66} a{color:#600}"
    + "".join(f"td.{k}{{background:{v}}}" for k, v in COLOURS.items())
)


def render_html(records: list[Record], columns: list[Column], title: str,
                times: dict[str, dict[str, float]] | None = None) -> str:  # fmt: skip
    """One self-contained page: the same matrix, a colour per outcome, each failing cell a link to
    its failure's text further down."""
    esc = html.escape
    cells = _cells(records)
    failures: list[tuple[str, Record]] = []
    head = "".join(f"<th><b>{esc(c.host)}</b>cgroup {esc(c.cgroup)}<br>{esc(c.label)}</th>" for c in columns)
    rows = []
    for scenario in sorted(cells):
        tds = [f'<td class="scenario">{esc(scenario)}</td>']
        for c in columns:
            r = cells[scenario].get(c.key)
            if r is None:
                tds.append("<td></td>")
            elif r.outcome in ("failed", "error"):
                anchor = f"failure-{len(failures) + 1}"
                failures.append((anchor, r))
                tds.append(f'<td class="{r.outcome}"><a href="#{anchor}">{esc(_cell_text(r))}</a></td>')
            else:
                tds.append(f'<td class="{r.outcome}" title="{esc(r.reason)}">{esc(_cell_text(r))}</td>')
        rows.append("<tr>" + "".join(tds) + "</tr>")
    hosts = "".join(f"<li>{esc(line)}</li>" for line in host_lines(records, columns, times or {}))
    legend = "".join(f"<li><code>{esc(c.key)}</code>: {esc(c.about)}</li>" for c in columns)
    texts = "".join(
        f'<h3 id="{a}">{esc(r.scenario)} on {esc(r.target)}: {esc(r.outcome)}</h3><pre>{esc(r.text)}</pre>'
        for a, r in failures
    )
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{esc(title)}</title><style>{STYLE}</style>'
        f"</head><body><h1>{esc(title)}</h1><p id=totals>{esc(totals(records))}</p><ul>{hosts}</ul>"
        f"<table><tr><th>scenario</th>{head}</tr>{''.join(rows)}</table>"
        f"<h2>Failures</h2>{texts or '<p>none</p>'}<h2>Columns</h2><ul>{legend}</ul></body></html>\n"
    )
