"""How the docs test reads examples out of Markdown and decides whether an output still matches the answer shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.docs_examples import Answer, Mismatch, check_answer, collect

UUID_A = "e6345769-6641-4995-8e9a-a65d591d9b6a"
UUID_B = "0ce6a235-cddd-4f0f-bd93-6cebf4b5997d"
UUID_C = "4e443e8b-36f1-4f43-8ddd-a1dd455ec592"
DIGEST = "0a47148c6805952639f0fa2691264a43541dff9f91ea1be676479ad9421a6498"


def json_answer(text: str) -> Answer:
    return Answer(kind="json", text=text, line=1)


def text_answer(text: str) -> Answer:
    return Answer(kind="text", text=text, line=1)


def test_a_json_answer_compares_only_the_keys_it_shows() -> None:
    check_answer(json_answer('{"status": "completed"}'), '{"instance_id": "x", "status": "completed", "error": null}')


def test_a_changed_value_fails_naming_where() -> None:
    with pytest.raises(Mismatch, match=r"value 1\.report\.eligible: expected 356, got 357"):
        check_answer(json_answer('{"report": {"eligible": 356}}'), '{"report": {"eligible": 357}}')


def test_a_missing_key_or_another_number_of_values_fails() -> None:
    with pytest.raises(Mismatch, match="no key 'status'"):
        check_answer(json_answer('{"status": "completed"}'), '{"state": "completed"}')
    with pytest.raises(Mismatch, match="shows 1 JSON values, the output has 2"):
        check_answer(json_answer("{}"), "{}{}")


def test_a_list_has_exactly_its_items_unless_it_ends_with_an_elision() -> None:
    check_answer(json_answer('[1, 2, "… and more"]'), "[1, 2, 3, 4]")
    with pytest.raises(Mismatch, match="expected 2 items, got 4"):
        check_answer(json_answer("[1, 2]"), "[1, 2, 3, 4]")
    with pytest.raises(Mismatch, match=r"\[1\]: expected 2, got 5"):
        check_answer(json_answer('[1, 2, "…"]'), "[1, 5, 3]")


def test_elided_values_and_strings_match_anything_in_their_place() -> None:
    check_answer(
        json_answer('{"outputs": {"…": "…"}, "note": "step 3 of …"}'), '{"outputs": {"a": 1}, "note": "step 3 of 5"}'
    )
    with pytest.raises(Mismatch):
        check_answer(json_answer('{"note": "step 3 of …"}'), '{"note": "step 4 of 5"}')


def test_ids_timestamps_and_hashes_match_by_shape() -> None:
    shown = f'{{"id": "{UUID_A}", "at": "2026-11-25T19:55:10.458738Z", "digest": "{DIGEST}"}}'
    check_answer(
        json_answer(shown), f'{{"id": "{UUID_B}", "at": "2027-01-02T03:04:05.000001Z", "digest": "{"ab" * 32}"}}'
    )
    with pytest.raises(Mismatch):
        check_answer(json_answer(shown), f'{{"id": "{UUID_B}", "at": "yesterday", "digest": "{"ab" * 32}"}}')
    with pytest.raises(Mismatch):
        check_answer(json_answer(shown), f'{{"id": "{UUID_B}", "at": "2027-01-02T03:04:05Z", "digest": "abab"}}')


def test_a_placeholder_shown_twice_must_be_one_value_twice() -> None:
    shown = f"{UUID_A}\n{UUID_A}\n"
    check_answer(text_answer(shown), f"{UUID_B}\n{UUID_B}\n")
    with pytest.raises(Mismatch):
        check_answer(text_answer(shown), f"{UUID_B}\n{UUID_C}\n")


def test_text_ignores_blank_lines_and_trailing_spaces_and_skips_lines_at_an_elision() -> None:
    shown = "Impact: 1,000 citizens\n\n  ELIGIBLE   356\n…\n  done\n"
    check_answer(text_answer(shown), "Impact: 1,000 citizens   \n  ELIGIBLE   356   \n\n  a\n  b\n  done\n")
    with pytest.raises(Mismatch, match="ELIGIBLE   356"):
        check_answer(text_answer(shown), "Impact: 1,000 citizens\n  ELIGIBLE   357\n  done\n")
    with pytest.raises(Mismatch, match="goes on after the answer's last line"):
        check_answer(text_answer("a\nb\n"), "a\nb\nc\n")


def test_a_text_line_holding_json_compares_the_json_as_json() -> None:
    shown = 'data: {"status": "completed", "progress": {"items_done": 1000}}\n'
    check_answer(text_answer(shown), 'data: {"instance_id":"x","status":"completed","progress":{"items_done":1000}}\n')
    with pytest.raises(Mismatch):
        check_answer(text_answer(shown), 'data: {"status":"running","progress":{"items_done":1000}}\n')


def test_examples_are_runnable_blocks_with_the_answer_blocks_right_after_them(tmp_path: Path) -> None:
    document = tmp_path / "guide.md"
    document.write_text(
        "# Guide\n\n"
        '```sh\ncurl -s localhost:8000/healthz\n```\n\n```json\n{"status": "ok"}\n```\n\n'
        'Prose in between: the next block is not an answer.\n\n```json\n{"not": "an answer"}\n```\n\n'
        "<!-- docs-test: skip (needs a cluster) -->\n\n```sh\nkubectl apply -k deploy/kubernetes\n```\n\n"
        '```python\nprint("hi")\n```\n```text\nhi\n```\n'
    )
    collected = collect([document], tmp_path)
    assert collected.problems == []
    first, skipped, python = collected.examples
    assert (first.name, first.language, first.answer) == (
        "guide.md:3",
        "shell",
        Answer("json", '{"status": "ok"}\n', 7),
    )
    assert (skipped.skip, skipped.answer) == ("needs a cluster", None)
    assert (python.language, python.code, python.answer) == ("python", 'print("hi")\n', Answer("text", "hi\n", 26))


def test_a_misspelt_or_misplaced_directive_is_a_problem(tmp_path: Path) -> None:
    document = tmp_path / "guide.md"
    document.write_text(
        "<!-- docs-test: skp (typo) -->\n```sh\ntrue\n```\n\n<!-- docs-test: skip (why) -->\n```json\n{}\n```\n"
    )
    problems = collect([document], tmp_path).problems
    assert len(problems) == 2
    assert "unknown docs-test directive" in problems[0]
    assert "before a non-runnable block" in problems[1]
