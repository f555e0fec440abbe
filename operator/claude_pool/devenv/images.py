"""Build the slot and operator images (`make images`, `python -m claude_pool images`).

The Dockerfiles take their bases as build arguments (`NODE_IMAGE`, `PYTHON_IMAGE`): the pinned
public images by default. Where no registry serves them (`--base debian`, the default with
podman) the bases are made here from Debian's own packages: `debootstrap --variant=minbase`
from the machine's Debian mirror, imported as `localhost/claude-pool-debian:bookworm`, then
slot-image/bases/{python,node}.Dockerfile on top. Each base is made once and kept in the
engine's image store. Each built image carries a label with the hash of its inputs (Dockerfile,
sources, build arguments): `ensure_images` rebuilds only what is stale, and the container tests
use it to know whether the images they find are the current ones.
"""

from __future__ import annotations

import argparse
import enum
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from claude_pool.devenv.building import cache_root
from claude_pool.devenv.engine import REPO_ROOT, Engine, EngineKind, find_engine

DEBIAN_SUITE = "bookworm"
DEBIAN_IMAGE = f"localhost/claude-pool-debian:{DEBIAN_SUITE}"
LOCAL_PYTHON = f"localhost/claude-pool-python:{DEBIAN_SUITE}"
LOCAL_NODE = f"localhost/claude-pool-node:{DEBIAN_SUITE}"
INPUTS_LABEL = "io.claude-pool.inputs"
SLOT_IMAGE = "localhost/claude-pool-slot:dev"
OPERATOR_IMAGE = "localhost/claude-pool-operator:dev"
_SOURCES = ("pyproject.toml", "README.md", "operator", "slot-image/cli/package.json")
_URI = re.compile(r"^(?:URIs:\s*|deb\s+(?:\[[^]]*\]\s+)?)(\S+)", re.MULTILINE)


class Base(enum.StrEnum):
    PUBLIC = "public"  # the Dockerfiles' defaults, from a registry
    DEBIAN = "debian"  # made here from Debian packages


@dataclass(frozen=True)
class ImageSpec:
    """One image of the product: its tag, Dockerfile and the base arguments it takes."""

    tag: str
    dockerfile: str
    base_args: tuple[str, ...]


SLOT = ImageSpec(SLOT_IMAGE, "slot-image/Dockerfile", ("NODE_IMAGE", "PYTHON_IMAGE"))
OPERATOR = ImageSpec(OPERATOR_IMAGE, "operator/Dockerfile", ("PYTHON_IMAGE",))
IMAGES = (SLOT, OPERATOR)


def debian_mirror(sources: Iterable[str]) -> str:
    """The first Debian (not security) mirror URI in the texts of apt's source files."""
    for text in sources:
        for uri in _URI.findall(text):
            if "/debian" in uri and "security" not in uri:
                return str(uri)
    return "http://deb.debian.org/debian"


def apt_sources() -> list[str]:
    files = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    return [f.read_text() for f in files if f.is_file() and f.suffix in (".list", ".sources")]


def host_ca_bundle() -> Path | None:
    """The host's CA bundle, handed to downloading build steps as the `hostca` secret."""
    for name in (os.environ.get("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt"):
        if name and Path(name).is_file():
            return Path(name)
    return None


def inputs_hash(spec: ImageSpec, build_args: dict[str, str], root: Path = REPO_ROOT) -> str:
    """A hash of what goes into the image: Dockerfile, copied sources, build arguments."""
    digest = hashlib.sha256()
    paths: list[Path] = [root / spec.dockerfile]
    for name in _SOURCES:
        path = root / name
        if path.is_dir():
            paths += sorted(
                p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts
            )
        else:
            paths.append(path)
    for path in paths:
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    for key in sorted(build_args):
        digest.update(f"{key}={build_args[key]}\0".encode())
    return digest.hexdigest()[:16]


def ensure_debian_image(engine: Engine) -> None:
    """debootstrap a minimal bookworm and import it, unless the engine already has it."""
    if engine.image_exists(DEBIAN_IMAGE):
        return
    if shutil.which("debootstrap") is None:
        raise RuntimeError("debootstrap is needed to make the local Debian base (`make setup`)")
    work = cache_root() / "images"
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        rootfs = Path(tmp) / "rootfs"
        mirror = debian_mirror(apt_sources())
        cmd = ["debootstrap", "--variant=minbase", DEBIAN_SUITE, str(rootfs), mirror]
        print("+", " ".join(cmd), flush=True)
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"debootstrap failed ({done.returncode}):\n{done.stdout[-3000:]}")
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            engine.command("import", "--change", "CMD /bin/bash", "-", DEBIAN_IMAGE),
            stdin=tar.stdout,
            env=engine.environ(),
            capture_output=True,
            text=True,
            check=False,
        )
        tar.wait()
        if imported.returncode != 0 or tar.returncode != 0:
            raise RuntimeError(f"importing the Debian base failed:\n{imported.stderr[-3000:]}")


