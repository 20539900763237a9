"""gRPC adapter of the evaluator: proto messages in, rules.py decisions out."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import grpc
import numpy as np

from civicflow.v1 import evaluator_pb2, evaluator_pb2_grpc
from evaluator.errors import EvaluatorError, InvalidBatchError, InvalidCitizenError, status_code_for
from evaluator.rules import Rules, check_batch, check_citizen, decide, decide_batch

log = logging.getLogger(__name__)


class EvaluatorServicer(evaluator_pb2_grpc.EvaluatorServiceServicer):
    """Keeps no state between calls or stream messages, so any replica can serve any of them."""

    async def Evaluate(
        self, request: evaluator_pb2.EvaluateRequest, context: grpc.aio.ServicerContext
    ) -> evaluator_pb2.EvaluateResponse:
        try:
            response = _evaluate(request)
        except EvaluatorError as error:
            await context.abort(status_code_for(error), str(error))
        return response

    async def EvaluateStream(
        self,
        request_iterator: AsyncIterator[evaluator_pb2.EvaluateStreamRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[evaluator_pb2.EvaluateStreamResponse]:
        batches = 0
        async for request in request_iterator:
            try:
                response = _evaluate_batch(request)
            except EvaluatorError as error:
                log.info("batch refused", extra={"batch_id": request.batch_id, "error": str(error)})
                await context.abort(status_code_for(error), f"batch {request.batch_id}: {error}")
            batches += 1
            yield response
        log.debug("stream ended", extra={"batches": batches})


def _evaluate(request: evaluator_pb2.EvaluateRequest) -> evaluator_pb2.EvaluateResponse:
    if not request.HasField("citizen"):
        raise InvalidCitizenError("the request has no citizen")
    if not request.HasField("rules"):
        raise InvalidCitizenError("the request has no rules to evaluate the citizen under")
    check_citizen(request.citizen.age, request.citizen.income)
    verdict = decide(request.citizen.age, request.citizen.income, Rules.from_proto(request.rules))
    return evaluator_pb2.EvaluateResponse(
        decision=verdict.decision,  # type: ignore[arg-type]
        reasons=[
            evaluator_pb2.CriterionResult(criterion=reason.criterion, passed=reason.passed, detail=reason.detail)
            for reason in verdict.reasons
        ],
    )


def _evaluate_batch(request: evaluator_pb2.EvaluateStreamRequest) -> evaluator_pb2.EvaluateStreamResponse:
    if not request.rule_sets:
        raise InvalidBatchError("a batch needs at least one rule set")
    rule_sets = [Rules.from_proto(message) for message in request.rule_sets]
    ages = np.array(request.ages, dtype=np.int32)
    incomes = np.array(request.incomes, dtype=np.float64)
    check_batch(ages, incomes)
    return evaluator_pb2.EvaluateStreamResponse(
        batch_id=request.batch_id,
        columns=[
            evaluator_pb2.DecisionColumn(
                decisions=decide_batch(ages, incomes, rules).tolist(),
            )
            for rules in rule_sets
        ],
    )
