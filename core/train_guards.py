"""What stops, watches and reports a training run while transformers' Trainer loops (core/train.py sets the run
up and hands these to the Trainer as callbacks, or calls them around `trainer.train`).

Why apart from the model and the data: each is a small guarantee that holds whatever is trained. Reports: each
Trainer log becomes a core event and a `metrics.jsonl` line. Watches: a loss or weights that stop being finite end
the run before that step is saved, so a checkpoint never holds NaN; running out of memory or diverging becomes one
line saying what to try. Stops: Ctrl-C, or the TUI's `stop.request`, asks for a checkpoint and a clean stop instead
of killing the run mid-step. Resumes: a new learning rate applies from the checkpoint on, and metrics logged after
it are forgotten.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from core.errors import Cancelled
from core.events import EventHandler, Job, Log, Metrics, Progress, ignore
from core.files import atomic_write_text
from core.runs import STOP_REQUEST, last_checkpoint
from core.train_config import TrainConfig, flag, setting_of


class EventsCallback:
    """Turns Trainer logs into core events and a `metrics.jsonl` line each (main process only, `report`); a
    cancelled job asks the Trainer to save a checkpoint and stop after the step (every process)."""

    def __init__(self, metrics_file: Path, job: Job, report: bool = True) -> None:
        self.metrics_file = metrics_file
        self.job = job
        self.emit: EventHandler = job.emit if report else ignore

    def _write(self, record: dict) -> None:
        with open(self.metrics_file, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        kind = "eval" if any(key.startswith("eval_") for key in logs) else "train"
        values = {k.removeprefix("eval_"): float(v) for k, v in logs.items()
                  if isinstance(v, int | float) and k not in ("epoch", "step")}
        if kind == "train" and "loss" not in values:
            return  # the end-of-training summary: not a step row
        record = {"kind": kind, "step": state.global_step, "epoch": round(state.epoch or 0.0, 4),
                  "time": time.time(), **values}
        self._write(record)
        self.emit(Metrics(kind, state.global_step, float(state.epoch or 0.0), values))

    def on_step_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.emit(Progress("train", state.global_step, state.max_steps, "steps"))
        if self.job.cancelled:
            control.should_save = True
            control.should_training_stop = True
        return control


class Diverged(Exception):
    """The loss or the weights stopped being finite at `step` (raised before anything of that step is saved)."""

    def __init__(self, step: int, what: str) -> None:
        super().__init__(f"step {step}: {what}")
        self.step, self.what = step, what


def check_finite_loss(loss, step: int) -> None:
    """Stop before a non-finite loss is back-propagated into the weights (the Trainer would only hide it from
    its logs: `logging_nan_inf_filter`)."""
    import torch

    if not bool(torch.isfinite(loss.detach()).all()):
        raise Diverged(step, f"loss {float(loss.detach().float().mean())}")


class DivergenceGuard:
    """After each optimizer step, before the Trainer may evaluate or save it: the trainable weights must be
    finite, so a checkpoint on disk never holds NaN or inf (one reduction, one device sync per step)."""

    def on_step_end(self, args, state, control, model=None, **kwargs):
        import torch

        params = [p.detach() for p in model.parameters() if p.requires_grad] if model is not None else []
        if params and not bool(torch.stack([torch.isfinite(p).all() for p in params]).all()):
            bad = "nan" if any(bool(torch.isnan(p).any()) for p in params) else "inf"
            raise Diverged(state.global_step, f"weights became {bad}")
        return control


class ResumeLearningRate:
    """`--resume --lr X` continues at X, as every other setting given to --resume applies: the checkpoint's
    optimizer and scheduler would otherwise silently bring back the old rate (and the way out of a diverged run
    is its last good checkpoint and a lower rate). The same rate changes nothing; a new one is announced."""

    def __init__(self, learning_rate: float, on_event: EventHandler) -> None:
        self.learning_rate, self.on_event = learning_rate, on_event

    def on_train_begin(self, args, state, control, optimizer=None, lr_scheduler=None, **kwargs):
        scheduler = getattr(lr_scheduler, "scheduler", lr_scheduler)  # accelerate wraps it
        old = list(getattr(scheduler, "base_lrs", None) or [])
        if optimizer is None or not old or all(rate == self.learning_rate for rate in old):
            return control
        for group, rate in zip(optimizer.param_groups, old, strict=False):
            if rate > 0:
                group["lr"] = group["lr"] * self.learning_rate / rate  # the same point of the schedule
            group["initial_lr"] = self.learning_rate
        scheduler.base_lrs = [self.learning_rate] * len(old)
        scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]
        self.on_event(Log(f"learning rate {old[0]:g} → {self.learning_rate:g} from here on"))
        return control


def diverged_message(err: Diverged, config: TrainConfig, checkpoints: Path) -> str:
    if err.step == 0:
        return f"the base model's validation loss is not finite before any training ({err.what})"
    last = last_checkpoint(checkpoints)
    lr = flag("learning_rate")
    where = (f"the last good checkpoint is {last} ({flag('resume')} with a lower {lr} continues from it)"
             if last is not None else "no checkpoint was saved before it")
    return f"training diverged at step {err.step} ({err.what}): lower {lr} (now {config.learning_rate:g}); {where}"


def out_of_memory(err: BaseException) -> bool:
    """CUDA's torch.OutOfMemoryError, and the plain RuntimeErrors MPS and some CUDA paths raise instead."""
    import torch

    return isinstance(err, torch.OutOfMemoryError) or (
        isinstance(err, RuntimeError) and "out of memory" in str(err).lower())


