"""Training curves: loss and accuracy per epoch, per-step loss, several runs overlaid."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.ticker import MaxNLocator

from ._common import figure_and_axes, finish, new_figure

_FIELDS = ("step_loss", "train_loss", "train_acc", "val_loss", "val_acc")


def _fields(history, label: str) -> dict:
    """The History's lists as float arrays (a ``tinygraph.train.History`` or a dict with its field names)."""
    get = history.get if isinstance(history, Mapping) else (lambda k, d=None: getattr(history, k, d))
    if get("train_loss") is None and get("step_loss") is None:
        raise TypeError(
            f"plot_loss_curves: {label} must be a tinygraph.train.History (or a dict with its fields "
            f"{', '.join(_FIELDS)}), got {type(history).__name__}"
        )
    out = {k: np.asarray(list(get(k) or []), dtype=np.float64) for k in _FIELDS}
    for k, v in out.items():
        if v.size and np.isnan(v).all():  # e.g. accuracy of a regression run: nothing to draw
            out[k] = v[:0]
    return out


def ema(values, smooth: float) -> np.ndarray:
    """Exponential moving average with bias correction (TensorBoard's smoothing).

    ``m_t = smooth * m_{t-1} + (1 - smooth) * v_t`` with ``m_{-1} = 0``, reported as
    ``m_t / (1 - smooth**(t+1))`` so the start is not pulled towards zero. ``smooth=0``
    returns the values unchanged.
    """
    values = np.asarray(values, dtype=np.float64)
    out, m = np.empty_like(values), 0.0
    for t, v in enumerate(values):
        m = smooth * m + (1 - smooth) * v
        out[t] = m / (1 - smooth ** (t + 1))
    return out


