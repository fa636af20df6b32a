"""Event sources, locally: what Lambda's event source mappings do in AWS, for `make run`.

* `StreamPump` reads the events table's DynamoDB stream on the emulator
  (DescribeTable → DescribeStream → GetShardIterator → GetRecords) and invokes
  `dispatch` with the real stream event shape; a reported batch item failure makes
  it read again from that sequence number (like bisect/retry on a real mapping).
* `QueuePump` long-polls the delivery queue (ReceiveMessage) and invokes `deliver`
  with the real SQS event shape, batches of up to BATCH_SIZE on QUEUE_WORKERS
  threads (the deliver function's fairness slots bound what one tenant holds); it
  deletes what succeeded and leaves failed items (and everything, when the function
  raised) to come back after the visibility timeout.
* The `retry` function is an ordinary schedule: tools/local/scheduler.py fires it.

`start(invoke)` creates the queues (same names and redrive as infra/delivery.tf),
points this process at them and starts both pumps on daemon threads.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("dockhand.pumps")
Invoke = Callable[[str, dict[str, Any]], Any]

# Locally a message comes back 30 s after a worker died holding it (in AWS: 540 s,
# six times the deliver function's timeout); a batch's sends run side by side, so a
# 15 s receiver timeout stays well inside it.
LOCAL_VISIBILITY_SECONDS = 30
# Fair delivery (docs/capacity.md): 8 workers, a tenant's sends in flight capped at 4
# (DOCKHAND_DELIVERY_TENANT_SLOTS): another tenant's hanging receivers leave 4 workers
# to everyone else, and refused messages wait in the queue, not in a worker.
QUEUE_WORKERS = 8
LOCAL_TENANT_SLOTS = "4"
BATCH_SIZE = 5  # infra/delivery.tf's batch_size
# An idle stream is read 5 times a second: delivery starts well within the contract's
# 2 s (measured ~0.1 s from the 201), at ~5 emulator calls/s when nothing happens.
POLL_SECONDS = 0.2


def _redrive_max_receive_count() -> int:
    from tools.local import infra_model

    for block in infra_model.load("delivery.tf").get("resource", []):
        queue = block.get("aws_sqs_queue", {}).get("deliveries")
        if queue:
            text = str(queue.get("redrive_policy", ""))
            digits = "".join(ch for ch in text.rsplit("maxReceiveCount", 1)[-1] if ch.isdigit())
            return int(digits or 5)
    return 5


def ensure_queues(sqs: Any, prefix: str) -> tuple[str, str]:
    """(queue URL, queue ARN) of `<prefix>-deliveries`, with its DLQ and redrive."""
    dlq_url = sqs.create_queue(QueueName=f"{prefix}-deliveries-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": _redrive_max_receive_count()}
    url = sqs.create_queue(
        QueueName=f"{prefix}-deliveries",
        Attributes={
            "VisibilityTimeout": str(LOCAL_VISIBILITY_SECONDS),
            "RedrivePolicy": json.dumps(redrive),
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return str(url), str(arn)


def _streams_client() -> Any:
    """DynamoDB Streams client of the emulator.  Account-based endpoints
    (`<account>.streams-ddb...`, botocore's default when an ARN names the account)
    are off: the in-process moto only knows the regional endpoint."""
    import boto3
    from botocore.config import Config

    from common.runtime.config import settings

    return boto3.client(
        "dynamodbstreams",
        region_name=settings().region,
        config=Config(account_id_endpoint_mode="disabled", retries={"mode": "standard"}),
    )


@dataclass
class StreamPump:
    invoke: Invoke
    table: str
    function: str = "dispatch"
    start_at: str = "LATEST"  # tests read from TRIM_HORIZON
    stop_event: threading.Event = field(default_factory=threading.Event)
    _iterators: dict[str, str] = field(default_factory=dict)
    _stream_arn: str = ""
    _client: Any = None

    def open(self) -> None:
        from common.store import aws

        description = aws.dynamodb().describe_table(TableName=self.table)["Table"]
        self._stream_arn = str(description["LatestStreamArn"])
        self._client = _streams_client()
        streams = self._client
        shards = streams.describe_stream(StreamArn=self._stream_arn)["StreamDescription"]["Shards"]
        for shard in shards:
            self._iterators[shard["ShardId"]] = streams.get_shard_iterator(
                StreamArn=self._stream_arn,
                ShardId=shard["ShardId"],
                ShardIteratorType=self.start_at,
            )["ShardIterator"]

    def poll_once(self) -> int:
        """Read each shard once and invoke the function on what came; records handled."""
        streams = self._client
        handled = 0
        for shard_id, iterator in list(self._iterators.items()):
            result = streams.get_records(ShardIterator=iterator, Limit=100)
            records = [
                {**record, "eventSourceARN": self._stream_arn} for record in result["Records"]
            ]
            next_iterator = result.get("NextShardIterator")
            if records:
                failed = self._invoke(records)
                if failed:
                    next_iterator = streams.get_shard_iterator(
                        StreamArn=self._stream_arn,
                        ShardId=shard_id,
                        ShardIteratorType="AT_SEQUENCE_NUMBER",
                        SequenceNumber=failed,
                    )["ShardIterator"]
                handled += len(records)
            if next_iterator:
                self._iterators[shard_id] = next_iterator
            else:
                del self._iterators[shard_id]
        return handled

    def _invoke(self, records: list[dict[str, Any]]) -> str | None:
        """The sequence number to read again from, or None when all were handled."""
        try:
            response = self.invoke(self.function, {"Records": records}) or {}
        except Exception:
            log.exception("%s failed; its batch is read again", self.function)
            time.sleep(1)
            return str(records[0]["dynamodb"]["SequenceNumber"])
        failures = response.get("batchItemFailures") or []
        if failures:
            time.sleep(1)  # a real mapping backs off too
            return str(failures[0]["itemIdentifier"])
        return None

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                if self.poll_once() == 0:
                    self.stop_event.wait(POLL_SECONDS)
            except Exception:
                log.exception("stream pump error")
                self.stop_event.wait(1)


@dataclass
class QueuePump:
    invoke: Invoke
    queue_url: str
    queue_arn: str
    function: str = "deliver"
    wait_seconds: int = 1
    visibility_seconds: int | None = None  # None: the queue's own (tests shorten it)
    batch_size: int = 1  # make run: BATCH_SIZE, like the deployed event source mapping
    stop_event: threading.Event = field(default_factory=threading.Event)

    def poll_once(self) -> int:
        """Receive up to `batch_size` messages, invoke the function with them (it
        handles a batch's messages side by side), delete those that did not fail."""
        from common.store import aws

        sqs = aws.client("sqs")
        extra = (
            {}
            if self.visibility_seconds is None
            else {"VisibilityTimeout": self.visibility_seconds}
        )
        result = sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=self.wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            **extra,
        )
        messages = result.get("Messages") or []
        if not messages:
            return 0
        records = [self._record(message) for message in messages]
        try:
            response = self.invoke(self.function, {"Records": records}) or {}
        except Exception:
            log.exception(
                "%s failed; its messages come back after the visibility timeout", self.function
            )
            return len(records)
        failed = {f["itemIdentifier"] for f in response.get("batchItemFailures") or []}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )
        return len(records)

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        from common.runtime.config import settings

        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": settings().region,
        }

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.poll_once()
            except Exception:
                log.exception("queue pump error")
                self.stop_event.wait(1)


