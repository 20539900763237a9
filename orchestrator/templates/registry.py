"""Every template version this replica knows, the current one of each template, and the directory read again.

A version, once loaded, is kept: a run is pinned to the version it started with and finishes under
it (version()). The current version of a template is the one its file on disk last loaded as: a
file that stops loading leaves its previous version current, a deleted file withdraws its template
from new runs. With a store, every version loaded is recorded in PostgreSQL (the same version
number with other content is refused), and a version this replica never loaded from a file (a run
started on another replica, or before a restart) is compiled from the stored document.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from civicflow.auth.principals import Role
from civicflow.input_limits import shown
from orchestrator.errors import DependencyUnavailableError, TemplateError, TemplateNotFoundError
from orchestrator.storage.template_versions import TemplateVersionStore
from orchestrator.tasks.contract import TaskContract
from orchestrator.templates.compiler import compile_document
from orchestrator.templates.directory_scan import DirectoryScan
from orchestrator.templates.loaded import CompiledStep, LoadedTemplate
from orchestrator.templates.problems import TemplateProblem, problems_text

__all__ = ["CompiledStep", "LoadedTemplate", "ReloadOutcome", "TemplateRegistry", "TemplateVersionEntry"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TemplateVersionEntry:
    """One version of a template as GetTemplate lists it."""

    template: LoadedTemplate
    source_file: str
    loaded_at: datetime
    current: bool


@dataclass(frozen=True)
class ReloadOutcome:
    # Versions that became current with this reading of the directory.
    loaded: tuple[TemplateVersionEntry, ...]
    # Every problem of every file refused (with `every_problem`), or of the files that changed.
    problems: tuple[TemplateProblem, ...]


class TemplateRegistry:
    def __init__(
        self,
        directory: Path,
        contracts: Mapping[str, TaskContract],
        *,
        store: TemplateVersionStore | None = None,
    ) -> None:
        self._directory = directory
        self._contracts = contracts
        self._store = store
        self._scan = DirectoryScan(directory, contracts)
        # Replaced whole, never changed in place: readers on the event loop see one state or the next.
        self._versions: dict[tuple[str, str], LoadedTemplate] = {}
        self._loaded_at: dict[tuple[str, str], datetime] = {}
        self._current: dict[str, LoadedTemplate] = {}
        # One reload at a time (the file watch and an admin's request may meet).
        self._reloading = threading.Lock()
        # Called with the current versions after a reload that changed them (in the reloading thread).
        self.on_change: list[Callable[[Iterable[LoadedTemplate]], None]] = []

    @classmethod
    def load_directory(cls, directory: Path, tasks: Mapping[str, TaskContract]) -> TemplateRegistry:
        """Every *.json file loaded, or TemplateError naming every problem: for tools and tests that need them all."""
        registry = cls(directory, tasks)
        outcome = registry.reload()
        if outcome.problems:
            raise TemplateError("invalid templates:\n" + problems_text(outcome.problems))
        if not registry._current:
            raise TemplateError(f"{directory}: no template files (*.json)")
        return registry

    def reload(self, *, every_problem: bool = False) -> ReloadOutcome:
        """Reads the directory again: changed files are checked, and those that load become current.

        Blocking (files, and the store when there is one): the server calls it in a worker thread.
        """
        with self._reloading:
            scan = self._scan.read(known=self._versions)
            loaded_at = dict(self._loaded_at)
            for path, template in scan.new_versions():
                refused = self._record(template, path.name, loaded_at)
                if refused is not None:
                    scan.refuse(path, [refused])
            providing = scan.providing()
            changed = scan.changed_problems()
            scan.commit()
            versions = dict(self._versions)
            for template in providing.values():
                key = (template.template_id, template.version)
                versions.setdefault(key, template)
                loaded_at.setdefault(key, datetime.now(UTC))
            before = self._current
            self._loaded_at, self._versions = loaded_at, versions
            self._current = {template.template_id: template for template in providing.values()}
            loaded = tuple(
                TemplateVersionEntry(t, t.source.name, loaded_at[(tid, t.version)], current=True)
                for tid, t in sorted(self._current.items())
                if before.get(tid) is not t
            )
            problems = tuple(self._scan.every_problem()) if every_problem else tuple(changed)
            if loaded:
                for listener in self.on_change:
                    listener(self._current.values())
        for entry in loaded:
            log.info(
                "template loaded",
                extra={
                    "template_id": entry.template.template_id,
                    "version": entry.template.version,
                    "file": entry.source_file,
                },
            )
        # One line per problem, its parts as fields: a person reads them in order, a program filters them.
        for problem in changed:
            log.warning(
                "template refused",
                extra={"file": problem.file, "location": problem.location, "problem": problem.message},
            )
        return ReloadOutcome(loaded=loaded, problems=problems)

    def _record(
        self, template: LoadedTemplate, source_file: str, loaded_at: dict[tuple[str, str], datetime]
    ) -> TemplateProblem | None:
        """Records a version new to this replica; the problem refusing it, if the store has it otherwise."""
        if self._store is None:
            return None
        try:
            stored = self._store.record(
                template.template_id,
                template.version,
                digest=template.digest,
                document=template.document,
                source_file=source_file,
            )
        except DependencyUnavailableError:
            return TemplateProblem(
                source_file,
                "version",
                "could not be recorded: the database is unavailable (tried again at the next reload)",
            )
        if stored.digest != template.digest:
            return TemplateProblem(
                source_file,
                "version",
                f"version {template.version} of {template.template_id} is already recorded with other content:"
                " give the change a new version",
            )
        loaded_at[(template.template_id, template.version)] = stored.loaded_at
        return None

    def get(self, template_id: str) -> LoadedTemplate:
        """The current version: the one new runs of the template use."""
        try:
            return self._current[template_id]
        except KeyError:
            raise TemplateNotFoundError(f"no template {shown(template_id)}") from None

    def version(self, template_id: str, version: str) -> LoadedTemplate:
        """The template a run started with: the one it finishes under, whatever is current now.

        A version this replica does not hold is compiled from the store, with the checks of a file
        (a blocking read, taken only the first time a replica meets a version).
        """
        key = (template_id, version)
        template = self._versions.get(key)
        if template is not None:
            return template
        stored = self._store.get(template_id, version) if self._store is not None else None
        if stored is None:
            raise TemplateNotFoundError(f"no template {shown(template_id)} version {shown(version)}")
        compiled = compile_document(stored.document, file=stored.source_file, contracts=self._contracts)
        if compiled.template is None:
            # The problems name files and fields of this deployment: the log has them, the caller is told what.
            for problem in compiled.problems:
                log.error(
                    "recorded template version does not compile",
                    extra={"template_id": template_id, "version": version, "problem": str(problem)},
                )
            raise TemplateNotFoundError(
                f"template {shown(template_id)} version {shown(version)} is recorded but no longer compiles here"
            )
        # Under the reload's lock, so that neither loses the other's versions; the time before the template, so
        # that a reader who finds the version finds its time.
        with self._reloading:
            self._loaded_at = {**self._loaded_at, key: stored.loaded_at}
            self._versions = {**self._versions, key: compiled.template}
        return compiled.template

    def versions(self, template_id: str) -> list[TemplateVersionEntry]:
        """Every version of the template, oldest first; [] for one never loaded. Blocking with a store."""
        current = self._current.get(template_id)
        if self._store is not None:
            keys = [(row.template_id, row.version, row.source_file) for row in self._store.of_template(template_id)]
        else:
            known = sorted((key for key in self._versions if key[0] == template_id), key=self._loaded_at.__getitem__)
            keys = [(tid, version, self._versions[(tid, version)].source.name) for tid, version in known]
        entries = []
        for tid, version, source_file in keys:
            try:
                template = self.version(tid, version)
            except TemplateNotFoundError:
                continue  # recorded under task types this replica no longer has: nothing it could run
            entries.append(
                TemplateVersionEntry(
                    template=template,
                    source_file=source_file,
                    loaded_at=self._loaded_at[(tid, version)],
                    current=current is not None and current.version == version,
                )
            )
        return entries

    def roles_of(self, template_id: str) -> frozenset[Role]:
        """The roles of a template's runs; none for a template no longer loaded (admins and auditors still read)."""
        template = self._current.get(template_id)
        return template.allowed_roles if template is not None else frozenset()

    def __iter__(self) -> Iterator[LoadedTemplate]:
        """The current versions, by template id."""
        return iter(sorted(self._current.values(), key=lambda t: t.template_id))
