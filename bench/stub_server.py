"""A do-nothing HTTP server that answers every request with one canned ListResponse.

``python -m bench.stub_server PORT`` serves 127.0.0.1:PORT until stopped. The
benchmark times its client against it to learn the most requests per second the
client itself can make on this machine: a server figure near that ceiling is
bound by the load generator, not by the server.
"""

import asyncio
import sys

BODY = (
    b'{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],'
    b'"totalResults":1,"startIndex":1,"itemsPerPage":1,'
    b'"Resources":[{"id":"stub","userName":"stub"}]}'
)
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/scim+json\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
)


def content_length(head: bytes) -> int:
    """The Content-Length of a request head, 0 when absent."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


async def serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer each request of one keep-alive connection until the client closes it."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = content_length(head)
            if length:
                await reader.readexactly(length)
            writer.write(RESPONSE)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(port: int) -> None:
    """Serve 127.0.0.1:``port`` forever."""
    server = await asyncio.start_server(serve_connection, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
