"""The fast path of canonical JSON writes exactly the bytes of the reference RFC 8785 encoder."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from civicflow.canonical_json import canonical_json, canonical_json_bytes

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    # Mostly ASCII with every control character, plus some non-ASCII and astral text for the fallback.
    | st.text(alphabet=st.characters(max_codepoint=0x7F))
    | st.text(alphabet=st.characters(blacklist_categories=("Cs",)))
)
_KEYS = st.text(alphabet=st.characters(max_codepoint=0x7F)) | st.text(
    alphabet=st.characters(blacklist_categories=("Cs",))
)
_VALUES = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4), max_leaves=20
)


@given(_VALUES)
def test_equals_the_reference_encoder_byte_for_byte(value: Any) -> None:
    assert canonical_json_bytes(value) == rfc8785.dumps(value)
    assert canonical_json(value) == rfc8785.dumps(value).decode("utf-8")


def test_keys_sort_by_utf16_code_units_even_where_code_points_disagree() -> None:
    value = {"\U0001f600": 1, "\ufb01": 2, "a": {"\x7f": '\x1f"\\\b', "Z": [True, None]}}
    assert canonical_json_bytes(value) == rfc8785.dumps(value)
    assert canonical_json_bytes(value).index("\ufb01".encode()) > canonical_json_bytes(value).index(b"\xf0\x9f")


@pytest.mark.parametrize("value", [2**53, -(2**53), {"n": [2**60]}, "\ud800", {"k": float("nan")}])
def test_values_without_a_canonical_form_are_refused(value: Any) -> None:
    with pytest.raises(rfc8785.CanonicalizationError):
        canonical_json_bytes(value)


_PLAIN_RANGE_FLOATS = st.floats(min_value=1e-4, max_value=1e16, allow_nan=False, allow_infinity=False) | st.floats(
    min_value=-1e16, max_value=-1e-4
)


@settings(max_examples=2000)
@given(_PLAIN_RANGE_FLOATS)
def test_floats_on_the_fast_path_are_written_as_ecmascript_writes_them(value: float) -> None:
    assert canonical_json_bytes({"value": value, "in": [value]}) == rfc8785.dumps({"value": value, "in": [value]})


@pytest.mark.parametrize(
    "value",
    [0.9, 0.1, 1 / 3, 1e-4, 9.999e-5, 4503599627370495.5, 2.0**52, 1e16, 123456789.125, -0.0, 0.0, 5e-324, 1e21, 1e22],
)
def test_floats_at_the_edges_of_the_fast_path_equal_the_reference(value: float) -> None:
    assert canonical_json_bytes([value, {"v": value}]) == rfc8785.dumps([value, {"v": value}])
