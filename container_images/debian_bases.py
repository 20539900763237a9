"""Base images made from Debian's packages with mmdebstrap, for networks that cannot pull python:3.12-slim or
postgres:16, from the mirrors debian_mirrors.py picks. Named under localhost/, so that no engine ever tries to
pull them from a registry."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from container_images.debian_mirrors import sources_lines
from container_images.engine import ContainerEngine, EngineError

SUITE = "bookworm"
PYTHON_BASE_IMAGE = f"localhost/civicflow/debian-python:{SUITE}"
POSTGRES_ROOTFS_IMAGE = f"localhost/civicflow/debian-postgresql-rootfs:{SUITE}"
POSTGRES_IMAGE = f"localhost/civicflow/debian-postgresql:{SUITE}"
# A container never reads documentation or translations; the packages' copyright notices stay, as their licences ask.
_SLIM = [
    *(f"--dpkgopt=path-exclude=/usr/share/{folder}/*" for folder in ("doc", "man", "locale", "info")),
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
]
# Nothing installs packages in a container, and a mirror's address may carry credentials.
_FORGET_SOURCES = '--customize-hook=rm -f "$1/etc/apt/sources.list" "$1"/etc/apt/sources.list.d/*'
_POSTGRES_HOOKS = [
    # The postgres user at uid and gid 999, as in postgres:16 (the Kubernetes manifest's runAsUser), made before
    # the packages that would pick the next free id; passwd adds its shadow entry and postgresql-common reuses it.
    "--essential-hook=echo 'postgres:x:999:999:PostgreSQL administrator:/var/lib/postgresql:/bin/bash' "
    '>> "$1/etc/passwd" && echo "postgres:x:999:" >> "$1/etc/group"',
    # The package makes a cluster at install; the entrypoint makes the one it is asked for.
    '--customize-hook=chroot "$1" pg_dropcluster 15 main',
    # ssl-cert makes a private key at install: no key is baked into an image.
    '--customize-hook=rm "$1/etc/ssl/private/ssl-cert-snakeoil.key" "$1/etc/ssl/certs/ssl-cert-snakeoil.pem"',
    # No JIT: LLVM is most of the image, and without llvmjit.so PostgreSQL plans every query without it.
    *(
        f"--dpkgopt=path-exclude={pattern}"
        for pattern in (
            "/usr/lib/*/libLLVM-14.so*",
            "/usr/lib/*/libz3.so*",
            "/usr/lib/postgresql/15/lib/llvmjit*",
            "/usr/lib/postgresql/15/lib/bitcode/*",
        )
    ),
]


def build_python_base(engine: ContainerEngine, *, reuse: bool = False) -> str:
    """Python 3 with venv (its pip installs the wheelhouse), as `python:3.12-slim` would provide it; `reuse` keeps
    one built before."""
    if reuse and engine.has_image(PYTHON_BASE_IMAGE):
        return PYTHON_BASE_IMAGE
    _debootstrap_image(
        engine,
        tag=PYTHON_BASE_IMAGE,
        # ca-certificates: the services' own HTTPS calls (an OIDC provider's keys) trust the public roots.
        packages=["python3", "python3-venv", "ca-certificates"],
        changes=['CMD ["python3"]'],
    )
    return PYTHON_BASE_IMAGE


def build_postgres(engine: ContainerEngine, *, project: Path, reuse: bool = False) -> str:
    """PostgreSQL from Debian's packages, with deploy/postgres/ on top: the part of postgres:16's contract the
    compose file uses (POSTGRES_USER, POSTGRES_PASSWORD_FILE, POSTGRES_DB, pg_isready). `reuse` keeps a root
    filesystem built before; deploy/postgres/ is built on it every time."""
    if not (reuse and engine.has_image(POSTGRES_ROOTFS_IMAGE)):
        _debootstrap_image(
            engine,
            tag=POSTGRES_ROOTFS_IMAGE,
            packages=["postgresql-15"],
            hooks=_POSTGRES_HOOKS,
        )
    folder = project / "deploy" / "postgres"
    engine.build(
        dockerfile=folder / "Dockerfile",
        context=folder,
        tag=POSTGRES_IMAGE,
        build_arguments={"ROOTFS_IMAGE": POSTGRES_ROOTFS_IMAGE},
    )
    return POSTGRES_IMAGE


def _debootstrap_image(
    engine: ContainerEngine,
    *,
    tag: str,
    packages: Sequence[str],
    changes: Sequence[str] = (),
    hooks: Sequence[str] = (),
) -> None:
    mmdebstrap = shutil.which("mmdebstrap")
    if mmdebstrap is None:
        raise EngineError("mmdebstrap is not installed (Debian: apt-get install mmdebstrap)")
    with tempfile.TemporaryDirectory(prefix="civicflow-rootfs-") as scratch:
        tarball = Path(scratch) / "rootfs.tar"
        command = [mmdebstrap, "--quiet", "--variant=minbase", f"--include={','.join(packages)}", *_SLIM]
        command += [*hooks, _FORGET_SOURCES, SUITE, str(tarball), *sources_lines(SUITE, os.environ)]
        if subprocess.run(command, check=False).returncode != 0:
            raise EngineError(f"mmdebstrap could not make {tag}: see its output above")
        arguments = ["import"]
        for change in ["ENV LANG=C.UTF-8", *changes]:
            arguments += ["--change", change]
        engine.run(*arguments, str(tarball), tag, capture=True)
