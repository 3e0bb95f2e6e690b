"""One long-lived root Python per ssh connection that runs the lab's commands (hosts.SshHost.run)."""

from __future__ import annotations

import base64
import shlex
import threading
from typing import TYPE_CHECKING

from .processes import CommandResult

if TYPE_CHECKING:
    from .hosts import SshHost


class AgentGone(Exception):
    pass


AGENT = r"""
import base64, json, struct, subprocess, sys
inp, out = sys.stdin.buffer, sys.stdout.buffer
out.write(b"minilab-agent\n"); out.flush()
while True:
    head = inp.read(4)
    if len(head) < 4:
        break
    req = json.loads(inp.read(struct.unpack(">I", head)[0]))
    try:
        p = subprocess.run(req["argv"], capture_output=True, stdin=subprocess.DEVNULL, timeout=req["timeout"])
        res = {"rc": p.returncode, "out": p.stdout, "err": p.stderr}
    except subprocess.TimeoutExpired:
        res = {"timeout": True}
    except OSError as e:  # not found, not executable: what a shell would say
        rc = 127 if isinstance(e, FileNotFoundError) else 126
        res = {"rc": rc, "out": b"", "err": f"{req['argv'][0]}: {e.strerror}\n".encode()}
    body = json.dumps({k: base64.b64encode(v).decode() if isinstance(v, bytes) else v for k, v in res.items()}).encode()
    out.write(struct.pack(">I", len(body)) + body)
    out.flush()
"""


class Agent:
    """One root Python on an ssh host, reading length-prefixed JSON requests (argv, timeout) on its
    stdin and answering each with its exit status and output: a command costs a fork there, not an
    sshd session. One command at a time (the lock); callers that find it busy use a channel."""

    def __init__(self, host: SshHost) -> None:
        self.lock = threading.Lock()
        self.channel = host._connect().get_transport().open_session()
        self.channel.exec_command(host.as_root(f"exec python3 -u -c {shlex.quote(AGENT)}"))
        self.channel.settimeout(60)
        try:
            hello = self._read(len(b"minilab-agent\n"))
        except (AgentGone, OSError):
            raise AgentGone("no agent") from None
        if hello != b"minilab-agent\n":
            raise AgentGone(f"the agent said {hello!r}")

    def _read(self, n: int) -> bytes:
        data = bytearray()
        while len(data) < n:
            chunk = self.channel.recv(n - len(data))
            if not chunk:
                raise AgentGone("the agent's channel closed")
            data += chunk
        return bytes(data)

    def run(self, argv: list[str], timeout: float) -> CommandResult:
        import json
        import struct

        body = json.dumps({"argv": argv, "timeout": timeout}).encode()
        try:
            self.channel.settimeout(timeout + 30)
            self.channel.sendall(struct.pack(">I", len(body)) + body)
            (n,) = struct.unpack(">I", self._read(4))
            res = json.loads(self._read(n))
        except OSError as e:  # a timeout too
            self.channel.close()
            raise AgentGone(str(e)) from None
        if res.get("timeout"):
            raise TimeoutError(f"{shlex.join(argv)} did not finish in {timeout}s")
        decode = lambda key: base64.b64decode(res[key]).decode(errors="replace")  # noqa: E731
        return CommandResult(res["rc"], decode("out"), decode("err"))
