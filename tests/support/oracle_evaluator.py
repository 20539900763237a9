"""A stand-in EvaluatorService over real gRPC that decides with the eligibility oracle and notes what it was sent.

For fan-out tests of the wire format (documents, columns sent) independent of the evaluator's
own implementation. It knows only documents with the pinned three-criterion rule's parameters.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
import numpy as np

from civicflow.grpc_server import RunningServer, start_grpc_server
from civicflow.tls import Identity
from civicflow.v1 import evaluator_pb2, evaluator_pb2_grpc
from evaluator.config import EvaluatorSettings
from tests.support.eligibility_oracle import reference_decisions

SERVICE_NAME = evaluator_pb2.DESCRIPTOR.services_by_name["EvaluatorService"].full_name
# The EvaluateStreamRequest fields that carry citizen columns.
COLUMN_FIELDS = ("ages", "incomes", "categories", "household_sizes", "disabilities")


@dataclass
class OracleEvaluator(evaluator_pb2_grpc.EvaluatorServiceServicer):
    # For each request: its size, the column fields it filled, and its documents' (scheme, version, JSON).
    requests: list[tuple[int, frozenset[str], list[tuple[str, int, str]]]] = field(default_factory=list)

    async def EvaluateStream(
        self, request_iterator: AsyncIterator[evaluator_pb2.EvaluateStreamRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[evaluator_pb2.EvaluateStreamResponse]:
        async for request in request_iterator:
            filled = frozenset(name for name in COLUMN_FIELDS if len(getattr(request, name)))
            documents = [(d.scheme_name, d.version, d.document_json) for d in request.documents]
            self.requests.append((request.size, filled, documents))
            ages, incomes = np.array(request.ages), np.array(request.incomes)
            yield evaluator_pb2.EvaluateStreamResponse(
                batch_id=request.batch_id,
                columns=[
                    evaluator_pb2.DecisionColumn(decisions=(reference_decisions(ages, incomes, rules) + 1).tolist())
                    for rules in (json.loads(d.document_json)["parameters"] for d in request.documents)
                ],
            )


async def start_oracle_evaluator(servicer: OracleEvaluator, settings: EvaluatorSettings) -> RunningServer:
    """Serves `servicer` with the evaluator's TLS identity in `settings`, on its host and port (0: a free one)."""

    def register(server: grpc.aio.Server) -> None:
        evaluator_pb2_grpc.add_EvaluatorServiceServicer_to_server(servicer, server)

    return await start_grpc_server(
        service_names=[SERVICE_NAME],
        register=register,
        host=settings.host,
        port=settings.evaluator_port,
        identity=Identity.load(settings),
        require_client_certificate=True,
    )
