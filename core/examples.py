"""Rows → what the model learns from: each row at each training speed becomes an `Example` (encoder output or
log-mel input, label ids, keyword mask, the base model's distribution for distillation), made when it is read.

Why made when read, not up front: a dataset of hours does not fit in memory as encoder outputs (1500 × d_model
floats per row and speed: 2.3 MB for tiny.en), and computing them all before the first step makes the user wait
for the whole dataset. So `RowExamples` holds only the rows' source (memory-mapped Arrow, or a short list) and
builds an example when the Trainer's sampler asks for it; encoder outputs and teacher distributions go to the disk
cache (core/encoded_cache.py), so the next epoch, run or seed reads them back instead of computing them. Under
torchrun each rank's sampler asks only for its own shard, so each rank encodes and caches only that.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np

from core.encoded_cache import EncodedCache, audio_key
from core.vocabulary import Keyword

SAMPLE_RATE = 16000
TIMESTAMP_S = 0.02  # Whisper's timestamp tokens: <|0.00|> … <|30.00|> in steps of 20 ms
WINDOW_STEPS = round(30 / TIMESTAMP_S)  # the last one, <|30.00|>
TEACHER_TOP_K = 16


def speed_perturb(samples: np.ndarray, factor: float) -> np.ndarray:
    """Play `factor` times faster (pitch moves with it, as with tape): a cheap stand-in for other voices."""
    if factor == 1.0:
        return samples
    from scipy.signal import resample_poly

    up, down = 100, round(100 * factor)
    return resample_poly(samples, up, down).astype(np.float32)


def warp_mel(features, factor: float, centres: np.ndarray):
    """Vocal-tract length perturbation on log-mel features ([..., n_mels, frames]): the spectrum stretched by
    `factor` along frequency (formants and harmonics move, the pace does not), each mel band reading the band at its
    centre frequency ÷ factor; bands that would read above the top are set to the floor. Speed copies move pitch,
    formants and pace together; this moves the voice alone, so the copies sound like more speakers."""
    if factor == 1.0:
        return features
    import torch

    source = np.interp(centres / factor, centres, np.arange(len(centres)))
    low = np.clip(np.floor(source).astype(int), 0, len(centres) - 2)
    share = torch.tensor(source - low, dtype=features.dtype).unsqueeze(-1)
    low_t = torch.from_numpy(low)
    warped = features[..., low_t, :] * (1 - share) + features[..., low_t + 1, :] * share
    above = torch.from_numpy(centres / factor > centres[-1])
    floor = features.amin(dim=(-2, -1), keepdim=True).expand_as(warped)
    return torch.where(above.unsqueeze(-1), floor, warped)


def mel_centres(mel_filters) -> np.ndarray:
    """Each mel band's centre frequency in Hz (the weighted mean of its triangle over the FFT bins)."""
    filters = np.asarray(mel_filters, dtype=np.float64)  # [fft bins, mels]
    hz = np.linspace(0, SAMPLE_RATE / 2, filters.shape[0])
    return (filters * hz[:, None]).sum(0) / filters.sum(0)


def view_key(warp: float) -> str:
    """What a warp adds to a clip's cache keys (nothing at 1.0, so caches made before warps existed still hold)."""
    return "" if warp == 1.0 else f"warp {warp:g}"


@dataclass(frozen=True)
class Example:
    """One training or validation item: model input (log-mel or cached encoder output), label ids, and
    which label positions spell a keyword (they get the full loss; see TrainConfig.other_weight)."""

    inputs: object  # torch.Tensor
    labels: tuple[int, ...]
    text: str
    keyword_mask: tuple[bool, ...] = ()
    teacher_ids: object = None  # [len(labels), k] top-k token ids of the base model (for distillation)
    teacher_logp: object = None  # their log-probabilities


