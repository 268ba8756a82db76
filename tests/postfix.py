"""A private Postfix instance on loopback for the interoperability tests (Debian's postfix package).

It has its own configuration and queue in a temporary folder, listens on 127.0.0.1 at a free port, relays
for loopback clients, and sends each listed domain to a fixed loopback SMTP server (``routes``), never
looking anything up in DNS. Postfix's own bounces (DSNs) go the same way, so a test can watch a real MTA
accept mail, hand it on, and report failures. Starting it needs root, as Postfix's master does.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
DAEMONS = "/usr/lib/postfix/sbin"

# service type private unpriv chroot wakeup maxproc command: the services a relay needs, none chrooted.
_MASTER = """\
{listen} inet n - n - - smtpd
pickup    unix n - n 60 1 pickup
cleanup   unix n - n - 0 cleanup
qmgr      unix n - n 300 1 qmgr
tlsmgr    unix - - n 1000? 1 tlsmgr
rewrite   unix - - n - - trivial-rewrite
bounce    unix - - n - 0 bounce
defer     unix - - n - 0 bounce
trace     unix - - n - 0 bounce
verify    unix - - n - 1 verify
flush     unix n - n 1000? 0 flush
proxymap  unix - - n - - proxymap
proxywrite unix - - n - 1 proxymap
smtp      unix - - n - - smtp
relay     unix - - n - - smtp
showq     unix n - n - - showq
error     unix - - n - - error
retry     unix - - n - - error
discard   unix - - n - - discard
anvil     unix - - n - 1 anvil
scache    unix - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


def available() -> str | None:
    """Why a private Postfix cannot run here, or None when it can."""
    if not os.path.exists(POSTFIX) or not os.path.isdir(DAEMONS):
        return "Debian's postfix package is not installed (.ci/run installs it)"
    if os.geteuid() != 0:
        return "a private Postfix instance needs root"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivatePostfix:
    """Postfix relaying for 127.0.0.0/8; ``routes`` maps a domain to the ``host:port`` that receives it."""

    def __init__(self, routes: dict[str, str], *, hostname: str = "relay.test") -> None:
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="agentinbox-postfix-"))
        self.root.chmod(0o755)  # Postfix's unprivileged daemons must reach their folders
        self.config = self.root / "etc"
        self.queue = self.root / "queue"
        self.log = self.root / "maillog"
        for folder in (self.config, self.queue, self.root / "data"):
            folder.mkdir()
        shutil.chown(self.root / "data", "postfix", "postfix")
        transport = self.config / "transport"
        transport.write_text(
            "".join(
                f"{domain} smtp:[{target.rpartition(':')[0]}]:{target.rpartition(':')[2]}\n"
                for domain, target in routes.items()
            )
        )
        (self.config / "main.cf").write_text(
            "\n".join(
                [
                    "compatibility_level = 3.6",
                    f"queue_directory = {self.queue}",
                    f"data_directory = {self.root / 'data'}",
                    f"daemon_directory = {DAEMONS}",
                    "command_directory = /usr/sbin",
                    "meta_directory = /etc/postfix",
                    "shlib_directory = /usr/lib/postfix",
                    "mail_owner = postfix",
                    "setgid_group = postdrop",
                    f"myhostname = {hostname}",
                    f"mydomain = {hostname}",
                    f"myorigin = {hostname}",
                    "mydestination =",
                    "local_recipient_maps =",
                    "alias_maps =",
                    "alias_database =",
                    "inet_interfaces = 127.0.0.1",
                    "inet_protocols = ipv4",
                    "mynetworks = 127.0.0.0/8",
                    f"relay_domains = {', '.join(routes)}",
                    f"transport_maps = texthash:{transport}",
                    "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination",
                    "smtpd_recipient_restrictions = permit_mynetworks, reject",
                    "smtp_tls_security_level = none",
                    "smtpd_tls_security_level = none",
                    "smtp_host_lookup = native",
                    "smtp_dns_support_level = disabled",
                    "smtpd_banner = $myhostname ESMTP",
                    "delay_warning_time = 0",
                    "queue_run_delay = 1s",
                    "minimal_backoff_time = 1s",
                    "maximal_backoff_time = 2s",
                    "smtp_connect_timeout = 5s",
                    f"maillog_file = {self.log}",
                    f"maillog_file_prefixes = {self.root}",
                    "biff = no",
                    "smtputf8_enable = yes",
                    "",
                ]
            )
        )
        (self.config / "master.cf").write_text(_MASTER.format(listen=f"127.0.0.1:{self.port}"))

    def _postfix(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [POSTFIX, "-c", str(self.config), *args], capture_output=True, text=True, timeout=60, check=False
        )

    def start(self) -> PrivatePostfix:
        done = self._postfix("start")
        if done.returncode != 0:
            raise RuntimeError(f"postfix start failed: {done.stdout}{done.stderr}{self.logged()}")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"postfix did not start listening on {self.port}: {self.logged()}")

    def flush(self) -> None:
        """Ask Postfix to try its deferred mail now."""
        self._postfix("flush")

    def logged(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        pid_file = self.queue / "pid" / "master.pid"
        pid = int(pid_file.read_text().split()[0]) if pid_file.exists() else None
        self._postfix("stop")
        deadline = time.monotonic() + 10
        while pid is not None and os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.05)
        shutil.rmtree(self.root, ignore_errors=True)
