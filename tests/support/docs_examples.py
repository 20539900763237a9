"""The examples of README.md and docs/*.md: which of them run, and whether an output still matches the answer shown.

The conventions, also written out for authors in docs/development.md ("Examples in the docs are tests"):

- A ```sh (or ```bash) block is run with bash, a ```python block with the test's Python. Every such
  block runs, unless the line before it (blank lines aside) is `<!-- docs-test: skip (why) -->`;
  a skipped example is reported as skipped, by document and line, with its reason.
- The ```json and ```text blocks right after a runnable block (nothing but blank lines between)
  are its answer: what it prints on standard output. Several answer blocks are read as one.
- A ```json answer is a sequence of JSON values; the output must be as many values, each matching
  its counterpart. Only the keys shown are compared: an object may have more keys than shown. A
  list must have exactly the items shown, unless its last item is a string starting with "…" (or
  "..."): then it may have more.
- A ```text answer is compared line by line, blank lines and trailing spaces ignored. A line that
  is only "…" (or "...") stands for any number of lines. A line holding a JSON object or array
  after a prefix (`data: {...}`) has the prefix compared as text and the JSON as above.
- Inside any shown string, "…" (or "...") stands for any text, and values that differ from run
  to run match by shape: a UUID any UUID, an RFC 3339 timestamp any timestamp, a run of 16 or more
  hex digits any run of as many. Within one answer, a UUID or hex run shown twice must be the same
  value twice (the digest psql prints and the one the report shows, say).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

RUNNABLE_LANGUAGES = {"sh": "shell", "bash": "shell", "python": "python"}
ANSWER_LANGUAGES = {"json": "json", "text": "text", "": "text"}
ELISIONS = ("…", "...")

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,})(?P<info>[\w+-]*)[ \t]*$")
_DIRECTIVE = re.compile(r"^\s*<!--\s*docs-test:(?P<body>.*?)-->\s*$")
_SKIP = re.compile(r"^\s*skip\s*\((?P<reason>.+)\)\s*$")
_PLACEHOLDERS = re.compile(
    r"(?P<elided>…|\.\.\.)"
    r"|(?P<uuid>\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b)"
    r"|(?P<time>\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d))"
    r"|(?P<hex>\b[0-9a-f]{16,}\b)"
)
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)"

Bindings = dict[str, str]


@dataclass(frozen=True)
class Answer:
    kind: Literal["json", "text"]
    text: str
    line: int


@dataclass(frozen=True)
class Example:
    document: str  # path relative to the repository, as in the example's name
    line: int  # of the opening fence, from 1
    language: str  # "shell" or "python"
    code: str
    answer: Answer | None = None
    skip: str | None = None

    @property
    def name(self) -> str:
        return f"{self.document}:{self.line}"

    @property
    def first_line(self) -> str:
        return next((line.strip() for line in self.code.splitlines() if line.strip()), "")


@dataclass(frozen=True)
class _Block:
    language: str
    line: int
    text: str
    directive: str | None  # the docs-test directive on the line before, if any
    after_blank_only: bool  # whether only blank lines separate it from the block before


@dataclass
class Collected:
    examples: list[Example] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def collect(documents: Iterable[Path], root: Path) -> Collected:
    """Every runnable example of `documents`, in order, with its answer and its skip directive."""
    collected = Collected()
    for path in documents:
        relative = path.relative_to(root).as_posix()
        blocks = list(_blocks(path.read_text(encoding="utf-8"), relative, collected.problems))
        for index, block in enumerate(blocks):
            if block.language not in RUNNABLE_LANGUAGES:
                if block.directive is not None:
                    collected.problems.append(
                        f"{relative}:{block.line}: a docs-test directive before a non-runnable block"
                    )
                continue
            skip = None
            if block.directive is not None:
                matched = _SKIP.match(block.directive)
                if matched is None:
                    collected.problems.append(
                        f"{relative}:{block.line}: unknown docs-test directive {block.directive.strip()!r};"
                        " the one there is: skip (reason)"
                    )
                    continue
                skip = matched.group("reason").strip()
            answer_blocks = []
            for following in blocks[index + 1 :]:
                if following.language not in ANSWER_LANGUAGES or not following.after_blank_only:
                    break
                answer_blocks.append(following)
            answer = None
            if answer_blocks:
                kinds = {ANSWER_LANGUAGES[block.language] for block in answer_blocks}
                answer = Answer(
                    kind="json" if kinds == {"json"} else "text",
                    text="\n".join(block.text for block in answer_blocks),
                    line=answer_blocks[0].line,
                )
                if answer.kind == "json":
                    try:
                        json_values(answer.text)
                    except ValueError as error:
                        collected.problems.append(f"{relative}:{answer.line}: the answer is not JSON: {error}")
            collected.examples.append(
                Example(
                    document=relative,
                    line=block.line,
                    language=RUNNABLE_LANGUAGES[block.language],
                    code=block.text,
                    answer=answer,
                    skip=skip,
                )
            )
    return collected


def _blocks(markdown: str, document: str, problems: list[str]) -> Iterator[_Block]:
    lines = markdown.splitlines()
    number = 0
    last_text_line = ""
    text_since_block = False
    seen_block = False
    while number < len(lines):
        opening = _FENCE.match(lines[number])
        if opening is None:
            if lines[number].strip():
                last_text_line = lines[number]
                text_since_block = True
            number += 1
            continue
        indent, fence = opening.group("indent"), opening.group("fence")
        start = number
        body: list[str] = []
        number += 1
        while number < len(lines) and lines[number].strip() != fence:
            body.append(lines[number][len(indent) :] if lines[number].startswith(indent) else lines[number])
            number += 1
        if number == len(lines):
            problems.append(f"{document}:{start + 1}: a code block that is never closed")
        directive = _DIRECTIVE.match(last_text_line)
        yield _Block(
            language=opening.group("info").lower(),
            line=start + 1,
            text="\n".join(body) + "\n",
            directive=directive.group("body") if directive else None,
            after_blank_only=seen_block and not text_since_block,
        )
        seen_block = True
        text_since_block = False
        last_text_line = ""
        number += 1


def json_values(text: str) -> list[Any]:
    """The JSON values of `text`, one after the other (as several `curl -s` calls print them)."""
    decoder = json.JSONDecoder()
    values: list[Any] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            return values
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise ValueError(f"{error.msg} at line {error.lineno} column {error.colno}") from None
        values.append(value)


class Mismatch(AssertionError):
    """The output does not match the answer shown; the message says where."""


def check_answer(answer: Answer, output: str) -> None:
    """Raises Mismatch, saying where, unless `output` matches the answer shown."""
    if answer.kind == "json":
        try:
            actual = json_values(output)
        except ValueError as error:
            raise Mismatch(f"the output is not JSON ({error})") from None
        expected = json_values(answer.text)
        if len(actual) != len(expected):
            raise Mismatch(f"the answer shows {len(expected)} JSON values, the output has {len(actual)}")
        bindings: Bindings = {}
        for index, (shown, got) in enumerate(zip(expected, actual, strict=True)):
            problem = match_value(shown, got, bindings, path=f"value {index + 1}")
            if problem is not None:
                raise Mismatch(problem)
        return
    shown_lines = [line.rstrip() for line in answer.text.splitlines() if line.strip()]
    got_lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    reached = [0]
    if not _match_lines(shown_lines, got_lines, (0, 0), {}, reached):
        if reached[0] < len(shown_lines):
            raise Mismatch(f"no output line matches the answer's line {shown_lines[reached[0]]!r} where it is due")
        raise Mismatch("the output goes on after the answer's last line (end the answer with a '…' line?)")


def match_value(shown: Any, got: Any, bindings: Bindings, *, path: str) -> str | None:
    """None when `got` matches `shown` (binding placeholders in `bindings`), else what differs and where."""
    if isinstance(shown, str) and shown in ELISIONS:
        return None
    if isinstance(shown, dict):
        if not isinstance(got, dict):
            return f"{path}: expected an object, got {_brief(got)}"
        for key, value in shown.items():
            if key in ELISIONS:
                continue
            if key not in got:
                return f"{path}: no key {key!r} (keys: {', '.join(map(repr, got))})"
            problem = match_value(value, got[key], bindings, path=f"{path}.{key}")
            if problem is not None:
                return problem
        return None
    if isinstance(shown, list):
        if not isinstance(got, list):
            return f"{path}: expected a list, got {_brief(got)}"
        open_ended = bool(shown) and isinstance(shown[-1], str) and shown[-1].startswith(ELISIONS)
        items = shown[:-1] if open_ended else shown
        if len(got) < len(items) or (not open_ended and len(got) != len(items)):
            return f"{path}: expected {len(items)}{' or more' if open_ended else ''} items, got {len(got)}"
        for index, (item, actual) in enumerate(zip(items, got, strict=False)):
            problem = match_value(item, actual, bindings, path=f"{path}[{index}]")
            if problem is not None:
                return problem
        return None
    if isinstance(shown, str):
        if not isinstance(got, str):
            return f"{path}: expected a string like {shown!r}, got {_brief(got)}"
        return None if match_text(shown, got, bindings) else f"{path}: {got!r} does not match {shown!r}"
    if isinstance(shown, bool) or isinstance(got, bool) or shown is None or got is None:
        return None if shown is got else f"{path}: expected {shown!r}, got {_brief(got)}"
    return None if shown == got else f"{path}: expected {shown!r}, got {_brief(got)}"


def match_text(shown: str, got: str, bindings: Bindings) -> bool:
    """Whether `got` is `shown` with its placeholders filled in; binds the UUIDs and hex runs it shows."""
    pattern: list[str] = []
    bound: list[str] = []
    position = 0
    for placeholder in _PLACEHOLDERS.finditer(shown):
        pattern.append(re.escape(shown[position : placeholder.start()]))
        position = placeholder.end()
        kind, token = placeholder.lastgroup, placeholder.group()
        if kind == "elided":
            pattern.append(".*?")
        elif kind == "time":
            pattern.append(_TIME)
        else:
            pattern.append(f"({_UUID})" if kind == "uuid" else f"([0-9a-f]{{{len(token)}}})")
            bound.append(token)
    pattern.append(re.escape(shown[position:]))
    matched = re.fullmatch("".join(pattern), got, flags=re.DOTALL)
    if matched is None:
        return False
    new = dict(bindings)
    for token, value in zip(bound, matched.groups(), strict=True):
        if new.setdefault(token, value) != value:
            return False
    bindings.update(new)
    return True


def _match_lines(shown: list[str], got: list[str], at: tuple[int, int], bindings: Bindings, reached: list[int]) -> bool:
    """Whether got[at[1]:] matches shown[at[0]:] line by line ("…" lines skipping any); binds as it goes.

    `reached` keeps the furthest answer line matched so far, for the message when nothing matches.
    """
    line, output_line = at
    reached[0] = max(reached[0], line)
    if line == len(shown):
        return output_line == len(got)
    if shown[line].strip() in ELISIONS:
        for skipped_to in range(output_line, len(got) + 1):
            attempt = dict(bindings)
            if _match_lines(shown, got, (line + 1, skipped_to), attempt, reached):
                bindings.update(attempt)
                return True
        return False
    if output_line == len(got):
        return False
    attempt = dict(bindings)
    if not _match_line(shown[line], got[output_line], attempt):
        return False
    if not _match_lines(shown, got, (line + 1, output_line + 1), attempt, reached):
        return False
    bindings.update(attempt)
    return True


def _match_line(shown: str, got: str, bindings: Bindings) -> bool:
    split = _json_tail(shown)
    if split is not None:
        prefix, value = split
        got_split = _json_tail(got)
        if got_split is None:
            return False
        got_prefix, got_value = got_split
        return match_text(prefix, got_prefix, bindings) and match_value(value, got_value, bindings, path="") is None
    return match_text(shown, got, bindings)


def _json_tail(line: str) -> tuple[str, Any] | None:
    """A line's text before its first `{` or `[`, and the JSON value from there to the end, if it is one."""
    starts = [index for index in (line.find("{"), line.find("[")) if index >= 0]
    if not starts:
        return None
    start = min(starts)
    try:
        value, end = json.JSONDecoder().raw_decode(line, start)
    except json.JSONDecodeError:
        return None
    if line[end:].strip():
        return None
    return line[:start], value


def _brief(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 120 else text[:117] + "..."