class Encoder:
    """Log-mel features, and encoder outputs when the encoder is frozen; batched, no gradients; outputs come from
    and go to `cache` (core/encoded_cache.py) when one is given."""

    def __init__(self, processor, model, device: str, batch_size: int = 8, cache: EncodedCache | None = None) -> None:
        self.processor, self.model, self.device, self.batch_size = processor, model, device, batch_size
        self.cache = cache

    @functools.cached_property
    def mel_centres(self) -> np.ndarray:
        return mel_centres(self.processor.feature_extractor.mel_filters)

    def features(self, clips: Sequence[np.ndarray], warp: float = 1.0):
        features = self.processor.feature_extractor(list(clips), sampling_rate=SAMPLE_RATE,
                                                    return_tensors="pt").input_features
        return features if warp == 1.0 else warp_mel(features, warp, self.mel_centres)

    def encode(self, clips: Sequence[np.ndarray], on_batch=lambda n: None, warp: float = 1.0):
        import torch

        if not clips:
            return torch.empty(0)
        keys = [audio_key(clip, view_key(warp)) for clip in clips] if self.cache is not None else [None] * len(clips)
        outputs: list = [None] * len(clips)
        for i, key in enumerate(keys):
            found = self.cache.array(key) if key is not None else None
            if found is not None:
                outputs[i] = torch.from_numpy(np.array(found))
        todo = [i for i, out in enumerate(outputs) if out is None]
        if len(todo) < len(clips):
            on_batch(len(clips) - len(todo))
        encoder = self.model.get_encoder()
        with torch.inference_mode():
            for first in range(0, len(todo), self.batch_size):
                rows = todo[first:first + self.batch_size]
                batch = self.features([clips[i] for i in rows], warp).to(self.device, self.model.dtype)
                encoded = encoder(batch).last_hidden_state.float().cpu()
                for row, i in enumerate(rows):
                    outputs[i] = encoded[row]
                    if keys[i] is not None:
                        self.cache.put_array(keys[i], encoded[row].numpy())
                on_batch(len(rows))
        return torch.stack(outputs)


def label_ids(tokenizer, text: str, keywords: Sequence[Keyword] = ()) -> tuple[tuple[int, ...], tuple[bool, ...]]:
    """Token ids to learn: prefix tokens (language/task/no-timestamps) + text + <|endoftext|>, without the
    leading <|startoftranscript|>, which the model prepends itself when it shifts labels right; and a mask
    of the tokens that overlap a keyword occurrence.

    The text gets a leading space, as Whisper itself writes the first word of a segment."""
    from core.vocabulary import find_keywords

    start = tokenizer.convert_tokens_to_ids("<|startoftranscript|>")
    prefix = [t for t in tokenizer.prefix_tokens if t != start]
    spoken = " " + text.strip()
    encoded = tokenizer(spoken, add_special_tokens=False, return_offsets_mapping=True)
    spans = [(m.start, m.end) for m in find_keywords(spoken, keywords)] if keywords else []
    text_mask = [any(a < m_end and m_start < b for m_start, m_end in spans) for a, b in encoded.offset_mapping]
    ids = (*prefix, *encoded.input_ids, tokenizer.eos_token_id)
    mask = (False,) * len(prefix) + tuple(text_mask) + (False,)
    return ids, mask


def timestamped_label_ids(tokenizer, segments: TimedSegments, factor: float = 1.0) -> tuple[int, ...]:
    """Token ids to learn in timestamp mode: prefix tokens without <|notimestamps|>, then <|start|> text <|end|>
    per segment, times divided by the speed factor (a clip played faster ends sooner), then <|endoftext|>."""
    first = first_timestamp(tokenizer)
    skip = {tokenizer.convert_tokens_to_ids("<|startoftranscript|>"), first - 1}
    ids = [t for t in tokenizer.prefix_tokens if t not in skip]

    def stamp(seconds: float) -> int:
        return first + min(WINDOW_STEPS, max(0, round(seconds / factor / TIMESTAMP_S)))

    for start, end, text in segments:
        ids += [stamp(start), *tokenizer(" " + text.strip(), add_special_tokens=False).input_ids, stamp(end)]
    return (*ids, tokenizer.eos_token_id)


def first_timestamp(tokenizer) -> int:
    """The id of `<|0.00|>`, right after `<|notimestamps|>` in every Whisper vocabulary: every token from here
    on is a timestamp (tokenizers do not always list them by name)."""
    return tokenizer.convert_tokens_to_ids("<|notimestamps|>") + 1


TimedSegments = list[tuple[float, float, str]]  # (start s, end s, text) as the model said it, timestamps on


