"""A client of ClamAV's ``clamd`` for the virus check: the INSTREAM command over TCP or a unix socket.

The raw message is streamed as it is (clamd parses MIME itself with ``ScanMail``) in length-prefixed chunks
(``zINSTREAM\\0``, then a 4-byte big-endian length and the bytes, repeated, then a zero length), and clamd
answers ``stream: OK`` or ``stream: <signature> FOUND``. Signature names are reported as their database
writes them: the ``.UNOFFICIAL`` that clamd appends to signatures outside ClamAV's own signed databases is
dropped, so a name is the same whichever database it came from. A daemon that cannot be reached, is slower
than the timeout, refuses the stream or answers garbage raises ``ClamdError``; it never hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import struct
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from ..errors import ValidationError

__all__ = ["DEFAULT_STREAM_MAX_LENGTH", "Clamd", "ClamdError"]

#: clamd closes an INSTREAM session past its ``StreamMaxLength``; Debian's clamd.conf sets 25M (clamd's
#: own default is 100M). Name another with ``?stream_max_length=100M`` in the setting.
DEFAULT_STREAM_MAX_LENGTH = 25 * 1024 * 1024
_CHUNK = 64 * 1024
_MAX_REPLY = 64 * 1024
_SIZE = re.compile(r"^(\d+)([kKmMgG]?)$")
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_UNOFFICIAL = ".UNOFFICIAL"


class ClamdError(Exception):
    """clamd could not scan: unreachable, too slow, refused the stream, or answered something unreadable."""


@dataclass(frozen=True, slots=True)
class Clamd:
    """Where a clamd listens (``host`` and ``port``, or a unix socket ``path``) and how long to wait."""

    host: str | None = None
    port: int | None = None
    path: str | None = None
    timeout: float = 20.0
    stream_max_length: int = DEFAULT_STREAM_MAX_LENGTH

    @classmethod
    def from_url(cls, url: str, *, timeout: float, setting: str = "virus_scanner") -> Clamd:
        """``clamd://host:port`` or ``clamd:///path/to/clamd.sock``, optionally with
        ``?stream_max_length=25M``; a malformed one is a ValidationError naming ``setting``."""
        parts = urlsplit(url.strip())
        problem = f"{setting} {url!r} is not clamd://host:port or clamd:///path/to/clamd.sock"
        if parts.scheme != "clamd":
            raise ValidationError(problem, path=[setting])
        query = parse_qs(parts.query, keep_blank_values=True)
        unknown = sorted(set(query) - {"stream_max_length"})
        if unknown or parts.fragment:
            raise ValidationError(f"{problem}: unknown option {', '.join(unknown) or '#'}", path=[setting])
        max_length = DEFAULT_STREAM_MAX_LENGTH
        if "stream_max_length" in query:
            size = _SIZE.match(query["stream_max_length"][-1].strip())
            if size is None or int(size.group(1)) == 0:
                raise ValidationError(
                    f"{problem}: stream_max_length must be a size such as 25M", path=[setting]
                )
            max_length = int(size.group(1)) * _UNITS[size.group(2).lower()]
        if parts.netloc:
            try:
                port = parts.port
            except ValueError:
                raise ValidationError(
                    f"{problem}: the port is not a number from 1 to 65535", path=[setting]
                ) from None
            if not parts.hostname or port is None or port == 0 or parts.path not in ("", "/"):
                raise ValidationError(f"{problem}: it needs a host and a port", path=[setting])
            return cls(host=parts.hostname, port=port, timeout=timeout, stream_max_length=max_length)
        if not parts.path.startswith("/") or parts.path == "/":
            raise ValidationError(f"{problem}: a socket path must be absolute", path=[setting])
        return cls(path=parts.path, timeout=timeout, stream_max_length=max_length)

    @property
    def address(self) -> str:
        """Where the daemon is, for messages: ``host:port`` or the socket's path."""
        return self.path if self.path is not None else f"{self.host}:{self.port}"

    async def scan(self, data: bytes) -> list[str]:
        """The signatures clamd finds in ``data`` (empty when clean); ``ClamdError`` when it cannot say."""
        if len(data) > self.stream_max_length:
            raise ClamdError(
                f"{len(data)} bytes is over clamd's StreamMaxLength of {self.stream_max_length} bytes, so "
                "clamd was not asked (set ?stream_max_length= in virus_scanner to match clamd.conf)"
            )
        try:
            async with asyncio.timeout(self.timeout):
                reply = await self._exchange(data)
        except TimeoutError:
            raise ClamdError(f"clamd at {self.address} did not answer within {self.timeout:g} s") from None
        except OSError as exc:
            raise ClamdError(f"clamd at {self.address} cannot be reached: {exc}") from exc
        return _parse_reply(reply, self.address)

    async def _exchange(self, data: bytes) -> bytes:
        if self.path is not None:
            reader, writer = await asyncio.open_unix_connection(self.path, limit=_MAX_REPLY)
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port, limit=_MAX_REPLY)
        done = False
        try:
            reply = await self._talk(reader, writer, data)
            done = True
            return reply
        finally:
            if done:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
            else:  # timed out or failed: drop the connection at once, unsent bytes and all
                writer.transport.abort()

    async def _talk(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> bytes:
        try:
            writer.write(b"zINSTREAM\0")
            view = memoryview(data)
            for start in range(0, len(view), _CHUNK):
                chunk = view[start : start + _CHUNK]
                writer.write(struct.pack(">I", len(chunk)))
                writer.write(chunk)
                await writer.drain()
            writer.write(struct.pack(">I", 0))
            await writer.drain()
        except ConnectionError:
            pass  # clamd hung up mid-stream (a size limit): its reply, if any, says why
        try:
            return await reader.readuntil(b"\0")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                return exc.partial
            raise ClamdError(f"clamd at {self.address} closed the connection without an answer") from None
        except asyncio.LimitOverrunError:
            raise ClamdError(f"clamd at {self.address} answered something unreadable (too long)") from None


def _parse_reply(reply: bytes, address: str) -> list[str]:
    """``stream: OK`` → ``[]``; ``stream: Name FOUND`` → ``["Name"]``; anything else is a ClamdError."""
    text = reply.rstrip(b"\0").decode("utf-8", "replace").strip()
    prefix = "stream: "
    if text.startswith(prefix):
        verdict = text[len(prefix) :]
        if verdict == "OK":
            return []
        if verdict.endswith(" FOUND"):
            name = verdict[: -len(" FOUND")].strip()
            if name:
                return [name.removesuffix(_UNOFFICIAL)]
        if verdict.endswith(" ERROR"):
            raise ClamdError(f"clamd at {address} could not scan: {verdict[: -len(' ERROR')].strip()}")
    if text.endswith(" ERROR"):  # e.g. "INSTREAM size limit exceeded. ERROR"
        raise ClamdError(f"clamd at {address} refused the stream: {text[: -len(' ERROR')].strip()}")
    raise ClamdError(f"clamd at {address} answered something unreadable: {text[:200]!r}")
