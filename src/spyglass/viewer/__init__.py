"""The local web viewer: `spyglass view` serves `create_app()` for a store file on 127.0.0.1."""

from __future__ import annotations

from spyglass.viewer._security import local_hosts
from spyglass.viewer.app import create_app

__all__ = ["create_app", "local_hosts"]
