"""The background-worker life cycle, re-exported where the pipeline's workers have always found it.

It lives in ``agentinbox._background`` so that layers below the pipeline (the webhook dispatcher in
``events/``) share it without importing upward.
"""

from __future__ import annotations

from .._background import BackgroundWorker

__all__ = ["BackgroundWorker"]
