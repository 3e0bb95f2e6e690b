from __future__ import annotations

import errno
from pathlib import Path

import pytest

from minilab import vm
from minilab.vm import staging


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"MINILAB_BOX": "offline", "MINILAB_CPUS": "4", "MINILAB_SSH_PORT": "2299",
                        "MINILAB_NET": "loopback", "MINILAB_DRIVER": "qemu"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MINILAB_GUESTS", raising=False)
    monkeypatch.delenv("MINILAB_CGROUP", raising=False)
    s = vm.Settings.from_env()
    assert (s.cpus, s.ssh_port, s.net, s.driver, s.memory) == (4, 2299, "loopback", "qemu", 2048)
    # offline: both Debian guests, each its own ssh forward
    assert [(g.name, g.box, g.cgroup, s.port(g)) for g in s.guests] == [
        ("debian-v2", "offline", "v2", 2299), ("debian-v1", "offline", "v1", 2300)]  # fmt: skip
    made = s.for_vagrantfile({"debian-v2": "minilab/bookworm-v2-x", "debian-v1": "minilab/bookworm-v1-y"})
    assert [(m["name"], m["box"], m["ssh_port"]) for m in made["guests"]] == [
        ("debian-v2", "minilab/bookworm-v2-x", 2299), ("debian-v1", "minilab/bookworm-v1-y", 2300)]  # fmt: skip
    assert made["cpus"] == 4 and made["net"] == "loopback"


@pytest.mark.parametrize(("env", "guests"), [
    ({}, ["ubuntu-22.04"]),  # with internet: Ubuntu 22.04, the mission's machine
    ({"MINILAB_BOX": "offline", "MINILAB_CGROUP": "v1"}, ["debian-v1"]),  # the nightly's one-guest jobs
    ({"MINILAB_GUESTS": "debian-v1, ubuntu-22.04"}, ["debian-v1", "ubuntu-22.04"]),
    ({"MINILAB_BOX": "my/box", "MINILAB_VM_NAME": "mine"}, ["mine"]),
])  # fmt: skip
def test_guests_picked_from_the_environment(env: dict[str, str], guests: list[str]) -> None:
    assert [g.name for g in vm.guests_from_env(env)] == guests


def test_an_unknown_guest_is_refused_with_the_known_ones() -> None:
    with pytest.raises(vm.LabError, match="unknown guest debian-v3; known: debian-v2, debian-v1, ubuntu-22.04"):
        vm.guests_from_env({"MINILAB_GUESTS": "debian-v3"})


