"""`python -m container_images image` (make image) and `... base-images` (make base-image)."""

from __future__ import annotations

import argparse
import os
import sys
import time

from container_images import debian_bases
from container_images.civicflow_image import DEFAULT_BASE_IMAGE, DEFAULT_TAG, PROJECT, build_image
from container_images.engine import EngineError, find_engine, image_size_bytes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m container_images", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    image = commands.add_parser("image", help="build Civicflow's image from a wheelhouse made on this host")
    image.add_argument("--base-image", default=os.environ.get("BASE_IMAGE") or DEFAULT_BASE_IMAGE)
    image.add_argument("--tag", default=os.environ.get("CIVICFLOW_IMAGE") or DEFAULT_TAG)
    commands.add_parser("base-images", help="build the Python and PostgreSQL bases from Debian's packages")
    arguments = parser.parse_args(argv)
    try:
        engine = find_engine()
        started = time.monotonic()
        if arguments.command == "image":
            built = [build_image(engine, base_image=arguments.base_image, tag=arguments.tag)]
        else:
            built = [debian_bases.build_python_base(engine), debian_bases.build_postgres(engine, project=PROJECT)]
    except EngineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for tag in built:
        print(f"{tag}: {image_size_bytes(engine, tag) / 1e6:.0f} MB")
    print(f"built in {time.monotonic() - started:.0f} s with {engine.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
