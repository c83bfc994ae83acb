"""The two HTTP clients the benchmark can drive: httpx, and the lighter http.client.

Both keep one connection open; neither is shared between threads.
"""

import http.client
from typing import Final, Protocol
from urllib.parse import urlsplit

import httpx

CLIENTS: Final = ("httpx", "stdlib")


class TransportError(RuntimeError):
    """The request got no HTTP response: refused, reset, timed out."""


class Transport(Protocol):
    """Send one request to a target relative to the base URL; return status and body."""

    def send(self, method: str, target: str, content: bytes | None) -> tuple[int, bytes]:
        """Send and read the whole response."""
        ...

    def close(self) -> None:
        """Close the connection."""
        ...


class HttpxTransport:
    """httpx.Client, without proxies from the environment."""

    def __init__(self, base_url: str, headers: dict[str, str], timeout: float) -> None:
        self._client = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            headers=headers,
            timeout=timeout,
            trust_env=False,
            follow_redirects=False,
        )

    def send(self, method: str, target: str, content: bytes | None) -> tuple[int, bytes]:
        try:
            response = self._client.request(method, target, content=content)
        except httpx.HTTPError as error:
            raise TransportError(f"{type(error).__name__}: {error}") from error
        return response.status_code, response.content

    def close(self) -> None:
        self._client.close()


class StdlibTransport:
    """http.client.HTTPConnection: about a quarter of httpx's CPU time per request."""

    _RETRYABLE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)

    def __init__(self, base_url: str, headers: dict[str, str], timeout: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"the stdlib client speaks plain http only, not {base_url!r}")
        self._prefix = parts.path.rstrip("/") + "/"
        self._headers = headers
        self._connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)

    def send(self, method: str, target: str, content: bytes | None) -> tuple[int, bytes]:
        try:
            try:
                return self._send_once(method, target, content)
            except self._RETRYABLE:
                # The server closed an idle keep-alive connection: reconnect once.
                self._connection.close()
                return self._send_once(method, target, content)
        except (OSError, http.client.HTTPException) as error:
            self._connection.close()
            raise TransportError(f"{type(error).__name__}: {error}") from error

    def _send_once(self, method: str, target: str, content: bytes | None) -> tuple[int, bytes]:
        self._connection.request(method, self._prefix + target, body=content, headers=self._headers)
        response = self._connection.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self._connection.close()


def open_transport(kind: str, base_url: str, headers: dict[str, str], timeout: float) -> Transport:
    """A transport of ``kind``, one of CLIENTS."""
    if kind == "httpx":
        return HttpxTransport(base_url, headers, timeout)
    if kind == "stdlib":
        return StdlibTransport(base_url, headers, timeout)
    raise ValueError(f"unknown client {kind!r}; choose from {', '.join(CLIENTS)}")
