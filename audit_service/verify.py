"""`python -m audit_service.verify`: checks saved API answers offline, with no network and no database.

    inclusion    an entry (GET /audit/entries/{seq}) is in the log a signed checkpoint commits to
    consistency  a later checkpoint's log holds an earlier checkpoint's log unchanged
    checkpoint   a checkpoint's signature
    entry        an entry's content still matches its leaf hash

Exit status: 0 and a line starting "verified" when the check holds; 1 and a line starting
"NOT VERIFIED" saying why when it does not (the documents disagree: tampering, or documents
that do not belong together); 2 and a line starting "CANNOT VERIFY" on standard error when the
check could not be made (a file missing or unreadable, not a JSON object, a key file without a
usable public key) or the arguments are wrong. A script may treat 1 alone as an alarm.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from audit_service.log.canonical_entry import EntryEncodingError, entry_leaf_hash
from audit_service.signing.checkpoints import Checkpoint, hex_field
from audit_service.signing.keys import PublicKey
from audit_service.tree.merkle import HASH_SIZE, verify_consistency, verify_inclusion

EXIT_VERIFIED = 0
EXIT_NOT_VERIFIED = 1
# As argparse exits for a usage error: the check was not made, so nothing is known either way.
EXIT_CANNOT_VERIFY = 2


class NotVerifiedError(Exception):
    """The check does not hold; the message says why."""


class CannotVerifyError(Exception):
    """The check could not be made: a file cannot be read or is not a JSON object, or a key file holds no key."""


def check_entry(entry: dict[str, Any]) -> bytes:
    """The entry's recomputed leaf hash, which must equal the leaf_hash it carries."""
    fields = {name: value for name, value in entry.items() if name != "leaf_hash"}
    try:
        recomputed = entry_leaf_hash(fields)
    except EntryEncodingError as error:
        raise NotVerifiedError(str(error)) from None
    claimed = _hex(entry, "leaf_hash", size=HASH_SIZE)
    if recomputed != claimed:
        raise NotVerifiedError(
            f"entry {entry.get('seq')}'s content does not match its leaf_hash: it hashes to {recomputed.hex()}, "
            f"the entry claims {claimed.hex()}"
        )
    return recomputed


# Public keys by key_id: a log whose key was rotated has signed checkpoints with several.
Keys = Mapping[str, PublicKey]


def check_checkpoint(checkpoint: Checkpoint, keys: Keys) -> None:
    problem = checkpoint.signature_problem(keys)
    if problem is not None:
        raise NotVerifiedError(problem)


