"""Civicflow's own image (deploy/Dockerfile) on a base image of your choice, installed from a host-made wheelhouse."""

from __future__ import annotations

from pathlib import Path

from container_images.engine import ContainerEngine, EngineError
from container_images.target import probe
from container_images.wheelhouse import build_wheelhouse

PROJECT = Path(__file__).resolve().parent.parent
BUILD_DIRECTORY = PROJECT / "build"
DEFAULT_BASE_IMAGE = "python:3.12-slim"
# Under localhost/, so that neither engine looks for it in a registry when it is missing here.
DEFAULT_TAG = "localhost/civicflow:latest"


def build_image(engine: ContainerEngine, *, base_image: str, tag: str) -> str:
    """The image installs only from the wheelhouse: its build has no network, so every wheel is fetched here."""
    if not engine.has_image(base_image):
        pulled = engine.run("pull", base_image, check=False)
        if pulled.returncode != 0:
            raise EngineError(f"the base image {base_image} is neither here nor pullable: `make base-image` builds one")
    target = probe(engine, base_image)
    build_wheelhouse(project=PROJECT, wheelhouse=BUILD_DIRECTORY / "wheelhouse", target=target)
    engine.build(
        dockerfile=PROJECT / "deploy" / "Dockerfile",
        context=PROJECT,
        tag=tag,
        build_arguments={"BASE_IMAGE": base_image},
    )
    return tag
