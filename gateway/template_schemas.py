"""The REST shapes of template versions and of a reload, and their conversions from the orchestrator's messages."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from civicflow.v1 import orchestrator_pb2


class TemplateVersion(BaseModel):
    template_id: str
    version: str
    description: str
    input_schema: dict[str, Any] = Field(description="JSON Schema the inputs must satisfy.")
    steps: list[str]
    digest: str = Field(description="SHA-256 (hex) of the version's canonical JSON: a version's content never changes.")
    source_file: str = Field(description="The file it was loaded from, in the template directory.")
    loaded_at: datetime = Field(description="When a replica first loaded this version.")
    current: bool = Field(description="Whether new runs use this version.")


class Template(BaseModel):
    template_id: str
    versions: list[TemplateVersion] = Field(description="Oldest first.")


class TemplateProblem(BaseModel):
    file: str
    location: str = Field(description='Where in the file: "steps[2].config.sla_seconds"; empty for the whole file.')
    message: str


class TemplateReload(BaseModel):
    loaded: list[TemplateVersion] = Field(description="Versions that became current with this reload.")
    problems: list[TemplateProblem] = Field(
        description="Every problem of every file refused; the previous version of each stays in force."
    )


def template_version(message: orchestrator_pb2.TemplateVersion) -> TemplateVersion:
    return TemplateVersion(
        template_id=message.template_id,
        version=message.version,
        description=message.description,
        input_schema=json.loads(message.input_schema_json) if message.input_schema_json else {},
        steps=list(message.step_names),
        digest=message.digest,
        source_file=message.source_file,
        loaded_at=message.loaded_at.ToDatetime(tzinfo=UTC),
        current=message.current,
    )


def template(message: orchestrator_pb2.GetTemplateResponse) -> Template:
    return Template(template_id=message.template_id, versions=[template_version(v) for v in message.versions])


def reload(message: orchestrator_pb2.ReloadTemplatesResponse) -> TemplateReload:
    return TemplateReload(
        loaded=[template_version(version) for version in message.loaded],
        problems=[
            TemplateProblem(file=problem.file, location=problem.location, message=problem.message)
            for problem in message.problems
        ],
    )