def check_inclusion(entry: dict[str, Any], proof: dict[str, Any], checkpoint: Checkpoint, keys: Keys) -> str:
    check_checkpoint(checkpoint, keys)
    leaf = check_entry(entry)
    seq = entry["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise NotVerifiedError(f"the entry's seq must be an integer, got {seq!r}")
    if proof.get("leaf_index") != seq:
        raise NotVerifiedError(f"the proof is for leaf {proof.get('leaf_index')}, the entry's seq is {seq}")
    if proof.get("tree_size") != checkpoint.tree_size:
        raise NotVerifiedError(
            f"the proof is for a tree of size {proof.get('tree_size')}, the checkpoint's is {checkpoint.tree_size}"
        )
    if _hex(proof, "leaf_hash", size=HASH_SIZE) != leaf:
        raise NotVerifiedError("the proof is for another leaf hash than the entry's")
    path = _hex_list(proof, "audit_path")
    if not verify_inclusion(leaf=leaf, index=seq, tree_size=checkpoint.tree_size, path=path, root=checkpoint.root_hash):
        raise NotVerifiedError(
            f"entry {seq} is not in the log of size {checkpoint.tree_size} with root {checkpoint.root_hash.hex()}: "
            "the inclusion proof does not lead to the signed root"
        )
    return (
        f"verified: entry {seq} (leaf hash {leaf.hex()}) is in the log of size {checkpoint.tree_size}, "
        f"root {checkpoint.root_hash.hex()}, signed at {checkpoint.timestamp} by key {checkpoint.key_id}"
    )


def check_consistency(first: Checkpoint, second: Checkpoint, proof: dict[str, Any], keys: Keys) -> str:
    check_checkpoint(first, keys)
    check_checkpoint(second, keys)
    if (proof.get("first"), proof.get("second")) != (first.tree_size, second.tree_size):
        raise NotVerifiedError(
            f"the proof is from size {proof.get('first')} to {proof.get('second')}, "
            f"the checkpoints are of sizes {first.tree_size} and {second.tree_size}"
        )
    consistent = verify_consistency(
        first=first.tree_size,
        second=second.tree_size,
        first_root=first.root_hash,
        second_root=second.root_hash,
        proof=_hex_list(proof, "proof"),
    )
    if not consistent:
        raise NotVerifiedError(
            f"the log of size {second.tree_size} does not extend the log of size {first.tree_size} unchanged: "
            "the consistency proof does not lead to both signed roots"
        )
    return (
        f"verified: the log of size {second.tree_size} (root {second.root_hash.hex()}) extends the log of size "
        f"{first.tree_size} (root {first.root_hash.hex()}) unchanged; "
        + (
            f"both checkpoints signed by key {first.key_id}"
            if first.key_id == second.key_id
            else f"checkpoints signed by keys {first.key_id} and {second.key_id}"
        )
    )


def load_public_keys(paths: Sequence[Path]) -> dict[str, PublicKey]:
    """Keys by key_id from PEM files, the JSON of GET /audit/public-key, or of GET /audit/public-keys."""
    keys: dict[str, PublicKey] = {}
    for path in paths:
        text = _read(path)
        if text.lstrip().startswith(b"-----BEGIN"):
            pems = [text]
        else:
            document = _json(path, text)
            listed = document.get("keys") if "keys" in document else [document]
            if not isinstance(listed, list) or not listed:
                raise CannotVerifyError(f"{path}: 'keys' must be a non-empty list of public keys")
            pems = [str(key.get("public_key_pem", "") if isinstance(key, dict) else "").encode() for key in listed]
        for pem in pems:
            try:
                key = PublicKey.from_pem(pem)
            except ValueError as error:
                raise CannotVerifyError(f"{path} is not an Ed25519 public key: {error}") from None
            keys[key.key_id] = key
    return keys


def load_checkpoint(path: Path) -> Checkpoint:
    try:
        return Checkpoint.from_json(load_json(path))
    except ValueError as error:
        raise NotVerifiedError(f"{path}: {error}") from None


def load_json(path: Path) -> dict[str, Any]:
    return _json(path, _read(path))


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    try:
        message = _run(arguments)
    except NotVerifiedError as error:
        print(f"NOT VERIFIED: {error}")
        return EXIT_NOT_VERIFIED
    except CannotVerifyError as error:
        print(f"CANNOT VERIFY: {error}", file=sys.stderr)
        return EXIT_CANNOT_VERIFY
    except Exception:  # a bug of the verifier's own: exit 1, Python's default, would read as tampering
        traceback.print_exc()
        print("CANNOT VERIFY: the verifier failed unexpectedly (above)", file=sys.stderr)
        return EXIT_CANNOT_VERIFY
    print(message)
    return EXIT_VERIFIED


def _run(arguments: argparse.Namespace) -> str:
    if arguments.command == "entry":
        entry = load_json(arguments.entry)
        return f"verified: entry {entry.get('seq')}'s content matches its leaf hash {check_entry(entry).hex()}"
    keys = load_public_keys(arguments.public_key)
    if arguments.command == "checkpoint":
        checkpoint = load_checkpoint(arguments.checkpoint)
        check_checkpoint(checkpoint, keys)
        return f"verified: checkpoint of size {checkpoint.tree_size} signed by key {checkpoint.key_id}"
    if arguments.command == "inclusion":
        entry, proof = load_json(arguments.entry), load_json(arguments.proof)
        return check_inclusion(entry, proof, load_checkpoint(arguments.checkpoint), keys)
    first, second = load_checkpoint(arguments.first), load_checkpoint(arguments.second)
    return check_consistency(first, second, load_json(arguments.proof), keys)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m audit_service.verify",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    key_help = (
        "a public key: PEM, or the JSON of GET /audit/public-key, or all of them, the JSON of GET"
        " /audit/public-keys (repeatable; each checkpoint is checked with the key it names)"
    )
    inclusion = commands.add_parser("inclusion", help="an entry is in the log a signed checkpoint commits to")
    inclusion.add_argument("--entry", type=Path, required=True, help="JSON of GET /audit/entries/{seq}")
    inclusion.add_argument("--proof", type=Path, required=True, help="JSON of GET /audit/entries/{seq}/proof")
    inclusion.add_argument("--checkpoint", type=Path, required=True, help="JSON of GET /audit/checkpoint")
    inclusion.add_argument("--public-key", type=Path, required=True, action="append", help=key_help)
    consistency = commands.add_parser("consistency", help="a later checkpoint's log extends an earlier one's")
    consistency.add_argument("--first", type=Path, required=True, help="the earlier checkpoint's JSON")
    consistency.add_argument("--second", type=Path, required=True, help="the later checkpoint's JSON")
    consistency.add_argument("--proof", type=Path, required=True, help="JSON of GET /audit/consistency")
    consistency.add_argument("--public-key", type=Path, required=True, action="append", help=key_help)
    checkpoint = commands.add_parser("checkpoint", help="a checkpoint's signature")
    checkpoint.add_argument("--checkpoint", type=Path, required=True, help="JSON of GET /audit/checkpoint")
    checkpoint.add_argument("--public-key", type=Path, required=True, action="append", help=key_help)
    entry = commands.add_parser("entry", help="an entry's content matches its leaf hash")
    entry.add_argument("--entry", type=Path, required=True, help="JSON of GET /audit/entries/{seq}")
    return parser


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise CannotVerifyError(f"cannot read {path}: {error.strerror}") from None


def _json(path: Path, text: bytes) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except ValueError as error:
        raise CannotVerifyError(f"{path} is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise CannotVerifyError(f"{path} holds a JSON {type(document).__name__}, not an object")
    return document


def _hex(document: dict[str, Any], name: str, *, size: int) -> bytes:
    try:
        return hex_field(document, name, size=size)
    except ValueError as error:
        raise NotVerifiedError(str(error)) from None


def _hex_list(document: dict[str, Any], name: str) -> list[bytes]:
    values = document.get(name)
    if not isinstance(values, list):
        raise NotVerifiedError(f"{name} must be a list of hashes")
    return [_hex({name: value}, name, size=HASH_SIZE) for value in values]


if __name__ == "__main__":
    sys.exit(main())
