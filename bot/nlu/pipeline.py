"""The NLU pipeline behind ``bankbot parse`` and ``POST /model/parse``.

``parse(text)`` returns Rasa's parse result (``text``, ``intent``, ``intent_ranking``,
``entities``) plus ``category``, ``categories``, ``language``, ``care``, ``multi_intent`` and
``fallback``. Card, account, phone and ID numbers are masked in every field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Settings
from ..inputs import text_problem
from .data import CATEGORIES
from .encoder import make_encoder
from .entities import extract_entities, mask_sensitive
from .language import detect_language
from .model import CATEGORY_LABELS, NLUModel, featurize
from .normalize import clean_whitespace, to_halfwidth, to_simplified

RANKING_SIZE = 10
#: most clauses of one message scored separately (bounds the work a maximum-length message causes)
MAX_SEGMENTS = 8
OUT_OF_SCOPE = "out_of_scope"
_SEGMENT_SPLIT = re.compile(
    r"(?:[。！？!?；;]+|[，,]\s*(?=还有|另外|顺便|以及|同时|然后|再帮我|再问|and\b|also\b|plus\b)|"
    r"(?<=[^，,\s])\s*(?:还有就是|还有|另外|顺便问一下|顺便问下|顺便|以及|同时)|\band also\b|\balso\b)",
    re.IGNORECASE,
)


class ParseInputError(ValueError):
    """The message can't be parsed (empty, too long, not text); the message says why."""


@dataclass
class ParseOptions:
    """Thresholds used by the pipeline."""

    fallback_threshold: float = 0.3
    multi_intent_threshold: float = 0.6
    max_chars: int = 2000


