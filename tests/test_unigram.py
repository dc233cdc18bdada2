"""nlu/unigram.py gives exactly HF ``tokenizers``' ids for e5's tokenizer.json, and caches itself safely.

HF ``tokenizers`` is the reference here only: serving no longer loads it.
"""

from __future__ import annotations

import csv
import json
import random
import shutil
import subprocess
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
from tokenizers import Tokenizer, models, pre_tokenizers

from bot.nlu.encoder import MAX_TOKENS, E5Text, default_cache_dir, ensure_converted
from bot.nlu.external import datasets_dir
from bot.nlu.unigram import CACHE_NAME, UnigramTokenizer, UnsupportedTokenizer, cache_path

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def e5_json(models_dir: Path) -> Path:
    """The e5 tokenizer.json of the session's encoder cache (read only)."""
    return ensure_converted(default_cache_dir(models_dir)) / "tokenizer.json"


@pytest.fixture(scope="module")
def hf(e5_json: Path) -> Tokenizer:
    return Tokenizer.from_file(str(e5_json))


@pytest.fixture(scope="module")
def ours(e5_json: Path) -> UnigramTokenizer:
    return UnigramTokenizer.from_json(e5_json)


class _Text(E5Text):
    """E5Text over a given tokenizer, with the encoder cache's normalisation table and special ids."""

    def __init__(self, tokenizer: UnigramTokenizer, cache: Path) -> None:
        norm = json.loads((cache / "normalization.json").read_text())
        special = json.loads((cache / "special_tokens.json").read_text())
        self.tokenizer = tokenizer
        self._table = str.maketrans({int(k): v for k, v in norm.items()})
        self.bos, self.eos, self.pad = special["bos"], special["eos"], special["pad"]


def _assert_same(hf: Tokenizer, ours: UnigramTokenizer, e5_json: Path, texts: list[str]) -> None:
    """Raw ids and E5Text's ids (normaliser, ``query: ``, ``<s>``/``</s>``, 512 cap) match HF for every text."""
    text = _Text(ours, e5_json.parent)
    norm = [text.normalize("query: " + t) for t in texts]
    for batch in (texts, norm):
        ref = [e.ids for e in hf.encode_batch(batch, add_special_tokens=False)]
        got = [ours.encode(t) for t in batch]
        bad = [(t, r, g) for t, r, g in zip(batch, ref, got, strict=True) if g != r]
        assert not bad, f"{len(bad)} of {len(batch)} differ, first: {bad[0]!r}"
    ref_e5 = [[text.bos, *e.ids[: MAX_TOKENS - 2], text.eos] for e in hf.encode_batch(norm, add_special_tokens=False)]
    assert [text.token_ids(t) for t in texts] == ref_e5


# --------------------------------------------------------------------------- the texts
def _yaml_strings(node: object) -> Iterator[str]:
    if isinstance(node, str):
        yield node
        for line in node.splitlines():
            line = line.strip()
            yield line[2:] if line.startswith("- ") else line
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from _yaml_strings(k)
            yield from _yaml_strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _yaml_strings(v)


def project_texts() -> list[str]:
    """Every string (and every example line) in data/nlu, data/test and data/care."""
    out: set[str] = set()
    for folder in ("nlu", "test", "care"):
        for path in sorted((ROOT / "data" / folder).rglob("*")):
            if path.suffix in (".yml", ".yaml"):
                out.update(_yaml_strings(yaml.safe_load(path.read_text(encoding="utf-8"))))
            elif path.suffix == ".md":
                out.update(path.read_text(encoding="utf-8").splitlines())
    return sorted(out)


def public_texts() -> list[str]:
    """BANKING77 train and all CLINC150 splits (empty if the datasets are absent)."""
    out: set[str] = set()
    b77 = datasets_dir() / "banking77" / "train.csv"
    if b77.is_file():
        with b77.open(encoding="utf-8") as fh:
            out.update(r["text"] for r in csv.DictReader(fh))
    clinc = datasets_dir() / "clinc150" / "data_full_train_val.json"
    if clinc.is_file():
        for rows in json.loads(clinc.read_text(encoding="utf-8")).values():
            out.update(t for t, _ in rows)
    return sorted(out)


