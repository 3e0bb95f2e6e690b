"""Where scenarios run. One small interface, one class per transport (pytest-testinfra's shape).

A scenario only calls `run`, `start`, `put` and `mini_container`; the same test runs unchanged on the
local host, in a Vagrant VM, or over plain ssh. `start` keeps hold of a process on that host (its PID
there, signals, stdin, output, a wait with a timeout, optionally on a terminal of its own): what the
signal, terminal and killed-runtime scenarios need.
"""

from __future__ import annotations

import base64
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .agent import Agent, AgentGone
from .builders import DEBIAN_ARCH
from .processes import CommandResult, LocalProcess, Process, SshProcess

__all__ = ["CommandResult", "Host", "LocalHost", "Process", "SshHost", "TestState"]

# a lab guest's layout (lab/provision.sh): rootfs unpacked with .<id>.key beside each, the runtime,
# and where the driver uploads the stage and provision.sh
VM_ROOTFS_DIR = "/srv/minilab/rootfs"
RUNTIME_DIR = "/opt/mini-container"
VM_STAGE = "/tmp/minilab-stage"
VM_PROVISION = "/tmp/minilab-provision.sh"
DELEGATED = "/sys/fs/cgroup/minilab-rootless"  # cgroup v2 hosts: the rootless columns' user's subtree


@dataclass(frozen=True)
class TestState:
    """What a test leaves behind, read in one command after it (each round trip to a software-
    emulated guest costs a fraction of a second)."""

    leftovers: list[str]  # cgroup directories under the test's parent, before they were removed
    mounts: list[str]  # mount points at or under the rootfs
    strays: list[str]  # processes whose command line names the test's parent


