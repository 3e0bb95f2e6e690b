"""The lab's VM from the command line (settings from MINILAB_* variables, see README):

python -m minilab.vm up [--targets amd64:alpine,arm64:alpine]   # boot (or reuse) and provision
python -m minilab.vm e2e [--destroy never|passing|always] [-- PYTEST_ARGS]
python -m minilab.vm ssh-config | status | destroy | sweep | down
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from .. import box as boxes
from .. import junit
from .. import targets as lab_targets
from .libvirt import sweep
from .lifecycle import Lab
from .settings import LAB_DIR, OUT, REPO, LabError, Settings, say
from .staging import stage

WORKERS_PER_GUEST = 2  # the guests have 2 CPUs; the tests mostly wait on them


def run_e2e(lab: Lab, specs: list[tuple[str, str, str]], policy: str, pytest_args: list[str]) -> int:
    """Up (or reuse) every guest, run tests/e2e on all of them in one pytest run through the ssh
    backend (one xdist group per guest and worker slot), then apply the destroy policy per guest."""
    if policy not in ("never", "passing", "always"):
        raise LabError(f"destroy policy {policy!r}: expected never, passing or always")
    rc = 1
    interrupted = False
    outcome: dict[str, bool] = {}  # guest -> all its tests passed
    try:
        built = stage(lab.settings, specs)
        ups = lab.up()
        names = [u.guest.name for u in ups]
        times = {u.guest.name: {"boot": u.boot_seconds, "provision": u.provision_seconds} for u in ups}
        for u in ups:
            u.host.close()
        env = {
            **os.environ,
            "MINILAB_MATRIX_TITLE": f"VM guests {', '.join(names)}",
            "MINILAB_BACKEND": "ssh",
            "MINILAB_SSH_CONFIG": str(OUT / "vm-ssh-config"),
            "MINILAB_SSH_HOSTS": ",".join(names),
            "MINILAB_SSH_USER": "root",  # provision.sh lets root in with the vagrant key: no sudo per command
            "MINILAB_HOST_TIMES": json.dumps(times),
            "MINILAB_RESOLVED_TARGETS": ",".join(f"{t.arch}:{t.kind}:{t.source}" for t in built),
            # a software-emulated guest starts a run in about a second: a smaller soak (it reports its time)
            "SOAK_RUNS": os.environ.get("SOAK_RUNS", "20"),
            "SOAK_PARALLEL_RUNS": os.environ.get("SOAK_PARALLEL_RUNS", "5"),
        }
        junit_file = OUT / "junit-e2e-vm.xml"
        workers = WORKERS_PER_GUEST * len(names)
        args = [str(REPO / "tests/e2e"), "-n", str(workers), "--dist", "loadgroup", "-q", *pytest_args]
        say(f"running the scenarios on {', '.join(names)}: pytest {' '.join(args)}")
        started = time.monotonic()
        rc = junit.run_checked(args, junit_file, env=env, cwd=str(REPO))
        say(f"scenarios done in {time.monotonic() - started:.0f}s (rc {rc})")
        for name, counts in junit.split_by_host(junit_file, names, OUT).items():
            outcome[name] = rc == 0 or counts["failures"] + counts["errors"] == 0
            say(f"{name}: {counts['tests']} tests, {counts['failures']} failed, {counts['errors']} errors, "
                f"{counts['skipped']} skipped (out/junit-e2e-{name}.xml)")  # fmt: skip
        for suffix in ("md", "html"):
            if (OUT / f"matrix.{suffix}").exists():
                (OUT / f"matrix.{suffix}").replace(OUT / f"matrix-e2e-vm.{suffix}")
    except KeyboardInterrupt:
        interrupted = True
        say("interrupted")
    finally:
        doomed = [g for g in lab.settings.guests
                  if policy == "always" or (policy == "passing" and outcome.get(g.name)) or
                  (interrupted and policy != "never")]  # fmt: skip
        kept = [g.name for g in lab.settings.guests if g not in doomed]
        if doomed:
            say(f"destroy policy {policy!r}: destroying {', '.join(g.name for g in doomed)}")
            lab.destroy(doomed)
        if kept:
            say(f"destroy policy {policy!r}: keeping {', '.join(kept)} (cd {LAB_DIR} && vagrant ssh {kept[0]}; "
                "`python -m minilab.vm down`)")  # fmt: skip
            lab.daemons.save()
        else:
            lab.daemons.load()
            lab.daemons.stop()
    return 130 if interrupted else rc


def parse_specs(text: str) -> list[tuple[str, str, str]]:
    specs = []
    for spec in text.split(","):
        arch, _, kind = spec.strip().partition(":")
        specs.append((arch, kind, lab_targets.decide_source(kind, arch)))
    return specs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m minilab.vm", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("action", choices=["up", "e2e", "ssh-config", "status", "destroy", "sweep", "down"])
    p.add_argument("--targets", default=os.environ.get("MINILAB_VM_TARGETS", "amd64:alpine,arm64:alpine"))
    p.add_argument("--destroy", default=os.environ.get("MINILAB_DESTROY", "passing"),
                   help="e2e: never | passing | always (default passing, or $MINILAB_DESTROY)")  # fmt: skip
    p.add_argument("pytest_args", nargs="*", help="e2e: extra pytest arguments (after --)")
    argv = sys.argv[1:] if argv is None else argv
    # what follows "--" goes to pytest untouched (argparse would take "-k" for an option of ours)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = p.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    args.pytest_args = [*args.pytest_args, *extra]
    lab = Lab(Settings.from_env())
    try:
        if args.action == "up":
            stage(lab.settings, parse_specs(args.targets))
            try:
                for u in lab.up():
                    u.host.close()
            finally:  # even a failed up may have started daemons: `down` must find them
                lab.daemons.save()
            say(f"ready: cd {LAB_DIR} && vagrant ssh {lab.settings.guests[0].name}")
        elif args.action == "e2e":
            return run_e2e(lab, parse_specs(args.targets), args.destroy, args.pytest_args)
        elif args.action == "ssh-config":
            print((OUT / "vm-ssh-config").read_text(), end="")
        elif args.action == "status":
            print(subprocess.run(["vagrant", "status"], cwd=LAB_DIR, text=True, capture_output=True).stdout)
        elif args.action in ("destroy", "down"):
            lab.daemons.start()  # destroying needs libvirt
            lab.destroy()
            if args.action == "down":
                lab.daemons.load()  # what `up` started, plus anything started just now
                lab.daemons.stop()
            else:
                lab.daemons.save()
        elif args.action == "sweep":
            for guest in lab.saved_guests():
                sweep(guest.name)
    except (LabError, boxes.BoxError) as e:
        print(f"lab: {e}", file=sys.stderr)
        return 1
    return 0
