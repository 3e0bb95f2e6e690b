from __future__ import annotations

import pytest

from minilab import vm


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"MINILAB_BOX": "offline", "MINILAB_CPUS": "4", "MINILAB_SSH_PORT": "2299",
                        "MINILAB_NET": "loopback", "MINILAB_DRIVER": "qemu"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    s = vm.Settings.from_env()
    assert (s.box, s.cpus, s.ssh_port, s.net, s.driver, s.memory) == ("offline", 4, 2299, "loopback", "qemu", 2048)
    env = s.vagrant_env("minilab/bookworm-v2-x")
    assert env["MINILAB_BOX"] == "minilab/bookworm-v2-x" and env["MINILAB_SSH_PORT"] == "2299"
    assert "MINILAB_BOX" not in vm.Settings().vagrant_env("")  # the Vagrantfile's Ubuntu default


def test_specs_carry_the_source_decision(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINILAB_ROOTFS_SOURCE", "offline")
    assert vm.parse_specs("amd64:alpine, arm64:ubuntu") == [("amd64", "alpine", "offline"),
                                                           ("arm64", "ubuntu", "offline")]  # fmt: skip


def test_unknown_destroy_policy_is_refused() -> None:
    with pytest.raises(vm.LabError, match="expected never, passing or always"):
        vm.run_e2e(vm.Lab(vm.Settings()), [], "sometimes", [])
