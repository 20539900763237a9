"""docs/templates.md lists every task type with the inputs, outputs and config of its contract: it cannot rot."""

from __future__ import annotations

import re

from civicflow.settings import REPO_ROOT
from orchestrator.tasks import TASK_CONTRACTS
from orchestrator.tasks.catalogue import task_table
from orchestrator.tasks.switch import SWITCH_TASK

DOCUMENT = (REPO_ROOT / "docs" / "templates.md").read_text()


def test_the_task_type_table_is_the_one_the_contracts_make() -> None:
    found = re.search(r"<!-- task-types:begin -->\n(.*?)\n<!-- task-types:end -->", DOCUMENT, re.DOTALL)
    assert found is not None, "docs/templates.md has no task-types markers"
    assert found.group(1) == task_table(TASK_CONTRACTS), (
        "the task types changed: print the table again with `python -m orchestrator.tasks.catalogue`"
    )


def test_every_task_type_is_described() -> None:
    described = set(re.findall(r"^- `(\w+)`:", DOCUMENT, re.MULTILINE))
    assert described == {name for name, contract in TASK_CONTRACTS.items() if contract is not SWITCH_TASK}
