"""Entry point: parse, run, and turn every expected failure into one stderr line and an exit code."""

import os
import sys

from . import warmup
from .errors import ContainerError


def main(argv: list[str] | None = None) -> int:
    # first of all: the kernel's wait it pays (see warmup.py) then overlaps everything below,
    # up to the container's own set-up; it moves nothing, so a run that stops early loses nothing
    warm_up = warmup.start()
    from . import cli

    args = sys.argv[1:] if argv is None else argv
    config = None
    try:
        config = cli.parse(args)
        from .container import run

        return run(config, warm_up=warm_up)
    except ContainerError as e:
        cli.print_error(e.message)
        if config is not None and config.report:
            from .report import write_report

            write_report(config.report, exit_code=e.exit_code, signal=None, oom_killed=False, error=e.message)
        return e.exit_code
    except KeyboardInterrupt:
        return 130


def run_and_exit() -> None:
    """Entry point: the interpreter's own teardown (module and GC cleanup) costs ~3 ms for nothing."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