def labelled(clips: Sequence[np.ndarray], labels: Sequence) -> list[tuple[np.ndarray, object]]:
    """(clip, label) rows, without the clips the base model heard nothing in."""
    return [(clip, label) for clip, label in zip(clips, labels, strict=True) if label]


class Collator:
    """Pads labels with -100 and stacks inputs (cached encoder outputs or log-mel features)."""

    def __init__(self, cached: bool) -> None:
        self.cached = cached

    def __call__(self, items: list[Example]) -> dict:
        import torch
        from transformers.modeling_outputs import BaseModelOutput

        width = max(len(item.labels) for item in items)
        labels = torch.full((len(items), width), -100, dtype=torch.long)
        keyword_mask = torch.zeros((len(items), width), dtype=torch.bool)
        for row, item in enumerate(items):
            labels[row, :len(item.labels)] = torch.tensor(item.labels, dtype=torch.long)
            if item.keyword_mask:
                keyword_mask[row, :len(item.keyword_mask)] = torch.tensor(item.keyword_mask, dtype=torch.bool)
        inputs = torch.stack([item.inputs for item in items])
        batch = {"labels": labels, "keyword_mask": keyword_mask}
        if all(item.teacher_ids is not None for item in items):
            k = items[0].teacher_ids.shape[-1]
            batch["teacher_ids"] = torch.zeros((len(items), width, k), dtype=torch.long)
            batch["teacher_logp"] = torch.zeros((len(items), width, k), dtype=torch.float32)
            for row, item in enumerate(items):
                batch["teacher_ids"][row, :len(item.labels)] = item.teacher_ids
                batch["teacher_logp"][row, :len(item.labels)] = item.teacher_logp
        if self.cached:
            batch["encoder_outputs"] = BaseModelOutput(last_hidden_state=inputs)
        else:
            batch["input_features"] = inputs
        return batch


class RowExamples:
    """Every row at every speed, as a sequence of Examples built on access: index k is row k // len(speeds) at
    speeds[k % len(speeds)], the order the Trainer's sampler shuffles. Pass p over the rows hears every copy at
    warps[p % len(warps)] (`WarpTurns` sets the pass from the Trainer's epoch, so a resumed run hears what the
    uninterrupted one did), and a pass costs what it did without warps. A row's target is its text, or the base
    model's timed segments (learnt with timestamps, rescaled to the speed)."""

    def __init__(self, rows: Sequence[tuple[np.ndarray, object]], speeds: Sequence[float], tokenizer,
                 encoder: Encoder, cached: bool, keywords: Sequence[Keyword] = (), teacher: Teacher | None = None,
                 warps: Sequence[float] = (1.0,)):
        self.rows, self.speeds, self.warps, self.tokenizer = rows, tuple(speeds), tuple(warps), tokenizer
        self.encoder, self.cached, self.keywords, self.teacher = encoder, cached, tuple(keywords), teacher
        self.pass_index = 0  # which pass over the rows this is: it picks the warp
        self.built = 0  # examples made by this process (each rank counts its own shard)

    def __len__(self) -> int:
        return len(self.rows) * len(self.speeds)

    def lengths(self) -> list[int]:
        """Each example's transcript length in characters, without decoding any audio: what batching by length
        sorts on (a row's label length follows its text; its input is one 30 s window whatever it lasts)."""
        texts = self.rows.texts() if hasattr(self.rows, "texts") else [target for _, target in self.rows]
        sizes = [len(t) if isinstance(t, str) else sum(len(text) for _, _, text in t) for t in texts]
        return [size for size in sizes for _ in self.speeds]

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        index %= len(self)
        return self.build(index, self.warps[self.pass_index % len(self.warps)])

    def build(self, index: int, warp: float = 1.0) -> Example:
        """The example at `index` heard at `warp`."""
        samples, target = self.rows[index // len(self.speeds)]
        factor = self.speeds[index % len(self.speeds)]
        clip = speed_perturb(samples, factor)
        inputs = self.encoder.encode([clip], warp=warp)[0] if self.cached else self.encoder.features([clip], warp)[0]
        if isinstance(target, str):
            ids, mask = label_ids(self.tokenizer, target, self.keywords)
            example = Example(inputs, ids, target, mask)
        else:
            example = Example(inputs, timestamped_label_ids(self.tokenizer, target, factor),
                              " ".join(text for _, _, text in target))
        self.built += 1
        return self.teacher.attach(example, clip, warp) if self.teacher is not None else example


class WarpTurns:
    """A Trainer callback: at the start of each pass over the rows, tells the examples which pass it is (the
    Trainer's epoch, whole passes only, which a resumed run restores with its checkpoint)."""

    def __init__(self, parts: Sequence[RowExamples]) -> None:
        self.parts = parts

    def on_epoch_begin(self, args, state, control, **kwargs):
        for part in self.parts:
            part.pass_index = int(state.epoch + 1e-6)  # 2.0 after two whole passes, 1.25 in the second
        return control


class TableRows:
    """(samples, text) rows of a `datasets` table, decoded one at a time (see core/training_data.py)."""

    def __init__(self, table) -> None:
        self.table = table

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, index: int) -> tuple[np.ndarray, str]:
        from core.training_data import row_of

        return row_of(self.table, index)

    def texts(self) -> list[str]:
        """The text column alone (Arrow reads it without touching the audio)."""
        return [str(text or "") for text in self.table["text"]]


