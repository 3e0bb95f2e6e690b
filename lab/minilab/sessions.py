"""Honest nox runs: say which interpreter each session uses, and fail a run in which a session skipped.

nox exits 0 when a session is skipped (a missing interpreter without --error-on-missing-interpreters,
or `session.skip()`), so "green" could mean "nothing ran". scripts/test.sh prints the plan before
nox starts and checks nox's JSON report afterwards:

    python -m minilab.sessions plan LISTING.json FARM_DIR     # from `nox --list --json`
    python -m minilab.sessions check REPORT.json              # from `nox --report`
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def plan_lines(listing: list[dict], farm: Path) -> list[str]:
    lines = []
    for entry in listing:
        python = entry.get("python")
        link = farm / f"python{python}"
        where = os.path.realpath(link) if link.is_symlink() else "NOT FOUND on this machine"
        lines.append(f"{entry['session']:<22} python {python} ({where})")
    return lines


def check(report: dict) -> tuple[bool, list[str]]:
    """(ok, lines): ok only when at least one session ran and every session succeeded."""
    sessions = report.get("sessions", [])
    lines = []
    ok = bool(sessions)
    for s in sessions:
        name = s["signatures"][0] if s.get("signatures") else s["name"]
        result = s.get("result", "?")
        reason = f": {s['reason']}" if s.get("reason") else ""
        lines.append(f"{name:<22} {result} in {s.get('duration') or 0:.0f}s{reason}")
        if result != "success":
            ok = False
    if not sessions:
        lines.append("no session ran")
    return ok, lines


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "plan":
        listing = json.loads(Path(argv[1]).read_text())
        for line in plan_lines(listing, Path(argv[2])):
            print(f"test: {line}", file=sys.stderr)
        return 0
    if len(argv) == 2 and argv[0] == "check":
        path = Path(argv[1])
        if not path.exists():
            print(f"test: nox wrote no report ({path}): nothing can be said to have run", file=sys.stderr)
            return 1
        ok, lines = check(json.loads(path.read_text()))
        for line in lines:
            print(f"test: {line}", file=sys.stderr)
        if not ok:
            print("test: FAILED: a session failed, was skipped, or none ran (a skip is an error here)", file=sys.stderr)
        return 0 if ok else 1
    print("usage: python -m minilab.sessions plan LISTING FARM | check REPORT", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