ADVERSARIAL = [
    "", " ", "  ", "     ", "\u2581", "\u2581\u2581", "\u2581 \u2581", " leading", "trailing ", "a  b   c",
    "\t", "\n", "\r\n", "a\tb\nc", "\u3000", "ｆｕｌｌ　ｗｉｄｔｈ　１２３", "ＡＢＣ！？", "🙂🙂🙂", "👨‍👩‍👧‍👦", "🏳️‍🌈",
    "\U0001f9ff\U0001faf6", "𠀀𠀁𠀂", "𪚥𪚥", "龘靐齉", "e\u0301\u0302\u0303", "\u0301", "a\u200bb\u200dc", "\ufeffhi",
    "\x00", "\x01\x02\x03", "\x7f", "\ud7ff", "\ue000\uf8ff", "\U0010fffd", "<s>", "</s>", "<unk>", "<pad>",
    "<s><s></s>", "x<unk>y", "\x01<unk>\x02", "<unk>\x01", "\u2581<unk>", "信用卡bill什么时候出", "Ünïcödé café naïve",
    "مرحبا بالعالم", "שלום", "Привет, мир", "こんにちは世界", "안녕하세요", "สวัสดีครับ", "नमस्ते", "ΑΒΓ αβγ",
    "1234567890" * 20, "!!!???。。。，，，", "http://example.com/a?b=c&d=e", "卡号6222 0000 1234 5678",
    "a" * 3000, "啊" * 3000, "🙂" * 600, ("我想 查余额 " * 300).strip(), "\U000e0001\U000e0067",
]


def generated_texts(seed: int = 7) -> list[str]:
    """Every BMP character (64 at a time), and random mixtures of scripts, spaces and rare characters."""
    out = []
    bmp = [chr(c) for c in range(0x20, 0x10000) if not 0xD800 <= c < 0xE000]
    out += ["".join(bmp[i : i + 64]) for i in range(0, len(bmp), 64)]
    out += [c for c in bmp if unicodedata.category(c) in ("Cc", "Cf", "Zs", "Mn")]
    rng = random.Random(seed)
    pools = ["abcdefghij XYZ", "余额信用卡转账密码挂失", "ｆｕｌｌ　ｗｉｄｔｈ", "🙂💳🏦", "\u2581 \t\n\u3000",
             "\u0301\u0308", "𠀀𪚥\U0010fffd\x00\x01", "<unk><s>", "абвгд", "ـعربي"]
    for _ in range(2000):
        pool = "".join(rng.sample(pools, rng.randint(1, len(pools))))
        out.append("".join(rng.choice(pool) for _ in range(rng.randint(0, 80))))
    out += ["".join(chr(rng.randint(0x20, 0x2FFFF)) for _ in range(200)).encode("utf-8", "replace").decode("utf-8",
            "replace") for _ in range(100)]
    return [t.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for t in out]


# --------------------------------------------------------------------------- exactness against HF
def test_matches_hf_on_project_data(hf: Tokenizer, ours: UnigramTokenizer, e5_json: Path) -> None:
    texts = project_texts()
    assert len(texts) > 1000
    _assert_same(hf, ours, e5_json, texts)


def test_matches_hf_on_public_datasets(hf: Tokenizer, ours: UnigramTokenizer, e5_json: Path) -> None:
    texts = public_texts()
    if not texts:
        pytest.skip(f"public datasets absent under {datasets_dir()} (set BANKBOT_DATASETS)")
    _assert_same(hf, ours, e5_json, texts)


def test_matches_hf_on_adversarial_strings(hf: Tokenizer, ours: UnigramTokenizer, e5_json: Path) -> None:
    _assert_same(hf, ours, e5_json, ADVERSARIAL + generated_texts())


def test_unknown_characters_fuse_into_one_unk(ours: UnigramTokenizer) -> None:
    # the reason the adversarial strings above are meaningful: these really take the unknown path
    unk = ours.unk_id
    ids = ours.encode("\x01\x02\x03")
    assert unk is not None and ids.count(unk) == 1, ids
    assert ours.encode("") == []


def test_long_input_is_cut_by_e5text_only(ours: UnigramTokenizer, e5_json: Path) -> None:
    text = _Text(ours, e5_json.parent)
    ids = text.token_ids("余额 " * 2000)
    assert len(ids) == MAX_TOKENS and ids[0] == text.bos and ids[-1] == text.eos


# --------------------------------------------------------------------------- other configurations, tiny vocabularies
TINY = [("<unk>", 0.0), ("\u2581", -2.0), ("a", -1.0), ("b", -1.5), ("ab", -2.5), ("\u2581a", -2.5), ("c", -3.0),
        ("bc", -4.0), ("abc", -4.5), ("\u2581ab", -4.5), ("xy", -1.0), ("yx", -1.0), ("x", -3.0),
        # no "y", and the unknown's score (min - 10 = -30) decides: in "yzw" [unk, "zw"] (-30.1) beats
        # ["yz", "w"] (-30.5); in "yzv" ["yz", "v"] (-29.7) beats [unk, "zv"] (-30.1)
        ("yz", -20.0), ("z", -3.0), ("w", -10.5), ("zw", -0.1), ("v", -9.7), ("zv", -0.1)]


