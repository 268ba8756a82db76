"""SMTP peers for the outbound tests: a scripted aiosmtpd server and Postfix's smtp-sink, on loopback."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass
class Received:
    """One message a peer accepted."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool
    login: str | None
    session: int


@dataclass
class PeerHandler:
    """Accepts everything unless scripted otherwise: ``rcpt_replies`` (address → reply) and ``data_replies``
    (replies for the next DATA commands, in order; an empty list means 250)."""

    received: list[Received] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    data_replies: list[str] = field(default_factory=list)
    transactions: int = 0

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self.rcpt_replies.get(address.lower())
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.transactions += 1
        if self.data_replies:
            reply = self.data_replies.pop(0)
            if not reply.startswith("250"):
                return reply
        login = session.auth_data.decode() if isinstance(session.auth_data, bytes) else None
        self.received.append(
            Received(
                mail_from=str(envelope.mail_from),
                rcpt_tos=list(envelope.rcpt_tos),
                data=bytes(envelope.original_content or b""),
                tls=server.transport is not None
                and server.transport.get_extra_info("ssl_object") is not None,
                login=login,
                session=id(session),
            )
        )
        return f"250 2.0.0 Ok: queued as {len(self.received)}"


class Peer:
    """A scripted SMTP server on the running loop; ``port`` once started."""

    def __init__(
        self,
        *,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        credentials: tuple[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.handler = PeerHandler()
        self._tls_context = tls_context
        self._implicit = implicit_tls
        self._credentials = credentials
        self._host = host
        self._server: asyncio.Server | None = None
        self.port = port

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> Any:
        ok = isinstance(data, LoginPassword) and self._credentials == (
            data.login.decode(),
            data.password.decode(),
        )
        return AuthResult(success=ok, handled=False, auth_data=data.login if ok else None)

    def _protocol(self) -> SMTP:
        with warnings.catch_warnings():  # AUTH without TLS is what the plain-text relay tests want
            warnings.simplefilter("ignore")
            return self._make_protocol()

    def _make_protocol(self) -> SMTP:
        return SMTP(
            self.handler,
            hostname="peer.test",
            tls_context=None if self._implicit else self._tls_context,
            require_starttls=self._tls_context is not None and not self._implicit,
            authenticator=self._authenticate if self._credentials else None,
            auth_required=self._credentials is not None,
            auth_require_tls=self._tls_context is not None and not self._implicit,
        )

    async def start(self) -> Peer:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol, self._host, self.port, ssl=self._tls_context if self._implicit else None
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    @property
    def received(self) -> list[Received]:
        return self.handler.received


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SmtpSink:
    """Postfix's smtp-sink on loopback; ``reject_soft``/``reject_hard`` are its -r/-f command lists. With
    ``dump`` it writes each accepted message to a file in ``folder``."""

    def __init__(self, *, reject_soft: str = "", reject_hard: str = "", dump: bool = True) -> None:
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="agentinbox-sink-"))
        os.chmod(self.folder, 0o777)
        args = [shutil.which("smtp-sink") or "/usr/sbin/smtp-sink", "-c", "-h", "sink.test"]
        if os.geteuid() == 0:
            args += ["-u", "nobody"]
        if reject_soft:
            args += ["-r", reject_soft]
        if reject_hard:
            args += ["-f", reject_hard]
        if dump:
            args += ["-d", f"{self.folder}/%Y%m%d%H%M%S."]
        args += [f"127.0.0.1:{self.port}", "100"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"smtp-sink exited: {self.process.stderr.read()!r}") from None  # type: ignore[union-attr]
                time.sleep(0.05)
        raise RuntimeError("smtp-sink did not start listening")

    def dumps(self) -> list[bytes]:
        return [path.read_bytes() for path in sorted(self.folder.iterdir())]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)