def ensure_local_bases(engine: Engine) -> dict[str, str]:
    """The Debian-made python and node bases; the build arguments that select them."""
    ensure_debian_image(engine)
    for tag, name in ((LOCAL_PYTHON, "python"), (LOCAL_NODE, "node")):
        if not engine.image_exists(tag):
            dockerfile = f"slot-image/bases/{name}.Dockerfile"
            build(engine, tag, dockerfile, {"DEBIAN_IMAGE": DEBIAN_IMAGE})
    return {"PYTHON_IMAGE": LOCAL_PYTHON, "NODE_IMAGE": LOCAL_NODE}


def build(
    engine: Engine,
    tag: str,
    dockerfile: str,
    build_args: dict[str, str],
    labels: dict[str, str] | None = None,
) -> None:
    args = ["build", "--network", "host", "-t", tag, "-f", dockerfile]
    for key, value in sorted(build_args.items()):
        args += ["--build-arg", f"{key}={value}"]
    for key, value in sorted((labels or {}).items()):
        args += ["--label", f"{key}={value}"]
    bundle = host_ca_bundle()
    if bundle is not None:
        args += ["--secret", f"id=hostca,src={bundle}"]
    args.append(str(REPO_ROOT))
    started = time.monotonic()
    engine.run(*args, timeout=1800)
    print(f"built {tag} in {time.monotonic() - started:.1f} s", flush=True)


def default_base(engine: Engine) -> Base:
    """Docker pulls the public bases; podman here has no registry, so Debian-made bases."""
    return Base.PUBLIC if engine.kind is EngineKind.DOCKER else Base.DEBIAN


PUBLIC_BASES = ("node:22.12.0-bookworm-slim", "python:3.11.11-slim-bookworm")


def bases_cached(engine: Engine, base: Base) -> bool:
    """Whether the engine holds the bases already (a build then needs no cold steps)."""
    wanted = (LOCAL_PYTHON, LOCAL_NODE) if base is Base.DEBIAN else PUBLIC_BASES
    return all(engine.image_exists(tag) for tag in wanted)


def base_args(engine: Engine, base: Base) -> dict[str, str]:
    return ensure_local_bases(engine) if base is Base.DEBIAN else {}


def stale_images(engine: Engine, base: Base, specs: Iterable[ImageSpec] = IMAGES) -> list[str]:
    """The images whose inputs changed since they were built (or that are missing)."""
    args = {"PYTHON_IMAGE": LOCAL_PYTHON, "NODE_IMAGE": LOCAL_NODE} if base is Base.DEBIAN else {}
    stale = []
    for spec in specs:
        own = {k: v for k, v in args.items() if k in spec.base_args}
        if engine.image_label(spec.tag, INPUTS_LABEL) != inputs_hash(spec, own):
            stale.append(spec.tag)
    return stale


def ensure_images(
    engine: Engine, base: Base | None = None, specs: Iterable[ImageSpec] = IMAGES
) -> None:
    """Build each image whose inputs changed since its last build (layers are reused)."""
    args = base_args(engine, base or default_base(engine))
    for spec in specs:
        own = {k: v for k, v in args.items() if k in spec.base_args}
        if engine.image_label(spec.tag, INPUTS_LABEL) == inputs_hash(spec, own):
            print(f"{spec.tag} is up to date", flush=True)
            continue
        previous = engine.image_id(spec.tag)
        build(engine, spec.tag, spec.dockerfile, own, {INPUTS_LABEL: inputs_hash(spec, own)})
        if previous is not None and previous != engine.image_id(spec.tag):
            # the replaced image, now untagged; the layers the new one shares stay cached
            engine.run("rmi", previous, check=False, quiet=True)


def main(argv: list[str] | None = None) -> int:
    """`python -m claude_pool images [--base public|debian]`: build what is stale."""
    parser = argparse.ArgumentParser(prog="claude_pool images", description=main.__doc__)
    parser.add_argument("--base", choices=[b.value for b in Base], default=None)
    args = parser.parse_args(argv)
    engine = find_engine()
    started = time.monotonic()
    ensure_images(engine, Base(args.base) if args.base else None)
    for spec in IMAGES:
        print(f"{spec.tag}: {engine.image_size(spec.tag) / 1e6:.0f} MB ({engine.kind})")
    print(f"images ready in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
