"""An EvaluatorService servicer that raises each kind of error the gRPC edge knows, served as the evaluator is."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from civicflow.auth.access import ServiceIdentity
from civicflow.grpc_errors import FieldProblem, FieldProblems, UnreadableRequestError, maps_errors
from civicflow.grpc_server import RunningServer, start_grpc_server
from civicflow.v1 import evaluator_pb2, evaluator_pb2_grpc
from tests.support.credentials import Credentials


class ThingNotFoundError(Exception):
    pass


class BadFieldsError(FieldProblems):
    pass


RAISED: dict[str, Exception] = {
    "CIT-not-found": ThingNotFoundError("no thing 'x'"),
    "CIT-bad-fields": BadFieldsError([FieldProblem("citizen.age", "must be >= 0")]),
    "CIT-unreadable": UnreadableRequestError("citizen: not valid JSON: Expecting value"),
    "CIT-too-deep": RecursionError("maximum recursion depth exceeded while decoding a JSON object"),
    "CIT-defect": KeyError("secret_column_name"),
}


@maps_errors({ThingNotFoundError: grpc.StatusCode.NOT_FOUND, BadFieldsError: grpc.StatusCode.INVALID_ARGUMENT})
class RaisingServicer(evaluator_pb2_grpc.EvaluatorServiceServicer):
    async def Evaluate(
        self, request: evaluator_pb2.EvaluateRequest, context: grpc.aio.ServicerContext
    ) -> evaluator_pb2.EvaluateResponse:
        raise RAISED[request.citizen.citizen_id]

    async def EvaluateStream(
        self,
        request_iterator: AsyncIterator[evaluator_pb2.EvaluateStreamRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[evaluator_pb2.EvaluateStreamResponse]:
        async for request in request_iterator:
            if request.batch_id == 2:
                raise KeyError("secret_column_name")
            yield evaluator_pb2.EvaluateStreamResponse(batch_id=request.batch_id)


async def start_raising_server(credentials: Credentials) -> RunningServer:
    """Served as the evaluator is: mutual TLS with its certificate."""
    return await start_grpc_server(
        service_names=["civicflow.v1.EvaluatorService"],
        register=lambda server: evaluator_pb2_grpc.add_EvaluatorServiceServicer_to_server(RaisingServicer(), server),
        host="127.0.0.1",
        port=0,
        identity=credentials.identity(ServiceIdentity.EVALUATOR),
        require_client_certificate=True,
    )
