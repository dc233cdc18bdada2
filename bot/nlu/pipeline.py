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
from .care_cues import distressed_probability, elderly_probability
from .data import CATEGORIES
from .encoder import EncoderUnavailable, make_encoder
from .entities import extract_entities, mask_sensitive
from .institutions import asks_about_provider, find_institution
from .language import detect_language
from .model import CATEGORY_LABELS, NLUModel, featurize
from .multi import MultiOptions, best_split, candidate_splits, is_request, looks_mixed
from .normalize import clean_whitespace, to_halfwidth, to_simplified
from .serve_cache import ServeCache

RANKING_SIZE = 10
#: most clauses of one message scored separately (bounds the work a maximum-length message causes)
MAX_SEGMENTS = 8
OUT_OF_SCOPE = "out_of_scope"
_SEGMENT_SPLIT = re.compile(
    r"(?:[。！？!?；;]+|(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])|[，,]\s*(?=还有|另外|顺便|以及|同时|然后|再帮我|再问|and\b|also\b|plus\b)|"
    r"(?<=[^，,\s])\s*(?:还有就是|还有|另外|顺便问一下|顺便问下|顺便|以及|同时)|\band also\b|\balso\b)",
    re.IGNORECASE,
)


#: small-talk intents that never carry the request of a long message
_CHAT_INTENTS = {"greet", "goodbye", "thanks", "affirm", "deny"}
#: a gazetteer hit turns the answer to out_of_scope when out_of_scope has this share of the top confidence
INSTITUTION_OOS_SHARE = 0.25
#: an intent of the decided category replaces the topic intent when it has this share of its confidence
CONSISTENT_SWAP_SHARE = 0.35
_CLAUSE_SPLIT = re.compile(r"[。！？!?；;，,…~～\n]+|(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])")
#: messages at least this long are also scored clause by clause
LONG_MESSAGE_CHARS = 24
#: a question about the rule in general ("一般要多久", "有什么区别", "in general") ...
RULE_CUE = re.compile(
    r"一般|通常|规则|规定是|有什么规定|怎么算|如何计算|怎么计算|按什么|什么比例|(?:有|是)(?:什么|啥)(?:区别|不同|不一样)|"
    r"跟.{1,8}(?:有啥|有什么)(?:区别|不一样|不同)|什么条件|(?:啥|什么)门槛|门槛(?:是)?多少|流程是|"
    r"\bin general\b|\bgenerally\b|\busually\b|\bnormally\b|\btypically\b|difference between|"
    r"what(?:'s| is) the (?:rule|process|policy|fee rule)|how (?:is|are) (?:\w+ ){0,3}calculated|qualify for|"
    r"requirements? for", re.IGNORECASE)
#: ... unless it is about the customer's own account, card or transaction ("我的", "我这张卡", "my", "I")
OWN_CUE = re.compile(r"我的|我这|我那|我家|我今|我刚|我昨|我上|我周|我前|我本|帮我|给我|把我|替我|"
                     r"\bmy\b|\bmine\b|\bme\b|\bI(?:'m|'ve|'d)?\b", re.IGNORECASE)
#: the category head's consultation probability needed before a rule cue moves the category there
RULE_CUE_MIN_SHARE = 0.02


#: a question about the state of the customer's own thing: "扣了没有", "设置好了没", "还剩几期", "did my ..."
STATUS_CUE = re.compile(
    r"(?:了|好|完|到|过|来|出)(?:没有?|吗|没呢)|(?:到|扣|批|寄|收)没(?:到|扣|批|寄|收)|还剩(?:几|多少)|剩(?:几|多少)期|"
    r"是哪(?:张|个|一张)|\b(?:did|has|have|was|were) (?:my|the money|the payment)\b|\b(?:is|are) my\b.*\byet\b|"
    r"\bleft on my\b|\bstatus of my\b|\bwhich (?:card|account) (?:is|was) (?:my|linked)\b", re.IGNORECASE)
#: the category head's inquiry probability needed before a status cue moves the category there
STATUS_CUE_MIN_SHARE = 0.05


def is_status_question(text: str) -> bool:
    """A question about where the customer's own thing stands (own data: inquiry), not a rule or an action."""
    plain = to_simplified(to_halfwidth(text))
    return bool(STATUS_CUE.search(plain)) and bool(OWN_CUE.search(plain)) and not RULE_CUE.search(plain)


def is_rule_question(text: str) -> bool:
    """A question about how a rule works in general (no sign that it is about the customer's own data)."""
    plain = to_simplified(to_halfwidth(text))
    return bool(RULE_CUE.search(plain)) and not OWN_CUE.search(plain)


def split_clauses(text: str) -> list[str]:
    """Clauses of a long message (punctuation or spaces between Chinese words); [] for short ones."""
    if len(text) < LONG_MESSAGE_CHARS:
        return []
    parts = [p.strip() for p in _CLAUSE_SPLIT.split(text)]
    parts = [p for p in parts if len(p) >= 2]
    if len(parts) > MAX_SEGMENTS:
        # the opening (who, what happened) and the end, where a story's request usually is
        parts = parts[:2] + parts[-(MAX_SEGMENTS - 2):]
    return parts if len(parts) > 1 else []


