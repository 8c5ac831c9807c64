"""The one exception the store raises: a file it cannot or must not use."""

from __future__ import annotations

from spyglass._errors import SpyglassError


class StoreError(SpyglassError):
    """A spyglass store file is missing, not a spyglass store, corrupt, or from a newer spyglass.

    The message names the file and what is wrong with it; the file itself is left untouched.
    """
