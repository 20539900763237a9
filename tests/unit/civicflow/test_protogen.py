"""The committed stubs in civicflow/v1 are exactly what `make proto` generates from protos/."""

from __future__ import annotations

from pathlib import Path

from civicflow import protogen

COMMITTED = protogen.REPO_ROOT.joinpath(*protogen.STUB_PACKAGE)


def _files(directory: Path) -> set[str]:
    return {path.name for path in directory.iterdir() if path.is_file()}


def test_regenerated_stubs_equal_the_committed_ones_byte_for_byte(tmp_path: Path) -> None:
    protogen.generate(tmp_path)
    generated = tmp_path.joinpath(*protogen.STUB_PACKAGE)

    assert _files(generated) == _files(COMMITTED), "run `make proto` and commit civicflow/v1"
    different = [
        name for name in sorted(_files(generated)) if (generated / name).read_bytes() != (COMMITTED / name).read_bytes()
    ]
    assert not different, f"stale generated stubs {different}: run `make proto` and commit civicflow/v1"


def test_every_proto_has_its_three_generated_modules() -> None:
    names = _files(COMMITTED)
    for proto in protogen.proto_files():
        assert {f"{proto.stem}_pb2.py", f"{proto.stem}_pb2.pyi", f"{proto.stem}_pb2_grpc.py"} <= names
