"""pytest runs that cannot be green with tests missing: every collected test id must be in the JUnit file.

A worker that dies, a collection error on one backend, or a filter that drops a target would otherwise
leave a shorter, passing report. `run_checked` collects first (same arguments, same environment),
runs, then compares the JUnit file with the collection.

    python -m minilab.junit JUNIT.xml PYTEST_ARGS...
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from .matrix import without_group


def junit_name(nodeid: str) -> tuple[str, str]:
    """(classname, name) as pytest's junitxml writes a node id (its mangle_test_address)."""
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    return ".".join(names[:-1]), names[-1]


def recorded(junit: Path) -> set[tuple[str, str]]:
    """(classname, name) of every result; a loadgroup suffix (`[...]@group`) is not part of the name."""
    root = ET.parse(junit).getroot()
    return {(case.get("classname", ""), without_group(case.get("name", ""))) for case in root.iter("testcase")}


def collected_ids(output: str) -> list[str]:
    """Node ids from `pytest --collect-only -q` output."""
    return [line.strip() for line in output.splitlines() if "::" in line and not line.startswith(" ")]


def missing(expected: list[str], junit: Path) -> list[str]:
    have = recorded(junit) if junit.exists() else set()
    return [nodeid for nodeid in expected if junit_name(nodeid) not in have]


def _collect_args(args: list[str]) -> list[str]:
    kept, skip_next = [], False
    for arg in args:
        if skip_next:
            skip_next = False
        elif arg == "-n":
            skip_next = True
        elif arg.startswith("--junitxml") or arg.startswith("-n") and arg[2:].isdigit():
            continue
        elif re.fullmatch(r"-[qv]+|--quiet|--verbose", arg):
            continue  # the collection's own -q lists node ids; -qq would print only counts
        else:
            kept.append(arg)
    return kept


def run_checked(args: list[str], junit: Path, env: dict[str, str] | None = None, cwd: str | None = None) -> int:
    """pytest ARGS --junitxml=JUNIT; then 1 if any collected test id is absent from JUNIT."""
    base = [sys.executable, "-m", "pytest"]
    collect = subprocess.run([*base, *_collect_args(args), "--collect-only", "-q", "-p", "no:cacheprovider"],
                             env=env, cwd=cwd, capture_output=True, text=True)  # fmt: skip
    expected = collected_ids(collect.stdout)
    if collect.returncode != 0 or not expected:
        sys.stdout.write(collect.stdout[-4000:])
        sys.stderr.write(collect.stderr[-4000:])
        print(f"junit: collection failed (pytest {collect.returncode}, {len(expected)} tests)", file=sys.stderr)
        return collect.returncode or 1
    junit.unlink(missing_ok=True)
    rc = subprocess.run([*base, *args, f"--junitxml={junit}"], env=env, cwd=cwd).returncode
    absent = missing(expected, junit)
    print(f"junit: {len(expected)} test ids collected, {len(expected) - len(absent)} in {junit.name}", file=sys.stderr)
    if absent:
        shown = "\n  ".join(absent[:20]) + (f"\n  ... and {len(absent) - 20} more" if len(absent) > 20 else "")
        print(f"junit: FAILED: {len(absent)} collected tests have no result:\n  {shown}", file=sys.stderr)
        return rc or 1
    return rc


def host_of(name: str, hosts: list[str]) -> str | None:
    """The host a JUnit test name belongs to: its parameter starts with `<host>-` or is the host."""
    _, _, params = without_group(name).partition("[")
    params = params.rstrip("]")
    for host in sorted(hosts, key=len, reverse=True):
        if params == host or params.startswith(f"{host}-"):
            return host
    return None


def split_by_host(junit: Path, hosts: list[str], out: Path) -> dict[str, dict[str, int]]:
    """One JUnit file per host (out/junit-e2e-<host>.xml) from a run over several; → per host the
    counts of tests, failures, errors and skipped."""
    tree = ET.parse(junit)
    counts = {h: {"tests": 0, "failures": 0, "errors": 0, "skipped": 0} for h in hosts}
    suites = {h: ET.Element("testsuite", name=f"e2e on {h}") for h in hosts}
    for case in tree.getroot().iter("testcase"):
        host = host_of(case.get("name", ""), hosts)
        if host is None:
            continue
        suites[host].append(case)
        counts[host]["tests"] += 1
        for kind, key in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
            if case.find(kind) is not None:
                counts[host][key] += 1
    for host, suite in suites.items():
        for key, value in counts[host].items():
            suite.set(key, str(value))
        root = ET.Element("testsuites")
        root.append(suite)
        ET.ElementTree(root).write(out / f"junit-e2e-{host}.xml", encoding="utf-8", xml_declaration=True)
    return counts


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print("usage: python -m minilab.junit JUNIT.xml PYTEST_ARGS...", file=sys.stderr)
        raise SystemExit(2)
    from . import targets

    environment = dict(os.environ)
    targets.resolve(environment)  # decided once: the collection and the run see the same targets
    raise SystemExit(run_checked(sys.argv[2:], Path(sys.argv[1]), env=environment))