def oom_message(config: TrainConfig) -> str:
    """What to try, in the order that costs the least: a smaller batch, then less activation memory."""
    n = config.batch_size
    advice = [f"{flag('batch_size')} {n // 2}"] if n > 1 else []
    if config.caches_encoder:
        if not config.gradient_checkpointing:
            advice.append(flag("gradient_checkpointing"))
    elif config.full_finetune:  # the encoder is trained, with gradient checkpointing already on
        advice.append(f"LoRA instead of {flag('full_finetune')}")
    else:
        advice.append(f"{flag('lora_layers')} decoder (encoder frozen and cached)")
    if not advice:
        advice.append(f"a smaller model ({setting_of('model').short}) or {flag('device')} cpu")
    return f"out of GPU memory at batch size {n}: try {' or '.join(advice)}"


def callback(obj):
    """Wrap our plain-object callbacks in a TrainerCallback subclass (imported lazily)."""
    from transformers import TrainerCallback

    class Wrapped(TrainerCallback):
        def on_log(self, *a, **k):
            return getattr(obj, "on_log", lambda *a, **k: None)(*a, **k)

        def on_step_end(self, *a, **k):
            return getattr(obj, "on_step_end", lambda *a, **k: None)(*a, **k)

        def on_train_begin(self, *a, **k):
            return getattr(obj, "on_train_begin", lambda *a, **k: None)(*a, **k)

        def on_epoch_begin(self, *a, **k):
            return getattr(obj, "on_epoch_begin", lambda *a, **k: None)(*a, **k)

    return Wrapped()


@contextlib.contextmanager
def stop_on_sigint(job: Job) -> Iterator[None]:
    """Ctrl-C cancels the job: the Trainer saves a checkpoint and stops, instead of being killed mid-step."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if job.cancelled:  # a second Ctrl-C: the user means it
            raise KeyboardInterrupt
        job.cancel()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def watch_stop_request(run_dir: Path, job: Job, poll_s: float = 0.5) -> None:
    """Cancel `job` when RUN_DIR/stop.request appears (the TUI's Stop writes it beside sending SIGINT); a request
    left by an earlier stop is removed first. A daemon thread: it ends with the process, or once the job is
    cancelled some other way."""
    request = run_dir / STOP_REQUEST
    request.unlink(missing_ok=True)

    def watch() -> None:
        while not job.cancelled:
            if request.exists():
                request.unlink(missing_ok=True)
                job.cancel()
                return
            job.wait(poll_s)

    threading.Thread(target=watch, name="stop-request", daemon=True).start()


STOPPED_EARLY = "training stopped before its first checkpoint; nothing to resume: start it again"


def stopped_early() -> Cancelled:
    return Cancelled(STOPPED_EARLY)


def trim_metrics(metrics_file: Path, step: int) -> None:
    """On resume, forget lines logged after the checkpoint we continue from (they will be logged again)."""
    if not metrics_file.is_file():
        return
    kept = []
    for line in metrics_file.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:  # a line torn by a kill -9 mid-write
            continue
        if row.get("step", 0) <= step:
            kept.append(line)
    atomic_write_text(metrics_file, "".join(line + "\n" for line in kept))