def test_specs_carry_the_source_decision(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINILAB_ROOTFS_SOURCE", "offline")
    assert vm.parse_specs("amd64:alpine, arm64:ubuntu") == [("amd64", "alpine", "offline"),
                                                           ("arm64", "ubuntu", "offline")]  # fmt: skip


def test_unknown_destroy_policy_is_refused() -> None:
    with pytest.raises(vm.LabError, match="expected never, passing or always"):
        vm.run_e2e(vm.Lab(vm.Settings()), [], "sometimes", [])


class InterruptedLab:
    """Stands in for vm.Lab: `up` is interrupted (Ctrl-C while the VM boots)."""

    def __init__(self) -> None:
        self.settings = vm.Settings()
        self.destroyed = 0
        self.daemons = self

    def up(self):  # noqa: ANN201
        raise KeyboardInterrupt

    def destroy(self, guests: list | None = None) -> None:
        self.destroyed += 1

    def load(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def save(self) -> None:
        pass


@pytest.mark.parametrize(("policy", "destroyed"), [("passing", 1), ("always", 1), ("never", 0)])
def test_ctrl_c_applies_the_destroy_policy(monkeypatch: pytest.MonkeyPatch, policy: str, destroyed: int) -> None:
    monkeypatch.setattr(vm, "stage", lambda settings, specs: [])
    lab = InterruptedLab()
    assert vm.run_e2e(lab, [], policy, []) == 130  # type: ignore[arg-type]
    assert lab.destroyed == destroyed


def test_junit_is_split_per_guest(tmp_path: Path) -> None:
    from minilab import junit

    (tmp_path / "all.xml").write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.e2e.test_oom" name="test_hog[debian-v1-amd64-alpine-like]@debian-v1-0"/>'
        '<testcase classname="tests.e2e.test_oom" name="test_hog[debian-v2-amd64-alpine-like]"><failure/></testcase>'
        '<testcase classname="tests.e2e.test_lab" name="test_provisioning_twice_changes_nothing[debian-v2]"/>'
        '<testcase classname="tests.e2e.test_oom" name="test_hog[debian-v2-arm64-alpine-like-rootless]">'
        "<skipped/></testcase></testsuite></testsuites>"
    )
    counts = junit.split_by_host(tmp_path / "all.xml", ["debian-v2", "debian-v1"], tmp_path)
    assert counts == {"debian-v2": {"tests": 3, "failures": 1, "errors": 0, "skipped": 1},
                      "debian-v1": {"tests": 1, "failures": 0, "errors": 0, "skipped": 0}}  # fmt: skip
    # the loadgroup suffix is not part of the test's name
    assert junit.recorded(tmp_path / "junit-e2e-debian-v1.xml") == {
        ("tests.e2e.test_oom", "test_hog[debian-v1-amd64-alpine-like]")
    }


def test_sweep_touches_only_this_machine_and_keeps_shared_box_images_in_use() -> None:
    box = "minilab-VAGRANTSLASH-bookworm-v2-x_vagrant_box_image_0_1_box.img"
    domains = ["minilab_minilab", "minilab_other", "someone_elses_vm"]
    volumes = ["minilab_minilab.img", "minilab_other.img", box, "unrelated.qcow2"]
    assert vm.sweep_plan("minilab", domains, volumes) == (["minilab_minilab"], ["minilab_minilab.img"])
    # once no lab domain is left, the box base image goes too
    assert vm.sweep_plan("minilab", ["minilab_minilab"], volumes) == (
        ["minilab_minilab"], ["minilab_minilab.img", box])  # fmt: skip
    assert vm.sweep_plan("minilab", [], ["unrelated.qcow2"]) == ([], [])


def test_target_tarball_keeps_the_whole_label_and_content_key() -> None:
    a = vm.target_tarball("/c/targets/amd64-alpine-3.20.3-0123456789abcdef")
    b = vm.target_tarball("/c/targets/amd64-alpine-3.20.3-fedcba9876543210")
    assert a.name == "amd64-alpine-3.20.3-0123456789abcdef.tar"
    assert a != b  # two contents, two tarballs (with_suffix made both amd64-alpine-3.20.tar)


def test_link_or_copy_falls_back_to_a_copy_across_filesystems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "a.tar"
    src.write_bytes(b"rootfs")
    vm.link_or_copy(src, tmp_path / "linked.tar")
    assert (tmp_path / "linked.tar").stat().st_ino == src.stat().st_ino

    def cross_device(a: object, b: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(staging.os, "link", cross_device)
    vm.link_or_copy(src, tmp_path / "copied.tar")
    assert (tmp_path / "copied.tar").read_bytes() == b"rootfs"
    assert (tmp_path / "copied.tar").stat().st_ino != src.stat().st_ino


def test_pytest_arguments_after_the_double_dash_reach_pytest(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}

    def fake_run_e2e(lab, specs, policy, pytest_args):  # noqa: ANN001, ANN202
        seen["args"] = pytest_args
        return 0

    monkeypatch.setattr(vm.cli, "run_e2e", fake_run_e2e)
    assert vm.main(["e2e", "--targets", "amd64:alpine", "--", "-k", "rootless", "-x"]) == 0
    assert seen["args"] == ["-k", "rootless", "-x"]
