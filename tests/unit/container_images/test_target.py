"""The wheel tags `make image` downloads for: those of the base image's interpreter, not the host's."""

from __future__ import annotations

import json

import pytest

from container_images.engine import EngineError
from container_images.target import PythonTarget, parse_probe


def probed(**facts: object) -> str:
    answer = {"python": [3, 12], "machine": "x86_64", "libc": "glibc 2.36", **facts}
    return "some base images print a banner first\n" + json.dumps(answer)


def test_the_probe_names_the_interpreter_its_cpu_and_its_glibc() -> None:
    target = parse_probe(probed())
    assert target == PythonTarget(major=3, minor=12, machine="x86_64", glibc=(2, 36))
    assert target.version == "3.12"


def test_every_older_manylinux_tag_is_listed_since_pip_does_not_widen_a_platform_itself() -> None:
    platforms = PythonTarget(major=3, minor=11, machine="aarch64", glibc=(2, 17)).platforms()
    assert platforms[0] == "manylinux_2_17_aarch64"
    assert "manylinux2014_aarch64" in platforms and "manylinux1_aarch64" in platforms
    assert platforms[-2:] == ["manylinux_2_5_aarch64", "manylinux1_aarch64"]
    assert not any("2_18" in platform for platform in platforms)


def test_pip_is_asked_for_binary_wheels_of_the_images_abi_alone() -> None:
    arguments = parse_probe(probed(python=[3, 11])).pip_arguments()
    assert arguments[:1] == ["--only-binary=:all:"]
    assert arguments[arguments.index("--python-version") + 1] == "3.11"
    assert arguments[arguments.index("--abi") + 1] == "cp311"
    assert arguments.count("--platform") == len(parse_probe(probed()).platforms())


@pytest.mark.parametrize("libc", ["", "musl 1.2.4"])
def test_a_base_without_glibc_is_refused_by_name(libc: str) -> None:
    with pytest.raises(EngineError, match="only glibc bases"):
        parse_probe(probed(libc=libc))
