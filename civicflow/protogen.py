"""Generates the Python gRPC stubs from protos/ with grpcio-tools (`make proto`)."""

from __future__ import annotations

import sys
from pathlib import Path

from civicflow.settings import REPO_ROOT

PROTO_ROOT = REPO_ROOT / "protos"
STUB_PACKAGE = ("civicflow", "v1")


def proto_files() -> list[Path]:
    return sorted(PROTO_ROOT.joinpath(*STUB_PACKAGE).glob("*.proto"))


def generate(out_dir: Path) -> list[Path]:
    """Writes *_pb2.py, *_pb2.pyi and *_pb2_grpc.py for every proto under out_dir/civicflow/v1."""
    # grpcio-tools is a development dependency: services import only the output.
    import grpc_tools
    from grpc_tools import protoc

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    relative = [str(path.relative_to(PROTO_ROOT)) for path in proto_files()]
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *relative,
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed for {relative}")
    package_dir = out_dir.joinpath(*STUB_PACKAGE)
    package_dir.joinpath("__init__.py").write_text(
        '"""Generated gRPC stubs; run `make proto` after changing protos/."""\n'
    )
    return sorted(package_dir.iterdir())


if __name__ == "__main__":
    for path in generate(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO_ROOT):
        print(path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path)
