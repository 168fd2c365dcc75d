"""LoRA fine-tuning of Whisper on a prepared dataset, with live metrics and quality-based checkpoints.

Why it is fast on a CPU: by default LoRA adapts only the decoder (q_proj + v_proj), so the encoder is
frozen and its output for every training row (and every speed-perturbed copy of it) is computed once
and cached, instead of being recomputed every epoch; no backward pass ever runs through the encoder.
With encoder targets (or full fine-tuning) rows go through the encoder as usual.

Why it learns the words without forgetting: rows come in several views (per cue and packed windows,
made by `prepare --views`), speed-perturbed copies stand in for other voices, plain-speech rows can be
mixed in, and the best checkpoint is chosen by measured keyword recall, then WER — not eval loss.

Runs under `torchrun --nproc_per_node N` and `accelerate launch` unchanged (transformers' Trainer).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core import replay
from core.encoded_cache import EncodedCache, audio_key, text_key
from core.errors import Cancelled, InputError, JobError
from core.events import QUIET, Done, Job, Log
from core.examples import (
    Collator,
    Encoder,
    Example,
    RowExamples,
    TableRows,
    Teacher,
    TimedSegments,
    WarpTurns,
    first_timestamp,
    labelled,
)
from core.files import atomic_directory, atomic_write_text
from core.languages import is_english
from core.models import ResolvedModel, resolve
from core.runs import (
    ADAPTER,
    CHECKPOINTS,
    CT2,
    MERGED,
    METRICS,
    REPORT,
    RUN_CONFIG,
    checkpoint_folders,
    last_checkpoint,
    step_of,
)
from core.train_config import TrainConfig, to_json
from core.train_config import save as save_config
from core.train_guards import (
    STOPPED_EARLY,
    Diverged,
    DivergenceGuard,
    EventsCallback,
    ResumeLearningRate,
    callback,
    check_finite_loss,
    diverged_message,
    oom_message,
    out_of_memory,
    stop_on_sigint,
    stopped_early,
    trim_metrics,
    watch_stop_request,
)
from core.training_data import open_training_data

SAMPLE_RATE = 16000
DECODER_ONLY = r".*model\.decoder\.layers\.\d+\.(self_attn|encoder_attn)\.({targets})$"


@dataclass
class TrainResult:
    """Where the run put things and what it measured."""

    run_dir: Path
    merged: Path | None
    adapter: Path | None
    baseline: dict = field(default_factory=dict)
    best: dict = field(default_factory=dict)
    best_checkpoint: str | None = None
    steps: int = 0
    seconds: float = 0.0
    interrupted: bool = False


# ---------------------------------------------------------------------------- data


# ---------------------------------------------------------------------------- model


def _rank_label() -> str:
    return f" by rank {os.environ['RANK']}" if int(os.environ.get("WORLD_SIZE", "1")) > 1 else ""


def _global_mean(total, count):
    """total / count summed over every rank's batch. DDP averages the ranks' gradients, so each rank returns its own
    total × world size / the global count; one process gets the plain ratio (0 when there is nothing to count)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        count = count.detach().clone()
        dist.all_reduce(count)
        total = total * dist.get_world_size()
    return total / count.clamp_min(1e-6)


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _device(config: TrainConfig) -> str:
    import torch

    if config.device != "auto":
        return config.device
    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return "cpu"


def build_model(resolved: ResolvedModel, config: TrainConfig):
    """The base model with LoRA adapters (or all weights trainable for full fine-tuning)."""
    from peft import LoraConfig, get_peft_model
    from transformers import WhisperForConditionalGeneration

    model = WhisperForConditionalGeneration.from_pretrained(resolved.hf_dir)
    model.config.use_cache = False
    if config.full_finetune:
        if config.caches_encoder:
            model.model.encoder.requires_grad_(False)
        return model
    targets: str | list[str] = list(config.target_modules)
    if config.lora_layers == "decoder":
        targets = DECODER_ONLY.format(targets="|".join(config.target_modules))
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=targets, bias="none")
    try:
        return get_peft_model(model, lora)
    except ValueError as err:
        raise InputError(f"LoRA targets {config.target_modules} match nothing in this model ({err})") from None


