"""Micro-batching of parse requests: concurrent messages share one encoder call.

While the NLU worker is busy, new requests queue up; when it is free it takes a batch of them and
parses them together (``parse_many``: one batched encoder pass). A lone request is parsed at once, so
single-message latency does not grow.

Failures are isolated per item: when a batched call raises, every text of that batch is parsed alone,
so only the caller whose text is at fault gets the error. A batch holds at most ``max_batch`` texts and
at most ``max_batch_chars`` characters (short messages are taken first), so a few maximum-length
messages can't make a normal customer wait for a whole batch of them. Each parse has a time budget
(``budget_s``): a caller whose parse has not finished in time gets :class:`ParseBusy` (HTTP 503) instead
of waiting without bound.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor
from typing import Any

from ..nlu.pipeline import NLUPipeline, ParseInputError, validate_text

log = logging.getLogger(__name__)


class ParseBusy(RuntimeError):
    """The parse did not finish within its time budget (the server is overloaded)."""


class _Lane:
    """One queue of parse requests served by one worker: concurrent requests share one encoder call."""

    def __init__(self, pipeline: NLUPipeline, executor: Executor, max_batch: int, max_batch_chars: int) -> None:
        self.pipeline = pipeline
        self.executor = executor
        self.max_batch = max_batch
        self.max_batch_chars = max_batch_chars
        self._pending: list[tuple[str, asyncio.Future[dict[str, Any]]]] = []
        self._running = False

    def submit(self, text: str, loop: asyncio.AbstractEventLoop) -> asyncio.Future[dict[str, Any]]:
        fut: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._pending.append((text, fut))
        if not self._running:
            self._running = True
            loop.create_task(self._drain())
        return fut

    def _take_batch(self) -> list[tuple[str, asyncio.Future[dict[str, Any]]]]:
        """The next batch: the shortest waiting texts first, within the text and character limits."""
        live = [p for p in self._pending if not p[1].done()]
        live.sort(key=lambda p: len(p[0]))  # stable: equal lengths keep arrival order
        batch: list[tuple[str, asyncio.Future[dict[str, Any]]]] = []
        chars = 0
        for item in live:
            if batch and (len(batch) >= self.max_batch or chars + len(item[0]) > self.max_batch_chars):
                break
            batch.append(item)
            chars += len(item[0])
        taken = {id(p[1]) for p in batch}
        self._pending = [p for p in live if id(p[1]) not in taken]
        return batch

    async def _run(self, texts: list[str]) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self.pipeline.parse_many, texts)

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = self._take_batch()
                if not batch:
                    continue
                try:
                    results = await self._run([t for t, _ in batch])
                except Exception:  # noqa: BLE001 - isolate: parse each text alone
                    await self._one_by_one(batch)
                    continue
                for (_, fut), result in zip(batch, results, strict=True):
                    if not fut.done():
                        fut.set_result(result)
        finally:
            self._running = False

    async def _one_by_one(self, batch: list[tuple[str, asyncio.Future[dict[str, Any]]]]) -> None:
        for text, fut in batch:
            if fut.done():
                continue
            try:
                (result,) = await self._run([text])
            except ParseInputError as exc:
                if not fut.done():
                    fut.set_exception(exc)
            except Exception as exc:  # noqa: BLE001 - only this caller's text fails
                log.warning("parse failed for one message: %s", type(exc).__name__)
                if not fut.done():
                    fut.set_exception(ParseInputError(f"message could not be processed ({type(exc).__name__})"))
            else:
                if not fut.done():
                    fut.set_result(result)


class ParseBatcher:
    """Async front of an :class:`NLUPipeline` that batches concurrent requests.

    With a ``long_executor``, messages longer than ``long_chars`` go to a lane of their own: a customer
    writing an ordinary message never queues behind someone else's maximum-length story (each lane has
    its own worker; the encoder runs them side by side).
    """

    def __init__(self, pipeline: NLUPipeline, executor: Executor, max_batch: int = 16,
                 max_batch_chars: int = 2400, budget_s: float = 30.0, long_executor: Executor | None = None,
                 long_chars: int = 200) -> None:
        """Parse with ``pipeline`` on ``executor`` (one worker), at most ``max_batch`` texts a call."""
        self.pipeline = pipeline
        self.budget_s = budget_s
        self.long_chars = long_chars
        self._lane = _Lane(pipeline, executor, max_batch, max_batch_chars)
        self._long = _Lane(pipeline, long_executor, max_batch, max_batch_chars) if long_executor else None

    async def parse(self, text: Any) -> dict[str, Any]:
        """Parse one message; invalid input raises ``ParseInputError`` for this caller only."""
        validate_text(text, self.pipeline.options.max_chars)
        lane = self._long if self._long is not None and len(text) > self.long_chars else self._lane
        fut = lane.submit(text, asyncio.get_running_loop())
        try:
            return await asyncio.wait_for(asyncio.shield(fut), self.budget_s)
        except TimeoutError as exc:
            fut.cancel()
            raise ParseBusy(f"the message could not be understood within {self.budget_s:g} s; "
                            "please send it again in a moment") from exc
