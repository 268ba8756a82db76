"""Message security: DKIM keys and signing, and the DNS records a custom domain publishes."""
