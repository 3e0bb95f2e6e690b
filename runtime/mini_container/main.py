"""Entry point: parse, run, and turn every expected failure into one stderr line and an exit code."""

from __future__ import annotations

import os
import sys

from .errors import ContainerError


def main(argv: list[str] | None = None) -> int:
    from . import cli

    args = sys.argv[1:] if argv is None else argv
    config = None
    try:
        config = cli.parse(args)
        from . import warmup

        warm_up = warmup.start()  # before the heavy imports below, so they overlap the kernel's wait
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