@dataclass
class Pumps:
    stream: StreamPump
    queue: QueuePump
    stop_event: threading.Event
    threads: list[threading.Thread]

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=5)

    def banner_lines(self) -> list[str]:
        return [
            "  delivery   on: events stream -> dispatch -> SQS -> deliver (tools/local/pumps.py);",
            "             http://127.0.0.1:<port> and http://localhost:<port> receivers are",
            "             allowed (make run only); retries: DOCKHAND_RETRY_DIVISOR="
            + os.environ.get("DOCKHAND_RETRY_DIVISOR", "1"),
        ]


def configure(*, allow_loopback: bool) -> tuple[str, str]:
    """Create the queues and point this process's functions at them."""
    from common.runtime.config import reset_settings, settings
    from common.store import aws

    prefix = os.environ.get("DOCKHAND_TABLE_PREFIX") or "dockhand"
    url, arn = ensure_queues(aws.client("sqs"), prefix)
    os.environ["DOCKHAND_DELIVERY_QUEUE_URL"] = url
    if allow_loopback:
        os.environ.setdefault("DOCKHAND_ALLOW_LOOPBACK_TARGETS", "true")
    os.environ.setdefault("DOCKHAND_DELIVERY_TENANT_SLOTS", LOCAL_TENANT_SLOTS)
    reset_settings()
    settings()
    return url, arn


def start(invoke: Invoke, *, allow_loopback: bool = True) -> Pumps | None:
    """Start both pumps; None when DOCKHAND_DELIVERY=off."""
    if os.environ.get("DOCKHAND_DELIVERY", "on").lower() in {"off", "0", "false", "no"}:
        return None
    from common.runtime.config import settings

    url, arn = configure(allow_loopback=allow_loopback)
    stop_event = threading.Event()
    stream = StreamPump(invoke, settings().events_table, stop_event=stop_event)
    stream.open()
    queue = QueuePump(invoke, url, arn, stop_event=stop_event, batch_size=BATCH_SIZE)
    threads = [threading.Thread(target=stream.run, name="dockhand-stream-pump", daemon=True)]
    threads += [
        threading.Thread(target=queue.run, name=f"dockhand-queue-pump-{n}", daemon=True)
        for n in range(QUEUE_WORKERS)
    ]
    for thread in threads:
        thread.start()
    return Pumps(stream, queue, stop_event, threads)
