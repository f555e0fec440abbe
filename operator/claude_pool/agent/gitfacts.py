"""Pure: what git's output means for the workspace (failure reasons, diffstats, bounds).

Called by `cloning` (why a clone or fetch failed) and `worktrees` (the result of a task).
"""

from __future__ import annotations

from dataclasses import dataclass

from claude_pool.api.workspaces import MAX_DIFFSTAT_BYTES, MAX_FILES, MAX_MESSAGE_BYTES
from claude_pool.api.workspaces import WorkspaceReason as Reason

_AUTHENTICATION = (
    "authentication failed",
    "could not read username",
    "could not read password",
    "returned error: 401",
    "returned error: 403",
    "permission denied (publickey",
    "host key verification failed",
    "invalid username or password",
)
_UNKNOWN_REF = (
    "not found in upstream",
    "couldn't find remote ref",
    "unknown revision",
    "did not match any",
    "invalid reference",
    "not a valid object name",
    "needed a single revision",
)
_UNREACHABLE = (
    "could not resolve host",
    "failed to connect",
    "connection refused",
    "connection timed out",
    "timed out",
    "no route to host",
    "could not read from remote repository",
    "does not appear to be a git repository",
    "returned error: 404",
    "not found",
    "unable to access",
)


def classify(message: str) -> Reason:
    """The reason of a failed clone or fetch, from git's (redacted) message."""
    text = message.lower()
    for needles, reason in (
        (_AUTHENTICATION, Reason.AUTHENTICATION_FAILED),
        (_UNKNOWN_REF, Reason.UNKNOWN_REF),
        (_UNREACHABLE, Reason.REPOSITORY_UNREACHABLE),
    ):
        if any(needle in text for needle in needles):
            return reason
    return Reason.CLONE_FAILED


def cut_bytes(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-8 bytes (on a character boundary)."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", "ignore") + "..."


def short_message(text: str) -> str:
    """A git error as a workspace state's message: trimmed, at most MAX_MESSAGE_BYTES."""
    return cut_bytes(" ".join(text.split()), MAX_MESSAGE_BYTES)


@dataclass(frozen=True)
class DiffFigures:
    """What `git diff --numstat -z` says about base..head."""

    files_changed: int
    insertions: int
    deletions: int
    files: list[str]


def parse_numstat(output: str) -> DiffFigures:
    """Parse `git diff --numstat -z`: NUL-terminated records `ADD\\tDEL\\tPATH` (binary
    files count `-`), renames `ADD\\tDEL\\t` then NUL-separated old and new paths."""
    fields = output.split("\0")
    paths: list[str] = []
    insertions = deletions = 0
    index = 0
    while index < len(fields):
        record = fields[index]
        index += 1
        if not record:
            continue
        added, deleted, path = record.split("\t", 2)
        if path == "" and index + 1 < len(fields):  # a rename: old, new follow
            path = fields[index + 1]
            index += 2
        insertions += int(added) if added.isdigit() else 0
        deletions += int(deleted) if deleted.isdigit() else 0
        paths.append(path)
    return DiffFigures(len(paths), insertions, deletions, paths[:MAX_FILES])


def bound_diffstat(stat: str) -> str:
    """`git diff --stat` cut to MAX_DIFFSTAT_BYTES, keeping its summary line."""
    if len(stat.encode()) <= MAX_DIFFSTAT_BYTES:
        return stat
    lines = stat.rstrip("\n").split("\n")
    summary = lines[-1] + "\n"
    room = MAX_DIFFSTAT_BYTES - len(summary.encode()) - len(" ...\n")
    return cut_bytes("\n".join(lines[:-1]), max(room, 0)).removesuffix("...") + " ...\n" + summary
