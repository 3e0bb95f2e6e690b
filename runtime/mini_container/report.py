"""--report FILE: one JSON object describing the run, written atomically."""

import os


def write_report(path: str, **fields: object) -> None:
    import json  # only runs that ask for a report pay for it

    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(fields, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)
