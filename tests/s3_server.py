"""A real S3 API server for the object-storage tests: moto's server mode on a free port, and a
TCP proxy in front of it that can cut a connection in the middle of a response body."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 server in a thread (moto[s3] with flask, not the heavy [server] extra);
    yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@dataclass
class CuttingProxy:
    """Forwards TCP connections to ``upstream_port``; while ``cuts`` is above 0, a response
    longer than ``after_bytes`` to a request whose first line contains ``only`` is cut there
    (both sockets closed) and ``cuts`` drops by one."""

    upstream_port: int
    after_bytes: int = 4096
    cuts: int = 0
    only: str = ""
    delay_s: float = 0.0
    """Wait before forwarding each request (a network round trip)."""
    requests: int = 0
    """Requests forwarded so far."""
    port: int = field(default_factory=free_port)
    cut_count: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        """The endpoint URL clients use."""
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        """Stop accepting connections."""
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            request = [b""]  # the first line of the connection's latest request
            for ends in ((client, upstream, None), (upstream, client, request)):
                threading.Thread(
                    target=self._pipe, args=(*ends[:2], request, ends[2] is not None), daemon=True
                ).start()

    def _pipe(
        self, source: socket.socket, target: socket.socket, request: list[bytes], response: bool
    ) -> None:
        sent = 0
        try:
            while data := source.recv(65536):
                if not response and data[:4] in (b"GET ", b"HEAD", b"PUT ", b"POST"):
                    request[0] = data.split(b"\r\n", 1)[0]
                    self.requests += 1
                    time.sleep(self.delay_s)
                cut = response and self.only.encode() in request[0]
                if cut and sent + len(data) > self.after_bytes and self._take_cut():
                    target.sendall(data[: max(0, self.after_bytes - sent)])
                    break
                target.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for end in (source, target):
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def _take_cut(self) -> bool:
        with self._lock:
            if self.cuts <= 0:
                return False
            self.cuts -= 1
            self.cut_count += 1
            return True


def upload_tree(endpoint: str, local: Path, url: str) -> None:
    """Copy every file under the folder ``local`` to ``s3://bucket/prefix`` (``url``),
    creating the bucket, with boto3 (not motionfit's code)."""
    import boto3

    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    client = boto3.client("s3", endpoint_url=endpoint)
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        client.create_bucket(Bucket=bucket)
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        key = "/".join(filter(None, [prefix.rstrip("/"), path.relative_to(local).as_posix()]))
        client.upload_file(str(path), bucket, key)


def list_keys(endpoint: str, url: str) -> list[str]:
    """The keys under ``s3://bucket/prefix`` (boto3), relative to the prefix, sorted."""
    import boto3

    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    client = boto3.client("s3", endpoint_url=endpoint)
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
    return sorted(key[len(prefix) :].lstrip("/") for key in keys)
