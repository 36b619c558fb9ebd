"""tinygraph.train: fit / evaluate / predict, History, progress line, checkpoints and exact resume,
and that memory stays flat over many steps (the graph is freed each step)."""

import gc
import io
import math

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import nn, optim
from tinygraph.autograd import Function
from tinygraph.data import DataLoader, TensorDataset
from tinygraph.train import Callback, History, _Progress, evaluate, fit, predict

F = tg.functional


def _blobs(n=96, seed=0):
    """Three separable Gaussian blobs in 4-D: (n, 4) float32 and int64 labels."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = np.array([[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0]], dtype=np.float32)
    x = centres[y] + 0.5 * rng.standard_normal((n, 4)).astype(np.float32)
    return x.astype(np.float32), y.astype(np.int64)


def _mlp():
    return nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))


def _setup(seed=0, loader_seed=None):
    """Model, optimizer, scheduler and loaders, all built from ``seed`` (so two calls build identical runs)."""
    tg.manual_seed(seed)
    x, y = _blobs()
    model = _mlp()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    sched = optim.StepLR(opt, step_size=1, gamma=0.5)
    train = DataLoader(TensorDataset(x[:64], y[:64]), batch_size=16, shuffle=True, seed=loader_seed)
    val = DataLoader(TensorDataset(x[64:], y[64:]), batch_size=16)
    return model, opt, sched, train, val


# ------------------------------------------------------------------- fit
def test_fit_fills_history_and_learns():
    model, opt, sched, train, val = _setup()
    history = fit(model, train, F.cross_entropy, opt, epochs=3, val_loader=val, scheduler=sched)
    assert len(history.step_loss) == 3 * 4
    for name in ("train_loss", "train_acc", "val_loss", "val_acc", "epoch_time", "lr"):
        assert len(getattr(history, name)) == 3, name
    assert history.lr == [0.1, 0.05, 0.025]
    assert history.val_acc[-1] > 0.9 and history.train_loss[-1] < history.train_loss[0]
    assert all(0 <= a <= 1 for a in history.train_acc + history.val_acc)
    assert all(t > 0 for t in history.epoch_time)
    # the epoch's train loss is the sample-weighted mean of its steps (all batches have 16 samples here)
    assert history.train_loss[0] == pytest.approx(np.mean(history.step_loss[:4]))
    # the reported val numbers are what evaluate() says about the final model
    assert evaluate(model, val, F.cross_entropy) == pytest.approx((history.val_loss[-1], history.val_acc[-1]))


def test_fit_without_val_loader_keeps_val_lists_empty_and_history_round_trips():
    model, opt, _, train, _ = _setup()
    history = fit(model, train, F.cross_entropy, opt, epochs=2)
    assert history.val_loss == [] and history.val_acc == [] and history.epochs == 2
    d = history.to_dict()
    assert set(d) == {"step_loss", "train_loss", "train_acc", "val_loss", "val_acc", "epoch_time", "lr"}
    assert History.from_dict(d) == history
    with pytest.raises(ValueError, match="unknown field"):
        History.from_dict(dict(d, bogus=[1.0]))


def test_non_classification_targets_give_nan_accuracy():
    tg.manual_seed(0)
    x = np.random.default_rng(0).standard_normal((32, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [2.0], [-1.0]], dtype=np.float32)
    model = nn.Linear(3, 1)
    history = fit(
        model,
        DataLoader(TensorDataset(x, y), batch_size=8),
        F.mse_loss,
        optim.SGD(model.parameters(), lr=0.1),
        epochs=5,
    )
    assert math.isnan(history.train_acc[0]) and history.train_loss[-1] < history.train_loss[0]


def test_callbacks_see_every_batch_and_can_stop_training():
    model, opt, _, train, _ = _setup()
    events = []

    class Recorder(Callback):
        def on_epoch_begin(self, epoch, history):
            events.append(("begin", epoch))

        def on_batch_end(self, epoch, batch, loss, history):
            events.append(("batch", epoch, batch))
            assert loss == history.step_loss[-1]

        def on_train_end(self, history):
            events.append(("end",))

    def stop_after_two(epoch, history):
        return epoch == 1

    history = fit(model, train, F.cross_entropy, opt, epochs=10, callbacks=[Recorder(), stop_after_two])
    assert history.epochs == 2
    assert events[:2] == [("begin", 0), ("batch", 0, 0)] and events[-1] == ("end",)
    assert sum(e[0] == "batch" for e in events) == 8


def test_fit_argument_errors():
    model, opt, _, train, _ = _setup()
    with pytest.raises(ValueError, match="epochs"):
        fit(model, train, F.cross_entropy, opt, epochs=-1)
    with pytest.raises(ValueError, match="checkpoint_path"):
        fit(model, train, F.cross_entropy, opt, epochs=1, resume=True)
    with pytest.raises(TypeError, match="Module"):
        fit(lambda x: x, train, F.cross_entropy, opt, epochs=1)


# ------------------------------------------------------------------- progress
def test_progress_is_quiet_when_stderr_is_not_a_terminal(capsys):
    model, opt, _, train, _ = _setup()
    fit(model, train, F.cross_entropy, opt, epochs=1)
    assert capsys.readouterr().err == ""  # pytest's captured stderr is not a tty
    fit(model, train, F.cross_entropy, opt, epochs=1, progress=True)
    err = capsys.readouterr().err
    assert "\repoch 1/1  batch 4/4" in err and "img/s" in err and "ETA" in err and err.endswith("\n")


def test_progress_line_contents():
    stream = io.StringIO()
    bar = _Progress(True, stream)
    bar.update(2, 5, 10, 40, 0.5, 0.875, 640, 2.0)
    assert stream.getvalue() == "\repoch 2/5  batch 10/40  loss 0.5000  acc  87.5%  320 img/s  ETA 0:06   "
    assert not _Progress(None, io.StringIO()).enabled  # a StringIO is not a terminal


# ------------------------------------------------------------------- evaluate / predict
def test_evaluate_uses_eval_mode_no_graph_and_restores_each_mode():
    model, _, _, _, val = _setup()
    model.train()
    model[1].eval()  # a deliberately frozen batch norm must stay frozen afterwards
    seen = []
    model[4].register_forward_hook(lambda m, i, out: seen.append((m.training, out.requires_grad)))
    loss, acc = evaluate(model, val, F.cross_entropy)
    assert seen and all(s == (False, False) for s in seen)
    assert model.training and not model[1].training and model[3].training
    # an independent computation of the same numbers
    x, y = _blobs()
    model.eval()
    logits = model(tg.tensor(x[64:])).data
    model.train()
    shifted = logits - logits.max(1, keepdims=True)
    nll = -(shifted[np.arange(32), y[64:]] - np.log(np.exp(shifted).sum(1)))
    assert loss == pytest.approx(nll.mean(), rel=1e-5)
    assert acc == pytest.approx(np.mean(logits.argmax(1) == y[64:]))


def test_predict_returns_probabilities_labels_or_logits():
    model, _, _, _, val = _setup()
    x, _ = _blobs()
    probs = predict(model, x, batch_size=7)
    assert probs.shape == (96, 3)
    np.testing.assert_allclose(probs.data.sum(1), 1, rtol=1e-5)
    labels = predict(model, tg.tensor(x), output="labels")
    np.testing.assert_array_equal(labels.data, probs.data.argmax(1))
    logits = predict(model, val, output="logits")
    with tg.no_grad():
        model.eval()
        np.testing.assert_allclose(logits.data, model(tg.tensor(x[64:])).data, rtol=1e-6)
    with pytest.raises(ValueError, match="output"):
        predict(model, x, output="scores")


# ------------------------------------------------------------------- checkpoints / resume
@pytest.mark.parametrize("loader_seed", [None, 123])  # shuffling by tg.manual_seed's generator, or a private one
def test_resume_from_checkpoint_equals_uninterrupted_run(tmp_path, loader_seed):
    model_a, opt_a, sched_a, train_a, val_a = _setup(loader_seed=loader_seed)
    straight = fit(model_a, train_a, F.cross_entropy, opt_a, epochs=3, val_loader=val_a, scheduler=sched_a)

    path = tmp_path / "run.npz"
    model_b, opt_b, sched_b, train_b, val_b = _setup(loader_seed=loader_seed)
    fit(model_b, train_b, F.cross_entropy, opt_b, epochs=1, val_loader=val_b, scheduler=sched_b, checkpoint_path=path)
    tg.manual_seed(999)  # a new process would start from some other random state
    model_c, opt_c, sched_c, train_c, val_c = _setup(seed=5, loader_seed=loader_seed)  # different init too
    resumed = fit(
        model_c,
        train_c,
        F.cross_entropy,
        opt_c,
        epochs=3,
        val_loader=val_c,
        scheduler=sched_c,
        checkpoint_path=path,
        resume=True,
    )

    for (name, a), (_, c) in zip(model_a.state_dict().items(), model_c.state_dict().items()):
        np.testing.assert_array_equal(a.data, c.data, err_msg=name)
    assert resumed.step_loss == straight.step_loss
    assert resumed.train_loss == straight.train_loss and resumed.val_acc == straight.val_acc
    assert resumed.lr == straight.lr and len(resumed.epoch_time) == 3


def test_resume_without_checkpoint_starts_fresh_and_a_foreign_file_is_rejected(tmp_path):
    model, opt, _, train, _ = _setup()
    history = fit(model, train, F.cross_entropy, opt, epochs=1, checkpoint_path=tmp_path / "new.npz", resume=True)
    assert history.epochs == 1 and (tmp_path / "new.npz").exists()
    tg.save({"weights": tg.ones(2)}, tmp_path / "other.npz")
    with pytest.raises(ValueError, match="not a fit\\(\\) checkpoint"):
        fit(model, train, F.cross_entropy, opt, epochs=2, checkpoint_path=tmp_path / "other.npz", resume=True)


# ------------------------------------------------------------------- memory
def _live(cls):
    gc.collect()
    return sum(issubclass(type(o), cls) for o in gc.get_objects())  # type(): never runs a proxy's __class__


def test_memory_stays_flat_over_many_steps():
    """After each step the graph must be unreachable: the number of live graph nodes and tensors does
    not grow with the number of steps, and parameter arrays are updated in place."""
    model, opt, _, _, _ = _setup()
    x, y = _blobs()
    xb, yb = tg.tensor(x[:16]), tg.tensor(y[:16])

    def train(steps):
        for _ in range(steps):
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()

    train(5)
    nodes, tensors = _live(Function), _live(tg.Tensor)
    train(60)
    assert _live(Function) <= nodes
    assert _live(tg.Tensor) <= tensors
    assert all(p.grad_fn is None for p in model.parameters())
