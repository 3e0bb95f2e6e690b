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


def test_read_write_and_read_only_volumes(mc, tmp_path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "in.txt").write_text("from host\n")
    r = mc.sh("cat /mnt/data/in.txt; echo back > /mnt/data/out.txt", "-v", f"{data}:/mnt/data")
    assert r.rc == 0 and r.stdout == "from host\n" and (data / "out.txt").read_text() == "back\n", r
    r = mc.sh("cat /ro/in.txt; echo x > /ro/nope.txt", "-v", f"{data}:/ro:ro")
    assert r.rc != 0 and "Read-only file system" in r.stderr and not (data / "nope.txt").exists(), r


def test_volume_target_symlink_cannot_escape(mc, tmp_path) -> None:
    # /dev/shm is per-container; a link there pointing at "/" must resolve inside the rootfs
    data = tmp_path / "d"
    data.mkdir()
    r = mc.sh("ls /mnt/d >/dev/null && echo ok", "-v", f"{data}:/mnt/d")
    assert r.stdout.strip() == "ok", r