def validate_text(text: Any, max_chars: int) -> str:
    """Return the text if it is parseable, else raise :class:`ParseInputError` with a clear reason."""
    if not isinstance(text, str):
        raise ParseInputError(f"'text' must be a string, got {type(text).__name__}")
    if len(text) > max_chars:
        raise ParseInputError(f"message is too long: {len(text)} characters (at most {max_chars})")
    if "\x00" in text or sum(ch == "\ufffd" for ch in text) > max(3, len(text) // 4):
        raise ParseInputError("message is not readable text (binary data)")
    problem = text_problem(text)
    if problem:
        raise ParseInputError(f"message is not plain text: {problem}")
    if not clean_whitespace(text):
        raise ParseInputError("message is empty")
    return text


def split_segments(text: str) -> list[str]:
    """Clauses of a message that may ask several things (``...，还有...``)."""
    parts = [p.strip(" ，,、") for p in _SEGMENT_SPLIT.split(text)]
    return [p for p in parts if len(p) >= 2]


class NLUPipeline:
    """Normalisation, language, entities, encoder and heads, put together."""

    def __init__(self, model: NLUModel, encoder: Any, options: ParseOptions | None = None) -> None:
        """Use a loaded model and an encoder of the same family."""
        self.model = model
        self.encoder = encoder
        self.options = options or ParseOptions()

    @classmethod
    def from_settings(cls, settings: Settings, model_path: str | Path | None = None) -> "NLUPipeline":
        """Load the configured model and encoder."""
        from .registry import resolve_model

        path = Path(model_path) if model_path else resolve_model(settings)
        model = NLUModel.load(path)
        encoder = make_encoder(settings.encoder_backend, settings.models_dir, settings.encoder_threads or None)
        threshold = settings.fallback_threshold
        if threshold is None:
            threshold = float(model.config.get("fallback_threshold", 0.3))
        opts = ParseOptions(threshold, max(settings.confirm_threshold, 0.5), settings.max_message_chars)
        pipe = cls(model, encoder, opts)
        pipe.model_path = str(path)
        return pipe

    model_path: str = ""

    #: texts the warm-up parses: Chinese (jieba's dictionary, spaCy zh), English, and a mixed clause split
    WARM_UP_TEXTS = ("你好，怎么修改登录密码", "how do I reset my password", "查一下余额，还有信用卡账单多少")

    def warm_up(self) -> float:
        """Load and exercise everything a first request needs (tokenizers, encoder, heads); seconds taken.

        spaCy's ``blank('zh')`` with jieba loads its dictionary lazily (about 1.6 s on a 2-core machine), and
        the encoder and heads allocate on their first call: a server calls this before it reports ready, so
        the first customer after a restart is served at steady-state speed.
        """
        import time

        from .tokenizer import get_nlp

        started = time.perf_counter()
        for lang in ("zh", "en"):
            get_nlp(lang)
        self.parse_many(list(self.WARM_UP_TEXTS))
        for text in self.WARM_UP_TEXTS:
            self.parse(text)
        return time.perf_counter() - started

    # ------------------------------------------------------------------ public
    def parse(self, text: Any) -> dict[str, Any]:
        """Parse one message (raises :class:`ParseInputError` on unusable input)."""
        return self.parse_many([text])[0]

    def parse_many(self, texts: Sequence[Any]) -> list[dict[str, Any]]:
        """Parse a batch of messages; every text must be valid."""
        clean = [validate_text(t, self.options.max_chars) for t in texts]
        if not clean:
            return []
        # a long message is scored by clause; at most MAX_SEGMENTS clauses, each capped at 512 tokens
        seg_lists = [split_segments(t)[:MAX_SEGMENTS] for t in clean]
        extra = [s for segs in seg_lists if len(segs) > 1 for s in segs]
        feat = featurize(self.encoder, clean + extra)
        probs = self.model.predict(feat)
        results = []
        cursor = len(clean)
        for i, text in enumerate(clean):
            res = self._result(text, probs, i)
            segs = seg_lists[i]
            if len(segs) > 1:
                rows = list(range(cursor, cursor + len(segs)))
                cursor += len(segs)
                res["multi_intent"] = self._multi(segs, probs, rows)
            results.append(res)
        return results

    # ------------------------------------------------------------------ internals
    def _result(self, text: str, probs: dict[str, np.ndarray], row: int) -> dict[str, Any]:
        p_int = probs["intent"][row]
        order = np.argsort(-p_int)[:RANKING_SIZE]
        ranking = [{"name": self.model.intents[j], "confidence": round(float(p_int[j]), 4)} for j in order]
        top_name, top_conf = ranking[0]["name"], float(p_int[order[0]])
        p_cat = probs["category"][row]
        categories = {c: round(float(p_cat[CATEGORY_LABELS.index(c)]), 4) for c in CATEGORIES}
        fallback = top_conf < self.options.fallback_threshold
        if fallback:
            intent = {"name": OUT_OF_SCOPE, "confidence": round(1.0 - top_conf, 4)}
            category = None
        else:
            intent = {"name": top_name, "confidence": round(top_conf, 4)}
            cat_idx = int(np.argmax(p_cat))
            category = None if CATEGORY_LABELS[cat_idx] == "none" else CATEGORY_LABELS[cat_idx]
            if self.model.intent_category.get(top_name) is None and top_name in (OUT_OF_SCOPE,):
                category = None
        care = {"elderly": 0.0, "distressed": 0.0}
        sentiment = {"positive": 0.0}
        if "care" in probs:
            c = probs["care"][row]
            care = {"elderly": round(float(c[0]), 4), "distressed": round(float(c[1]), 4)}
            sentiment = {"positive": round(float(c[2]), 4)}
        # offsets refer to the original text; simplification keeps lengths for entity matching
        simplified = to_simplified(to_halfwidth(text))
        ent_source = simplified if len(simplified) == len(text) else to_halfwidth(text)
        masked = mask_sensitive(text)
        entities = [e.as_dict(masked) for e in extract_entities(ent_source)]
        return {
            "text": masked,
            "intent": intent,
            "intent_ranking": ranking,
            "entities": entities,
            "category": category,
            "categories": categories,
            "language": detect_language(simplified),
            "care": care,
            "sentiment": sentiment,
            "multi_intent": [],
            "fallback": fallback,
        }

    def _multi(self, segs: list[str], probs: dict[str, np.ndarray], rows: list[int]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        seen: set[str] = set()
        for seg, r in zip(segs, rows, strict=False):
            j = int(np.argmax(probs["intent"][r]))
            name, conf = self.model.intents[j], float(probs["intent"][r][j])
            cat = self.model.intent_category.get(name)
            if cat is None or conf < self.options.multi_intent_threshold or name in seen:
                continue
            seen.add(name)
            found.append({"name": name, "confidence": round(conf, 4), "category": cat, "text": mask_sensitive(seg)})
        return found if len(found) > 1 else []


def to_json_line(result: dict[str, Any]) -> str:
    """One parse result as a JSON line (UTF-8, not ASCII-escaped)."""
    return json.dumps(result, ensure_ascii=False)