def clean_generation_config(model, multilingual: bool, language: str | None = None, task: str | None = None) -> None:
    """Drop stale forced decoder ids, keep alignment heads; a multilingual model keeps the language and task it was
    trained for, so `pipeline(...)` and `generate()` with no arguments start the prompt with them."""
    gen = model.generation_config
    gen.forced_decoder_ids = None
    model.config.forced_decoder_ids = None
    gen.language = language if multilingual else None
    gen.task = task if multilingual else None


# ---------------------------------------------------------------------------- the trainer


def _quality(recall: float | None, wer: float, drift: float | None = None, guard: float | None = None) -> float:
    """Keyword recall first, WER second, as one number the Trainer can maximise: recall to 3 decimals
    decides (steps of 1.0), WER (capped below 1) only breaks ties. A checkpoint whose drift on the guard speech
    is over the guard ranks below every one within it (the least drift first): it is chosen only when no
    checkpoint is within the guard."""
    if drift is not None and guard is not None and drift > guard + 1e-9:
        return -1000.0 - min(drift, 9.99)
    return round((recall if recall is not None else 0.0) * 1000) - min(wer, 0.999)


def _make_trainer_class():
    from transformers import Trainer

    class WhisperTrainer(Trainer):
        """A Trainer whose evaluation decodes for real (greedy) and scores WER, CER and keyword recall."""

        def __init__(self, *args, eval_examples: Sequence[Example], tokenizer, keywords, english: bool,
                     generate_kwargs: dict, other_weight: float = 1.0, distill: float = 0.0,
                     text_vocab: int | None = None, guard_examples: Sequence[Example] = (), guard: float | None = None,
                     job: Job = QUIET, group_by_length: bool = False,
                     cache: EncodedCache | None = None, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.job, self.group_by_length, self.cache = job, group_by_length, cache
            self.guard_examples, self.guard = guard_examples, guard
            self.text_vocab = text_vocab
            self.other_weight = other_weight
            self.distill = distill
            self.eval_examples = eval_examples
            self.whisper_tokenizer = tokenizer
            self.keywords = keywords
            self.english = english
            self.generate_kwargs = generate_kwargs

        def _get_train_sampler(self, train_dataset=None):
            """Batches of similar transcript length with --group-by-length (lengths from the texts alone)."""
            if not self.group_by_length:
                return super()._get_train_sampler(train_dataset)
            from transformers.trainer_pt_utils import LengthGroupedSampler

            dataset = train_dataset if train_dataset is not None else self.train_dataset
            lengths = [n for part in dataset.datasets for n in part.lengths()]
            return LengthGroupedSampler(self.args.train_batch_size * self.args.gradient_accumulation_steps,
                                        lengths=lengths)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            """Cross-entropy with keyword tokens at full weight and the rest at `other_weight`, plus a
            distillation term on the non-keyword tokens: cross-entropy against the base model's top-k
            distribution (core/examples.py Teacher). Both are means over the tokens of the whole global batch,
            every rank's included, so N ranks with 1/N of the batch each take the same step as one process."""
            import torch
            import torch.nn.functional as F

            keyword_mask = inputs.pop("keyword_mask", None)
            teacher_ids = inputs.pop("teacher_ids", None)
            teacher_logp = inputs.pop("teacher_logp", None)
            outputs = model(**inputs)
            labels = inputs["labels"]
            valid = labels != -100
            log_probs = F.log_softmax(outputs.logits.float(), dim=-1)
            ce = -log_probs.gather(-1, labels.clamp_min(0).unsqueeze(-1)).squeeze(-1)
            weights = valid.float()
            if keyword_mask is not None:
                # rows without any keyword (plain speech mixed in) keep full weight: they anchor ordinary words
                has_keyword = keyword_mask.any(dim=1, keepdim=True)
                other = torch.where(has_keyword, self.other_weight, 1.0)
                weights = torch.where(keyword_mask, 1.0, other) * valid
            loss = _global_mean((ce * weights).sum(), weights.sum())
            if teacher_ids is not None and self.distill > 0:
                plain = valid & ~keyword_mask if keyword_mask is not None else valid
                if self.text_vocab is not None:  # timestamp tokens are learnt from their labels alone
                    plain = plain & (labels < self.text_vocab)
                target = F.softmax(teacher_logp, dim=-1)  # renormalised over the top k
                text_logp = F.log_softmax(outputs.logits[..., :self.text_vocab].float(), dim=-1)  # as the teacher
                soft_ce = -(target * text_logp.gather(-1, teacher_ids)).sum(-1)
                loss = loss + self.distill * _global_mean((soft_ce * plain).sum(), plain.sum().float())
            check_finite_loss(loss, self.state.global_step + 1)
            return (loss, outputs) if return_outputs else loss

        def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict:
            import torch

            from core.scores import score_texts

            model = self.model
            was_training = model.training
            model.eval()
            losses: list[float] = []
            with torch.inference_mode():
                references, hypotheses = self._decode(self.eval_examples, losses)
                guard_references, guard_hypotheses = self._decode(self.guard_examples)
            if was_training:
                model.train()
            scores = score_texts(references, hypotheses, self.keywords, english=self.english)
            drift = None
            if guard_references:  # against the base model's own transcripts of the guard speech
                drift = score_texts(guard_references, guard_hypotheses, english=True).wer
            metrics = {
                f"{metric_key_prefix}_loss": float(np.mean(losses)) if losses else 0.0,
                f"{metric_key_prefix}_wer": scores.wer,
                f"{metric_key_prefix}_cer": scores.cer,
                f"{metric_key_prefix}_quality": _quality(scores.recall, scores.wer, drift, self.guard),
            }
            if drift is not None:
                metrics[f"{metric_key_prefix}_drift"] = drift
                metrics[f"{metric_key_prefix}_within_guard"] = float(drift <= self.guard + 1e-9)
            if scores.recall is not None:
                metrics[f"{metric_key_prefix}_keyword_recall"] = scores.recall
            self.log(metrics)
            self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
            return metrics

        def _decode(self, examples: Sequence[Example], losses: list[float] | None = None,
                    ) -> tuple[list[str], list[str]]:
            """References and greedy transcripts of examples, batched; with `losses`, their teacher-forced loss too
            (a loss that is not finite stops the run before this step's checkpoint is saved)."""
            references: list[str] = []
            hypotheses: list[str] = []
            size = self.args.per_device_eval_batch_size
            for first in range(0, len(examples), size):
                if self.job.cancelled and self.state.global_step == 0:
                    raise KeyboardInterrupt  # a stop in the baseline: nothing to save, no step to wait for
                chunk = examples[first:first + size]
                references += [example.text for example in chunk]
                keys = self._baseline_keys(chunk)
                kept = [self.cache.text(key) for key in keys] if keys else []
                # the baseline's loss on this chunk: keyed by its inputs and its labels
                loss_key = text_key(" ".join(keys) + repr([e.labels for e in chunk])) if keys else None
                kept_loss = self.cache.text(loss_key) if loss_key and losses is not None else None
                texts_kept = bool(kept) and all(isinstance(text, str) for text in kept)
                if texts_kept and (losses is None or isinstance(kept_loss, list)):
                    if losses is not None:
                        losses.append(float(kept_loss[0]))
                    hypotheses += kept
                    continue
                batch = self._prepare_inputs(self.data_collator(chunk))
                batch.pop("keyword_mask", None)
                if losses is not None:
                    losses.append(float(self.model(**batch).loss))
                    if not math.isfinite(losses[-1]):
                        raise Diverged(self.state.global_step, f"validation loss {losses[-1]}")
                    if loss_key:
                        self.cache.put_text(loss_key, [losses[-1]])
                if texts_kept:
                    hypotheses += kept
                    continue
                inputs = {k: v for k, v in batch.items() if k not in ("labels", "teacher_ids", "teacher_logp")}
                tokens = self.model.generate(**inputs, **self.generate_kwargs)
                decoded = [h.strip() for h in self.whisper_tokenizer.batch_decode(tokens, skip_special_tokens=True)]
                for key, text in zip(keys, decoded, strict=False):
                    self.cache.put_text(key, text)
                hypotheses += decoded
            return references, hypotheses

        def _baseline_keys(self, chunk: list[Example]) -> list[str]:
            """At step 0 (never on resume) the model is the base model (LoRA's B matrices start at zero), so its
            transcripts of the same inputs, and its loss on them, are kept in the disk cache: the next run's baseline
            row is read back without running the model."""
            if self.cache is None or self.state.global_step != 0:
                return []
            settings = "step0 " + repr(sorted(self.generate_kwargs.items()))
            return [audio_key(np.asarray(example.inputs, dtype=np.float32), settings) for example in chunk]

    return WhisperTrainer


def base_transcripts(model, encoder: Encoder, clips: Sequence[np.ndarray], generate_kwargs: dict,
                     batch_size: int = 8) -> list[str]:
    """What the model says for each clip (greedy, no timestamps). Called before the first update, when LoRA's B
    matrices are still zero: this is the base model labelling the replay and guard speech."""

    def texts(output, batch) -> list[str]:
        return [text.strip() for text in encoder.processor.tokenizer.batch_decode(output, skip_special_tokens=True)]

    return _base_labels(model, encoder, clips, generate_kwargs, texts, batch_size)


def base_segments(model, encoder: Encoder, clips: Sequence[np.ndarray], generate_kwargs: dict,
                  batch_size: int = 8) -> list[TimedSegments]:
    """What the model says for each clip with timestamps on, as timed segments (segments the model places past
    the clip's end are dropped). Training on them keeps the timestamp mode that long-form transcription needs."""
    tokenizer = encoder.processor.tokenizer
    kwargs = {**generate_kwargs, "return_timestamps": True, "return_segments": True, "max_new_tokens": 220}

    def timed(row: list[dict], seconds: float) -> TimedSegments:
        kept = [(round(float(s["start"]), 2), math.floor(min(float(s["end"]), seconds) * 100) / 100,
                 tokenizer.decode(s["tokens"], skip_special_tokens=True).strip())
                for s in row if float(s["start"]) < seconds - 0.1]
        return [(start, end, text) for start, end, text in kept if text and end > start]

    def segments(output, batch: list[np.ndarray]) -> list[TimedSegments]:
        return [timed(row, len(clip) / SAMPLE_RATE) for row, clip in zip(output["segments"], batch, strict=True)]

    return _base_labels(model, encoder, clips, kwargs, segments, batch_size)


def _base_labels(model, encoder: Encoder, clips: Sequence[np.ndarray], generate_kwargs: dict, read,
                 batch_size: int) -> list:
    """The base model's output for each clip, batched, read by `read(generate's output, the batch's clips)` and
    kept in the encoder's cache (keyed by the audio and the decoding settings)."""
    import torch

    settings = json.dumps(generate_kwargs, sort_keys=True)
    keys = [audio_key(clip, settings) for clip in clips]
    labels = [encoder.cache.text(key) if encoder.cache is not None else None for key in keys]
    todo = [i for i, label in enumerate(labels) if label is None]
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for first in range(0, len(todo), batch_size):
            rows = todo[first:first + batch_size]
            batch = [clips[i] for i in rows]
            features = encoder.features(batch).to(encoder.device, model.dtype)
            for i, label in zip(rows, read(model.generate(input_features=features, **generate_kwargs), batch),
                                strict=True):
                labels[i] = label
                if encoder.cache is not None:
                    encoder.cache.put_text(keys[i], label)
    if was_training:
        model.train()
    return labels


def _mixed_precision(precision: str, use_cuda: bool) -> tuple[bool, bool]:
    """(bf16, fp16) for the Trainer: mixed precision exists only on a GPU; "auto" prefers bf16 (no loss
    scaling) where the card has it."""
    if not use_cuda or precision == "fp32":
        if precision in ("bf16", "fp16") and not use_cuda:
            raise InputError(f"{precision} training needs a GPU; on CPU use --precision fp32 (or auto)")
        return False, False
    if precision == "auto":
        import torch

        precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return precision == "bf16", precision == "fp16"


def train(config: TrainConfig, job: Job = QUIET) -> TrainResult:
    """Fine-tune, pick the best checkpoint by measured quality, save adapter + merged model + report.

    Cancelling `job` (Ctrl-C, RUN_DIR/stop.request, or the caller) stops the run: during set-up at once
    (Cancelled), while training after the step, with a checkpoint (an interrupted `TrainResult`)."""
    from torch.utils.data import ConcatDataset
    from transformers import TrainingArguments, WhisperProcessor, set_seed

    config.check()
    started = time.time()
    if job is QUIET:  # Ctrl-C and stop.request cancel the job: one of this run's own, not everyone's default
        job = Job()
    run_dir = Path(config.output)
    checkpoints = run_dir / CHECKPOINTS
    metrics_file = run_dir / METRICS
    resume_from = last_checkpoint(checkpoints) if config.resume else None
    if config.resume and resume_from is None:
        raise InputError(f"{run_dir}: no checkpoint to resume from")
    if not config.resume and checkpoints.exists() and any(checkpoints.iterdir()):
        raise InputError(f"{run_dir} already holds a run; use --resume to continue it or choose another folder")
    data = open_training_data(config.dataset, config.columns, config.eval_rows)  # a bad one leaves no run folder
    job.emit(Log(data.described))
    run_dir.mkdir(parents=True, exist_ok=True)
    watch_stop_request(run_dir, job)
    if _is_main_process():  # the settings it runs with: what a resume from the TUI hands back
        save_config(config, run_dir / RUN_CONFIG)

    resolved = resolve(config.model, job.emit)
    set_seed(config.seed)
    device = _device(config)
    processor = WhisperProcessor.from_pretrained(resolved.hf_dir)
    tokenizer = processor.tokenizer
    if resolved.multilingual:
        tokenizer.set_prefix_tokens(language=config.decoding_language or "en", task=config.task,
                                    predict_timestamps=False)
    else:
        tokenizer.set_prefix_tokens(predict_timestamps=False)

    model = build_model(resolved, config)
    model.to(device)
    job.check(STOPPED_EARLY)
    cache = EncodedCache(resolved.hf_dir)
    encoder = Encoder(processor, model, device, cache=cache if config.caches_encoder else None)
    collate = Collator(config.caches_encoder)
    text_vocab = first_timestamp(tokenizer)  # the teacher and the distillation term both stop before it
    teacher = Teacher(model, device, text_vocab, collate, cache) if config.distill > 0 else None
    warps = f" (warps {', '.join(f'{w:g}' for w in config.warps)} in turn)" if len(config.warps) > 1 else ""
    job.emit(Log(f"{len(data.train)} training rows × {len(config.speeds)} speeds{warps}, {len(data.validation)} "
                 f"validation rows; encoder {'cached' if config.caches_encoder else 'trained'}; examples are made as "
                 f"training reads them (disk cache: {cache.folder})"))

    def examples(rows, speeds=config.speeds, keywords=config.keywords, training=False) -> RowExamples:
        """Training rows are distilled and warped; validation and guard rows are neither."""
        return RowExamples(rows, speeds, tokenizer, encoder, config.caches_encoder, keywords,
                           teacher if training else None, warps=config.warps if training else (1.0,))

    train_parts = [examples(TableRows(data.train), training=True)]
    guard_examples: Sequence[Example] = []
    if config.replay and replay.applies(resolved.multilingual, config.language):
        speech = {role: replay.load(role) for role in replay.ROLES}
        job.emit(Log(f"labelling {sum(map(len, speech.values()))} clips of bundled real speech with the base model "
                     "(replay and guard)"))
        kwargs = _generate_kwargs(resolved, config)
        # half the replay clips are learnt with timestamps on: the user's rows train without them, yet long recordings
        # are transcribed with them, and a chunked pipeline stitches its windows where the model puts them
        timed, plain = speech["replay"][::2], speech["replay"][1::2]
        replay_rows = labelled(timed, base_segments(model, encoder, timed, kwargs)) + \
            labelled(plain, base_transcripts(model, encoder, plain, kwargs))
        guard_rows = labelled(speech["guard"], base_transcripts(model, encoder, speech["guard"], kwargs))
        train_parts.append(examples(replay_rows, keywords=(), training=True))
        guard_examples = examples(guard_rows, speeds=(1.0,), keywords=())
        job.check(STOPPED_EARLY)
    train_examples = ConcatDataset(train_parts)
    # validation at the training speeds too when it is short (a short recording holds out only a few keyword
    # occurrences, and the checkpoint chosen on them should hold for voices pitched and paced otherwise); a larger
    # split is decoded at 1.0× only, so an evaluation costs the same whatever the dataset's size
    few = len(data.validation) * len(config.speeds) <= config.eval_rows
    eval_examples = examples(TableRows(data.validation), speeds=config.speeds if few else (1.0,))
    if teacher is not None and not teacher.adapters:
        job.emit(Log("computing the base model's distributions for distillation (full fine-tune: before step 1)"))
        teacher.fill(train_parts)
        job.check(STOPPED_EARLY)

    steps_per_epoch = math.ceil(len(train_examples) / config.batch_size)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    steps_per_epoch = math.ceil(steps_per_epoch / world)
    eval_every = config.eval_every or steps_per_epoch
    use_cuda = device.startswith("cuda")
    bf16, fp16 = _mixed_precision(config.precision, use_cuda)
    args = TrainingArguments(
        output_dir=str(checkpoints),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=16,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup,
        lr_scheduler_type="linear",
        weight_decay=0.0,
        logging_steps=max(1, min(config.logging_steps, eval_every // 2)),  # short runs log loss too
        eval_strategy="steps",
        eval_steps=eval_every,
        eval_on_start=resume_from is None,  # the baseline row: step 0, before any update
        save_strategy="steps",
        save_steps=eval_every,
        save_total_limit=config.save_total_limit,
        load_best_model_at_end=True,
        metric_for_best_model="quality",
        greater_is_better=True,
        seed=config.seed,
        data_seed=config.seed,
        report_to=[],
        disable_tqdm=True,
        remove_unused_columns=False,
        label_names=["labels"],
        dataloader_num_workers=0,
        use_cpu=not use_cuda,
        bf16=bf16,
        fp16=fp16,
        gradient_checkpointing=config.gradient_checkpointing or (use_cuda and not config.caches_encoder),
        ddp_backend=None if use_cuda else ("gloo" if world > 1 else None),
        ddp_find_unused_parameters=False,
        save_only_model=False,
        deepspeed=config.deepspeed_config(),
    )
    events = EventsCallback(metrics_file, job, report=_is_main_process())
    trainer = _make_trainer_class()(
        model=model, args=args, train_dataset=train_examples, eval_dataset=eval_examples,
        data_collator=Collator(config.caches_encoder),
        eval_examples=eval_examples, tokenizer=tokenizer, keywords=config.keywords,
        english=not resolved.multilingual or is_english(config.language),
        generate_kwargs=_generate_kwargs(resolved, config),
        callbacks=[callback(events), callback(DivergenceGuard()), callback(WarpTurns(train_parts)),
                   *([callback(ResumeLearningRate(config.learning_rate, job.emit))] if resume_from else [])],
        other_weight=config.other_weight, distill=config.distill, text_vocab=text_vocab,
        guard_examples=guard_examples, guard=config.guard, job=job, group_by_length=config.group_by_length,
        cache=cache)
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    for noisy in (PrinterCallback, ProgressCallback):  # our events replace their prints and bars
        trainer.remove_callback(noisy)
    if resume_from is not None:
        step = step_of(resume_from)
        if _is_main_process():
            trim_metrics(metrics_file, step)
            for torn in (p for p in checkpoint_folders(checkpoints) if step_of(p) > step):
                job.emit(Log(f"removing {torn.name}: it was cut short while being saved"))
                shutil.rmtree(torn, ignore_errors=True)
        job.emit(Log(f"resuming from {resume_from.name}"))
    elif _is_main_process() and metrics_file.exists():
        metrics_file.unlink()

    with stop_on_sigint(job):
        if resume_from is None:  # the step-0 row; a stop lands in it at once (WhisperTrainer._decode)
            job.emit(Log(f"baseline evaluation: {len(eval_examples)} validation rows, {len(guard_examples)} guard "
                         "clips"))
        try:
            trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
        except KeyboardInterrupt:
            if last_checkpoint(checkpoints) is None:
                raise stopped_early() from None
            raise Cancelled("training interrupted; resume from the last checkpoint with --resume") from None
        except Diverged as err:
            raise JobError(diverged_message(err, config, checkpoints)) from None
        except RuntimeError as err:
            if not out_of_memory(err):
                raise
            raise JobError(oom_message(config)) from None

    state = trainer.state
    interrupted = job.cancelled and state.global_step < state.max_steps
    built = sum(part.built for part in train_parts)
    job.emit(Log(f"{built} training examples made{_rank_label()} ({len(train_examples)} per epoch); disk cache: "
                 f"{cache.hits} read, {cache.misses} computed ({cache.folder})"))
    result = TrainResult(run_dir=run_dir, merged=None, adapter=None, steps=state.global_step,
                         seconds=time.time() - started, interrupted=interrupted,
                         best_checkpoint=state.best_model_checkpoint)
    evals = [h for h in state.log_history if "eval_quality" in h]
    if evals:
        result.baseline = _metrics_row(evals[0])
        best = max(evals, key=lambda h: h["eval_quality"])
        result.best = _metrics_row(best)
    if interrupted:
        job.emit(Log(f"stopped at step {state.global_step}; continue with --resume"))
        return result
    if _is_main_process():
        result.adapter, result.merged = _save_outputs(trainer.model, processor, resolved, config, run_dir, result)
        _write_report(result, config, resolved)
    job.emit(Done("train", result))
    return result


def _generate_kwargs(resolved: ResolvedModel, config: TrainConfig) -> dict:
    kwargs: dict = {"num_beams": 1, "do_sample": False, "max_new_tokens": 128}
    if resolved.multilingual:
        kwargs.update(language=config.decoding_language or "en", task=config.task)
    return kwargs


def _metrics_row(history: dict) -> dict:
    return {k.removeprefix("eval_"): v for k, v in history.items() if k.startswith("eval_") or k == "step"}


def _save_outputs(model, processor, resolved: ResolvedModel, config: TrainConfig, run_dir: Path,
                  result: TrainResult):
    """adapter/ (PeftModel loads it) and merged/ (plain transformers dir + processor + model card), each atomic."""
    adapter_dir = merged_dir = None
    if not config.full_finetune:
        adapter_dir = run_dir / ADAPTER
        with atomic_directory(adapter_dir) as tmp:
            model.save_pretrained(tmp)
        model = model.merge_and_unload()
    model.config.use_cache = True
    clean_generation_config(model, resolved.multilingual, config.decoding_language or "en", config.task)
    merged_dir = run_dir / MERGED
    with atomic_directory(merged_dir) as tmp:
        model.save_pretrained(tmp)
        processor.tokenizer.set_prefix_tokens(language=None, task=None) if resolved.multilingual else None
        processor.save_pretrained(tmp)
        processor.feature_extractor.save_pretrained(tmp)  # preprocessor_config.json for CTranslate2 export
        atomic_write_text(tmp / "README.md", model_card(config, resolved, result))
    return adapter_dir, merged_dir


def model_card(config: TrainConfig, resolved: ResolvedModel, result: TrainResult) -> str:
    """merged/README.md: what the model is for, which language token it decodes under, how it was trained."""
    language, token = config.language or "en", config.decoding_language or "en"
    lines = ["---", f"base_model: {resolved.spec}", f"language: [{language}]",
             "pipeline_tag: automatic-speech-recognition", "library_name: transformers",
             "tags: [whisper, whisper-tui, " + ("full-fine-tune" if config.full_finetune else "lora") + "]", "---", "",
             f"# {config.output.name}: {resolved.spec} fine-tuned with whisper-tui", "",
             f"- purpose: {config.purpose or 'words'}; task: {config.task}"]
    if resolved.multilingual:
        how = (f"decoded under Whisper's `<|{token}|>` token (Whisper does not list `{language}`)" if token != language
               else f"Whisper's `<|{token}|>` token")
        lines.append(f"- language: `{language}`, {how}. generation_config.json carries it, so `pipeline()` and "
                     f"`generate()` use it unasked; faster-whisper ignores that file: pass `language=\"{token}\"`.")
    recipe = "all weights" if config.full_finetune else (
        f"LoRA r={config.lora_r}, alpha={config.lora_alpha} on {', '.join(config.target_modules)} "
        f"({'encoder and decoder' if config.lora_layers == 'all' else 'decoder'}), merged")
    lines += [f"- training: {recipe}; {config.epochs:g} epochs at lr {config.learning_rate:g}, seed {config.seed}, "
              f"{result.steps} steps"]
    for name, row in (("before", result.baseline), ("after (best checkpoint)", result.best)):
        if row.get("wer") is not None:
            recall = f", keyword recall {row['keyword_recall']:.1%}" if row.get("keyword_recall") is not None else ""
            lines.append(f"- validation {name}: WER {row['wer']:.1%}{recall}")
    return "\n".join(lines) + "\n"


def _write_report(result: TrainResult, config: TrainConfig, resolved: ResolvedModel) -> None:
    config_dict = to_json(config)
    report = {
        "base_model": resolved.spec,
        "config": config_dict,
        "baseline": result.baseline,
        "best": result.best,
        "best_checkpoint": result.best_checkpoint,
        "selection": "keyword recall, then WER (not eval loss)",
        "steps": result.steps,
        "seconds": round(result.seconds, 1),
        "adapter": str(result.adapter) if result.adapter else None,
        "merged": str(result.merged) if result.merged else None,
    }
    atomic_write_text(result.run_dir / REPORT, json.dumps(report, indent=2) + "\n")


def export_ct2(run_dir: Path, quantization: str | None = None) -> Path:
    """RUN_DIR/merged → RUN_DIR/ct2 (a model faster-whisper loads), atomically."""
    from core import ct2

    merged = Path(run_dir) / MERGED
    if not (merged / "config.json").is_file():
        raise InputError(f"{run_dir}: no merged model (run `whisper-tui train` to the end first)")
    target = Path(run_dir) / CT2
    with atomic_directory(target) as tmp:
        ct2.export_model(merged, tmp, quantization)
    return target

