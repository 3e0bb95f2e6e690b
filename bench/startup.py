"""Start-to-exit of /bin/true: mini-container against runc, crun, bwrap and unshare+chroot.

Interleaved rounds (a shuffled order each round), medians, and paired ratios (each round's
mini-container time over the reference's in that same round). A second case sets a memory and a pids
limit, so cgroup creation and removal are counted. Writes docs/bench.md and docs/bench-startup.png.

    sudo python3 bench/startup.py [--rounds 200]        # `nox -s bench` installs matplotlib and runs it

crun 1.8.1 refuses this host's hybrid cgroup layout, so the harness runs every runtime in a private
mount namespace with /sys/fs/cgroup/unified unmounted (DESIGN §3); that changes nothing for the others.

mini-container runs on the system's python3 (as the lab installs it: `python3 -I -S`), not on the
interpreter that runs this harness; `--python` picks another.

Two more cases vary what runs just before a start: each runtime 10 times in a row (a test matrix),
and a 50 ms pause before each start. Moving a process into a cgroup takes a kernel lock that, when
nobody took it for a while, first waits out an RCU grace period (~8-20 ms here); a start right after
another cgroup move finds it still warm. After a pause every runtime that uses cgroups pays the wait.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "runtime"), str(REPO / "lab")]

from mini_container.syscalls import CLONE_NEWNS, MNT_DETACH, MS_PRIVATE, MS_REC, Kernel  # noqa: E402
from minilab import builders, targets  # noqa: E402

# How the lab installs the runtime (lab/provision.sh): no site, no user paths.
LAUNCH = (
    f"import sys; sys.path.insert(0, {str(REPO / 'runtime')!r}); "
    "from mini_container.main import run_and_exit; run_and_exit()"
)
MIB = 1 << 20


def oci_bundle(rootfs: str, limits: bool, scratch: Path) -> Path:
    """runc's default spec for /bin/true in rootfs; one per limits setting, kept in scratch."""
    bundle = scratch / ("bundle-limits" if limits else "bundle")
    if bundle.exists():
        return bundle
    bundle.mkdir()
    subprocess.run(["runc", "spec", "-b", str(bundle)], check=True)
    spec = json.loads((bundle / "config.json").read_text())
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["/bin/true"]
    spec["root"] = {"path": rootfs, "readonly": True}
    if limits:
        spec["linux"]["resources"] = {"memory": {"limit": 64 * MIB, "swap": 64 * MIB}, "pids": {"limit": 64}}
    (bundle / "config.json").write_text(json.dumps(spec))
    return bundle


def commands(rootfs: str, python: str, limits: bool, scratch: Path) -> dict[str, list[str] | None]:
    mc_limits = ["-m", "64", "--nproc", "64"] if limits else []
    have = shutil.which
    bundle = oci_bundle(rootfs, limits, scratch) if have("runc") else None
    cmds: dict[str, list[str] | None] = {
        "mini-container": [python, "-I", "-S", "-c", LAUNCH, *mc_limits, "/bin/true", rootfs],
        "runc": ["runc", "run", "-b", str(bundle), "{id}"] if bundle and have("runc") else None,
        "crun": ["crun", "run", "-b", str(bundle), "{id}"] if bundle and have("crun") else None,
    }
    if not limits:  # no cgroup support: only in the plain case
        cmds["bwrap"] = ["bwrap", "--bind", rootfs, "/", "--proc", "/proc", "--dev", "/dev", "--unshare-all",
                         "/bin/true"] if have("bwrap") else None  # fmt: skip
        cmds["unshare+chroot"] = ["unshare", "-fpm", "chroot", rootfs, "/bin/true"]
    return cmds


