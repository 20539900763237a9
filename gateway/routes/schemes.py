"""Scheme versions: read them, draft one (analyst, admin), publish one (admin, not the draft's author)."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path

from civicflow.input_limits import check_json
from civicflow.rules.schema import NAME_PATTERN
from civicflow.v1 import orchestrator_pb2
from gateway import scheme_schemas as schemas
from gateway.auth import CallerDep
from gateway.deps import OrchestratorDep, TimeoutDep
from gateway.routes import error_responses

router = APIRouter(prefix="/schemes", tags=["schemes"], responses=error_responses(401, 403, 413, 422, 429, 503, 504))

SchemeName = Annotated[str, Path(pattern=NAME_PATTERN, description="The scheme's name.")]
Version = Annotated[int, Path(ge=1, le=schemas.MAX_VERSION, description="1, 2, 3, ... per scheme.")]


@router.get("/schema")
async def get_document_schema(caller: CallerDep, orchestrator: OrchestratorDep, timeout: TimeoutDep) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) every scheme document satisfies."""
    request = orchestrator_pb2.GetSchemeDocumentSchemaRequest()
    reply = await orchestrator.GetSchemeDocumentSchema(request, timeout=timeout, metadata=caller.metadata)
    schema: dict[str, Any] = json.loads(reply.schema_json)
    return schema


@router.get("")
async def list_schemes(
    caller: CallerDep, orchestrator: OrchestratorDep, timeout: TimeoutDep
) -> list[schemas.SchemeSummary]:
    """Every scheme, by name, with the version in force today (UTC)."""
    reply = await orchestrator.ListSchemes(
        orchestrator_pb2.ListSchemesRequest(), timeout=timeout, metadata=caller.metadata
    )
    return [schemas.scheme_summary(summary) for summary in reply.schemes]


@router.get("/{scheme_name}", responses=error_responses(404))
async def get_scheme(
    scheme_name: SchemeName, caller: CallerDep, orchestrator: OrchestratorDep, timeout: TimeoutDep
) -> schemas.Scheme:
    """The scheme's versions, oldest first, drafts included. Unknown scheme: 404."""
    request = orchestrator_pb2.GetSchemeRequest(scheme_name=scheme_name)
    reply = await orchestrator.GetScheme(request, timeout=timeout, metadata=caller.metadata)
    return schemas.scheme(reply)


@router.get("/{scheme_name}/versions/{version}", responses=error_responses(404))
async def get_scheme_version(
    scheme_name: SchemeName, version: Version, caller: CallerDep, orchestrator: OrchestratorDep, timeout: TimeoutDep
) -> schemas.SchemeVersionDocument:
    """One version with its document. Unknown scheme or version: 404."""
    request = orchestrator_pb2.GetSchemeVersionRequest(scheme_name=scheme_name, version=version)
    reply = await orchestrator.GetSchemeVersion(request, timeout=timeout, metadata=caller.metadata)
    return schemas.version_document(reply.version)


@router.post("/{scheme_name}/versions", status_code=HTTPStatus.CREATED)
async def create_scheme_version(
    scheme_name: SchemeName,
    document: Annotated[
        dict[str, Any], Body(description="The rule document itself, as GET /schemes/schema describes it.")
    ],
    caller: CallerDep,
    orchestrator: OrchestratorDep,
    timeout: TimeoutDep,
) -> schemas.CreatedSchemeVersion:
    """Stores the document as the scheme's next version, a draft (a new name creates the scheme). Roles: analyst,
    admin. A document that is not valid: 422 with every problem, each at its path (`document.criteria[0].test`)."""
    check_json(document, "document")
    request = orchestrator_pb2.CreateSchemeVersionRequest(scheme_name=scheme_name, document_json=json.dumps(document))
    reply = await orchestrator.CreateSchemeVersion(request, timeout=timeout, metadata=caller.metadata)
    return schemas.created_version(reply.version)


@router.post("/{scheme_name}/versions/{version}/publish", responses=error_responses(404, 409))
async def publish_scheme_version(
    scheme_name: SchemeName,
    version: Version,
    body: schemas.PublishBody,
    caller: CallerDep,
    orchestrator: OrchestratorDep,
    timeout: TimeoutDep,
) -> schemas.PublishedSchemeVersion:
    """Publishes a draft from `effective_from`. Role: admin, and not the subject who drafted it (403: four eyes).
    409 if the version is published already, or `effective_from` is before the latest published version's."""
    request = orchestrator_pb2.PublishSchemeVersionRequest(
        scheme_name=scheme_name, version=version, effective_from=body.effective_from
    )
    reply = await orchestrator.PublishSchemeVersion(request, timeout=timeout, metadata=caller.metadata)
    return schemas.published_version(reply.version)
