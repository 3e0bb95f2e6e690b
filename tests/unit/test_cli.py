from __future__ import annotations

from pathlib import Path

import pytest

from mini_container import cli
from mini_container.errors import ContainerError
from mini_container.units import MIB


def parse(rootfs: Path, *extra: str) -> cli.Config:
    return cli.parse(["/bin/sh", str(rootfs), *extra])


def test_defaults(rootfs: Path) -> None:
    c = parse(rootfs)
    assert (c.command, c.rootfs, c.args, c.pid, c.net) == ("/bin/sh", str(rootfs), (), 1, "none")
    assert c.memory is None and c.nproc is None and c.user is None and c.report is None


def test_options_after_positionals_and_args_after_dashdash(rootfs: Path) -> None:
    c = parse(rootfs, "-m", "100", "--nproc", "5", "-p", "7", "--", "-c", "echo -m 3")
    assert c.memory == 100 * MIB and c.nproc == 5 and c.pid == 7
    assert c.args == ("-c", "echo -m 3")


def test_options_before_positionals(rootfs: Path) -> None:
    c = cli.parse(["--memory", "1g", "-u", "1000:10", "/bin/sh", str(rootfs)])
    assert c.memory == 1024 * MIB and c.user == "1000:10"


def test_every_option(rootfs: Path, tmp_path: Path) -> None:
    vol = tmp_path / "vol"
    vol.mkdir()
    c = parse(
        rootfs,
        "--cap-add", "net_bind_service,SYS_TIME", "--cap-add", "CAP_KILL", "--cap-drop", "ALL",
        "--hostname", "box", "-e", "A=1", "--env", "B=x=y", "-w", "/work",
        "-v", f"{vol}:/data:ro", "--volume", f"{vol}:/rw", "--net", "host",
        "--report", "/tmp/r.json", "--cgroup-parent", "/ci/jobs/",
    )  # fmt: skip
    assert c.cap_add == ("net_bind_service,SYS_TIME", "CAP_KILL") and c.cap_drop == ("ALL",)
    assert c.hostname == "box" and c.env == ("A=1", "B=x=y") and c.workdir == "/work"
    assert c.volumes == (cli.Volume(str(vol), "/data", True), cli.Volume(str(vol), "/rw", False))
    assert c.net == "host" and c.report == "/tmp/r.json" and c.cgroup_parent == "ci/jobs"


def test_env_key_alone_copies_from_caller(rootfs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROM_CALLER", "yes")
    monkeypatch.delenv("UNSET_IN_CALLER", raising=False)
    assert parse(rootfs, "-e", "FROM_CALLER", "-e", "UNSET_IN_CALLER").env == ("FROM_CALLER=yes",)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-m", "abc"], "invalid memory limit 'abc'"),
        (["-m", "0"], "below the minimum of 6 MiB"),
        (["-m", "1"], "below the minimum of 6 MiB"),
        (["-m", "5m"], "below the minimum of 6 MiB"),
        (["--nproc", "0"], "must be >= 1"),
        (["--nproc", "-3"], "must be >= 1"),
        (["--nproc", "x"], "expected a whole number"),
        (["-p", "0"], "invalid pid '0'"),
        (["-p", "99999999"], "invalid pid '99999999'"),
        (["--net", "bridge"], "invalid choice: 'bridge'"),
        (["--hostname", "x" * 65], "1 to 64 bytes"),
        (["-w", "relative"], "must be an absolute path"),
        (["-v", "nocolon"], "expected SRC:DST[:ro]"),
        (["-v", "rel:/x"], "must be absolute paths"),
        (["-v", "/definitely/missing:/x"], "does not exist"),
        (["-e", "=v"], "invalid environment variable"),
        (["--cgroup-parent", "../escape"], "invalid cgroup parent"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["extra-positional"], "unrecognized arguments"),
    ],
)
def test_bad_values_are_one_clear_error(rootfs: Path, argv: list[str], message: str) -> None:
    with pytest.raises(ContainerError) as err:
        parse(rootfs, *argv)
    assert message in err.value.message
    assert err.value.exit_code == 125
    assert "\n" not in err.value.message


def test_rootfs_checks(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    cases = {
        "relative/rootfs": "is a relative path",
        str(tmp_path / "missing"): "does not exist",
        str(tmp_path / "file"): "is not a directory",
        "/": "the host's /",
    }
    for path, message in cases.items():
        with pytest.raises(ContainerError, match=message):
            cli.parse(["/bin/sh", path])


def test_missing_positionals() -> None:
    with pytest.raises(ContainerError, match="required: ROOT_FILESYSTEM_PATH"):
        cli.parse(["/bin/sh"])


def test_help_lists_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.parse(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    expected = "--pid --memory --nproc --user --cap-add --cap-drop --hostname --env --workdir --volume --net"
    for option in [*expected.split(), "--report", "--version", "MiB", "137", "125", "126", "127"]:
        assert option in out
