"""Keep the agent's own secrets out of reach of the CLI it runs.

The CLI and its tools run as the agent's user, so without more they could read the agent's
`/proc/<pid>/environ` and memory (the agent's bearer token, the git token) or ptrace it.
`hide_from_tasks` makes the agent non-dumpable (Linux `PR_SET_DUMPABLE` 0): its /proc files
become root's and ptrace by the same user is refused. A child gets the flag back at execve
(the CLI stays an ordinary process). Called once at start by `agent.main`.
"""

from __future__ import annotations

import ctypes
import sys

_PR_SET_DUMPABLE = 4
_PR_GET_DUMPABLE = 3


def hide_from_tasks() -> bool:
    """Make this process non-dumpable; False where that is not possible (not Linux)."""
    if sys.platform != "linux":
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)) == 0


def dumpable() -> bool:
    """Whether this process is dumpable (readable by its user through /proc)."""
    if sys.platform != "linux":
        return True
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.prctl(_PR_GET_DUMPABLE, 0, 0, 0, 0)) != 0
