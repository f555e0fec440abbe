"""A real git server on loopback for the workspace tests: `git http-backend` behind HTTP Basic.

Used by the agent's workspace tests, the operator's integration tests and
bench/bench_workspace.py. `GitServer` serves the bare repositories under a temp root at
`http://127.0.0.1:<port>/<name>.git` through git's own smart-HTTP CGI (fetch and push:
`http.receivepack` is on), on a threading `http.server` in a thread, so it works from both
sync and async tests. Every request needs `Authorization: Basic` with the server's token as
the password (any user name); anything else is a 401. Every request is recorded without its
Authorization header, so a test can assert the token travelled there and nowhere else.

Helpers create a bare repository with given files (`create_repo`), add upstream commits
(`commit`), make pushes fail (`refuse_pushes`, `accept_pushes`) and read a branch back
(`files`, `commits`, `branches`, `head`). `git_server()` is the context manager,
`git_server_fixture` the pytest fixture (registered in tests/conftest.py as `git_server`).
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

GIT_TIMEOUT = 120.0
AUTHOR = {
    "GIT_AUTHOR_NAME": "Upstream",
    "GIT_AUTHOR_EMAIL": "upstream@example.test",
    "GIT_COMMITTER_NAME": "Upstream",
    "GIT_COMMITTER_EMAIL": "upstream@example.test",
}


def git_env(home: Path) -> dict[str, str]:
    """An environment for git with no user or system configuration (and no credentials)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        **AUTHOR,
    }


@dataclass(frozen=True)
class RecordedGitRequest:
    """One request the server received, without its Authorization header."""

    method: str
    path: str
    """The request target as sent (path and query)."""
    headers: tuple[tuple[str, str], ...]
    user: str | None
    """The Basic user name, when the credentials were right."""
    authorized: bool
    status: int = 0

    def text(self) -> str:
        """Everything recorded, as one string to grep."""
        lines = [f"{self.method} {self.path}", *(f"{k}: {v}" for k, v in self.headers)]
        return "\n".join(lines)


