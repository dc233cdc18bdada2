"""spaCy tokenisation: ``spacy.blank('zh')`` with jieba for Chinese, ``spacy.blank('en')`` for English.

Both pipelines carry the ``bank_entities`` component, which puts the rule-based entities of
:mod:`bot.nlu.entities` on ``doc.ents``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache


@contextmanager
def _torch_hidden_from_thinc() -> Iterator[None]:
    """Let spaCy's import find no torch, unless torch is loaded already.

    thinc (under spaCy) imports torch at import time whenever it is installed, only to offer its torch
    wrappers, which the blank tokenizer pipelines here never use; that one import costs a serving process
    about 220 MB. A ``None`` entry in ``sys.modules`` makes ``import torch`` fail inside thinc, which then runs
    without torch support; the entry is removed right after, so bankbot's own torch imports (training, the
    ``torch`` encoder backend) load torch as usual. A process that imported torch before spaCy keeps it.
    """
    if "torch" in sys.modules:
        yield
        return
    sys.modules["torch"] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        if sys.modules.get("torch", False) is None:
            del sys.modules["torch"]


with _torch_hidden_from_thinc():
    import spacy
    from spacy.language import Language
    from spacy.tokens import Doc

from .entities import extract_entities  # noqa: E402

logging.getLogger("jieba").setLevel(logging.WARNING)


@Language.component("bank_entities")
def bank_entities(doc: Doc) -> Doc:
    """Add rule-based banking entities as ``doc.ents`` (spans snapped to token boundaries)."""
    spans = []
    last_end = -1
    for ent in extract_entities(doc.text):
        span = doc.char_span(ent.start, ent.end, label=ent.entity, alignment_mode="expand")
        if span is not None and span.start >= last_end:
            spans.append(span)
            last_end = span.end
    doc.ents = spans
    return doc


@cache
def get_nlp(lang: str) -> Language:
    """The spaCy pipeline for ``zh`` (jieba segmentation) or ``en``."""
    if lang == "zh":
        import jieba

        jieba.setLogLevel(logging.WARNING)
        nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    else:
        nlp = spacy.blank("en")
    nlp.add_pipe("bank_entities")
    return nlp


def tokenize(text: str, lang: str) -> list[str]:
    """Word tokens of ``text``; mixed and unknown text goes through the Chinese segmenter."""
    nlp = get_nlp("en" if lang == "en" else "zh")
    with nlp.select_pipes(disable=["bank_entities"]):
        return [t.text for t in nlp(text) if not t.is_space]
