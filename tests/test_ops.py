"""Structured JSON logs carry the conversation id; the parse timer records every call."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from bot.ops import JsonFormatter, Metrics, conversation_id


def test_json_log_line_has_conversation_id_and_instance() -> None:
    fmt = JsonFormatter("A")
    record = logging.LogRecord("bankbot.test", logging.INFO, __file__, 1, "turn handled in %s ms", (12,), None)
    token = conversation_id.set("cust-42")
    try:
        line = json.loads(fmt.format(record))
    finally:
        conversation_id.reset(token)
    assert line["conversation_id"] == "cust-42" and line["instance"] == "A"
    assert line["message"] == "turn handled in 12 ms" and line["level"] == "INFO"
    assert json.loads(fmt.format(record))["conversation_id"] is None


def test_parse_latency_is_recorded() -> None:
    metrics = Metrics()

    async def parse(text: Any) -> dict[str, Any]:
        return {"text": text}

    timed = metrics.timed_parse(parse)
    assert asyncio.run(timed("你好")) == {"text": "你好"}
    assert metrics.registry.get_sample_value("bankbot_nlu_parse_seconds_count") == 1.0
