"""`python -m audit_service.signing.rotate KEY_PATH`: a new checkpoint signing key at KEY_PATH, the old one kept aside.

The audit service signs with the key at AUDIT_SIGNING_KEY_PATH and records every key it has
signed with in the log (audit.signing_keys). So rotating is: this command, then a restart of
the audit service (every replica). New checkpoints name the new key; the old checkpoints keep
naming the old one and verify with it, online (GET /audit/verify) and offline (the verifier with
the keys of GET /audit/public-keys). The old private key is kept beside the new one as
`<name>.<key id>.pem`, to be archived or destroyed as your key policy says; nothing needs it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from audit_service.signing.keys import SigningKeyError, create_key_file, load_signing_key


def rotate(path: Path) -> tuple[str, str]:
    """Moves the key at `path` aside and writes a new one there; returns the old and the new key ids."""
    old = load_signing_key(path)
    archived = path.with_name(f"{path.stem}.{old.public.key_id}{path.suffix}")
    os.replace(path, archived)
    create_key_file(path)
    return old.public.key_id, load_signing_key(path).public.key_id


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m audit_service.signing.rotate", description=__doc__)
    parser.add_argument("key_path", type=Path, help="the audit service's AUDIT_SIGNING_KEY_PATH")
    arguments = parser.parse_args(argv)
    try:
        old, new = rotate(arguments.key_path)
    except (SigningKeyError, OSError) as error:
        print(f"not rotated: {error}", file=sys.stderr)
        return 2
    print(f"rotated: new key {new}; the old key {old} is kept beside it. Restart the audit service to sign with it.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
