"""The start path stays lean: what `mini-container` imports before it runs a container.

Each module below costs a start a measurable slice (docs/performance.md); one innocent import (a
`typing` here, a `ctypes` there) brings them back. A fresh interpreter, as the lab launches it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

RUNTIME = Path(__file__).resolve().parents[2] / "runtime"

# stdlib modules the start path must not import (cost in ms at the time of writing, Python 3.11)
HEAVY = {
    "ctypes": "~1.5 (libc.py uses _ctypes directly)",
    "__future__": "~0.2 (runtime annotations are plain or quoted)",
    "typing": "~3",
    "signal": "~2 (enum wrappers over _signal)",
    "threading": "~1 (warmup.py uses _thread)",
    "argparse": "~5 (re, gettext, shutil)",
    "re": "~3",
    "json": "~1 (only with --report)",
    "dataclasses": "~10 (inspect, ast, dis)",
    "subprocess": "~3",
    "socket": "~2",
    "struct": "~0.3",
    "platform": "~1",
    "secrets": "~3 (hmac, hashlib)",
}


def test_the_start_path_imports_nothing_heavy() -> None:
    probe = (
        f"import sys; sys.path.insert(0, {str(RUNTIME)!r})\n"
        "import mini_container.main, mini_container.container\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-I", "-S", "-c", probe], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.split())
    assert "mini_container.container" in loaded and "_ctypes" in loaded  # the probe saw the real thing
    heavy = {name: why for name, why in HEAVY.items() if name in loaded}
    assert not heavy, f"the start path imports {heavy}"
