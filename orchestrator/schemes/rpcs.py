"""The scheme RPCs of OrchestratorService: thin adapters from protobuf to SchemeService.

OrchestratorServicer inherits them; the server registers the one service.
"""

from __future__ import annotations

import json

import grpc

from civicflow.auth.access import Action, authorize
from civicflow.auth.guards import Guard, caller, guarded
from civicflow.grpc_errors import maps_errors
from civicflow.input_limits import parse_json
from civicflow.rules.schema import DOCUMENT_SCHEMA
from civicflow.v1 import orchestrator_pb2, orchestrator_pb2_grpc
from orchestrator.errors import STATUS_CODES
from orchestrator.schemes.model import parse_date
from orchestrator.schemes.service import SchemeService

_SCHEMA_JSON = json.dumps(DOCUMENT_SCHEMA)


@maps_errors(STATUS_CODES)
@guarded
class SchemeRpcs(orchestrator_pb2_grpc.OrchestratorServiceServicer):
    """Reading schemes takes any role; drafting analyst or admin; publishing admin (access.py)."""

    guard: Guard
    schemes: SchemeService

    async def GetSchemeDocumentSchema(
        self, request: orchestrator_pb2.GetSchemeDocumentSchemaRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.GetSchemeDocumentSchemaResponse:
        authorize(caller(), Action.READ_SCHEMES)
        return orchestrator_pb2.GetSchemeDocumentSchemaResponse(schema_json=_SCHEMA_JSON)

    async def ListSchemes(
        self, request: orchestrator_pb2.ListSchemesRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.ListSchemesResponse:
        authorize(caller(), Action.READ_SCHEMES)
        summaries = await self.schemes.list_schemes()
        return orchestrator_pb2.ListSchemesResponse(schemes=[summary.to_proto() for summary in summaries])

    async def GetScheme(
        self, request: orchestrator_pb2.GetSchemeRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.GetSchemeResponse:
        authorize(caller(), Action.READ_SCHEMES)
        versions = await self.schemes.versions(request.scheme_name)
        return orchestrator_pb2.GetSchemeResponse(
            scheme_name=request.scheme_name, versions=[version.to_proto() for version in versions]
        )

    async def GetSchemeVersion(
        self, request: orchestrator_pb2.GetSchemeVersionRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.GetSchemeVersionResponse:
        authorize(caller(), Action.READ_SCHEMES)
        version = await self.schemes.version(request.scheme_name, request.version)
        return orchestrator_pb2.GetSchemeVersionResponse(version=version.to_proto())

    async def CreateSchemeVersion(
        self, request: orchestrator_pb2.CreateSchemeVersionRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.CreateSchemeVersionResponse:
        principal = caller()
        authorize(principal, Action.DRAFT_SCHEME_VERSION)
        document = parse_json("document", request.document_json)
        created = await self.schemes.create_draft(request.scheme_name, document, principal=principal)
        return orchestrator_pb2.CreateSchemeVersionResponse(version=created.to_proto())

    async def PublishSchemeVersion(
        self, request: orchestrator_pb2.PublishSchemeVersionRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.PublishSchemeVersionResponse:
        principal = caller()
        authorize(principal, Action.PUBLISH_SCHEME_VERSION)
        effective_from = parse_date(request.effective_from, field="effective_from")
        published = await self.schemes.publish(
            request.scheme_name, request.version, effective_from=effective_from, principal=principal
        )
        return orchestrator_pb2.PublishSchemeVersionResponse(version=published.to_proto())
