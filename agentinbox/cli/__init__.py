"""The ``agentinbox`` command: ``serve`` runs the engine's network services until stopped; ``mcp`` serves the
agent tools to MCP clients; ``inboxes``, ``pods``, ``domains`` and ``keys`` manage the engine's objects;
``send``, ``import`` and ``tail`` send mail, load mailboxes and follow events.

Options override the ``AGENTINBOX_*`` environment variables, which override the defaults; every setting
without an option here (see ``agentinbox.Settings``) is still read from the environment. Only the public
client is used here, never the store or the pipeline.
"""

from __future__ import annotations

# Each module registers its commands on ``app``; the order of these imports is the order of ``--help``.
from . import serving  # noqa: F401

# isort: split
from . import mail  # noqa: F401

# isort: split
from . import tail  # noqa: F401

# isort: split
from . import manage  # noqa: F401

# isort: split
from ._app import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
