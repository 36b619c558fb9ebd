"""The training loop: ``fit``, ``evaluate``, ``predict`` and the ``History`` they fill.

One training step is the whole of backpropagation-based learning::

    optimizer.zero_grad()            # forget the previous step's gradients
    logits = model(x)                # forward: records the graph
    loss = loss_fn(logits, y)        # one number measuring how wrong the model is
    loss.backward()                  # backward: d loss / d parameter for every parameter
    optimizer.step()                 # move every parameter a little downhill

``fit`` repeats it over a data loader for some epochs and adds what a real run needs:
running loss/accuracy, validation, a learning-rate schedule, a live progress line, and
checkpoints that a later run can resume from with identical results.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field, fields

import numpy as np

from . import functional as F
from .autograd import no_grad
from .nn.module import Module, evaluating
from .generators import find_generators, generator_state, set_generator_state
from .random import get_rng_state, set_rng_state
from .serialization import load, save
from .tensor import Tensor, as_tensor

__all__ = ["Callback", "History", "evaluate", "fit", "predict"]


@dataclass
class History:
    """What happened during ``fit``; every field is a list of floats.

    step_loss:  training loss of every step (batch), in order
    train_loss, train_acc: per epoch, averaged over the epoch's samples (in training mode,
                so with dropout active); accuracy is a fraction in [0, 1], NaN when the
                targets are not class labels
    val_loss, val_acc: per epoch from ``evaluate`` on ``val_loader`` (empty without one)
    epoch_time: wall-clock seconds of each epoch's training steps
    lr:         learning rate (of the first parameter group) used during each epoch
    """

    step_loss: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_acc: list = field(default_factory=list)
    epoch_time: list = field(default_factory=list)
    lr: list = field(default_factory=list)

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.train_loss)

    def to_dict(self) -> dict:
        """Plain ``{field: [float, ...]}``, for checkpoints and JSON."""
        return {f.name: [float(v) for v in getattr(self, f.name)] for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> History:
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"History.from_dict: unknown field(s) {sorted(unknown)}; expected some of {sorted(names)}")
        return cls(**{k: [float(v) for v in d[k]] for k in d})


class Callback:
    """Hooks into ``fit``; override the ones you need.  ``on_epoch_end`` may return True to stop training.

    A plain function given as a callback is called as ``on_epoch_end(epoch, history)``.
    """

    def on_epoch_begin(self, epoch: int, history: History) -> None:
        pass

    def on_batch_end(self, epoch: int, batch: int, loss: float, history: History) -> None:
        pass

    def on_epoch_end(self, epoch: int, history: History):
        pass

    def on_train_end(self, history: History) -> None:
        pass


class _FunctionCallback(Callback):
    def __init__(self, fn):
        self.fn = fn

    def on_epoch_end(self, epoch, history):
        return self.fn(epoch, history)


# ------------------------------------------------------------------- helpers
def _split_batch(batch, device: str = "cpu"):
    """A loader yields ``(x, y)`` pairs (extra items are ignored) or bare inputs ``x``; moved to ``device``."""
    if isinstance(batch, (tuple, list)):
        x = batch[0]
        y = batch[1] if len(batch) > 1 else None
    else:
        x, y = batch, None
    x = as_tensor(x).to(device)
    return x, (None if y is None else as_tensor(y).to(device))


def _model_device(model: Module) -> str:
    """Where the model's parameters live ('cpu' for a model without parameters)."""
    for p in model.parameters():
        return p.device
    return "cpu"


def _host(t: Tensor) -> np.ndarray:
    return t.detach().to("cpu").data


def _correct(output: Tensor, y: Tensor):
    """Number of rows whose highest score is the target class, or None when that makes no sense."""
    if y is None or output.ndim < 2 or y.dtype.kind not in "iu":
        return None
    if y.shape != (output.shape[0],) + tuple(output.shape[2:]):
        return None
    return int((_host(output).argmax(axis=1) == _host(y)).sum())


def _length(loader):
    try:
        return len(loader)
    except TypeError:
        return None


