"""Many messages in flight, without a broker: the in-order commit, key order, micro-batching and backpressure
steps alone, then composed by the Flow around a real StageRunner with a fake producer whose acknowledgements
the test releases by hand."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timezone

import pytest

from schemas.messages import FetchedArticle, IngestRequest, StageName
from schemas.topics import TOPICS
from services.fetcher.logic import passthrough
from services.runtime.batching import Batcher, one_by_one
from services.runtime.breaker import CircuitOpen
from services.runtime.commits import CommitTracker
from services.runtime.flow import Flow
from services.runtime.metrics import stage_metrics
from services.runtime.ordering import KeyOrder
from services.runtime.settings import KafkaSettings, StageSettings
from services.runtime.stage import Delivery, Stage, StageRunner

NOW = datetime(2026, 1, 5, 9, 30, tzinfo=timezone.utc)
TP = ("articles.ingest", 0)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


# --- CommitTracker ------------------------------------------------------------------------------------------

def test_offsets_finishing_out_of_order_are_released_in_order_only_behind_a_finished_head():
    t: CommitTracker[str] = CommitTracker()
    for offset in range(40, 44):
        t.taken(TP, offset, f"m{offset}")
    t.taken(("articles.ingest", 1), 7, "other")
    assert t.finished(TP, 42) == [] and t.finished(TP, 43) == []
    assert t.awaiting == 2 and t.position(TP) is None
    assert t.finished(TP, 40) == ["m40"] and t.position(TP) == 41
    assert t.finished(("articles.ingest", 1), 7) == ["other"]  # partitions are independent
    assert t.finished(TP, 41) == ["m41", "m42", "m43"]
    assert t.position(TP) == 44 and t.awaiting == 0 and t.in_flight() == 0


def test_a_partition_forgotten_on_revocation_releases_nothing_later():
    t: CommitTracker[str] = CommitTracker()
    t.taken(TP, 1, "a")
    t.taken(TP, 2, "b")
    t.finished(TP, 2)
    t.forget([TP])
    assert t.awaiting == 0 and t.finished(TP, 1) == [] and t.position(TP) is None


def test_offsets_must_be_taken_in_increasing_order():
    t: CommitTracker[str] = CommitTracker()
    t.taken(TP, 5, "a")
    with pytest.raises(ValueError):
        t.taken(TP, 5, "again")


# --- KeyOrder -----------------------------------------------------------------------------------------------

def test_same_key_runs_one_after_another_in_claim_order_and_other_keys_do_not_wait():
    async def scenario():
        order, log = KeyOrder(), []
        gate = asyncio.Event()

        async def work(name, turn, wait=False):
            async with turn:
                log.append(f"start {name}")
                if wait:
                    await gate.wait()
                log.append(f"end {name}")

        turns = [("a1", order.turn(b"a"), True), ("a2", order.turn(b"a"), False), ("b1", order.turn(b"b"), False)]
        # started in reverse: the claim order, not the start order, decides
        tasks = [asyncio.create_task(work(n, t, w)) for n, t, w in reversed(turns)]
        await asyncio.sleep(0.05)
        assert log == ["start b1", "end b1", "start a1"]  # b ran; a2 waits for a1
        gate.set()
        await asyncio.gather(*tasks)
        assert log[3:] == ["end a1", "start a2", "end a2"]
        assert len(order) == 0  # no key left behind

    run(scenario())


# --- Batcher ------------------------------------------------------------------------------------------------

def test_items_submitted_together_run_as_one_batch_in_one_worker_thread():
    seen: list[list[int]] = []
    threads = set()

    def double_all(items):
        seen.append(list(items))
        threads.add(threading.current_thread().name)
        return [i * 2 for i in items]

    async def scenario():
        b = Batcher(double_all, max_batch=8)
        results = await asyncio.gather(*(b.submit(i) for i in range(5)))
        assert results == [0, 2, 4, 6, 8]
        assert seen == [[0, 1, 2, 3, 4]]
        assert threads != {threading.current_thread().name}  # off the event loop's thread
        results = await asyncio.gather(*(b.submit(i) for i in range(10)))
        assert results == [i * 2 for i in range(10)] and [len(s) for s in seen[1:]] == [8, 2]  # max_batch holds

    run(scenario())


def test_a_failing_item_fails_alone_and_a_batch_function_that_raises_is_retried_item_by_item():
    def strict(items):
        if any(i < 0 for i in items):
            raise ValueError("negative in batch")  # a batch function that does not isolate its items
        return list(items)

    async def scenario():
        per_item = Batcher(one_by_one(lambda i: 10 // i), max_batch=8)
        got = await asyncio.gather(*(per_item.submit(i) for i in (1, 0, 2)), return_exceptions=True)
        assert got[0] == 10 and isinstance(got[1], ZeroDivisionError) and got[2] == 5
        whole = Batcher(strict, max_batch=8)
        got = await asyncio.gather(*(whole.submit(i) for i in (1, -1, 2)), return_exceptions=True)
        assert got[0] == 1 and isinstance(got[1], ValueError) and got[2] == 2

    run(scenario())


# --- Flow: the steps composed around a real runner ------------------------------------------------------------

class Settings(StageSettings):
    metrics_port: int = 0
    web_port: int = 0


class Producer:
    """A fake producer: records every send at once and acknowledges only when the test says so."""

    def __init__(self):
        self.sent: list[tuple[str, bytes]] = []  # (topic, article id) in send order
        self.acks: dict[bytes, asyncio.Future] = {}

    async def send(self, topic, key, value, headers):
        self.sent.append((topic, key))
        future = asyncio.get_running_loop().create_future()
        self.acks[key + b"#" + str(len(self.sent)).encode()] = future
        return future

    def ack_all(self, key: bytes | None = None):
        for k, f in self.acks.items():
            if (key is None or k.startswith(key + b"#")) and not f.done():
                f.set_result(None)


def make_flow(step, max_in_flight=64, window_size=32):
    producer, acked = Producer(), []
    stage = Stage(StageName.fetcher, TOPICS.ingest, TOPICS.fetched, step)
    runner = StageRunner(stage, Settings(window_size=window_size), KafkaSettings(), stage_metrics("fetcher"),
                         producer.send, sleep=lambda s: asyncio.sleep(0))
    halts = []
    flow = Flow(runner, max_in_flight, ack=acked.append, on_halt=lambda exc, d: halts.append((exc, d.offset)))
    return flow, producer, acked, halts


def message(offset, article_id=None, partition=0, text="Some text."):
    article_id = article_id or f"a{offset}"
    value = IngestRequest(article_id=article_id, ingested_at=NOW, text=text).to_bytes()
    d = Delivery(topic="articles.ingest", partition=partition, offset=offset, key=article_id.encode(), value=value)
    return d, f"event@{partition}/{offset}"


async def until(condition, what):
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def test_out_of_order_completion_commits_only_in_offset_order_once_the_broker_acknowledged():
    async def scenario():
        slow = asyncio.Event()

        async def step(request: IngestRequest):
            if request.article_id == "a0":
                await slow.wait()
            return passthrough(request)

        flow, producer, acked, _ = make_flow(step)
        await flow.admit([message(i) for i in range(6)])
        await until(lambda: len(producer.sent) == 5, "offsets 1-5 to be produced")
        # produced without waiting for each acknowledgement in turn: nothing acknowledged yet, all five sent
        assert {k for _, k in producer.sent} == {b"a1", b"a2", b"a3", b"a4", b"a5"}
        producer.ack_all()
        await until(lambda: flow.commits.awaiting == 5, "1-5 to finish")
        assert acked == []  # 1-5 finished, but 0 holds the partition
        slow.set()
        await until(lambda: len(producer.sent) == 6, "offset 0 to be produced")
        assert acked == []  # produced, not yet acknowledged by the broker
        producer.ack_all()
        await until(lambda: len(acked) == 6, "every offset to be committable")
        assert acked == [f"event@0/{i}" for i in range(6)]
        assert flow.position(TP) == 6

    run(scenario())


def test_messages_with_the_same_key_keep_their_order_through_produce_and_acknowledgement():
    async def scenario():
        first_may_finish = asyncio.Event()
        calls = []

        async def step(request: IngestRequest):
            calls.append(request.text)
            if request.text == "first":
                await first_may_finish.wait()
            return passthrough(request)

        flow, producer, acked, _ = make_flow(step)
        await flow.admit([message(0, "same", text="first"), message(1, "same", text="second"), message(2, "other")])
        await until(lambda: (b"other" in [k for _, k in producer.sent]), "the other key to go ahead")
        assert sorted(calls) == ["Some text.", "first"]  # the other key did not wait; the second did
        first_may_finish.set()
        await until(lambda: len(producer.sent) == 2, "the first of the key to be produced")
        await asyncio.sleep(0.05)
        assert "second" not in calls  # waits for the first's acknowledgement, not just its produce
        producer.ack_all(b"same")
        await until(lambda: "second" in calls, "the second of the key to start")
        producer.ack_all()
        await until(lambda: len(acked) == 3, "all committable")

    run(scenario())


def test_backpressure_bounds_the_messages_in_flight():
    async def scenario():
        release = asyncio.Event()
        started = []

        async def step(request: IngestRequest):
            started.append(request.article_id)
            await release.wait()
            return passthrough(request)

        flow, producer, acked, _ = make_flow(step, max_in_flight=3)
        admitting = asyncio.create_task(flow.admit([message(i) for i in range(8)]))
        await until(lambda: len(started) == 3, "three to start")
        await asyncio.sleep(0.05)
        assert len(started) == 3 and not admitting.done()  # the window waits for slots
        assert flow.runner.metrics.registry.get_sample_value("newsflow_messages_in_flight", {"stage": "fetcher"}) == 3
        release.set()
        for _ in range(100):
            producer.ack_all()
            await asyncio.sleep(0.01)
        await admitting
        await until(lambda: len(acked) == 8, "all eight")
        assert acked == [f"event@0/{i}" for i in range(8)]

    run(scenario())


def test_a_sync_step_sees_the_window_as_one_batch():
    batches = []

    def step_batch(requests):
        batches.append([r.article_id for r in requests])
        return [passthrough(r) for r in requests]

    async def scenario():
        producer, acked = Producer(), []
        stage = Stage(StageName.fetcher, TOPICS.ingest, TOPICS.fetched, passthrough, step_batch=step_batch)
        runner = StageRunner(stage, Settings(window_size=16), KafkaSettings(), stage_metrics("fetcher"), producer.send)
        flow = Flow(runner, 64, ack=acked.append, on_halt=lambda *a: None)
        await flow.admit([message(i) for i in range(10)])
        await until(lambda: len(producer.sent) == 10, "all produced")
        producer.ack_all()
        await until(lambda: len(acked) == 10, "all committable")

    run(scenario())
    assert batches == [[f"a{i}" for i in range(10)]]


def test_the_breaker_halts_the_flow_and_nothing_at_or_past_the_halted_message_is_committed():
    async def scenario():
        flow, producer, acked, halts = make_flow(lambda r: passthrough(r))
        flow.runner.breaker.max_consecutive = 3
        flow.runner.breaker.max_ratio = 0
        bad = [(Delivery("articles.ingest", 0, i, b"poison", b"not json"), f"event@0/{i}") for i in range(5)]
        await flow.admit(bad)
        for _ in range(50):
            producer.ack_all()
            await asyncio.sleep(0.01)
        assert [k for _, k in producer.sent] == [b"poison", b"poison"]  # two dead letters, the third would trip
        assert acked == ["event@0/0", "event@0/1"]
        assert len(halts) == 1 and isinstance(halts[0][0], CircuitOpen) and halts[0][1] == 2
        await flow.admit([message(9)])  # halted: nothing more is taken
        await asyncio.sleep(0.05)
        assert len(producer.sent) == 2
        for task in flow.tasks:
            task.cancel()

    run(scenario())
