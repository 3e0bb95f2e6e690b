"""PID, UTS, network and mount namespaces; the container's view of /proc, /sys and /dev."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.rootless


def test_command_is_pid_1(mc) -> None:
    r = mc.sh("echo $$")
    assert (r.rc, r.stdout.strip()) == (0, "1"), r


def test_requested_pid(mc) -> None:
    r = mc.sh("echo $$; cat /proc/1/comm", "-p", "42")
    lines = r.stdout.split()
    assert r.rc == 0 and lines[0] == "42", r
    assert lines[1] != "sh"  # PID 1 is the minimal init, not the command


def test_host_processes_are_invisible(mc) -> None:
    r = mc.sh("ls /proc | grep -c '^[0-9]'")
    assert r.rc == 0 and int(r.stdout) <= 3, r  # sh, ls, grep at most


def test_default_hostname_is_the_container_id_and_host_is_untouched(mc, host) -> None:
    before = host.run(["hostname"]).stdout
    # SYS_ADMIN is not in the default set (sethostname is refused, as with docker): grant it
    r = mc.sh("hostname; hostname changed-inside; hostname", "--cap-add", "SYS_ADMIN")
    first, second = r.stdout.split()
    assert r.rc == 0 and len(first) == 12 and int(first, 16) >= 0 and second == "changed-inside", r
    assert host.run(["hostname"]).stdout == before


def test_hostname_option(mc) -> None:
    assert mc.sh("hostname", "--hostname", "lab-box").stdout.strip() == "lab-box"


def test_net_none_has_only_loopback_and_it_is_up(mc) -> None:
    r = mc.sh("cat /proc/net/dev | tail -n +3 | cut -d: -f1; cat /sys/class/net/lo/flags")
    assert r.stdout.split() == ["lo", "0x9"], r  # IFF_UP | IFF_LOOPBACK


def test_net_host_sees_the_host_interfaces(mc, host) -> None:
    inside = mc.sh("cat /proc/net/dev | tail -n +3 | cut -d: -f1", "--net", "host").stdout.split()
    outside = host.run(["sh", "-c", "cat /proc/net/dev | tail -n +3 | cut -d: -f1"]).stdout.split()
    assert sorted(inside) == sorted(outside)


def test_proc_is_masked_and_read_only(mc) -> None:
    r = mc.sh(
        "wc -c < /proc/kcore 2>/dev/null || echo nokcore; "
        "echo x > /proc/sys/kernel/hostname 2>/dev/null && echo WROTE || echo ro-sys; "
        "echo b > /proc/sysrq-trigger 2>/dev/null && echo WROTE || echo ro-sysrq; "
        "ls /sys/firmware | wc -l; touch /sys/x 2>/dev/null && echo WROTE || echo ro-sysfs"
    )
    out = r.stdout.split()
    assert out[0] in ("0", "nokcore") and "WROTE" not in out, r
    assert out[1:] == ["ro-sys", "ro-sysrq", "0", "ro-sysfs"], r


def test_dev_has_the_standard_nodes(mc) -> None:
    r = mc.sh("ls /dev | sort | tr '\\n' ' '; head -c4 /dev/zero | wc -c; echo x > /dev/null && echo null-ok")
    names = set(r.stdout.split())
    assert {"null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "ptmx", "fd", "stdin"} <= names, r
    assert "null-ok" in names and "4" in names


def test_root_is_pivoted_not_chrooted(mc) -> None:
    # after pivot_root + detach, the host's root is not a mount any more in the container
    r = mc.sh("cat /proc/self/mountinfo | cut -d' ' -f5")
    assert r.rc == 0 and "/" in r.stdout.split(), r
    assert not any(m.startswith(mc.target.rootfs) for m in r.stdout.split()), r
