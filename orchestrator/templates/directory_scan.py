"""One reading of the template directory: which file provides which version, and every problem of every file.

A file is checked again when its bytes changed, or when it had problems last time (a problem may
be another file's doing: an appeal_template not loaded yet). Checks across files make problems of
the file concerned, never of the directory: a template_id a file provides already is refused in the
other file, and an appeal_template naming a template that is not loaded is refused in the file
naming it. A refused file keeps providing what it provided before; a deleted one provides nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from orchestrator.tasks.contract import TaskContract
from orchestrator.templates.compiler import compile_document, decode_document
from orchestrator.templates.loaded import LoadedTemplate
from orchestrator.templates.problems import TemplateProblem


@dataclass(frozen=True)
class _FileState:
    fingerprint: str
    problems: tuple[TemplateProblem, ...]
    provides: LoadedTemplate | None


class DirectoryScan:
    """The directory's files as last read; read() starts the next reading, Scan.commit() ends it."""

    def __init__(self, directory: Path, contracts: Mapping[str, TaskContract]) -> None:
        self._directory = directory
        self._contracts = contracts
        self._files: dict[Path, _FileState] = {}
        self.directory_problem: TemplateProblem | None = None

    def read(self, *, known: Mapping[tuple[str, str], LoadedTemplate]) -> Scan:
        try:
            paths = sorted(path for path in self._directory.glob("*.json") if path.is_file())
            if not self._directory.is_dir():
                raise FileNotFoundError(self._directory)
        except OSError:
            # A directory gone for a moment (a volume remounting) withdraws nothing: the files stay as they were.
            problem = TemplateProblem(str(self._directory), "", "the template directory cannot be read")
            return Scan(self, {path: state.provides for path, state in self._files.items()}, {}, {}, problem)
        candidates: dict[Path, LoadedTemplate] = {}
        problems: dict[Path, list[TemplateProblem]] = {}
        fingerprints: dict[Path, str] = {}
        for path in paths:
            try:
                raw = path.read_bytes()
            except OSError as error:
                fingerprints[path] = ""
                problems[path] = [TemplateProblem(path.name, "", f"cannot be read: {error.strerror or error}")]
                continue
            fingerprints[path] = hashlib.sha256(raw).hexdigest()
            before = self._files.get(path)
            if before is not None and before.fingerprint == fingerprints[path] and not before.problems:
                continue
            problems[path], template = self._check(path, raw, known)
            if template is not None:
                candidates[path] = template
        previous = {path: state.provides for path, state in self._files.items() if path in fingerprints}
        return Scan(self, previous, candidates, problems, None, fingerprints)

    def _check(
        self, path: Path, raw: bytes, known: Mapping[tuple[str, str], LoadedTemplate]
    ) -> tuple[list[TemplateProblem], LoadedTemplate | None]:
        document, problems = decode_document(raw, file=path.name)
        if problems:
            return problems, None
        compiled = compile_document(document, file=path.name, contracts=self._contracts)
        template = compiled.template
        if template is None:
            return list(compiled.problems), None
        template = _with_source(template, path)
        same = known.get((template.template_id, template.version))
        if same is None:
            return [], template
        if same.digest != template.digest:
            message = (
                f"version {template.version} of {template.template_id} is already loaded with other content:"
                " give the change a new version"
            )
            return [TemplateProblem(path.name, "version", message)], None
        return [], same

    def _commit(self, scan: Scan) -> None:
        self.directory_problem = scan.directory_problem
        if scan.directory_problem is not None:
            return
        providing = scan.providing()
        files: dict[Path, _FileState] = {}
        for path, fingerprint in scan.fingerprints.items():
            before = self._files.get(path)
            problems = scan.file_problems.get(path)
            if problems is None:  # not checked again: as it was
                assert before is not None
                files[path] = before
            else:
                files[path] = _FileState(fingerprint, tuple(problems), providing.get(path))
        self._files = files

    def every_problem(self) -> Iterator[TemplateProblem]:
        if self.directory_problem is not None:
            yield self.directory_problem
        for state in self._files.values():
            yield from state.problems

    def problems_before(self, path: Path) -> tuple[TemplateProblem, ...]:
        state = self._files.get(path)
        return state.problems if state is not None else ()


@dataclass
class Scan:
    """A reading in progress: candidates may still be refused (refuse()) until commit()."""

    owner: DirectoryScan
    previous: dict[Path, LoadedTemplate | None]
    candidates: dict[Path, LoadedTemplate]
    # The problems of every file checked in this reading ([] for one that loaded).
    file_problems: dict[Path, list[TemplateProblem]]
    directory_problem: TemplateProblem | None
    fingerprints: dict[Path, str] = field(default_factory=dict)

    def new_versions(self) -> list[tuple[Path, LoadedTemplate]]:
        """Candidates that would provide a version their file did not provide before."""
        providing = self.providing()
        return [
            (path, template)
            for path, template in sorted(self.candidates.items())
            if providing.get(path) is template and self.previous.get(path) is not template
        ]

    def refuse(self, path: Path, problems: list[TemplateProblem]) -> None:
        del self.candidates[path]
        self.file_problems[path].extend(problems)

    def providing(self) -> dict[Path, LoadedTemplate]:
        """Which file provides which version once this reading is committed; refuses candidates across files."""
        while True:
            providing = {path: template for path, template in self.previous.items() if template is not None}
            providing.update(self.candidates)
            refusals = dict(self._duplicates(providing))
            if not refusals:
                refusals = dict(self._missing_appeals(providing))
            if not refusals:
                return providing
            for path, problem in refusals.items():
                self.refuse(path, [problem])

    def _duplicates(self, providing: dict[Path, LoadedTemplate]) -> Iterator[tuple[Path, TemplateProblem]]:
        owners: dict[str, Path] = {}
        # The file that provided the template before keeps it; between two new ones, the first by name.
        for path in sorted(providing, key=lambda p: (p in self.candidates, p)):
            template_id = providing[path].template_id
            owner = owners.setdefault(template_id, path)
            if owner != path and path in self.candidates:
                message = f"template_id '{template_id}' is already defined in {owner.name}"
                yield path, TemplateProblem(path.name, "template_id", message)

    def _missing_appeals(self, providing: dict[Path, LoadedTemplate]) -> Iterator[tuple[Path, TemplateProblem]]:
        loaded = {template.template_id for template in providing.values()}
        for path, template in self.candidates.items():
            appeal = template.model.appeal_template
            if appeal is not None and appeal not in loaded:
                yield path, TemplateProblem(path.name, "appeal_template", f"no template '{appeal}' is loaded")

    def changed_problems(self) -> list[TemplateProblem]:
        """The problems of the files whose problems are not what they were at the last reading (before commit())."""
        if self.directory_problem is not None:
            return [self.directory_problem] if self.directory_problem != self.owner.directory_problem else []
        return [
            problem
            for path, problems in sorted(self.file_problems.items())
            if tuple(problems) != self.owner.problems_before(path)
            for problem in problems
        ]

    def commit(self) -> None:
        self.owner._commit(self)


def _with_source(template: LoadedTemplate, path: Path) -> LoadedTemplate:
    return replace(template, source=path)
