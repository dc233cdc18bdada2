"""Micro-batching of parse requests: concurrent messages share one encoder call.

While the NLU worker is busy, new requests queue up; when it is free it takes all of them (up to
``max_batch``) and parses them together (``parse_many``: one batched encoder pass, parallel across
texts). A lone request is parsed at once, so single-message latency does not grow.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from typing import Any

from ..nlu.pipeline import NLUPipeline, validate_text


class ParseBatcher:
    """Async front of an :class:`NLUPipeline` that batches concurrent requests."""

    def __init__(self, pipeline: NLUPipeline, executor: Executor, max_batch: int = 16) -> None:
        """Parse with ``pipeline`` on ``executor`` (one worker), at most ``max_batch`` texts a call."""
        self.pipeline = pipeline
        self.executor = executor
        self.max_batch = max_batch
        self._pending: list[tuple[str, asyncio.Future[dict[str, Any]]]] = []
        self._running = False

    async def parse(self, text: Any) -> dict[str, Any]:
        """Parse one message; invalid input raises ``ParseInputError`` for this caller only."""
        validate_text(text, self.pipeline.options.max_chars)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._pending.append((text, fut))
        if not self._running:
            self._running = True
            loop.create_task(self._drain())
        return await fut

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch:]
                texts = [t for t, _ in batch]
                try:
                    results = await loop.run_in_executor(self.executor, self.pipeline.parse_many, texts)
                except Exception as exc:  # noqa: BLE001 - every waiting caller gets the error
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                for (_, fut), result in zip(batch, results, strict=True):
                    if not fut.done():
                        fut.set_result(result)
        finally:
            self._running = False
