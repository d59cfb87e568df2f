"""A fault-injecting TCP proxy in front of PostgreSQL (tests and ``benchmarks/recovery.py``).

It forwards the wire protocol unchanged and reads just enough of it (message framing, the
SQL of ``Query``, ``Parse`` and ``Bind``) to inject two faults:

* ``lose_commit_answer(marker)``: the next transaction whose statements contain ``marker``
  has its ``COMMIT`` forwarded to the server, which commits; the proxy then swallows the
  server's answer and drops the connection, so the client never hears that it committed.
* ``partition(True)``: nothing is forwarded any more in either direction and new connections
  are accepted but never answered, as when packets to the database are lost.

Connect through :meth:`url` (TLS and GSS encryption off, so the proxy can read the protocol).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from typing import Any

#: What the server answers when a ``COMMIT`` is done: CommandComplete ``COMMIT``.
COMMIT_DONE = b"C" + struct.pack("!I", 11) + b"COMMIT\x00"
SSL_REQUEST, GSS_REQUEST = 80877103, 80877104


class PgFaultProxy:
    """A proxy on 127.0.0.1 (a free port) to ``upstream``.

    Attributes:
        port: The proxy's port.
        lost_commits: How many COMMIT answers it swallowed so far.

    """

    def __init__(self, upstream: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.lost_commits = 0
        self._markers: list[bytes] = []
        self._partitioned = threading.Event()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True, name="pg-fault-proxy").start()

    def url(self, database: str, user: str = "postgres") -> str:
        """A SQLAlchemy URL of ``database`` through the proxy."""
        return (f"postgresql+psycopg://{user}@127.0.0.1:{self.port}/{database}"
                "?sslmode=disable&gssencmode=disable")

    def lose_commit_answer(self, marker: bytes) -> None:
        """Swallow the answer to the next COMMIT of a transaction that ran ``marker``."""
        with self._lock:
            self._markers.append(marker)

    def partition(self, on: bool) -> None:
        """Stop (or resume) forwarding anything; connections stay open, unanswered."""
        if on:
            self._partitioned.set()
        else:
            self._partitioned.clear()

    def close(self) -> None:
        """Stop accepting and close every connection."""
        self._closed.set()
        self.listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()

    def __enter__(self) -> PgFaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing
    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                self._sockets.append(client)
            if self._partitioned.is_set():
                continue  # accepted, never answered
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.append(server)
            state: dict[str, Any] = {"lose": False}
            threading.Thread(target=self._client_to_server, args=(client, server, state),
                             daemon=True).start()
            threading.Thread(target=self._server_to_client, args=(server, client, state),
                             daemon=True).start()

    def _server_to_client(self, server: socket.socket, client: socket.socket,
                          state: dict[str, Any]) -> None:
        try:
            while True:
                data = server.recv(65536)
                if not data:
                    break
                if self._partitioned.is_set():
                    continue
                if state["lose"] and COMMIT_DONE in data:  # committed: the client never hears
                    self.lost_commits += 1
                    break
                client.sendall(data)
        except OSError:
            pass
        _close(client, server)

    def _client_to_server(self, client: socket.socket, server: socket.socket,
                          state: dict[str, Any]) -> None:
        statements: dict[bytes, bytes] = {}
        marked: bytes | None = None
        try:
            while True:  # the untyped start-up messages (SSL/GSS requests, then start-up)
                length = struct.unpack("!I", _read(client, 4))[0]
                body = _read(client, length - 4)
                self._forward(server, struct.pack("!I", length) + body)
                if struct.unpack("!I", body[:4])[0] not in (SSL_REQUEST, GSS_REQUEST):
                    break
            while True:
                kind = _read(client, 1)
                length = struct.unpack("!I", _read(client, 4))[0]
                body = _read(client, length - 4)
                sql = b""
                if kind == b"Q":
                    sql = body.rstrip(b"\x00")
                elif kind == b"P":
                    name, rest = body.split(b"\x00", 1)
                    statements[name] = rest.split(b"\x00", 1)[0]
                elif kind == b"B":
                    statement = body.split(b"\x00", 2)[1]
                    sql = statements.get(statement, b"")
                if sql:
                    marked = self._track(sql, marked, state)
                self._forward(server, kind + struct.pack("!I", length) + body)
        except (OSError, ConnectionError, struct.error, IndexError):
            pass
        _close(client, server)

    def _track(self, sql: bytes, marked: bytes | None, state: dict[str, Any]) -> bytes | None:
        """The armed marker this transaction ran, if any; arm the loss at its COMMIT."""
        with self._lock:
            for marker in self._markers:
                if marker in sql:
                    marked = marker
        if sql.strip().upper().startswith((b"COMMIT", b"ROLLBACK")):
            if marked is not None and sql.strip().upper().startswith(b"COMMIT"):
                with self._lock:
                    if marked in self._markers:
                        self._markers.remove(marked)
                        state["lose"] = True
            return None
        return marked

    def _forward(self, server: socket.socket, data: bytes) -> None:
        if not self._partitioned.is_set():
            server.sendall(data)


def _read(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _close(*sockets: socket.socket) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()
