"""Is the HuggingFace hub reachable? A quick answer, so an offline machine gets its error at
once instead of after huggingface_hub's ~30 s of connection retries."""

from __future__ import annotations

import functools
import os
import socket
from urllib.parse import urlparse

from huggingface_hub import constants

PROBE_TIMEOUT_S = 3.0
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY")


@functools.cache
def hub_unreachable_reason() -> str | None:
    """None when a TCP connection to the hub endpoint opens within a few seconds (or a proxy
    is configured, which only huggingface_hub itself can use); else why it cannot."""
    if any(os.environ.get(name) for name in _PROXY_VARIABLES):
        return None
    endpoint = urlparse(constants.ENDPOINT)
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            return None
    except OSError as exc:
        return f"the hub ({host}) cannot be reached: {exc.strerror or type(exc).__name__}"
