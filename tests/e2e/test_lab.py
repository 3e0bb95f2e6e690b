"""The lab's own promises about a host it provisioned: provisioning is idempotent (molecule's check)."""

from __future__ import annotations

import pytest

from minilab.hosts import VM_PROVISION, VM_STAGE, LocalHost


def test_provisioning_twice_changes_nothing(each_host) -> None:
    """The lab driver ran provision.sh before the tests; once more must report no change at all."""
    if isinstance(each_host, LocalHost):
        pytest.skip("the local host is not provisioned by the lab (no provision.sh ran here)")
    r = each_host.run(["bash", VM_PROVISION, VM_STAGE], timeout=600)
    assert (r.rc, r.stdout) == (0, "provision: nothing to do, already provisioned\n"), r
