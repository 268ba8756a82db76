"""A real ClamAV ``clamd`` on loopback for tests: a free TCP port and a unix socket, offline.

Follows the tested recipe in ``reference/scanners/clamav.sh``: signatures cannot be downloaded here (and
freshclam is never run), so ``serve()`` builds a test database with ``sigtool``: the EICAR body signature
(``.ndb``, found anywhere: alone, in a zip, in a base64 MIME part) and one for ``TEST_PATTERN``, a made-up
string that only this database knows, so a test that finds it proves clamd did. Without the binaries the
tests skip, unless ``AGENTINBOX_TEST_SCANNERS=1`` asks for them to fail instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["EICAR_SIGNATURE", "TEST_PATTERN", "TEST_SIGNATURE", "ClamdServer", "require_binaries", "serve"]

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
#: A pattern no real database and none of the built-in rules know.
TEST_PATTERN = b"agentinbox-clamd-test-pattern:7d1f0c2e-only-the-fixture-database-has-this"
EICAR_SIGNATURE = "Custom.EICAR-Test-String.NDB"
TEST_SIGNATURE = "AgentInbox.Test.Pattern.NDB"
_START_SECONDS = 30.0


@dataclass(frozen=True)
class ClamdServer:
    """A running clamd: ``port`` on 127.0.0.1 and the unix socket ``socket_path``."""

    port: int
    socket_path: str

    @property
    def tcp_url(self) -> str:
        return f"clamd://127.0.0.1:{self.port}"

    @property
    def unix_url(self) -> str:
        return f"clamd://{self.socket_path}"


def require_binaries() -> None:
    """Skip (or, with AGENTINBOX_TEST_SCANNERS=1, fail) when clamd or sigtool is not installed."""
    missing = [name for name in ("clamd", "sigtool") if shutil.which(name) is None]
    if not missing:
        return
    reason = f"{' and '.join(missing)} not installed (Debian packages clamav, clamav-daemon)"
    if os.environ.get("AGENTINBOX_TEST_SCANNERS") == "1":
        pytest.fail(f"AGENTINBOX_TEST_SCANNERS=1 but {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _signature(name: str, pattern: bytes) -> str:
    """An ``.ndb`` line: ``name:0:*:hex`` (any file type, anywhere in it), the hex from ``sigtool``."""
    hex_dump = subprocess.run(
        ["sigtool", "--hex-dump"], input=pattern, capture_output=True, check=True, timeout=30
    ).stdout.decode("ascii")
    return f"{name}:0:*:{hex_dump.strip()}\n"


def _ping(address: str | tuple[str, int]) -> bool:
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    try:
        with socket.socket(family) as conn:
            conn.settimeout(1)
            conn.connect(address)
            conn.sendall(b"zPING\0")
            return conn.recv(16) == b"PONG\0"
    except OSError:
        return False


def serve() -> Iterator[ClamdServer]:
    """Start clamd with the test database; yield it; stop it (by its own PID) and remove its files."""
    require_binaries()
    # A short directory: a unix socket's path must fit in 108 bytes.
    folder = Path(tempfile.mkdtemp(prefix="clamd-"))
    process: subprocess.Popen[bytes] | None = None
    output = None
    try:
        (folder / "db").mkdir()
        (folder / "tmp").mkdir()
        (folder / "db" / "test.ndb").write_text(
            _signature(EICAR_SIGNATURE, EICAR) + _signature(TEST_SIGNATURE, TEST_PATTERN)
        )
        port = _free_port()
        socket_path = str(folder / "clamd.sock")
        (folder / "clamd.conf").write_text(
            f"DatabaseDirectory {folder / 'db'}\n"
            f"TCPSocket {port}\n"
            "TCPAddr 127.0.0.1\n"
            f"LocalSocket {socket_path}\n"
            "LocalSocketMode 660\n"
            "Foreground yes\n"
            f"LogFile {folder / 'clamd.log'}\n"
            f"TemporaryDirectory {folder / 'tmp'}\n"
            "MaxThreads 4\n"
            "StreamMaxLength 25M\n"
            "ScanMail yes\n"
            "ScanArchive yes\n"
            "SelfCheck 0\n"
            "Bytecode no\n"
        )
        output = (folder / "clamd.stdout").open("wb")
        process = subprocess.Popen(
            ["clamd", f"--config-file={folder / 'clamd.conf'}"], stdout=output, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + _START_SECONDS
        while not (_ping(socket_path) and _ping(("127.0.0.1", port))):
            if process.poll() is not None or time.monotonic() > deadline:
                log = (folder / "clamd.stdout").read_text(errors="replace")
                pytest.fail(f"clamd did not start (exit {process.poll()}):\n{log}")
            time.sleep(0.05)
        yield ClamdServer(port=port, socket_path=socket_path)
    finally:
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if output is not None:
            output.close()
        shutil.rmtree(folder, ignore_errors=True)