class Teacher:
    """The base model's top-k next-token distribution at every label position (teacher forcing), over the tokens
    below `text_vocab` (the first timestamp token): user rows are trained without timestamps, and a target that
    gave timestamp tokens no mass would teach the model to stop predicting them.

    With LoRA the base model is the live model with its adapters switched off, so the distribution is computed
    when an example is first read and kept in the disk cache. A fully fine-tuned model stops being the base model
    at its first step: `fill` computes every distribution before training, and any the disk has no room for are
    kept in memory (they are small: labels × k × 2 numbers)."""

    def __init__(self, model, device: str, text_vocab: int, collate: Collator, cache: EncodedCache | None,
                 k: int = TEACHER_TOP_K) -> None:
        self.model, self.device, self.text_vocab, self.collate = model, device, text_vocab, collate
        self.cache, self.k = cache, k
        self.adapters = hasattr(model, "disable_adapter")
        self.kept: dict[str, np.ndarray] = {}

    def attach(self, example: Example, clip: np.ndarray, warp: float = 1.0) -> Example:
        import torch

        settings = (f"teacher {self.k} {self.text_vocab} " + ",".join(map(str, example.labels)), view_key(warp))
        key = audio_key(clip, " ".join(part for part in settings if part))
        found = self.kept.get(key)
        if found is None and self.cache is not None:
            found = self.cache.array(key)
        if found is None:
            found = self._compute(example)
            if not (self.cache is not None and self.cache.put_array(key, found)) and not self.adapters:
                self.kept[key] = found
        found = np.array(found)
        return replace(example, teacher_ids=torch.from_numpy(found[:, :self.k]).long(),
                       teacher_logp=torch.from_numpy(found[:, self.k:]))

    def fill(self, parts: Sequence[RowExamples]) -> None:
        """Compute every distribution now (before the first update), for a model with no adapters to switch off:
        every example at every warp it will be read at."""
        for part in parts:
            for index in range(len(part)):
                for warp in part.warps:
                    part.build(index, warp)

    def _compute(self, example: Example) -> np.ndarray:
        import torch

        batch = self.collate([example])
        batch.pop("keyword_mask")
        batch = {key: (value.to(self.device) if hasattr(value, "to") else value) for key, value in batch.items()}
        if "encoder_outputs" in batch:
            batch["encoder_outputs"].last_hidden_state = batch["encoder_outputs"].last_hidden_state.to(self.device)
        with self._base_model(), torch.inference_mode():
            logp = torch.log_softmax(self.model(**batch).logits[0, :, :self.text_vocab].float(), dim=-1)
        top = logp.topk(self.k, dim=-1)
        return torch.cat([top.indices.float(), top.values], dim=-1).cpu().numpy()  # ids < 2**24: exact in float32

    @contextlib.contextmanager
    def _base_model(self) -> Iterator[None]:
        was_training = self.model.training
        self.model.eval()
        try:
            with self.model.disable_adapter() if self.adapters else contextlib.nullcontext():
                yield
        finally:
            self.model.train(was_training)
