"""Group commit for pledges: many callers, one writer per campaign.

A hot campaign takes thousands of pledges a second. Deciding and saving them
one transaction at a time serialises on the event table's lock; the desk
instead queues the pledges of each campaign and lets one writer thread take
whatever has arrived since its last save as the next batch
(`PledgeCommands.place_many`): one transaction, one table lock, every pledge
decided in arrival order against the same in-memory campaign. While a batch is
being written, the next one gathers, so batches grow with the load by themselves.

Every caller still gets its own answer: its `Written` (pledge id and the
position of its pledge's last event) or its own `DomainError`, exactly as if it
had called `PledgeCommands.place` at the moment its batch reached it. Between
processes, the version check on save is the guard: a batch that loses a race is
decided again from the store.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from queue import Empty, SimpleQueue
from uuid import UUID

from application.crowdfund import Crowdfund
from application.pledges import PledgeRequest, parse_pledge
from application.unit_of_work import Written
from domain.errors import DomainError, NotFoundError
from domain.input import parse_id
from domain.pledging import Pledging

# Writers of campaigns that went quiet stop after this long; the next pledge starts one.
IDLE_SECONDS = 30.0


class _Ticket:
    """One caller's pledge and the way back to it.

    A blocking caller waits on a bare lock (a fifth of the CPU of a
    `concurrent.futures.Future`, which matters at thousands a second);
    `submit` callers get a `Future`.
    """

    __slots__ = ("answer", "done", "outcome", "pledging")

    def __init__(self, pledging: Pledging, answer: Future[Written[UUID]] | None) -> None:
        self.pledging = pledging
        self.answer = answer
        self.outcome: Written[UUID] | BaseException | None = None
        self.done: threading.Lock | None = None
        if answer is None:
            self.done = threading.Lock()
            self.done.acquire()

    def settle(self, outcome: Written[UUID] | BaseException) -> None:
        if self.answer is not None:
            if isinstance(outcome, BaseException):
                self.answer.set_exception(outcome)
            else:
                self.answer.set_result(outcome)
            return
        assert self.done is not None
        self.outcome = outcome
        self.done.release()

    def wait(self, timeout: float | None) -> Written[UUID]:
        assert self.done is not None
        if not self.done.acquire(timeout=-1 if timeout is None else timeout):
            raise TimeoutError("the pledge was not decided in time; it may still be saved")
        outcome = self.outcome
        if isinstance(outcome, BaseException):
            raise outcome
        assert outcome is not None
        return outcome


_STOP = object()


class PledgeDesk:
    """Thread-safe group commit in front of `PledgeCommands.place_many`.

    `max_batch` bounds one transaction. `max_wait` (seconds) lets a writer wait
    for more pledges before saving a batch that is not full; the default 0
    saves at once, so a lone pledge is not delayed, and batches still form
    under load while the previous batch is being written.
    """

    def __init__(
        self, app: Crowdfund, *, max_batch: int = 1000, max_wait: float = 0.0,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        if max_batch < 1 or max_wait < 0:
            raise ValueError("max_batch must be at least 1 and max_wait not negative")
        self.app = app
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.idle_seconds = idle_seconds
        self._lanes: dict[UUID | None, _Lane] = {}
        self._lock = threading.Lock()
        self._closed = False

    # Callers -----------------------------------------------------------------------

    def pledge(
        self, backer_id: UUID | str, campaign_id: UUID | str, amount: object,
        idempotency_key: str, acknowledge_risk: bool = False, timeout: float | None = None,
    ) -> Written[UUID]:
        """Same contract as `PledgeCommands.place`: blocks until this pledge's batch is saved."""
        request = PledgeRequest(backer_id, campaign_id, amount, idempotency_key, acknowledge_risk)
        # Input checks need no aggregate: done on the caller's thread.
        ticket = _Ticket(parse_pledge(request), None)
        self._enqueue(ticket)
        return ticket.wait(timeout)

    def submit(self, request: PledgeRequest) -> Future[Written[UUID]]:
        """Queue a pledge; the future holds its `Written` or raises its `DomainError`.

        From asyncio: `await asyncio.wrap_future(desk.submit(request))`.
        """
        answer: Future[Written[UUID]] = Future()
        try:
            pledging = parse_pledge(request)
        except DomainError as error:
            answer.set_exception(error)
            return answer
        self._enqueue(_Ticket(pledging, answer))
        return answer

    def _enqueue(self, ticket: _Ticket) -> None:
        key = _lane_key(ticket.pledging.campaign_id)
        with self._lock:
            if self._closed:
                raise RuntimeError("the pledge desk is closed")
            lane = self._lanes.get(key)
            if lane is None:
                lane = self._lanes[key] = _Lane(self, key)
            lane.queue.put(ticket)

    # Lifecycle ---------------------------------------------------------------------

    def close(self, timeout: float | None = None) -> None:
        """Stop taking pledges; the writers save what is queued, then stop."""
        with self._lock:
            self._closed = True
            lanes = list(self._lanes.values())
        for lane in lanes:
            lane.queue.put(_STOP)
        for lane in lanes:
            lane.thread.join(timeout)

    def __enter__(self) -> PledgeDesk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _retire(self, lane: _Lane) -> bool:
        """An idle writer leaves, unless a pledge arrived meanwhile."""
        with self._lock:
            if not lane.queue.empty():
                return False
            if self._lanes.get(lane.key) is lane:
                del self._lanes[lane.key]
            return True


def _lane_key(campaign_id: UUID | str) -> UUID | None:
    """A campaign's writer; ids that name no campaign share one (their error comes
    from the same decision as any other pledge's, in its usual order)."""
    try:
        return parse_id(campaign_id, "campaign")
    except NotFoundError:
        return None


class _Lane:
    """One campaign's queue and its single writer thread."""

    def __init__(self, desk: PledgeDesk, key: UUID | None) -> None:
        self.desk = desk
        self.key = key
        self.queue: SimpleQueue[object] = SimpleQueue()
        self.thread = threading.Thread(
            target=self._run, name=f"pledge-desk-{key}", daemon=True
        )
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                first = self.queue.get(timeout=self.desk.idle_seconds)
            except Empty:
                if self.desk._retire(self):
                    return
                continue
            batch, stop = self._gather(first)
            if batch:
                self._write(batch)
            if stop:
                return

    def _gather(self, first: object) -> tuple[list[_Ticket], bool]:
        """What arrived so far, up to `max_batch`; waits up to `max_wait` for more."""
        if first is _STOP:
            return [], True
        assert isinstance(first, _Ticket)
        batch = [first]
        deadline = time.monotonic() + self.desk.max_wait
        while len(batch) < self.desk.max_batch:
            try:
                remaining = deadline - time.monotonic()
                item = (
                    self.queue.get(timeout=remaining) if remaining > 0
                    else self.queue.get_nowait()
                )
            except Empty:
                break
            if item is _STOP:
                return batch, True
            assert isinstance(item, _Ticket)
            batch.append(item)
        return batch, False

    def _write(self, batch: Sequence[_Ticket]) -> None:
        try:
            outcomes = self.desk.app.pledges.place_many([t.pledging for t in batch])
        except BaseException as error:  # the store is down, a bug: every caller hears of it
            for ticket in batch:
                ticket.settle(error)
            if not isinstance(error, Exception):
                raise
            return
        for ticket, outcome in zip(batch, outcomes, strict=True):
            ticket.settle(outcome)
