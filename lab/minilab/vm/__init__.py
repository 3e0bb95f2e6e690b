"""The lab's VM backend, one concern per module:

  settings.py   MINILAB_* settings, the guests (debian-v2, debian-v1, ubuntu-22.04), paths, progress lines
  libvirt.py    the libvirt daemons, /dev/kvm, the leftovers sweep
  staging.py    the runtime and target tarballs, uploaded to a guest only when it lacks them
  lifecycle.py  vagrant up (every guest at once) / provision over ssh / destroy (python-vagrant)
  cli.py        `python -m minilab.vm ...` and the e2e run

python-vagrant drives the lifecycle (up, status, provision, ssh-config, destroy); commands and files
go over paramiko (hosts.SshHost), which keeps exit codes. Settings come from MINILAB_* variables and
are saved to lab/.minilab-settings.json, so `cd lab && vagrant ssh debian-v2` works by hand afterwards.

    python -m minilab.vm up [--targets amd64:alpine,arm64:alpine]   # boot (or reuse) and provision
    python -m minilab.vm ssh-config | status | destroy | sweep | down
"""

from .cli import main, parse_specs, run_e2e
from .libvirt import LibvirtDaemons, sweep, sweep_plan
from .lifecycle import Lab
from .settings import CATALOG, Guest, LabError, Settings, guests_from_env
from .staging import link_or_copy, stage, target_tarball

__all__ = ["CATALOG", "Guest", "Lab", "LabError", "LibvirtDaemons", "Settings", "guests_from_env", "link_or_copy",
           "main", "parse_specs", "run_e2e", "stage", "sweep", "sweep_plan", "target_tarball"]  # fmt: skip
