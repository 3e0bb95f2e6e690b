"""The lab's VM from the command line (settings from MINILAB_* variables, see README):

python -m minilab.vm up [--targets amd64:alpine,arm64:alpine]   # boot (or reuse) and provision
python -m minilab.vm e2e [--destroy never|passing|always] [-- PYTEST_ARGS]
python -m minilab.vm ssh-config | status | destroy | sweep | down
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from .. import box as boxes
from .. import junit
from .. import targets as lab_targets
from .libvirt import sweep
from .lifecycle import Lab
from .settings import LAB_DIR, OUT, REPO, LabError, Settings, say
from .staging import stage


def run_e2e(lab: Lab, specs: list[tuple[str, str, str]], policy: str, pytest_args: list[str]) -> int:
    """Up (or reuse), run tests/e2e through the ssh backend, then apply the destroy policy."""
    if policy not in ("never", "passing", "always"):
        raise LabError(f"destroy policy {policy!r}: expected never, passing or always")
    rc = 1
    interrupted = False
    try:
        built = stage(lab.settings, specs)
        lab.up().close()
        env = {
            **os.environ,
            "MINILAB_MATRIX_TITLE": f"VM {lab.settings.name}: {lab.guest}",
            "MINILAB_BACKEND": "ssh",
            "MINILAB_SSH_CONFIG": str(OUT / "vm-ssh-config"),
            "MINILAB_SSH_ALIAS": lab.settings.name,
            "MINILAB_RESOLVED_TARGETS": ",".join(f"{t.arch}:{t.kind}:{t.source}" for t in built),
            # a software-emulated guest starts a run in about a second: a smaller soak (it reports its time)
            "SOAK_RUNS": os.environ.get("SOAK_RUNS", "20"),
            "SOAK_PARALLEL_RUNS": os.environ.get("SOAK_PARALLEL_RUNS", "5"),
        }
        junit_file = OUT / "junit-e2e-vm.xml"
        args = [str(REPO / "tests/e2e"), "-n", "2", "-q", *pytest_args]
        say(f"running the scenarios in the VM: pytest {' '.join(args)}")
        rc = junit.run_checked(args, junit_file, env=env, cwd=str(REPO))
        if (OUT / "matrix.md").exists():
            (OUT / "matrix.md").replace(OUT / "matrix-e2e-vm.md")
    except KeyboardInterrupt:
        interrupted = True
        say("interrupted")
    finally:
        destroy = policy == "always" or (policy == "passing" and rc == 0) or (interrupted and policy != "never")
        if destroy:
            say(f"destroy policy {policy!r}: destroying the VM")
            lab.destroy()
            lab.daemons.load()
            lab.daemons.stop()
        else:
            say(f"destroy policy {policy!r}: keeping the VM (cd {LAB_DIR} && vagrant ssh; `python -m minilab.vm down`)")
            lab.daemons.save()
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
                lab.up().close()
            finally:  # even a failed up may have started daemons: `down` must find them
                lab.daemons.save()
            say(f"ready: cd {LAB_DIR} && vagrant ssh")
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
            sweep(lab.settings.name)
    except (LabError, boxes.BoxError) as e:
        print(f"lab: {e}", file=sys.stderr)
        return 1
    return 0
