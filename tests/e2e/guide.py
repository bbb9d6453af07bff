"""The workflows and activities of the seed guide (`shared/seed/temporal-python-guide.md`),
written as a Temporal user would, plus the small helpers the tests need to observe them."""

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

# Activity executions seen in this process, so tests can count attempts.
CALLS: list[tuple[str, str, int]] = []


class PaymentError(Exception):
    pass


@activity.defn
async def process_payment(order_id: str) -> None:
    CALLS.append(("process_payment", order_id, activity.info().attempt))
    if order_id.startswith("fail"):
        raise ApplicationError("Payment processing failed", type="PaymentError")


@activity.defn
async def fulfill_order(order_id: str) -> None:
    CALLS.append(("fulfill_order", order_id, activity.info().attempt))


@activity.defn
async def cancel_order(order_id: str) -> None:
    CALLS.append(("cancel_order", order_id, activity.info().attempt))


@workflow.defn
class OrderProcessingWorkflow:
    @workflow.run
    async def run(self, order_id: str) -> str:
        self.order_status = "PENDING"
        await workflow.execute_activity(
            process_payment, order_id, start_to_close_timeout=timedelta(minutes=5)
        )
        self.order_status = "PAID"
        await workflow.execute_activity(
            fulfill_order, order_id, start_to_close_timeout=timedelta(hours=2)
        )
        return "Order completed successfully"


@workflow.defn
class RobustOrderWorkflow:
    @workflow.run
    async def run(self, order_id: str) -> str:
        retry_policy = RetryPolicy(
            initial_interval=timedelta(seconds=1),
            maximum_interval=timedelta(minutes=1),
            maximum_attempts=3,
        )
        try:
            await workflow.execute_activity(
                process_payment,
                order_id,
                retry_policy=retry_policy,
                start_to_close_timeout=timedelta(minutes=5),
            )
        except Exception:
            await workflow.execute_activity(
                cancel_order, order_id, start_to_close_timeout=timedelta(minutes=5)
            )
            raise
        return "Order completed successfully"


@workflow.defn
class TrackableOrderWorkflow:
    def __init__(self) -> None:
        self.status = "CREATED"
        self.customer_notes = ""
        self.done = False

    @workflow.signal
    async def add_customer_note(self, note: str) -> None:
        self.customer_notes += f"\n{note}"

    @workflow.signal
    async def finish(self) -> None:
        self.done = True

    @workflow.query
    def get_status(self) -> str:
        return self.status

    @workflow.query
    def get_notes(self) -> str:
        return self.customer_notes

    @workflow.run
    async def run(self, order_id: str) -> str:
        self.status = "WAITING"
        await workflow.wait_condition(lambda: self.done)
        self.status = "DONE"
        return self.customer_notes
