"""Exit codes and the one exception type that carries them to the CLI."""

EXIT_RUNTIME = 125  # bad option, missing rootfs, not root, cgroup failure
EXIT_NOT_EXECUTABLE = 126  # found but cannot be executed (incl. foreign arch, no binfmt)
EXIT_NOT_FOUND = 127  # command not found in the rootfs
EXIT_OOM = 137  # 128 + SIGKILL, reported with a line naming the OOM killer


def one_line(text: str) -> str:
    """User input (paths, names) may hold newlines or control bytes: escape them, keep one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class ContainerError(Exception):
    """A failure the user should see as one line on stderr, with a documented exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_RUNTIME) -> None:
        message = one_line(message)
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message