class Host:
    """A machine the lab can run commands on."""

    name = "host"

    def run(self, cmd: list[str] | str, timeout: float = 120) -> CommandResult:
        raise NotImplementedError

    def start(self, argv: list[str], pty: tuple[int, int] | None = None) -> Process:
        """Start argv (as root) and keep hold of it; on a terminal of rows x cols with `pty`."""
        raise NotImplementedError

    def put(self, local: Path, remote: str) -> None:
        raise NotImplementedError

    def runtime_python(self) -> list[str]:
        """A Python interpreter on this host that imports the runtime's package (mini_container)."""
        raise NotImplementedError

    def runtime_command(self) -> list[str]:
        """How to start the runtime on this host."""
        raise NotImplementedError

    def mini_container(self, args: list[str], timeout: float = 120) -> CommandResult:
        return self.run([*self.runtime_command(), *args], timeout=timeout)

    def as_user(self, uid: int, cgroup: str | None = None) -> list[str]:
        """A command prefix that runs what follows as uid (and gid) `uid`, with no other group, the
        way a login of that user would (HOME, no root's environment); first moved into `cgroup`
        when given (one that `delegate` made)."""
        drop = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                "env", "-i", "HOME=/tmp", "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"]  # fmt: skip
        if cgroup is None:
            return drop
        return ["sh", "-c", f'echo $$ > {shlex.quote(cgroup)}/cgroup.procs && exec "$@"', "sh", *drop]

    def mini_container_as(self, uid: int, args: list[str], cgroup: str | None = None,
                          timeout: float = 120) -> CommandResult:  # fmt: skip
        return self.run([*self.as_user(uid, cgroup), *self.runtime_command(), *args], timeout=timeout)

    @staticmethod
    def _delegate_script(uid: int, leaf: str) -> str:
        """A cgroup v2 subtree handed to uid as systemd's Delegate=yes does (the directory and the
        files that move processes and enable controllers become theirs): DELEGATED/runners/<leaf>,
        for the user's runtime to start in; its containers go below DELEGATED."""
        path = f"{DELEGATED}/runners/{leaf}"
        files = "cgroup.procs cgroup.subtree_control cgroup.threads"
        return (
            f"mkdir -p {path} && for d in {DELEGATED} {DELEGATED}/runners {path}; do "
            f"chown {uid}:{uid} $d && (cd $d && chown {uid}:{uid} {files}) || exit 1; done"
        )

    def begin_test(self, rootfs: str, user: int | None, delegate_as: str | None) -> tuple[str, list[str], str | None]:
        """One command: a scratch directory (the user's, for a rootless test), the mounts under
        rootfs as they are now, and with `delegate_as` a delegated cgroup leaf of that name.
        → (scratch, mounts, leaf path or None)."""
        steps = ["set -e", "d=$(mktemp -d /tmp/minilab.XXXXXX)", 'echo "$d"']
        if user is not None:
            steps.append(f'chown {user}:{user} "$d"')
        if delegate_as is not None:
            assert user is not None
            steps.append(self._delegate_script(user, delegate_as))
        steps += ["echo ---", self._mounts_script(rootfs)]
        r = self.run(["sh", "-c", "\n".join(steps)])
        if r.rc != 0:
            raise OSError(f"cannot prepare the test on this host: {r.stderr.strip()}")
        head, _, mounts = r.stdout.partition("---\n")
        leaf = f"{DELEGATED}/runners/{delegate_as}" if delegate_as is not None else None
        return head.strip(), mounts.split(), leaf

    def end_test(self, scratch: str, parent: str, rootfs: str, leaf: str | None) -> TestState:
        """One command: remove the scratch directory, list and remove what is left under the cgroup
        parent (killing what still runs there), the delegated leaf, and read mounts and strays."""
        steps = [
            f"rm -rf {shlex.quote(scratch)}",
            "echo '--- leftovers'",
            self._leftovers_script(parent),
            f"( {self._remove_parent_script(parent)} )",
            f"rmdir {leaf} 2>/dev/null || true" if leaf else "true",
            "echo '--- mounts'",
            self._mounts_script(rootfs),
            "echo '--- strays'",
            # this script names the parent too, and so do the shells (and sudo) that run it: every
            # ancestor of this shell is left out
            # (read, not cut: a fork costs a tenth of a second in a software-emulated guest)
            'anc=\' \'; p=$$; while [ "$p" -gt 1 ]; do anc="$anc$p "; read -r _ _ _ p _ < /proc/$p/stat; done',
            f'for pid in $(pgrep -f {parent}); do case "$anc" in *" $pid "*) ;; *) echo $pid ;; esac; done',
        ]
        out = self.run(["sh", "-c", "\n".join(steps)]).stdout
        sections = {name: body.split() for name, _, body in (part.partition("\n") for part in out.split("--- ")[1:])}
        return TestState(sections.get("leftovers", []), sections.get("mounts", []), sections.get("strays", []))

    def end_session(self) -> None:
        """The shared delegated levels, once no worker uses them any more (rmdir refuses otherwise)."""
        self.run(["sh", "-c", f"rmdir {DELEGATED}/runners {DELEGATED} 2>/dev/null; true"])

    @staticmethod
    def _mounts_script(path: str) -> str:
        return f"awk -v p={shlex.quote(path)} 'index($5, p) == 1 {{print $5}}' /proc/self/mountinfo"

    def _fact(self, key: str, script: str) -> CommandResult:
        """A fact of this host, read once per session (the host does not change under a run)."""
        facts = self.__dict__.setdefault("_facts", {})
        if key not in facts:
            facts[key] = self.run(["sh", "-c", script])
        return facts[key]

    def arch(self) -> str:
        """This host's Debian architecture name (amd64, arm64): what runs natively here."""
        machine = self._fact("arch", "uname -m").stdout.strip()
        return DEBIAN_ARCH.get(machine, machine)

    def emulates(self, arch: str) -> bool:
        """Whether arch's binaries run here only through qemu-user (binfmt)."""
        return arch != self.arch()

    def cgroup_version(self) -> str:
        """v2 when the unified hierarchy is the only one at /sys/fs/cgroup, else v1 (hybrid or v1)."""
        fs = self._fact("cgroupfs", "stat -fc %T /sys/fs/cgroup").stdout.strip()
        return "v2" if fs == "cgroup2fs" else "v1"

    def has_cgroup_file(self, *names: str) -> bool:
        """Whether this host's kernel gives a new cgroup one of these files (memory.peak came with
        Linux 5.19, pids.peak later): a probe cgroup is made and removed on every hierarchy."""
        probe = "minilab-probe-$$"
        listing = (
            "for m in /sys/fs/cgroup /sys/fs/cgroup/memory /sys/fs/cgroup/pids; do "
            f"[ -e $m/cgroup.procs ] || continue; mkdir $m/{probe} && ls $m/{probe}; rmdir $m/{probe}; done"
        )
        found = set(self._fact("cgroup-files", listing).stdout.split())
        return any(name in found for name in names)

    def user_mapping(self, uid: int) -> str:
        """The rootless mapping this host gives uid: subid (newuidmap and a range for that user in
        /etc/subuid and /etc/subgid), else single."""
        script = (
            f"name=$(getent passwd {uid} | cut -d: -f1); "
            "command -v newuidmap >/dev/null && command -v newgidmap >/dev/null || exit 1; "
            f'for f in /etc/subuid /etc/subgid; do grep -qE "^({uid}|$name):" $f 2>/dev/null || exit 1; done'
        )
        return "subid" if self._fact(f"mapping-{uid}", script).rc == 0 else "single"

    def rootfs_path(self, target_id: str, local_path: str) -> str:
        """Where a target's rootfs lives on this host (the lab unpacks it there)."""
        raise NotImplementedError

    def mkdtemp(self) -> str:
        return self.run(["mktemp", "-d", "/tmp/minilab.XXXXXX"]).stdout.strip()

    def write_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        encoded = base64.b64encode(data).decode()
        r = self.run(
            ["sh", "-c", f"printf %s {encoded} | base64 -d > {shlex.quote(path)} && chmod {mode:o} {shlex.quote(path)}"]
        )
        if r.rc != 0:
            raise OSError(f"cannot write {path}: {r.stderr.strip()}")

    def cgroup_leftovers(self, parent: str) -> list[str]:
        """Directories left under a cgroup parent, on whichever hierarchies the host has."""
        return self.run(["sh", "-c", self._leftovers_script(parent)]).stdout.split()

    @staticmethod
    def _parent_dirs_script(parent: str) -> str:
        """Where a test's cgroup parent can be: at the top (v2), under a v1 controller or the delegated
        subtree, and the delegated runners' leaf of that name. Globs, not `find /sys/fs/cgroup`: a walk
        of systemd's whole tree took about a second a test in a software-emulated guest."""
        candidates = f"/sys/fs/cgroup/{parent} /sys/fs/cgroup/*/{parent} /sys/fs/cgroup/*/runners/{parent}"
        return f'for top in {candidates}; do [ -d "$top" ] && echo "$top"; done'

    @classmethod
    def _leftovers_script(cls, parent: str) -> str:
        """The cgroup directories below a test's parent (on every hierarchy)."""
        return f'for top in $({cls._parent_dirs_script(parent)}); do find "$top" -mindepth 1 -type d; done; true'

    def remove_cgroup_parent(self, parent: str) -> None:
        """Remove a test's cgroup parent and whatever is left below it, killing what still runs there
        (a test that failed half-way); only cgroups under this parent's unique name are touched."""
        self.run(["sh", "-c", self._remove_parent_script(parent)])

    @classmethod
    def _remove_parent_script(cls, parent: str) -> str:
        return (
            f"for i in 1 2 3 4 5 6 7 8 9 10; do "
            f'dirs=$(for top in $({cls._parent_dirs_script(parent)}); do find "$top" -depth -type d; done); '
            '[ -z "$dirs" ] && exit 0; '
            "for d in $dirs; do for p in $(cat $d/cgroup.procs 2>/dev/null); do kill -9 $p 2>/dev/null; done; "
            "rmdir $d 2>/dev/null; done; sleep 0.1; done"
        )

    def mounts_under(self, path: str) -> list[str]:
        return self.run(["sh", "-c", self._mounts_script(path)]).stdout.split()


