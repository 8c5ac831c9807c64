"""spyglass: see every call your program makes to the OpenAI API.

```python
import openai, spyglass

spyglass.configure()                 # local defaults: terminal + local store, nothing leaves the machine
client = openai.Client()
spyglass.instrument_openai(client)   # the one extra line

with spyglass.span('Asking OpenAI to write some code'):
    response = client.chat.completions.create(model='gpt-4', messages=[...])
spyglass.info('got {n} choices', n=len(response.choices))
```
"""

from __future__ import annotations

from ._config import configure, force_flush, shutdown, stats
from ._errors import ConfigError, SpyglassError
from ._scrubbing import ScrubbingOptions, ScrubMatch
from ._span import SpyglassSpan, debug, error, exception, info, span, suppress_instrumentation, warn
from .integrations.openai import Instrumentation, instrument_openai
from .version import __version__

__all__ = [
    "ConfigError",
    "Instrumentation",
    "ScrubMatch",
    "ScrubbingOptions",
    "SpyglassError",
    "SpyglassSpan",
    "__version__",
    "configure",
    "debug",
    "error",
    "exception",
    "force_flush",
    "info",
    "instrument_openai",
    "shutdown",
    "span",
    "stats",
    "suppress_instrumentation",
    "warn",
]
