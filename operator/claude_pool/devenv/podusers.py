"""Running a pod's process as its runAsUser: what that user must be able to reach.

Used by `claude_pool.devenv.localnode` when it runs as root and a pod names a non-root
runAsUser (slot pods: 10001, like the slot image). That user must reach everything it
runs: its directories (owned by it: `chown_tree`), the CLI (`check_cli`), and a Python
(`slot_python`): this interpreter when others may run it, else the system's python3.X of
the same version with this environment's packages and source on PYTHONPATH (an
interpreter installed under root's home, e.g. by pyenv, is not reachable).
"""

from __future__ import annotations

import os
import stat
import sys
import sysconfig
from pathlib import Path

import claude_pool


def traversable_by_others(path: Path) -> bool:
    """Whether any user can reach `path` (every directory on the way has the o+x bit)."""
    resolved = path.resolve()
    return all(os.stat(d).st_mode & stat.S_IXOTH for d in (resolved, *resolved.parents))


def runnable_by_others(path: Path) -> bool:
    """Whether any user can run the file `path` (reachable, and o+rx on the file)."""
    target = path.resolve()
    mode = os.stat(target).st_mode
    return bool(mode & stat.S_IROTH and mode & stat.S_IXOTH) and traversable_by_others(
        target.parent
    )


def slot_python() -> tuple[str, dict[str, str]]:
    """An interpreter any user can run, and the environment it needs to import claude_pool."""
    if runnable_by_others(Path(sys.executable)):
        return sys.executable, {}
    name = f"python{sys.version_info.major}.{sys.version_info.minor}"
    paths = [str(Path(claude_pool.__file__).resolve().parents[1])]
    paths += [sysconfig.get_paths()[key] for key in ("purelib", "platlib")]
    reachable = all(traversable_by_others(Path(p)) for p in paths)
    for directory in ("/usr/local/bin", "/usr/bin"):
        candidate = Path(directory) / name
        if reachable and candidate.is_file() and runnable_by_others(candidate):
            return str(candidate), {"PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}
    raise RuntimeError(
        f"the local node runs pods as their runAsUser, which can run neither {sys.executable}"
        f" nor a system {name} with this checkout's packages: make one readable and"
        " executable by others (chmod o+rx), or pass drop_root=False"
    )


def chown_tree(root: Path, uid: int, gid: int) -> None:
    os.chown(root, uid, gid)
    for directory, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            os.chown(os.path.join(directory, name), uid, gid, follow_symlinks=False)


def check_cli(cli: str | None) -> None:
    """Raise with what to do when another user cannot run the CLI at `cli`."""
    if cli is not None and not runnable_by_others(Path(cli)):
        raise RuntimeError(
            f"the local node runs pods as their runAsUser, which cannot run the CLI {cli}"
            f" ({Path(cli).resolve()}): make it and its directories readable and"
            " executable by others (chmod o+rx), or pass drop_root=False"
        )