class LocalHost(Host):
    """This machine, as root. The runtime runs from this interpreter, as installed in its venv."""

    name = "local"

    def run(self, cmd: list[str] | str, timeout: float = 120) -> CommandResult:
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else cmd
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise TimeoutError(f"{shlex.join(argv)} did not finish in {timeout}s") from e
        return CommandResult(p.returncode, p.stdout, p.stderr)

    def start(self, argv: list[str], pty: tuple[int, int] | None = None) -> Process:
        return LocalProcess(argv, pty)

    def put(self, local: Path, remote: str) -> None:
        if local.is_dir():
            shutil.copytree(local, remote, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copy2(local, remote)

    def runtime_command(self) -> list[str]:
        return [sys.executable, "-m", "mini_container"]

    def runtime_python(self) -> list[str]:
        return [sys.executable]

    def rootfs_path(self, target_id: str, local_path: str) -> str:
        return local_path


class SshHost(Host):
    """A machine reached over ssh (paramiko): a Vagrant VM, or any host you can log in to.

    Commands run as root: directly when the login is root (the lab's guests let root in with the
    vagrant key, which saves sudo's 0.2 s a command under software emulation), else through sudo.
    Output is drained before the exit status is read: paramiko
    can hang on recv_exit_status when a stream's window fills.
    """

    name = "ssh"

    def __init__(self, hostname: str, port: int, user: str, key_file: str | None, label: str = "ssh") -> None:
        self.hostname, self.port, self.user, self.key_file = hostname, port, user, key_file
        self.name = label
        self._client = None
        self._agent_state: Agent | bool | None = None  # None: not started yet; False: none to be had
        self.ssh_config_text = ""  # the `vagrant ssh-config` it came from, when it did

    @classmethod
    def from_ssh_config(cls, text: str, alias: str, label: str = "vagrant", user: str | None = None) -> SshHost:
        """A host from `ssh -G`-style text (vagrant ssh-config); `user` instead of the config's."""
        import paramiko

        cfg = paramiko.SSHConfig.from_text(text).lookup(alias)
        keys = cfg.get("identityfile") or [None]
        login = user or cfg.get("user", "vagrant")
        host = cls(cfg["hostname"], int(cfg.get("port", 22)), login, keys[0], label)
        host.ssh_config_text = text
        return host

    def _connect(self):  # noqa: ANN202
        if self._client is None:
            import paramiko

            client = paramiko.SSHClient()
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # a lab VM made minutes ago
            client.connect(self.hostname, self.port, self.user, key_filename=self.key_file, timeout=30,
                           allow_agent=False, look_for_keys=self.key_file is None)  # fmt: skip
            self._client = client
        return self._client

    def run(self, cmd: list[str] | str, timeout: float = 120) -> CommandResult:
        """Through this connection's agent when it is free (one long-lived root Python on the host
        that runs each command: no sshd session, PAM and login shell per command, which cost about
        0.3 s each in a software-emulated guest); else, or without python3 there, one ssh channel."""
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else cmd
        agent = self._agent()
        if agent is not None and agent.lock.acquire(blocking=False):
            try:
                return agent.run(argv, timeout)
            except AgentGone:
                self._agent_state = None  # the next call starts another
            finally:
                agent.lock.release()
        return self._run_on_channel(shlex.join(argv), timeout)

    def _agent(self) -> Agent | None:
        if self._agent_state is None:
            try:
                self._agent_state = Agent(self)
            except AgentGone:
                self._agent_state = False  # no python3 there (or it cannot start): channels only, for good
        return self._agent_state or None

    def _run_on_channel(self, command: str, timeout: float) -> CommandResult:
        channel = self._connect().get_transport().open_session()
        channel.settimeout(1.0)
        channel.exec_command(self.as_root(command))
        out, err = bytearray(), bytearray()
        deadline = time.monotonic() + timeout
        while True:
            while channel.recv_ready():
                out += channel.recv(65536)
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(65536)
            if channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready():
                break
            if time.monotonic() > deadline:
                channel.close()
                raise TimeoutError(f"{command} did not finish in {timeout}s on {self.hostname}:{self.port}")
            time.sleep(0.01)
        rc = channel.recv_exit_status()
        channel.close()
        return CommandResult(rc, out.decode(errors="replace"), err.decode(errors="replace"))

    def put(self, local: Path, remote: str) -> None:
        sftp = self._connect().open_sftp()
        try:
            if local.is_dir():
                sftp.mkdir(remote)
                for path in sorted(local.rglob("*")):
                    target = f"{remote}/{path.relative_to(local)}"
                    if path.is_dir():
                        sftp.mkdir(target)
                    else:
                        sftp.put(str(path), target)
            else:
                sftp.put(str(local), remote)
        finally:
            sftp.close()

    def start(self, argv: list[str], pty: tuple[int, int] | None = None) -> Process:
        return SshProcess(self, argv, pty)

    def as_root(self, command: str) -> str:
        """The command line that runs a shell command as root on this host."""
        if self.user == "root":
            return command  # sshd runs it with root's login shell, `sh -c` in effect
        return f"sudo -n sh -c {shlex.quote(command)}"

    def send_files(self, files: list[tuple[Path, str]]) -> None:
        """Upload (local file, remote path) pairs over one SFTP session, as the login user."""
        sftp = self._connect().open_sftp()
        try:
            for local, remote in files:
                sftp.put(str(local), remote)
        finally:
            sftp.close()

    def runtime_command(self) -> list[str]:
        return ["mini-container"]

    def runtime_python(self) -> list[str]:
        return ["env", f"PYTHONPATH={RUNTIME_DIR}", "python3"]  # where lab/provision.sh installs it

    def rootfs_path(self, target_id: str, local_path: str) -> str:
        return f"{VM_ROOTFS_DIR}/{target_id}"  # where lab/provision.sh unpacks it

    def close(self) -> None:
        self._agent_state = None
        if self._client is not None:
            self._client.close()
            self._client = None