def _format_time(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds < 3600 else f"{seconds // 3600}h{seconds // 60 % 60:02d}m"


class _Progress:
    """The live line ``epoch 2/5  batch 13/28  loss 0.412  acc 87.3%  5,120 img/s  ETA 0:03`` on stderr.

    It rewrites itself with ``\\r`` at most 10 times a second; quiet unless stderr is a terminal
    (``progress=None``) or it is forced (``progress=True``).
    """

    def __init__(self, enabled, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else bool(enabled)
        self._last = 0.0

    def update(self, epoch, epochs, i, n, loss, acc, images, elapsed):
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last < 0.1 and i != n:
            return
        self._last = now
        rate = images / elapsed if elapsed > 0 else 0.0
        eta = f"  ETA {_format_time(elapsed / i * (n - i))}" if n else ""
        acc_text = "" if math.isnan(acc) else f"  acc {100 * acc:5.1f}%"
        self.stream.write(
            f"\repoch {epoch}/{epochs}  batch {i}/{n or '?'}  loss {loss:.4f}{acc_text}  {rate:,.0f} img/s{eta}   "
        )
        self.stream.flush()

    def end_epoch(self, history: History):
        if not self.enabled:
            return
        parts = [f"train loss {history.train_loss[-1]:.4f}"]
        if not math.isnan(history.train_acc[-1]):
            parts.append(f"acc {100 * history.train_acc[-1]:.1f}%")
        if history.val_loss:
            parts.append(f"val loss {history.val_loss[-1]:.4f}")
            if not math.isnan(history.val_acc[-1]):
                parts.append(f"val acc {100 * history.val_acc[-1]:.1f}%")
        parts.append(f"{history.epoch_time[-1]:.1f}s")
        self.stream.write(f"\repoch {history.epochs}: " + "  ".join(parts) + " " * 20 + "\n")
        self.stream.flush()


# ----------------------------------------------------------------- checkpoints
def _run_generators(model, train_loader, val_loader) -> dict:
    """``{path: generator}``: the private random generators of the run (transforms', loaders', layers')."""
    return find_generators({"model": model, "train_loader": train_loader, "val_loader": val_loader})


def _checkpoint(model, optimizer, scheduler, train_loader, epoch: int, history: History, generators: dict) -> dict:
    """Everything a resumed run needs to continue exactly where this one stopped."""
    return {
        "generators": {path: generator_state(g) for path, g in generators.items()},
        "epoch": epoch,  # completed epochs
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "train_loader": train_loader.state_dict() if hasattr(train_loader, "state_dict") else None,
        "history": history.to_dict(),
        "rng_state": get_rng_state(),
    }


def _restore_generators(saved, generators: dict, path) -> None:
    """Every generator of this run gets its saved state back, or resuming stops naming the one that cannot."""
    saved = saved if isinstance(saved, dict) else {}
    for where, generator in generators.items():
        if where not in saved:
            raise ValueError(
                f"fit: cannot resume exactly from {path!r}: the random generator at {where} "
                f"({type(generator).__name__}) has no saved state in the checkpoint (written by an older tinygraph "
                "or by a run set up differently); start without resume=True"
            )
        try:
            set_generator_state(generator, saved[where], where)
        except ValueError as e:
            raise ValueError(f"fit: cannot resume exactly from {path!r}: {e}") from None
    missing = sorted(set(saved) - set(generators))
    if missing:
        raise ValueError(
            f"fit: cannot resume exactly from {path!r}: the checkpoint holds the state of random generator(s) at "
            f"{', '.join(missing)}, which this run does not have (was it set up differently?)"
        )


def _restore(checkpoint: dict, path, model, optimizer, scheduler, train_loader, generators) -> tuple[int, History]:
    try:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        if scheduler is not None:
            if checkpoint["scheduler"] is None:
                raise ValueError("the checkpoint was written without a scheduler, but one was given")
            scheduler.load_state_dict(checkpoint["scheduler"])
        if checkpoint.get("train_loader") is not None and hasattr(train_loader, "load_state_dict"):
            train_loader.load_state_dict(checkpoint["train_loader"])
        set_rng_state(checkpoint["rng_state"])
        _restore_generators(checkpoint.get("generators"), generators, path)
        return int(checkpoint["epoch"]), History.from_dict(checkpoint["history"])
    except KeyError as e:
        raise ValueError(f"fit: {path!r} is not a fit() checkpoint (no {e} entry)") from None


# ------------------------------------------------------------------- the loop
def fit(
    model: Module,
    train_loader,
    loss_fn,
    optimizer,
    epochs: int,
    val_loader=None,
    scheduler=None,
    callbacks=(),
    checkpoint_path=None,
    resume: bool = False,
    progress=None,
) -> History:
    """Train ``model`` for ``epochs`` epochs and return its :class:`History`.

    train_loader: iterable of ``(x, y)`` batches, e.g. a ``tg.data.DataLoader``; iterated once per epoch
    loss_fn:      ``loss_fn(model(x), y)`` -> scalar Tensor, e.g. ``tg.functional.cross_entropy``
    scheduler:    stepped once after every epoch
    callbacks:    :class:`Callback` objects or functions ``fn(epoch, history)`` (return True to stop)
    checkpoint_path: after every epoch, save model, optimizer, scheduler, history and the state of
                  every random generator the run uses (``tg.manual_seed``'s and any private one of
                  a transform, loader or layer; see ``tinygraph.generators``) there, atomically
    resume:       start from ``checkpoint_path`` if it exists and run the remaining epochs; ``epochs``
                  is the total, so an interrupted ``fit(..., epochs=10, resume=True)`` rerun finishes
                  the same 10 epochs with the same result as an uninterrupted run
    progress:     None: a live line on stderr when it is a terminal; True/False: force on/off
    """
    if not isinstance(model, Module):
        raise TypeError(f"fit: model must be a tg.nn.Module, got {type(model).__name__}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"fit: epochs must be a non-negative int, got {epochs!r}")
    if resume and checkpoint_path is None:
        raise ValueError("fit: resume=True needs checkpoint_path")
    callbacks = [c if isinstance(c, Callback) else _FunctionCallback(c) for c in callbacks]
    history, start = History(), 0
    generators = _run_generators(model, train_loader, val_loader) if checkpoint_path is not None else {}
    if resume and os.path.exists(checkpoint_path):
        checkpoint = load(checkpoint_path)
        start, history = _restore(checkpoint, checkpoint_path, model, optimizer, scheduler, train_loader, generators)
    bar = _Progress(progress)
    n = _length(train_loader)
    device = _model_device(model)

    for epoch in range(start, epochs):
        if hasattr(train_loader, "set_epoch"):
            train_loader.set_epoch(epoch)
        for c in callbacks:
            c.on_epoch_begin(epoch, history)
        model.train()
        history.lr.append(float(optimizer.param_groups[0]["lr"]))
        loss_sum, correct, labelled, seen = 0.0, 0, 0, 0
        started = time.perf_counter()
        for i, batch in enumerate(train_loader, 1):
            x, y = _split_batch(batch, device)
            optimizer.zero_grad()
            output = model(x)
            loss = loss_fn(output, y)
            loss.backward()
            optimizer.step()

            value = loss.item()
            batch_size = x.shape[0]
            history.step_loss.append(value)
            loss_sum += value * batch_size
            seen += batch_size
            right = _correct(output, y)
            if right is not None:
                correct += right
                labelled += y.data.size
            bar.update(
                epoch + 1,
                epochs,
                i,
                n,
                loss_sum / seen,
                correct / labelled if labelled else math.nan,
                seen,
                time.perf_counter() - started,
            )
            for c in callbacks:
                c.on_batch_end(epoch, i - 1, value, history)
        history.epoch_time.append(time.perf_counter() - started)
        history.train_loss.append(loss_sum / seen if seen else math.nan)
        history.train_acc.append(correct / labelled if labelled else math.nan)
        if val_loader is not None:
            val_loss, val_acc = evaluate(model, val_loader, loss_fn)
            history.val_loss.append(val_loss)
            history.val_acc.append(val_acc)
        if scheduler is not None:
            scheduler.step()
        bar.end_epoch(history)
        if checkpoint_path is not None:
            state = _checkpoint(model, optimizer, scheduler, train_loader, epoch + 1, history, generators)
            save(state, checkpoint_path)
        if any([c.on_epoch_end(epoch, history) for c in callbacks]):  # a list: every callback sees the epoch
            break
    for c in callbacks:
        c.on_train_end(history)
    return history


def evaluate(model: Module, loader, loss_fn=None) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` over ``loader``, in eval mode and without recording a graph.

    loss_fn defaults to cross-entropy; the mean is over samples (batches weighted by their size).
    Accuracy is a fraction in [0, 1] (NaN when the targets are not class labels).  The mode of
    every submodule is restored afterwards.
    """
    loss_fn = F.cross_entropy if loss_fn is None else loss_fn
    loss_sum, correct, labelled, seen = 0.0, 0, 0, 0
    device = _model_device(model)
    with no_grad(), evaluating(model):
        for batch in loader:
            x, y = _split_batch(batch, device)
            output = model(x)
            loss_sum += loss_fn(output, y).item() * x.shape[0]
            seen += x.shape[0]
            right = _correct(output, y)
            if right is not None:
                correct += right
                labelled += y.data.size
    if seen == 0:
        raise ValueError("evaluate: the loader yielded no batches")
    return loss_sum / seen, (correct / labelled if labelled else math.nan)


def predict(model: Module, data, batch_size: int = 256, output: str = "probs") -> Tensor:
    """Run ``model`` on unseen data in eval mode, without a graph, batch by batch.

    data:   a Tensor or array ``(N, ...)``, or a loader yielding ``x`` or ``(x, y)`` batches
    output: ``"probs"`` (softmax over dim 1, ``(N, C)``), ``"labels"`` (``(N,)`` int64 argmax) or ``"logits"``
    """
    if output not in ("probs", "labels", "logits"):
        raise ValueError(f"predict: output must be 'probs', 'labels' or 'logits', got {output!r}")
    if isinstance(data, (Tensor, np.ndarray)):
        x = as_tensor(data)
        if batch_size <= 0:
            raise ValueError(f"predict: batch_size must be positive, got {batch_size}")
        batches = (x[i : i + batch_size] for i in range(0, x.shape[0], batch_size))
    else:
        batches = (_split_batch(b)[0] for b in data)
    chunks, device = [], _model_device(model)
    with no_grad(), evaluating(model):
        for xb in batches:
            logits = model(xb.to(device))
            if output == "probs":
                logits = F.softmax(logits, dim=1)
            chunks.append(_host(logits))
    if not chunks:
        raise ValueError("predict: no data")
    result = np.concatenate(chunks)
    if output == "labels":
        result = result.argmax(axis=1).astype(np.int64)
    return Tensor._wrap(result)