def plot_loss_curves(
    history,
    labels=None,
    smooth: float = 0.9,
    log_scale: bool = False,
    show_steps: bool = False,
    validation: bool | None = None,
    accuracy: bool | None = None,
    title: str | None = None,
    ax=None,
    save=None,
    held_out: str = "val",
):
    """Loss (left) and accuracy (right) per epoch, for one run or several overlaid.

    Picture: two panels sharing the epoch axis. Each run has its own colour: training as a
    solid line with dots, validation dashed with squares, so over-fitting shows as the two
    lines of one colour drifting apart. With ``show_steps`` the per-batch loss is drawn
    faintly behind the epoch curve, with its moving average on top (step ``i`` of ``S`` over
    ``E`` epochs sits at ``x = (i + 1) * E / S``, so the last step of an epoch lines up with
    that epoch's point). The legend names each run and curve; it sits outside the panels
    (below them in a new figure, right of the given axes otherwise), so it never covers a curve.
    The held-out curves are named ``held_out`` (``"test"`` when the held-out set is the test set).

    Args:
        history: a ``tinygraph.train.History`` (fields ``step_loss``, ``train_loss``,
            ``train_acc``, ``val_loss``, ``val_acc``; per-epoch lists, ``step_loss`` per
            step) or a dict with those keys; or a list of them to overlay.
        labels: one name per history (default ``run 0, run 1, ...``; none for a single run).
        smooth: moving-average weight in [0, 1) for the per-step loss (see :func:`ema`).
        log_scale: loss axis in log scale.
        show_steps: draw the per-step loss and its moving average.
        validation: ``None`` draws validation curves where a history has them; ``True``
            requires them (a history without any gives a ValueError); ``False`` hides them.
        accuracy: ``None`` adds the accuracy panel when any history has accuracies; ``True``
            requires it; ``False`` hides it.
        title: figure title.
        ax: one axes (loss only) or a pair ``(loss_ax, acc_ax)`` to draw into.
        save: path to save the figure to.
        held_out: the name of the held-out set in the legend (``"val"``, ``"test"``); the line
            ``gid`` stays ``val_loss`` / ``val_acc``.

    Lines carry ``gid`` ``"<label>:<field>"`` (``train_loss``, ``val_loss``, ``train_acc``,
    ``val_acc``, ``step_loss``, ``step_loss_smooth``); with a single unlabelled run the
    label is ``run 0``.

    Returns:
        the matplotlib Figure.
    """
    histories = list(history) if isinstance(history, (list, tuple)) else [history]
    if not histories:
        raise ValueError("plot_loss_curves: got an empty list of histories")
    if labels is None:
        labels = [f"run {i}" for i in range(len(histories))]
        legend_names = [""] * len(histories) if len(histories) == 1 else labels
    else:
        labels = [labels] if isinstance(labels, str) else list(labels)
        if len(labels) != len(histories):
            raise ValueError(f"plot_loss_curves: got {len(histories)} histories but {len(labels)} labels")
        legend_names = labels
    if not 0 <= smooth < 1:
        raise ValueError(f"plot_loss_curves: smooth must be in [0, 1), got {smooth}")
    runs = [_fields(h, f"history {lab!r}") for h, lab in zip(histories, labels)]

    if validation:
        for run, lab in zip(runs, labels):
            if run["val_loss"].size == 0 and run["val_acc"].size == 0:
                raise ValueError(
                    f"plot_loss_curves: validation=True but history {lab!r} has no validation data "
                    "(val_loss and val_acc are empty); train with validation data or pass validation=False"
                )
    has_acc = any(r["train_acc"].size or r["val_acc"].size for r in runs)
    if accuracy and not has_acc:
        raise ValueError("plot_loss_curves: accuracy=True but no history has train_acc or val_acc")
    want_acc = has_acc if accuracy is None else bool(accuracy)

    # Where to draw: a new figure with one or two panels, or the caller's axes.
    if ax is None:
        fig = new_figure((11.0 if want_acc else 6.0, 4.0))
        loss_ax = fig.add_subplot(1, 2 if want_acc else 1, 1)
        acc_ax = fig.add_subplot(1, 2, 2) if want_acc else None
    elif isinstance(ax, (list, tuple, np.ndarray)):
        if len(ax) != 2:
            raise ValueError(f"plot_loss_curves: ax must be one axes or a pair (loss_ax, acc_ax), got {len(ax)}")
        fig, loss_ax = figure_and_axes(ax[0])
        acc_ax = ax[1] if want_acc else None
    else:
        fig, loss_ax = figure_and_axes(ax)
        acc_ax = None

    for i, (run, lab, shown) in enumerate(zip(runs, labels, legend_names)):
        color = f"C{i % 10}"
        prefix = f"{shown}: " if shown else ""
        if show_steps and run["step_loss"].size:
            steps = run["step_loss"]
            n_ep = run["train_loss"].size
            x = (np.arange(steps.size) + 1) * (n_ep / steps.size) if n_ep else np.arange(1, steps.size + 1)
            loss_ax.plot(x, steps, color=color, alpha=0.2, lw=0.8, gid=f"{lab}:step_loss")
            loss_ax.plot(
                x,
                ema(steps, smooth),
                color=color,
                alpha=0.7,
                lw=1.2,
                label=f"{prefix}step loss (smoothed {smooth:g})",
                gid=f"{lab}:step_loss_smooth",
            )
        for axes, key, style, show in (
            (loss_ax, "train_loss", "o-", True),
            (loss_ax, "val_loss", "s--", validation is not False),
            (acc_ax, "train_acc", "o-", acc_ax is not None),
            (acc_ax, "val_acc", "s--", acc_ax is not None and validation is not False),
        ):
            if show and run[key].size:  # one per-epoch series, at epochs 1..n
                name = key.replace("_", " ").replace("val", held_out)
                axes.plot(np.arange(1, run[key].size + 1), run[key], style, color=color, ms=3,
                          label=f"{prefix}{name}", gid=f"{lab}:{key}")

    no_epochs = all(r["train_loss"].size == 0 for r in runs)
    loss_ax.set_xlabel("step" if no_epochs else "epoch")
    for axes in (loss_ax, acc_ax):
        if axes is not None:
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    loss_ax.set_ylabel("loss")
    loss_ax.set_title("loss")
    if log_scale:
        loss_ax.set_yscale("log")
    loss_ax.grid(alpha=0.3)
    if acc_ax is not None:
        acc_ax.set_xlabel("epoch")
        acc_ax.set_ylabel("accuracy")
        acc_ax.set_title(f"accuracy (solid: train, dashed: {held_out})" if validation is not False else "accuracy")
        acc_ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    handles, names = loss_ax.get_legend_handles_labels()
    if acc_ax is not None and not handles:
        handles, names = acc_ax.get_legend_handles_labels()
    if ax is None:  # one legend under the panels: outside every curve
        fig.tight_layout()
        if handles:
            per_run = len(handles) // len(runs) if len(handles) % len(runs) == 0 else 0
            if len(runs) > 1 and 0 < per_run <= 4:  # one row per run: legend columns fill top to bottom
                order = [r * per_run + c for c in range(per_run) for r in range(len(runs))]
                handles, names = [handles[i] for i in order], [names[i] for i in order]
                columns = per_run
            else:
                columns = min(len(handles), 4)
            rows = -(-len(handles) // columns)
            room = 0.2 * rows + 0.1  # inches for the legend, added to the figure's height
            height = fig.get_figheight()
            fig.set_figheight(height + room)
            top, bottom = fig.subplotpars.top, fig.subplotpars.bottom
            fig.subplots_adjust(
                top=1 - (1 - top) * height / (height + room), bottom=(bottom * height + room) / (height + room)
            )
            fig.legend(handles, names, loc="lower center", ncol=columns, fontsize=8, frameon=False)
    elif handles:  # the caller's axes: the legend to its right, outside the plotting area
        loss_ax.legend(handles, names, fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    return finish(fig, save)