class ParseInputError(ValueError):
    """The message can't be parsed (empty, too long, not text); the message says why."""


@dataclass
class ParseOptions:
    """Thresholds used by the pipeline."""

    fallback_threshold: float = 0.3
    multi_intent_threshold: float = 0.6
    max_chars: int = 2000
    #: the split search for two requests without a connector (:mod:`bot.nlu.multi`)
    multi: MultiOptions = MultiOptions()


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
    return [p for p in parts if len(p) >= 2][:MAX_SEGMENTS]


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
        backend = settings.serve_encoder_backend or str(model.config.get("encoder", {}).get("backend") or "") \
            or settings.encoder_backend
        encoder = make_encoder(backend, settings.models_dir, settings.encoder_threads or None)
        trained_on = str(model.config.get("encoder", {}).get("identity") or "")
        serving = str(getattr(encoder, "identity", ""))
        if trained_on and not settings.serve_encoder_backend and serving != trained_on:
            raise EncoderUnavailable(
                f"model {path} was trained on the {backend} encoder {trained_on}, but the one under "
                f"{settings.models_dir} is now {serving or 'missing'}: retrain it "
                f"(`bankbot train --encoder-backend {backend}`)"
            )
        if settings.encoder_cache_size > 0 and model.known_texts is not None:
            encoder = ServeCache(encoder, model.known_texts, settings.encoder_cache_size)
        threshold = settings.fallback_threshold
        if threshold is None:
            threshold = float(model.config.get("fallback_threshold", 0.3))
        opts = ParseOptions(threshold, max(settings.confirm_threshold, 0.5), settings.max_message_chars)
        pipe = cls(model, encoder, opts)
        pipe.model_path = str(path)
        return pipe

    model_path: str = ""

    #: texts the warm-up parses: Chinese (jieba's dictionary, spaCy zh), English, and a mixed clause split
    WARM_UP_TEXTS = ("你好，怎么修改登录密码", "how do I reset my password", "查一下余额，还有信用卡账单多少",
                     "xiugai mima", "查余鹅")

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
        seg_lists = [split_segments(t) for t in clean]
        clause_lists = [split_clauses(t) for t in clean]
        extra: list[str] = []
        for segs, clauses in zip(seg_lists, clause_lists, strict=True):
            extra += (segs if len(segs) > 1 else []) + clauses
        feat = featurize(self.encoder, clean + extra)
        probs = self.model.predict(feat)
        results = []
        cursor = len(clean)
        for i, text in enumerate(clean):
            segs = seg_lists[i]
            seg_rows = list(range(cursor, cursor + len(segs))) if len(segs) > 1 else []
            cursor += len(seg_rows)
            clause_rows = list(range(cursor, cursor + len(clause_lists[i])))
            cursor += len(clause_rows)
            row = self._request_row(probs, i, clause_rows)
            res = self._result(text, probs, row, care_row=i)
            if seg_rows:
                res["multi_intent"] = self._multi(segs, probs, seg_rows)
            results.append(res)
        self._split_search(clean, results, probs["intent"][: len(clean)])
        return results

    def _split_search(self, texts: list[str], results: list[dict[str, Any]], p_whole: np.ndarray) -> None:
        """Find two requests without a connector in the messages whose prediction looks mixed
        (one more encoder batch, for those messages only)."""
        opts = self.options.multi
        intents, cats = self.model.intents, self.model.intent_category
        jobs: list[tuple[int, list[tuple[str, str]]]] = []
        for i, text in enumerate(texts):
            if results[i]["multi_intent"] or results[i]["fallback"]:
                continue
            if not looks_mixed(p_whole[i], intents, cats, opts):
                continue
            han = None
            if " " not in text.strip():
                from .tokenizer import tokenize

                han = tokenize(text, "zh")
            halves = candidate_splits(text, opts, han)
            if halves:
                jobs.append((i, halves))
        if not jobs:
            return
        flat = [h for _, halves in jobs for pair in halves for h in pair]
        p = self.model.predict(featurize(self.encoder, flat))["intent"]
        cursor = 0
        for i, halves in jobs:
            n = len(halves)
            block = p[cursor : cursor + 2 * n]
            cursor += 2 * n
            found = best_split(halves, block[0::2], block[1::2], intents, cats, opts, p_whole[i])
            if found is None:
                continue
            k, left, cl, right, cr = found
            results[i]["multi_intent"] = [
                {"name": left, "confidence": round(cl, 4), "category": cats.get(left),
                 "text": mask_sensitive(halves[k][0])},
                {"name": right, "confidence": round(cr, 4), "category": cats.get(right),
                 "text": mask_sensitive(halves[k][1])},
            ]

    def _request_row(self, probs: dict[str, np.ndarray], row: int, clause_rows: list[int]) -> int:
        """The row that carries the request: the whole message, or for a long story the clause
        whose prediction is a confident request (later clauses preferred among near-equals)."""
        if not clause_rows:
            return row
        p = probs["intent"]
        oos = self.model.intents.index(OUT_OF_SCOPE) if OUT_OF_SCOPE in self.model.intents else -1
        top = int(np.argmax(p[row]))
        if top != oos and float(p[row][top]) >= max(self.options.fallback_threshold, 0.5):
            return row
        best, best_score = row, float(p[row][top]) if top != oos else 0.0
        for k, r in enumerate(clause_rows):
            j = int(np.argmax(p[r]))
            name = self.model.intents[j]
            if j == oos or name in _CHAT_INTENTS:
                continue
            score = float(p[r][j]) + 0.02 * k
            if float(p[r][j]) >= self.options.fallback_threshold and score > best_score:
                best, best_score = r, score
        return best

    # ------------------------------------------------------------------ internals
    def _result(self, text: str, probs: dict[str, np.ndarray], row: int, care_row: int | None = None) -> dict[str, Any]:
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
        # offsets refer to the original text; simplification keeps lengths for entity matching
        simplified = to_simplified(to_halfwidth(text))
        institution = find_institution(simplified)
        if institution and not fallback and intent["name"] != OUT_OF_SCOPE and OUT_OF_SCOPE in self.model.intents:
            p_oos = float(p_int[self.model.intents.index(OUT_OF_SCOPE)])
            if p_oos >= INSTITUTION_OOS_SHARE * top_conf \
                    or asks_about_provider(simplified, institution):
                intent = {"name": OUT_OF_SCOPE, "confidence": round(p_oos, 4)}
                category = None
        if category is not None and self.model.intent_category.get(str(intent["name"])) not in (None, category):
            intent = self._consistent_intent(p_int, category, intent)
        if category in ("consultation", "operation") and is_status_question(text) \
                and categories["inquiry"] >= STATUS_CUE_MIN_SHARE:
            # where the customer's own card, fee or setting stands: their own data, on the same topic
            category = "inquiry"
        elif category not in (None, "consultation") and is_rule_question(text) \
                and categories["consultation"] >= RULE_CUE_MIN_SHARE:
            # the customer asks how the rule works, not about their own data: consultation on the same
            # topic (the topic intent stays; ``topic_category`` tells the dialogue the pair differs)
            category = "consultation"
        topic = self.model.intent_category.get(str(intent["name"]))
        if category in ("inquiry", "operation") and topic == "value_added":
            # points, offers, wealth and VIP perks are value-added services even when the customer asks about
            # their own (how many points I have) or asks to act (redeem them); only a rule question leaves it
            category = "value_added"
        care = {"elderly": 0.0, "distressed": 0.0}
        sentiment = {"positive": 0.0}
        if "care" in probs:
            c = probs["care"][row if care_row is None else care_row]
            care = {"elderly": round(elderly_probability(float(c[0]), simplified), 4),
                    "distressed": round(distressed_probability(float(c[1]), simplified), 4)}
            sentiment = {"positive": round(float(c[2]), 4)}
        ent_source = simplified if len(simplified) == len(text) else to_halfwidth(text)
        masked = mask_sensitive(text)
        entities = [e.as_dict(masked) for e in extract_entities(ent_source)]
        if institution:
            entities.append({"entity": "institution", "start": institution.start, "end": institution.end,
                             "value": institution.name, "text": institution.text, "confidence_entity": 1.0,
                             "extractor": "InstitutionGazetteer"})
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
            "topic_category": self.model.intent_category.get(str(intent["name"])),
            "other_institution": ({"name": institution.name, "text": institution.text}
                                  if institution and intent["name"] == OUT_OF_SCOPE else None),
        }

    def _consistent_intent(self, p_int: np.ndarray, category: str, intent: dict[str, Any]) -> dict[str, Any]:
        """When the category head overrules the topic intent's category (a rule question about bills),
        take the best intent of that category if it is a plausible reading; otherwise keep the topic
        intent (``topic_category`` then tells the dialogue the pair differs from the default)."""
        best_j, best_p = -1, 0.0
        for j, name in enumerate(self.model.intents):
            if self.model.intent_category.get(name) == category and float(p_int[j]) > best_p:
                best_j, best_p = j, float(p_int[j])
        if best_j >= 0 and best_p >= CONSISTENT_SWAP_SHARE * float(intent["confidence"]):
            return {"name": self.model.intents[best_j], "confidence": round(best_p, 4)}
        return intent

    def _multi(self, segs: list[str], probs: dict[str, np.ndarray], rows: list[int]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        seen: set[str] = set()
        for seg, r in zip(segs, rows, strict=False):
            j = int(np.argmax(probs["intent"][r]))
            name, conf = self.model.intents[j], float(probs["intent"][r][j])
            cat = self.model.intent_category.get(name)
            if not is_request(name, self.model.intent_category) or conf < self.options.multi_intent_threshold \
                    or name in seen:
                continue
            seen.add(name)
            found.append({"name": name, "confidence": round(conf, 4), "category": cat, "text": mask_sensitive(seg)})
        return found if len(found) > 1 else []


def to_json_line(result: dict[str, Any]) -> str:
    """One parse result as a JSON line (UTF-8, not ASCII-escaped)."""
    return json.dumps(result, ensure_ascii=False)
