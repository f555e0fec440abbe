"""The local node's kubelet log endpoint: `kubectl logs [-f]` for pods it runs as processes.

Called by `localnode.LocalNode`, which starts it and publishes its port as the Node's
`status.daemonEndpoints.kubeletEndpoint.Port`; the API server then proxies
`GET /api/v1/namespaces/NS/pods/POD/log` to `https://127.0.0.1:PORT/containerLogs/NS/POD/C`
as it would to a kubelet (it does not verify a kubelet's certificate unless told to, so a
self-signed one does). Answers from the container's log file; with `follow=true` it streams
new lines until the pod's process is gone or the client hangs up, like the kubelet.
"""

from __future__ import annotations

import datetime as dt
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from claude_pool.devenv.certs import CertificateAuthority

LogFile = Callable[[str, str], Path | None]
"""(namespace, pod) -> the container's log file, None when the node does not run that pod."""
Alive = Callable[[str, str], bool]
"""(namespace, pod) -> whether the pod's process still runs (ends a follow)."""
_FOLLOW_POLL = 0.2


class KubeletLogs:
    """An HTTPS server on 127.0.0.1 (random port) answering /containerLogs/."""

    def __init__(self, workdir: Path, log_file: LogFile, alive: Alive) -> None:
        self.workdir = workdir
        self.log_file = log_file
        self.alive = alive
        self.stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.server_address[1])

    def start(self) -> KubeletLogs:
        self.workdir.mkdir(parents=True, exist_ok=True)
        ca = CertificateAuthority(dt.datetime.now(dt.UTC))
        cert, key = ca.issue("local-node", hosts=("127.0.0.1", "localhost"), server=True).write(
            self.workdir, "kubelet"
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        threading.Thread(target=server.serve_forever, name="kubelet-logs", daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _handler(owner: KubeletLogs) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the node's own log is enough."""

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            parts = url.path.strip("/").split("/")
            if len(parts) != 4 or parts[0] != "containerLogs":
                self.send_error(404, "only /containerLogs/NS/POD/CONTAINER is served")
                return
            namespace, pod = parts[1], parts[2]
            path = owner.log_file(namespace, pod)
            if path is None:
                self.send_error(404, f"pod {namespace}/{pod} is not on this node")
                return
            follow = urllib.parse.parse_qs(url.query).get("follow") == ["true"]
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.end_headers()
            try:
                self._stream(path, follow, namespace, pod)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                return  # the client hung up

        def _stream(self, path: Path, follow: bool, namespace: str, pod: str) -> None:
            while not path.exists():  # the container has not started yet
                if not follow or owner.stopping.is_set() or owner.log_file(namespace, pod) is None:
                    return
                time.sleep(_FOLLOW_POLL)
            with path.open("rb") as log:
                while True:
                    chunk = log.read(65536)
                    if chunk:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        continue
                    if not follow or owner.stopping.is_set() or not owner.alive(namespace, pod):
                        return
                    time.sleep(_FOLLOW_POLL)

    return Handler