@dataclass
class GitServer:
    """Bare repositories under `root`, served over smart HTTP on 127.0.0.1."""

    root: Path
    token: str
    home: Path
    port: int = 0
    requests: list[RecordedGitRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, name: str) -> str:
        """The repository's URL (never with credentials)."""
        return f"{self.base_url}/{name}.git"

    def bare(self, name: str) -> Path:
        return self.root / f"{name}.git"

    def git(self, *args: str, cwd: Path | None = None, input: bytes | None = None) -> str:
        """Run git with a clean environment; its stdout. Raises CalledProcessError."""
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=git_env(self.home),
            input=input,
            capture_output=True,
            check=True,
            timeout=GIT_TIMEOUT,
        )
        return done.stdout.decode()

    def create_repo(
        self,
        name: str,
        files: Mapping[str, str | bytes],
        *,
        branch: str = "main",
        message: str = "initial commit",
    ) -> str:
        """A bare repository `<name>.git` whose `branch` (its HEAD) holds `files`; its URL."""
        bare = self.bare(name)
        self.git("init", "--quiet", "--bare", f"--initial-branch={branch}", str(bare))
        self.git("--git-dir", str(bare), "config", "http.receivepack", "true")
        self.commit(name, branch, files, message=message)
        return self.url(name)

    def commit(
        self,
        name: str,
        branch: str,
        files: Mapping[str, str | bytes],
        *,
        message: str = "upstream change",
        parent: str | None = None,
    ) -> str:
        """Commit `files` (added or replaced) on `branch` of the bare repo; the new commit.

        The branch starts from `parent` (default: the branch itself, if it exists).
        """
        bare = self.bare(name)
        with tempfile.TemporaryDirectory(dir=self.home) as scratch:
            index = Path(scratch) / "index"
            env_args = ("--git-dir", str(bare))
            base = parent or self._resolve(name, f"refs/heads/{branch}")
            run = self._with_index(index)
            if base is not None:
                run(*env_args, "read-tree", base)
            entries = _store_blobs(self, bare, Path(scratch), files)
            run(*env_args, "update-index", "--add", "--index-info", input="".join(entries).encode())
            tree = run(*env_args, "write-tree").strip()
            parents = ["-p", base] if base is not None else []
            commit = self.git(*env_args, "commit-tree", tree, *parents, "-m", message).strip()
            self.git(*env_args, "update-ref", f"refs/heads/{branch}", commit)
            return commit

    def _with_index(self, index: Path) -> _IndexedGit:
        return _IndexedGit(self, index)

    def _resolve(self, name: str, ref: str) -> str | None:
        try:
            return self.git("--git-dir", str(self.bare(name)), "rev-parse", "--verify", ref).strip()
        except subprocess.CalledProcessError:
            return None

    def head(self, name: str, branch: str) -> str | None:
        """The commit `branch` points at, or None when the branch does not exist."""
        return self._resolve(name, f"refs/heads/{branch}")

    def branches(self, name: str) -> list[str]:
        out = self.git("--git-dir", str(self.bare(name)), "for-each-ref", "--format=%(refname)")
        return sorted(line.removeprefix("refs/heads/") for line in out.split())

    def files(self, name: str, branch: str) -> dict[str, str]:
        """Every file of `branch`, path -> text."""
        bare = ("--git-dir", str(self.bare(name)))
        paths = self.git(*bare, "ls-tree", "-r", "--name-only", "-z", branch).split("\0")
        return {p: self.git(*bare, "show", f"{branch}:{p}") for p in paths if p}

    def commits(self, name: str, branch: str) -> list[tuple[str, str, str]]:
        """(commit, author email, subject) of `branch`, newest first."""
        out = self.git("--git-dir", str(self.bare(name)), "log", "--format=%H%x00%ae%x00%s", branch)
        return [tuple(line.split("\0", 2)) for line in out.splitlines()]  # type: ignore[misc]

    def refuse_pushes(self, name: str, message: str = "pushes are closed") -> None:
        """Make every push to `name` fail (a pre-receive hook that declines)."""
        hook = self.bare(name) / "hooks" / "pre-receive"
        hook.write_text(f"#!/bin/sh\necho '{message}' >&2\nexit 1\n")
        hook.chmod(0o755)

    def accept_pushes(self, name: str) -> None:
        """Undo `refuse_pushes`."""
        (self.bare(name) / "hooks" / "pre-receive").unlink(missing_ok=True)

    def record(self, request: RecordedGitRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def recorded_text(self) -> str:
        """Every recorded request (without Authorization headers) as one string."""
        with self._lock:
            return "\n".join(r.text() for r in self.requests)


def _store_blobs(
    server: GitServer, bare: Path, scratch: Path, files: Mapping[str, str | bytes]
) -> list[str]:
    """Write `files` as blobs in one `hash-object` call; `update-index --index-info` lines."""
    staged = scratch / "blobs"
    staged.mkdir()
    sources = []
    for number, content in enumerate(files.values()):
        source = staged / str(number)
        source.write_bytes(content.encode() if isinstance(content, str) else content)
        sources.append(str(source))
    listing = "".join(f"{source}\n" for source in sources).encode()
    out = server.git("--git-dir", str(bare), "hash-object", "-w", "--stdin-paths", input=listing)
    return [f"100644 {blob}\t{path}\n" for blob, path in zip(out.split(), files, strict=True)]


class _IndexedGit:
    """git with GIT_INDEX_FILE set: builds a commit without a working tree."""

    def __init__(self, server: GitServer, index: Path) -> None:
        self.server, self.index = server, index

    def __call__(self, *args: str, input: bytes | None = None) -> str:
        done = subprocess.run(
            ["git", *args],
            env={**git_env(self.server.home), "GIT_INDEX_FILE": str(self.index)},
            input=input,
            capture_output=True,
            check=True,
            timeout=GIT_TIMEOUT,
        )
        return done.stdout.decode()


def _basic_credentials(header: str) -> tuple[str, str] | None:
    if not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user, password


def _handler(server: GitServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the requests are recorded instead."""

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            creds = _basic_credentials(self.headers.get("Authorization", ""))
            good = creds is not None and hmac.compare_digest(
                creds[1].encode(), server.token.encode()
            )
            body = self._body()
            headers = tuple((k, v) for k, v in self.headers.items() if k.lower() != "authorization")
            user = creds[0] if good and creds else None
            if not good:
                server.record(
                    RecordedGitRequest(self.command, self.path, headers, None, False, 401)
                )
                self._reply(401, {"WWW-Authenticate": 'Basic realm="git"'}, b"unauthorized\n")
                return
            status, reply_headers, reply = _run_backend(server, self, body, user or "git")
            server.record(RecordedGitRequest(self.command, self.path, headers, user, True, status))
            self._reply(status, reply_headers, reply)

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _reply(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def _run_backend(
    server: GitServer, request: BaseHTTPRequestHandler, body: bytes, user: str
) -> tuple[int, dict[str, str], bytes]:
    """Run `git http-backend` as a CGI for one request: status, headers and body."""
    target = urlsplit(request.path)
    env = {
        **git_env(server.home),
        "GIT_PROJECT_ROOT": str(server.root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "REQUEST_METHOD": request.command,
        "PATH_INFO": target.path,
        "QUERY_STRING": target.query,
        "CONTENT_TYPE": request.headers.get("Content-Type", ""),
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_USER": user,
        "REMOTE_ADDR": "127.0.0.1",
        "GATEWAY_INTERFACE": "CGI/1.1",
    }
    for header, variable in (
        ("Content-Encoding", "HTTP_CONTENT_ENCODING"),
        ("Git-Protocol", "GIT_PROTOCOL"),
    ):
        if request.headers.get(header):
            env[variable] = request.headers[header]
    done = subprocess.run(
        ["git", "http-backend"], env=env, input=body, capture_output=True, timeout=GIT_TIMEOUT
    )
    head, _, payload = done.stdout.partition(b"\r\n\r\n")
    status, headers = 200, {}
    for line in head.decode("latin-1").split("\r\n"):
        key, _, value = line.partition(":")
        if key.lower() == "status":
            status = int(value.split()[0])
        elif key:
            headers[key.strip()] = value.strip()
    return status, headers, payload


@contextlib.contextmanager
def git_server(token: str | None = None) -> Iterator[GitServer]:
    """A running `GitServer` in a temp directory, stopped and removed afterwards."""
    scratch = Path(tempfile.mkdtemp(prefix="gitserver-"))
    (scratch / "repos").mkdir()
    (scratch / "home").mkdir()
    server = GitServer(
        root=scratch / "repos",
        token=token or f"gitsrv-{secrets.token_hex(16)}",
        home=scratch / "home",
    )
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    httpd.daemon_threads = True
    server.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, name="gitserver", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(name="git_server")
def git_server_fixture() -> Iterator[GitServer]:
    """A git server for one test (see `git_server`)."""
    with git_server() as server:
        yield server