def _tiny_json(path: Path, prepend_scheme: str, split: bool, vocab: list[tuple[str, float]] = TINY) -> Path:
    tok = Tokenizer(models.Unigram(vocab, unk_id=0, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme=prepend_scheme, split=split)
    tok.save(str(path))
    return path


@pytest.mark.parametrize("prepend_scheme", ["always", "first", "never"])
@pytest.mark.parametrize("split", [True, False])
def test_matches_hf_with_tiny_vocabularies(tmp_path: Path, prepend_scheme: str, split: bool) -> None:
    """Ties, multi-character pieces without their first character (``xy``/``yx``/``yz`` vs unknown ``y``), the
    unknown's score, runs of unknowns and every Metaspace setting, on random strings over a small alphabet."""
    path = _tiny_json(tmp_path / "tok.json", prepend_scheme, split)
    ref, ours = Tokenizer.from_file(str(path)), UnigramTokenizer.load(path)
    rng = random.Random(3)
    texts = ["yzw", "yzv", "ayzw b", "yyzw", "qyzwq", "yzvyzw"]
    texts += ["".join(rng.choice("abcxyzwvq \u2581") for _ in range(rng.randint(0, 30))) for _ in range(3000)]
    for t in texts:
        assert ours.encode(t) == ref.encode(t, add_special_tokens=False).ids, repr(t)


def test_unsupported_configurations_are_refused(tmp_path: Path) -> None:
    base = _tiny_json(tmp_path / "tok.json", "always", True)
    spec = json.loads(base.read_text())
    cases = {
        "normalizer": {**spec, "normalizer": {"type": "NFKC"}},
        "byte_fallback": {**spec, "model": {**spec["model"], "byte_fallback": True}},
        "BPE": {**spec, "model": {"type": "BPE", "vocab": {}, "merges": []}},
        "Whitespace": {**spec, "pre_tokenizer": {"type": "Whitespace"}},
        "added tokens": {**spec, "added_tokens": [{"id": 0, "content": "<unk>", "special": True}]},
    }
    for name, bad in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(bad))
        with pytest.raises(UnsupportedTokenizer):
            UnigramTokenizer.load(path)
        assert not cache_path(path).exists(), name


# --------------------------------------------------------------------------- the .npz cache
def test_cache_is_built_once_atomically_and_reused(tmp_path: Path, e5_json: Path, ours: UnigramTokenizer) -> None:
    src = tmp_path / "tokenizer.json"
    shutil.copy(e5_json, src)
    first = UnigramTokenizer.load(src)
    cache = cache_path(src)
    assert cache.name == CACHE_NAME and cache.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([CACHE_NAME, "tokenizer.json"])  # no temporary left
    stamp = cache.stat().st_mtime_ns
    again = UnigramTokenizer.load(src)
    assert cache.stat().st_mtime_ns == stamp
    assert again.pieces == ours.pieces and list(again.scores) == list(ours.scores) and again.unk_id == ours.unk_id
    sample = project_texts()[:300] + ADVERSARIAL
    assert [again.encode(t) for t in sample] == [first.encode(t) for t in sample] == [ours.encode(t) for t in sample]


def test_stale_or_broken_cache_is_rebuilt(tmp_path: Path) -> None:
    src = _tiny_json(tmp_path / "tokenizer.json", "always", True)
    before = Tokenizer.from_file(str(src)).encode("ab", add_special_tokens=False).ids
    assert UnigramTokenizer.load(src).encode("ab") == before
    # the JSON changes ("▁ab" becomes the likeliest piece): the cache must follow
    _tiny_json(src, "always", True, [(p, -0.1 if p == "\u2581ab" else s) for p, s in TINY])
    after = Tokenizer.from_file(str(src)).encode("ab", add_special_tokens=False).ids
    assert after != before and UnigramTokenizer.load(src).encode("ab") == after
    cache_path(src).write_bytes(b"not an npz")
    assert UnigramTokenizer.load(src).encode("ab") == after
    with np.load(cache_path(src)) as data:  # rewritten whole
        assert "meta" in data.files


def test_onnx_serving_does_not_import_hf_tokenizers(models_dir: Path) -> None:
    from bot.nlu.onnx_encoder import ensure_exported

    ensure_exported(models_dir)  # exporting needs torch and transformers (which load tokenizers): not here
    probe = ("import sys; from bot.nlu.onnx_encoder import OnnxEncoder; "
             f"e = OnnxEncoder({str(models_dir)!r}); e.encode(['怎么修改登录密码']); "
             "print('tokenizers' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "False"]
