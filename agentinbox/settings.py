"""Engine settings: one pydantic-settings object, read from keyword arguments or ``AGENTINBOX_*`` variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Everything an engine can be configured with; unknown names are refused so typos surface at once."""

    model_config = SettingsConfigDict(env_prefix="AGENTINBOX_", extra="forbid")

    database_url: str = "sqlite+aiosqlite:///./agentinbox.db"
    default_domain: str = "agentinbox.localhost"
    smtp_listen: str = ""
    submission_listen: str = ""
    http_listen: str = ""
    relay_url: str = ""
    dns_resolver: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""
    #: Largest raw message accepted or sent, in bytes (AgentMail limits a send request to about 6 MB).
    max_message_size: int = Field(default=25 * 1024 * 1024, gt=0)
    api_key: str = ""
    #: How long an ``idempotency_key`` is remembered after its request completed, in seconds.
    idempotency_ttl: int = Field(default=24 * 3600, gt=0)
    #: Subject-only threading joins a thread only if its last message is at most this old, in seconds;
    #: 0 turns subject-only threading off.
    subject_threading_window: int = Field(default=30 * 24 * 3600, ge=0)
