"""SMTP: the receiver that accepts mail for the engine's inboxes (aiosmtpd, on the engine's own loop)."""
