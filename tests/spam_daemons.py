"""Real SpamAssassin ``spamd`` and ``rspamd`` on free loopback ports, offline, for tests and the accuracy bench.

They start as the recipes in ``shared/reference/scanners`` start them (spamd with ``--local`` and no DNS;
rspamd with its resolver pointed at a closed port and the DNS, Redis and remote-map modules off) and stop
when the session ends. Missing binaries skip the tests that need them, unless
``AGENTINBOX_TEST_SCANNERS=1`` asks for them, and then the tests fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import httpx
import pytest

__all__ = ["ScannerMissing", "free_port", "rspamd_address", "run_rspamd", "run_spamd", "spamd_address"]

_START_SECONDS = 60.0  # rspamd takes ~5 s cold, spamd ~2 s; a loaded machine may need much longer


class ScannerMissing(RuntimeError):
    """The scanner's binaries (or the user it runs as) are not on this machine."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _wait_until(ready: Callable[[], bool], process: subprocess.Popen[bytes], log: Path, name: str) -> None:
    deadline = time.monotonic() + _START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{name} exited with {process.returncode}: {log.read_text(errors='replace')[-2000:]}"
            )
        if ready():
            return
        time.sleep(0.1)
    raise RuntimeError(
        f"{name} was not ready after {_START_SECONDS:g} s: {log.read_text(errors='replace')[-2000:]}"
    )


def _spamd_pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            conn.sendall(b"PING SPAMC/1.5\r\n\r\n")
            return b"PONG" in conn.recv(100)
    except OSError:
        return False


@contextmanager
def run_spamd() -> Iterator[tuple[str, int]]:
    """SpamAssassin's spamd on a free loopback port, local tests only (no DNS, no Bayes): ``(host, port)``."""
    spamd = shutil.which("spamd") or ("/usr/sbin/spamd" if Path("/usr/sbin/spamd").exists() else None)
    if spamd is None:
        raise ScannerMissing("spamd is not installed (Debian packages spamassassin and spamd)")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="agentinbox-spamd-") as folder:
        home = Path(folder)
        user: list[str] = []
        if _as_root():
            shutil.chown(home, "debian-spamd", "debian-spamd")
            user = ["--username=debian-spamd", "--groupname=debian-spamd"]
        log = home / "spamd.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    spamd, "--local", "--nouser-config", *user, f"--helper-home-dir={home}",
                    f"--listen=127.0.0.1:{port}", "--allowed-ips=127.0.0.1", "--min-children=1",
                    "--max-children=2", "--syslog=stderr", "--cf=dns_available no", "--cf=skip_rbl_checks 1",
                    "--cf=use_bayes 0", "--cf=bayes_auto_learn 0",
                ],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        try:
            _wait_until(lambda: _spamd_pong(port), process, log, "spamd")
            yield "127.0.0.1", port
        finally:
            _stop(process)


_RSPAMD_OFF = [
    "rbl",
    "fuzzy_check",
    "phishing",
    "multimap",
    "whitelist",
    "asn",
    "emails",
    "hfilter",
    "spf",
    "dkim",
    "dmarc",
    "arc",
    "mx_check",
    "url_redirector",
    "rspamd_update",
    "reputation",
    "neural",
    "ratelimit",
    "greylist",
    "replies",
    "history_redis",
]


@contextmanager
def run_rspamd() -> Iterator[tuple[str, int]]:
    """rspamd's normal worker on a free loopback port, offline: ``(host, port)`` of ``/checkv2``."""
    rspamd = shutil.which("rspamd")
    if rspamd is None or not Path("/etc/rspamd/rspamd.conf").exists():
        raise ScannerMissing("rspamd is not installed (Debian package rspamd)")
    port, controller, closed = free_port(), free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="agentinbox-rspamd-") as folder:
        root = Path(folder)
        etc = root / "etc"
        for sub in ("etc/local.d", "etc/override.d", "db", "run", "log"):
            (root / sub).mkdir(parents=True)
        (etc / "override.d/worker-normal.inc").write_text(f'bind_socket = "127.0.0.1:{port}";\ncount = 1;\n')
        (etc / "override.d/worker-controller.inc").write_text(
            f'bind_socket = "127.0.0.1:{controller}";\ncount = 1;\nsecure_ip = "127.0.0.1";\n'
            'static_dir = "${WWWDIR}";\n'
        )
        (etc / "override.d/worker-proxy.inc").write_text("enabled = false;\n")
        (etc / "override.d/logging.inc").write_text(f'type = "file";\nfilename = "{root}/log/rspamd.log";\n')
        # The short TLD list (names without a dot) cuts a cold start from ~20 s to ~5 s.
        tlds = Path("/usr/share/rspamd/effective_tld_names.dat").read_text(errors="replace").splitlines()
        short = [line for line in tlds if line and not line.startswith("//") and "." not in line]
        (root / "tld-small.dat").write_text("\n".join(short) + "\n")
        # Offline: the resolver asks a closed loopback port, so lookups fail at once.
        (etc / "local.d/options.inc").write_text(
            f'dns {{ nameserver = ["127.0.0.1:{closed}"]; timeout = 0.2s; retransmits = 1; }}\n'
            f'url_tld = "{root}/tld-small.dat";\n'
        )
        for module in _RSPAMD_OFF:
            (etc / f"local.d/{module}.conf").write_text("enabled = false;\n")
        user: list[str] = []
        if _as_root():
            for sub in ("db", "run", "log"):
                shutil.chown(root / sub, "_rspamd", "_rspamd")
            user = ["-u", "_rspamd", "-g", "_rspamd"]
        log = root / "rspamd.stdout"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    rspamd, "-f", *user, "-c", "/etc/rspamd/rspamd.conf", f"--var=LOCAL_CONFDIR={etc}",
                    f"--var=DBDIR={root}/db", f"--var=RUNDIR={root}/run", f"--var=LOGDIR={root}/log",
                ],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip

        def pong() -> bool:
            try:
                return (
                    httpx.get(f"http://127.0.0.1:{port}/ping", timeout=2, trust_env=False).text.strip()
                    == "pong"
                )
            except httpx.HTTPError:
                return False

        try:
            _wait_until(pong, process, log, "rspamd")
            yield "127.0.0.1", port
        finally:
            _stop(process)


def _fixture(run: Callable[[], AbstractContextManager[tuple[str, int]]]) -> Iterator[tuple[str, int]]:
    try:
        with run() as address:
            yield address
    except ScannerMissing as exc:
        if os.environ.get("AGENTINBOX_TEST_SCANNERS") == "1":
            pytest.fail(f"AGENTINBOX_TEST_SCANNERS=1 but {exc}")
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def spamd_address() -> Iterator[tuple[str, int]]:
    """A real spamd for the session: ``(host, port)``."""
    yield from _fixture(run_spamd)


@pytest.fixture(scope="session")
def rspamd_address() -> Iterator[tuple[str, int]]:
    """A real rspamd for the session: ``(host, port)`` of its normal worker."""
    yield from _fixture(run_rspamd)
