"""Builds Civicflow's container images without network inside a build: the wheelhouse is made on the host
(`wheelhouse.py`, for the Python of the base image, `target.py`), Debian bases for networks that cannot pull one
(`debian_bases.py`), all through Docker or Podman (`engine.py`). Start at `__main__.py` (`make image`)."""