def run_once(cmd: list[str], ident: str) -> float:
    """Wall seconds for one start-to-exit."""
    argv = [a.replace("{id}", ident) for a in cmd]
    started = time.perf_counter()
    pid = os.posix_spawn(argv[0] if "/" in argv[0] else shutil.which(argv[0]), argv, os.environ)
    _, status = os.waitpid(pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {os.waitstatus_to_exitcode(status)}")
    return elapsed


def peak_rss_kib(cmd: list[str], ident: str) -> int:
    """The runtime's own peak RSS, from GNU time: it forks from a small process. (wait4 on a child
    that posix_spawn made reports the harness's RSS: the kernel folds the vforked parent's mm into
    the child's high-water mark at exec.)"""
    argv = ["/usr/bin/time", "-f", "%M", *[a.replace("{id}", ident) for a in cmd]]
    r = subprocess.run(argv, capture_output=True, text=True, check=True)
    return int(r.stderr.strip().splitlines()[-1])


def measure(
    cmds: dict[str, list[str] | None], rounds: int, pause: float = 0.0, series: int = 1
) -> dict[str, dict[str, list[float]]]:
    """`rounds` rounds; in each, every runtime in a shuffled order, `series` starts in a row each.
    The i-th times of two runtimes come from the same round and place in it: the pairs of the ratio."""
    available = {k: v for k, v in cmds.items() if v}
    times: dict[str, list[float]] = {k: [] for k in available}
    for r in range(rounds):
        order = list(available)
        random.shuffle(order)
        for name in order:
            for i in range(series):
                time.sleep(pause)
                times[name].append(run_once(available[name], f"mcbench-{os.getpid()}-{r}-{i}-{name}"))
    rss = {k: [float(peak_rss_kib(v, f"mcbench-rss-{os.getpid()}-{i}-{k}")) for i in range(5)]
           for k, v in available.items()}  # fmt: skip
    return {"times": times, "rss": rss}


def charged_memory(rootfs: str, python: str, scratch: Path) -> int | None:
    report = scratch / "report.json"
    subprocess.run([python, "-I", "-S", "-c", LAUNCH, "-m", "64", "--report", str(report), "/bin/true", rootfs],
                   check=True)  # fmt: skip
    return json.loads(report.read_text())["memory_peak_bytes"]


def table(result: dict[str, dict[str, list[float]]], title: str) -> list[str]:
    times, rss = result["times"], result["rss"]
    mc = times["mini-container"]
    header = "| runtime | median ms | p90 ms | mini-container / it (paired median) | peak RSS MiB |"
    lines = [f"### {title}", "", header, "|---|---:|---:|---:|---:|"]
    for name, ts in sorted(times.items(), key=lambda kv: statistics.median(kv[1])):
        p90 = sorted(ts)[int(len(ts) * 0.9) - 1]
        ratio = statistics.median(a / b for a, b in zip(mc, ts, strict=True)) if name != "mini-container" else 1.0
        lines.append(f"| {name} | {statistics.median(ts) * 1000:.1f} | {p90 * 1000:.1f} | {ratio:.2f} | "
                     f"{statistics.median(rss[name]) / 1024:.1f} |")  # fmt: skip
    return lines + [""]


def plot(results: dict[str, dict], out: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("bench: matplotlib missing, no plot (nox -s bench installs it)", file=sys.stderr)
        return
    rows = (len(results) + 1) // 2
    fig, axes = plt.subplots(rows, 2, figsize=(12, 4 * rows), squeeze=False)
    for ax, (title, result) in zip(axes.flat, results.items(), strict=False):
        names = sorted(result["times"], key=lambda n: statistics.median(result["times"][n]))
        ax.boxplot([[t * 1000 for t in result["times"][n]] for n in names], showfliers=False)
        ax.set_xticks(range(1, len(names) + 1), names, rotation=20)
        ax.set_ylabel("start to exit of /bin/true (ms)")
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "200")))
    p.add_argument("--out", default=str(REPO / "docs"))
    p.add_argument(
        "--python",
        default=shutil.which("python3", path="/usr/bin:/bin") or sys.executable,
        help="interpreter for mini-container (default: the system's python3)",
    )
    args = p.parse_args()
    if os.geteuid() != 0:
        print("bench: needs root", file=sys.stderr)
        return 125
    scratch = Path(tempfile.mkdtemp(prefix="mc-bench-"))  # OCI bundles, the --report file
    try:
        return bench(args, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def bench(args: argparse.Namespace, scratch: Path) -> int:
    for name in ("runc", "crun", "bwrap"):
        if shutil.which(name) is None:
            print(
                f"bench: {name} is not installed: skipped (apt-get install {name if name != 'bwrap' else 'bubblewrap'})"
            )
    target = targets.materialize("alpine", builders.host_arch())
    python = os.path.realpath(args.python)  # the real interpreter, never a pyenv shim
    python_version = subprocess.run([python, "-I", "-S", "-c", "import sys; print(sys.version.split()[0])"],
                                    capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    k = Kernel()
    k.unshare(CLONE_NEWNS)  # crun's hybrid-layout workaround, for every runtime alike
    k.mount(None, "/", None, MS_REC | MS_PRIVATE)
    if os.path.ismount("/sys/fs/cgroup/unified"):
        k.umount2("/sys/fs/cgroup/unified", MNT_DETACH)
    results = {}
    series = 10
    cases = (  # title, limits, pause, series
        ("/bin/true, no limits", False, 0.0, 1),
        ("/bin/true, -m 64 MiB and 64 pids", True, 0.0, 1),
        (f"/bin/true, no limits, each runtime {series} times in a row", False, 0.0, series),
        ("/bin/true, no limits, 50 ms pause before each start", False, 0.05, 1),
    )
    for title, limits, pause, in_a_row in cases:
        cmds = commands(target.rootfs, python, limits, scratch)
        for name, cmd in cmds.items():  # warm caches and check each one works before timing
            if cmd:
                run_once(cmd, f"mcbench-warm-{os.getpid()}-{name}-{limits}")
        results[title] = measure(cmds, max(1, args.rounds // in_a_row), pause, in_a_row)
    out = Path(args.out)
    out.mkdir(exist_ok=True)
    versions = {n: subprocess.run([n, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
                for n in ("runc", "crun", "bwrap") if shutil.which(n)}  # fmt: skip
    charged_kib = (charged_memory(target.rootfs, python, scratch) or 0) / 1024
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.machine())  # fmt: skip
    lines = [
        "# Start-up benchmark", "",
        f"Measured {datetime.date.today().isoformat()} on {platform.node()}: {cpu}, {os.cpu_count()} CPUs, "
        f"Linux {platform.release()}, cgroup {'v1 hybrid' if Path('/sys/fs/cgroup/memory').is_dir() else 'v2'}; "
        f"mini-container on Python {python_version} ({python}); {', '.join(versions.values())}.", "",
        f"{args.rounds} interleaved rounds per case (a shuffled order each round). The ratio column is the "
        "median over rounds of mini-container's time divided by that runtime's time in the same round "
        "(below 1: mini-container is faster). Peak RSS is the runtime process's own (GNU time, 5 runs). "
        f"Memory charged to the container's cgroup for `true`: {charged_kib:.0f} KiB "
        "(mini-container's --report; the Python setup is not charged, it joins the cgroup just before exec).", "",
        "Moving a process into a cgroup takes a kernel lock that, when idle for a while, first waits out an "
        "RCU grace period (~8-20 ms here); for about one grace period after a move, the next one does not "
        "wait. So the cases differ in what ran just before a start: in the first two, another runtime "
        "(shuffled); in the third, the same runtime (rounds of "
        f"{series} starts in a row, as a test matrix runs one runtime over and over; {args.rounds} starts "
        "each all the same); in the fourth, nothing for 50 ms, so every runtime that uses cgroups pays "
        "the wait (see [performance.md](performance.md)).", "",
    ]  # fmt: skip
    for title, result in results.items():
        lines += table(result, title)
    lines += ["![start-up](bench-startup.png)", ""]
    (out / "bench.md").write_text("\n".join(lines))
    plot(results, out / "bench-startup.png")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
