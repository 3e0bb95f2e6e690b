"""Environment, working directory and volumes."""

from __future__ import annotations


def test_environment(mc) -> None:
    r = mc.sh("echo $PATH; echo $FOO; echo $EMPTY.", "-e", "FOO=bar baz", "-e", "EMPTY=")
    assert r.stdout.splitlines() == ["/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "bar baz", "."]


def test_environment_is_not_the_hosts(mc) -> None:
    r = mc.sh("env | cut -d= -f1 | sort | tr '\\n' ' '")
    assert r.stdout.split() == ["HOME", "HOSTNAME", "PATH", "PWD", "SHLVL"] or set(r.stdout.split()) <= {
        "HOME", "HOSTNAME", "PATH", "PWD", "SHLVL", "TERM"
    }  # fmt: skip


def test_workdir_is_used_and_created(mc) -> None:
    assert mc.sh("pwd", "-w", "/etc").stdout.strip() == "/etc"
    r = mc.sh("pwd", "-w", "/dev/shm/new/dir")
    assert (r.rc, r.stdout.strip()) == (0, "/dev/shm/new/dir"), r


def test_read_write_and_read_only_volumes(mc, host) -> None:
    data = f"{mc.tmp}/data"
    host.run(["mkdir", data])
    host.write_file(f"{data}/in.txt", b"from host\n")
    r = mc.sh("cat /mnt/data/in.txt; echo back > /mnt/data/out.txt", "-v", f"{data}:/mnt/data")
    assert r.rc == 0 and r.stdout == "from host\n", r
    assert host.run(["cat", f"{data}/out.txt"]).stdout == "back\n"
    r = mc.sh("cat /ro/in.txt; echo x > /ro/nope.txt", "-v", f"{data}:/ro:ro")
    assert r.rc != 0 and "Read-only file system" in r.stderr, r
    assert host.run(["test", "-e", f"{data}/nope.txt"]).rc == 1


def test_volume_target_is_created_inside_the_rootfs(mc, host) -> None:
    data = f"{mc.tmp}/d"
    host.run(["mkdir", data])
    r = mc.sh("ls -d /mnt/new/deep && echo ok", "-v", f"{data}:/mnt/new/deep")
    assert r.stdout.split()[-1] == "ok", r
