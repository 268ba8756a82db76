"""Engine settings: one pydantic-settings object, read from keyword arguments or ``AGENTINBOX_*`` variables."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "parse_rate_limit"]


class Settings(BaseSettings):
    """Everything an engine can be configured with; unknown names are refused so typos surface at once."""

    model_config = SettingsConfigDict(env_prefix="AGENTINBOX_", extra="forbid")

    database_url: str = "sqlite+aiosqlite:///./agentinbox.db"
    default_domain: str = "agentinbox.localhost"
    smtp_listen: str = ""
    submission_listen: str = ""
    http_listen: str = ""
    #: Secret that signs the HTTP API's download links; empty = a random one per process, so links made
    #: by one server are honoured only by it. Set the same value on every server behind one address.
    download_signing_key: str = ""
    relay_url: str = ""
    dns_resolver: str = ""
    #: The host name this engine's mail server is reached at: the MX target and the SPF host published for
    #: custom domains (``client.domains``); empty = ``default_domain``.
    hostname: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""
    #: Connections the SMTP receiver serves at once; one more is answered ``421 4.7.0`` and closed.
    smtp_max_connections: int = Field(default=100, gt=0)
    #: Recipients per message the SMTP receiver takes; more get ``452 4.5.3`` (RFC 5321 asks for 100+).
    smtp_max_recipients: int = Field(default=100, gt=0)
    #: Seconds an SMTP session may wait between commands or between chunks of DATA (RFC 5321: 5 minutes).
    smtp_idle_timeout: float = Field(default=300, gt=0)
    #: Seconds a whole SMTP DATA transfer may take before the session is closed (RFC 5321: 10 minutes).
    smtp_data_timeout: float = Field(default=600, gt=0)
    #: Largest raw message accepted or sent, in bytes (AgentMail limits a send request to about 6 MB).
    max_message_size: int = Field(default=25 * 1024 * 1024, gt=0)
    #: The organization API key: full access, and the SMTP submission password for any inbox.
    api_key: str = ""
    #: Port of the recipients' mail servers when delivering direct to MX (25; tests use loopback peers).
    delivery_port: int = Field(default=25, ge=1, le=65535)
    #: A remote delivery still failing temporarily after this long is bounced, in seconds (5 days).
    delivery_max_age: int = Field(default=5 * 24 * 3600, gt=0)
    #: First retry delay after a temporary failure, in seconds; it doubles per attempt, up to an hour.
    delivery_retry_delay: int = Field(default=60, gt=0)
    #: SMTP transactions the delivery workers run at once.
    delivery_concurrency: int = Field(default=20, gt=0)
    #: Processes that turn accepted SMTP mail into messages once ``start()`` runs the receiver: 0 runs that
    #: work in this process (sharing its CPU with the receiver); N > 0 spawns N child processes, each taking
    #: its share of the inbound queue, so receiving and storing use several cores.
    inbound_processes: int = Field(default=0, ge=0, le=16)
    #: PostgreSQL: seconds a process's claim on a batch of received mail holds; mail claimed by a process
    #: that died is stored by another engine on the database after this.
    inbound_lease: float = Field(default=60, gt=0)
    #: Timeout of each step (connect, command, data) of an outbound SMTP transaction, in seconds.
    delivery_timeout: float = Field(default=60, gt=0)
    #: Seconds a claim on outbound deliveries holds before another worker may send them (its own died);
    #: 0 = 10 × ``delivery_timeout`` + 60, enough for a transaction through every MX host.
    delivery_lease: float = Field(default=0, ge=0)
    #: How long an ``idempotency_key`` is remembered after its request completed, in seconds.
    idempotency_ttl: int = Field(default=24 * 3600, gt=0)
    #: Subject-only threading joins a thread only if its last message is at most this old, in seconds;
    #: 0 turns subject-only threading off.
    subject_threading_window: int = Field(default=30 * 24 * 3600, ge=0)
    #: Webhook targets on private, loopback or link-local addresses are refused unless this is true.
    webhook_allow_private: bool = False
    #: Seconds a webhook call (connect, send, read the answer) may take before it counts as failed.
    webhook_timeout: float = Field(default=15, gt=0)
    #: Webhook calls in flight at once, across all webhooks.
    webhook_concurrency: int = Field(default=10, gt=0)
    #: A webhook whose deliveries failed this many times in a row (each retry counts) is disabled.
    webhook_disable_after: int = Field(default=50, gt=0)
    #: Check SPF, DKIM and DMARC on received mail, record them in an ``Authentication-Results`` header and
    #: label failures ``unauthenticated``.
    inbound_authentication: bool = True
    #: Networks whose mail is not authenticated (as OpenDMARC's IgnoreHosts): local programs and relays
    #: you run. Mail handed to ``deliver()`` without a ``client_ip`` counts as local too.
    trusted_networks: list[str] = Field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    #: The name this server signs its ``Authentication-Results`` with (default: ``hostname``, else
    #: ``default_domain``).
    authserv_id: str = ""
    #: The spam scanner: ``builtin`` (GTUBE, authentication failures and a scored rule set),
    #: ``spamd://host:port`` (SpamAssassin), ``rspamd://host:port`` (rspamd's normal worker) or ``none``.
    spam_scanner: str = "builtin"
    #: The score at or above which the built-in scanner calls a message spam (spamd and rspamd decide
    #: with their own configuration).
    spam_threshold: float = Field(default=5.0, gt=0)
    #: The virus scanner: ``builtin`` (EICAR, executables, macro-enabled documents, archive limits),
    #: ``clamd://host:port`` or ``clamd:///path/to/clamd.sock`` (ClamAV, in addition to the built-in
    #: checks) or ``none``.
    virus_scanner: str = "builtin"
    #: Seconds one inbound check may take on one message; a check that runs over records an error on the
    #: message, which is then stored unlabelled by it.
    check_timeout: float = Field(default=20, gt=0)
    #: Per-inbox send limits, each ``N/second``, ``N/minute``, ``N/hour`` or ``N/day`` (e.g.
    #: ``["10/minute", "500/day"]``): a send that would pass one raises RateLimitError (SMTP submission
    #: answers 451). Every sent message counts once, whatever its number of recipients. Empty: no limit.
    send_rate_limits: list[str] = Field(default_factory=list)
    #: Warm-up of new custom domains: the most messages all inboxes of a domain may send per 24 hours, by
    #: day since the domain was verified (the first number on its first day); after the last day there is
    #: no cap. Empty: no warm-up. ``DEFAULT_WARMUP`` in :mod:`agentinbox.pipeline.send_limits` is a
    #: common schedule (50 a day, doubling to 25,600 over ten days).
    domain_warmup: list[int] = Field(default_factory=list)

    @field_validator("send_rate_limits")
    @classmethod
    def _rate_limits(cls, value: list[str]) -> list[str]:
        for limit in value:
            parse_rate_limit(limit)
        return value

    @field_validator("virus_scanner")
    @classmethod
    def _virus_scanner(cls, value: str) -> str:
        from .security.virus import check_virus_scanner

        return check_virus_scanner(value)

    @field_validator("domain_warmup")
    @classmethod
    def _warmup(cls, value: list[int]) -> list[int]:
        if any(cap <= 0 for cap in value):
            raise ValueError("every daily cap of domain_warmup must be a positive number of messages")
        return value


_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_rate_limit(limit: str) -> tuple[int, int]:
    """``"10/minute"`` → ``(10, 60)``: the number of sends and the window in seconds. Raises ValueError."""
    count, sep, period = limit.partition("/")
    period = period.strip().lower().removesuffix("s")
    if not sep or not count.strip().isdigit() or int(count) <= 0 or period not in _PERIODS:
        raise ValueError(
            f"send rate limit {limit!r} must be 'N/second', 'N/minute', 'N/hour' or 'N/day' with N > 0"
        )
    return int(count), _PERIODS[period]
