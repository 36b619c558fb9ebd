"""tinygraph.optim: update rules against independent NumPy formulas (and torch.optim when installed),
schedules against closed forms, gradient clipping, state dicts, and that steps record nothing."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygraph as tg
from tinygraph import nn, optim
from tinygraph.serialization import load, save

try:
    import torch
except ImportError:  # torch is only a benchmark/reference dependency
    torch = None

STEPS = 6


def _gradient_sequence(shape, steps=STEPS, seed=0):
    """Fixed gradients to feed every optimizer, so the references see exactly the same inputs."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for _ in range(steps)]


def _run_tinygraph(make_optimizer, p0, grads):
    p = nn.Parameter(p0.copy())
    opt = make_optimizer([p])
    trajectory = []
    for g in grads:
        p.grad = tg.tensor(g)
        opt.step()
        trajectory.append(p.data.copy())
    return trajectory


# ------------------------------------------------------------- reference rules
def _sgd_reference(p, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    """SGD as the PyTorch documentation writes it, from scratch."""
    p, buf, out = p.copy(), None, []
    for g in grads:
        g = g + weight_decay * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
        out.append(p)
    return out


def _adam_reference(p, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, decoupled=False):
    """Adam (Kingma & Ba) with PyTorch's bias correction and eps placement; AdamW when decoupled."""
    b1, b2 = betas
    p, m, v, vmax, out = p.copy(), np.zeros_like(p), np.zeros_like(p), np.zeros_like(p), []
    for t, g in enumerate(grads, 1):
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        vmax = np.maximum(vmax, v)
        m_hat = m / (1 - b1**t)
        v_hat = (vmax if amsgrad else v) / (1 - b2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(p)
    return out


SGD_CASES = [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.02, momentum=0.5, weight_decay=0.1),
    dict(lr=0.02, momentum=0.8, weight_decay=0.01, nesterov=True),
]
ADAM_CASES = [
    dict(lr=1e-2),
    dict(lr=3e-3, betas=(0.8, 0.99), eps=1e-6),
    dict(lr=1e-2, weight_decay=0.1),
    dict(lr=1e-2, amsgrad=True),
]


@pytest.mark.parametrize("kwargs", SGD_CASES)
def test_sgd_matches_the_formula(kwargs):
    p0 = np.random.default_rng(1).standard_normal((3, 4))
    grads = _gradient_sequence((3, 4))
    ours = _run_tinygraph(lambda ps: optim.SGD(ps, **kwargs), p0, grads)
    for a, b in zip(ours, _sgd_reference(p0, grads, **kwargs)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kwargs", ADAM_CASES)
@pytest.mark.parametrize("cls", ["Adam", "AdamW"])
def test_adam_and_adamw_match_the_formula(cls, kwargs):
    p0 = np.random.default_rng(2).standard_normal((5,))
    grads = _gradient_sequence((5,), seed=3)
    ours = _run_tinygraph(lambda ps: getattr(optim, cls)(ps, **kwargs), p0, grads)
    if cls == "AdamW":
        kwargs = dict(kwargs, weight_decay=kwargs.get("weight_decay", 1e-2), decoupled=True)
    for a, b in zip(ours, _adam_reference(p0, grads, **kwargs)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


@given(
    lr=st.floats(0.0, 1.0),
    momentum=st.floats(0.0, 0.99),
    dampening=st.floats(0.0, 0.9),
    weight_decay=st.floats(0.0, 0.5),
    nesterov=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_sgd_matches_the_formula_for_any_hyperparameters(lr, momentum, dampening, weight_decay, nesterov, seed):
    if nesterov:  # PyTorch's (and our) rule: nesterov needs momentum and no dampening
        momentum, dampening = max(momentum, 0.1), 0.0
    kwargs = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov)
    p0 = np.random.default_rng(seed).standard_normal((4,))
    grads = _gradient_sequence((4,), seed=seed + 1)
    ours = _run_tinygraph(lambda ps: optim.SGD(ps, **kwargs), p0, grads)
    for a, b in zip(ours, _sgd_reference(p0, grads, **kwargs)):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12)


@given(
    lr=st.floats(1e-4, 0.1),
    beta1=st.floats(0.0, 0.99),
    beta2=st.floats(0.5, 0.9999),
    eps=st.floats(1e-10, 1e-3),
    weight_decay=st.floats(0.0, 0.5),
    amsgrad=st.booleans(),
    decoupled=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_adam_matches_the_formula_for_any_hyperparameters(
    lr, beta1, beta2, eps, weight_decay, amsgrad, decoupled, seed
):
    kwargs = dict(lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
    cls = optim.AdamW if decoupled else optim.Adam
    p0 = np.random.default_rng(seed).standard_normal((4,))
    grads = _gradient_sequence((4,), seed=seed + 1)
    ours = _run_tinygraph(lambda ps: cls(ps, **kwargs), p0, grads)
    for a, b in zip(ours, _adam_reference(p0, grads, decoupled=decoupled, **kwargs)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.skipif(torch is None, reason="torch not installed")
@pytest.mark.parametrize(
    "name, kwargs",
    [("SGD", k) for k in SGD_CASES] + [("Adam", k) for k in ADAM_CASES] + [("AdamW", k) for k in ADAM_CASES],
)
def test_matches_torch_optim(name, kwargs):
    p0 = np.random.default_rng(4).standard_normal((4, 3))
    grads = _gradient_sequence((4, 3), seed=5)
    ours = _run_tinygraph(lambda ps: getattr(optim, name)(ps, **kwargs), p0, grads)
    tp = torch.nn.Parameter(torch.tensor(p0.copy()))
    topt = getattr(torch.optim, name)([tp], **kwargs)
    for ours_t, g in zip(ours, grads):
        tp.grad = torch.tensor(g)
        topt.step()
        np.testing.assert_allclose(ours_t, tp.detach().numpy(), rtol=1e-10, atol=1e-13)


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_float32_training_tracks_torch():
    """Same float32 network, same data, 5 SGD-momentum steps: weights agree to float32 rounding."""
    rng = np.random.default_rng(6)
    w1, w2 = rng.standard_normal((8, 4)).astype(np.float32), rng.standard_normal((3, 8)).astype(np.float32)
    x, y = rng.standard_normal((16, 4)).astype(np.float32), rng.integers(0, 3, 16)
    model = nn.Sequential(nn.Linear(4, 8, bias=False), nn.ReLU(), nn.Linear(8, 3, bias=False))
    model[0].weight.data[...] = w1
    model[2].weight.data[...] = w2
    tmodel = torch.nn.Sequential(torch.nn.Linear(4, 8, bias=False), torch.nn.ReLU(), torch.nn.Linear(8, 3, bias=False))
    with torch.no_grad():
        tmodel[0].weight.copy_(torch.tensor(w1))
        tmodel[2].weight.copy_(torch.tensor(w2))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    for _ in range(5):
        opt.zero_grad()
        tg.functional.cross_entropy(model(tg.tensor(x)), tg.tensor(y)).backward()
        opt.step()
        topt.zero_grad()
        torch.nn.functional.cross_entropy(tmodel(torch.tensor(x)), torch.tensor(y)).backward()
        topt.step()
    np.testing.assert_allclose(model[2].weight.data, tmodel[2].weight.detach().numpy(), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------- behaviour
def test_param_groups_have_their_own_hyperparameters():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad, b.grad = tg.tensor(np.ones(2)), tg.tensor(np.ones(2))
    opt.step()
    np.testing.assert_allclose(a.data, 0.9)
    np.testing.assert_allclose(b.data, 0.5)
    assert opt.param_groups[1]["momentum"] == 0.0  # filled from defaults


def test_parameters_without_grad_are_skipped_and_zero_grad_clears():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = tg.tensor(np.ones(2))
    opt.step()
    np.testing.assert_array_equal(b.data, 1)
    assert b not in opt.state and opt.state[a]["step"] == 1
    opt.zero_grad()
    assert a.grad is None


def test_step_records_nothing_and_keeps_parameters_leaves():
    model = nn.Linear(3, 2)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    arrays = [p.data for p in model.parameters()]
    for _ in range(3):
        opt.zero_grad()
        model(tg.randn(4, 3)).sum().backward()
        opt.step()  # grad mode is on here: the update must still not be recorded
    for p, array in zip(model.parameters(), arrays):
        assert p.is_leaf and p.grad_fn is None and p.requires_grad
        assert p.data is array  # updated in place


def test_argument_errors():
    p = [nn.Parameter(np.ones(2))]
    with pytest.raises(ValueError, match="learning rate"):
        optim.SGD(p, lr=-1)
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="required 'lr'"):
        optim.SGD(p)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(ValueError, match="betas"):
        optim.Adam(p, betas=(0.9, 1.0))
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(p[0], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": p}, {"params": p}], lr=0.1)


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
        lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True),
        lambda ps: optim.AdamW(ps, lr=0.01),
    ],
)
def test_state_dict_resumes_exactly_through_a_checkpoint(tmp_path, make):
    p0 = np.random.default_rng(7).standard_normal((3,)).astype(np.float32)
    grads = [g.astype(np.float32) for g in _gradient_sequence((3,), steps=6, seed=8)]
    straight = _run_tinygraph(make, p0, grads)[-1]

    p = nn.Parameter(p0.copy())
    opt = make([p])
    for g in grads[:3]:
        p.grad = tg.tensor(g)
        opt.step()
    save({"p": p, "opt": opt.state_dict()}, tmp_path / "ckpt.npz")

    ckpt = load(tmp_path / "ckpt.npz")
    q = nn.Parameter(ckpt["p"].data.copy())
    opt2 = make([q])
    opt2.load_state_dict(ckpt["opt"])
    for g in grads[3:]:
        q.grad = tg.tensor(g)
        opt2.step()
    np.testing.assert_array_equal(q.data, straight)


def test_load_state_dict_checks_structure():
    opt = optim.SGD([nn.Parameter(np.ones(2))], lr=0.1, momentum=0.9)
    other = optim.SGD([nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))], lr=0.1)
    with pytest.raises(ValueError, match="2 parameters in the saved state but 1"):
        opt.load_state_dict(other.state_dict())
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        opt.load_state_dict({"lr": 1})


# ------------------------------------------------------------- schedules
def _lrs(make_scheduler, epochs=12, base_lr=0.1):
    opt = optim.SGD([nn.Parameter(np.ones(1))], lr=base_lr)
    sched = make_scheduler(opt)
    lrs = []
    for _ in range(epochs):
        lrs.append(opt.param_groups[0]["lr"])
        sched.step()
    assert sched.get_last_lr() == [opt.param_groups[0]["lr"]]
    return lrs


def test_schedules_follow_their_closed_forms():
    t = np.arange(12)
    np.testing.assert_allclose(_lrs(lambda o: optim.StepLR(o, 5, gamma=0.5)), 0.1 * 0.5 ** (t // 5), rtol=1e-15)
    np.testing.assert_allclose(
        _lrs(lambda o: optim.MultiStepLR(o, [7, 3], gamma=0.1)),
        0.1 * 0.1 ** ((t >= 3).astype(int) + (t >= 7)),
        rtol=1e-15,
    )
    np.testing.assert_allclose(_lrs(lambda o: optim.ExponentialLR(o, 0.9)), 0.1 * 0.9**t, rtol=1e-14)
    np.testing.assert_allclose(
        _lrs(lambda o: optim.CosineAnnealingLR(o, T_max=10, eta_min=0.001)),
        0.001 + (0.1 - 0.001) * (1 + np.cos(np.pi * t / 10)) / 2,
        rtol=1e-14,
    )
    np.testing.assert_allclose(_lrs(lambda o: optim.LambdaLR(o, lambda e: 1 / (e + 1))), 0.1 / (t + 1), rtol=1e-15)
    cosine = _lrs(lambda o: optim.CosineAnnealingLR(o, T_max=10))
    assert cosine[0] == 0.1 and cosine[10] == pytest.approx(0, abs=1e-15) and cosine[5] == pytest.approx(0.05)


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_schedules_match_torch():
    cases = [
        ("StepLR", dict(step_size=3, gamma=0.5)),
        ("MultiStepLR", dict(milestones=[2, 5], gamma=0.3)),
        ("ExponentialLR", dict(gamma=0.8)),
        ("CosineAnnealingLR", dict(T_max=8, eta_min=0.01)),
    ]
    for name, kwargs in cases:
        ours = _lrs(lambda o, name=name, kwargs=kwargs: getattr(optim, name)(o, **kwargs), epochs=9)
        topt = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1)
        tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
        theirs = []
        for _ in range(9):
            theirs.append(topt.param_groups[0]["lr"])
            topt.step()
            tsched.step()
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, err_msg=name)


def test_scheduler_state_dict_resumes():
    opt = optim.SGD([nn.Parameter(np.ones(1))], lr=0.1)
    sched = optim.CosineAnnealingLR(opt, T_max=10)
    for _ in range(4):
        sched.step()
    state = sched.state_dict()
    assert "optimizer" not in state
    opt2 = optim.SGD([nn.Parameter(np.ones(1))], lr=0.1)
    sched2 = optim.CosineAnnealingLR(opt2, T_max=10)
    sched2.load_state_dict(state)
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    sched.step()
    sched2.step()
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]


# ------------------------------------------------------------- clipping
def test_clip_grad_norm_scales_all_gradients_together():
    rng = np.random.default_rng(9)
    params = [nn.Parameter(np.zeros(s)) for s in [(3, 4), (5,)]]
    grads = [rng.standard_normal(p.shape) * 10 for p in params]
    for p, g in zip(params, grads):
        p.grad = tg.tensor(g.copy())
    expected = np.sqrt(sum((g**2).sum() for g in grads))
    total = optim.clip_grad_norm_(params, max_norm=1.0)
    assert float(total) == pytest.approx(expected, rel=1e-12)
    clipped = np.concatenate([p.grad.data.ravel() for p in params])
    assert np.linalg.norm(clipped) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(
        clipped / np.linalg.norm(clipped), np.concatenate([g.ravel() for g in grads]) / expected, rtol=1e-10
    )


def test_clip_grad_norm_leaves_small_gradients_and_supports_inf_norm():
    p = nn.Parameter(np.zeros(3))
    p.grad = tg.tensor(np.array([0.1, -0.2, 0.05]))
    assert float(optim.clip_grad_norm_([p], 5.0)) == pytest.approx(math.sqrt(0.01 + 0.04 + 0.0025))
    np.testing.assert_array_equal(p.grad.data, [0.1, -0.2, 0.05])
    assert float(optim.clip_grad_norm_(p, 0.1, norm_type=float("inf"))) == pytest.approx(0.2)
    np.testing.assert_allclose(p.grad.data, np.array([0.1, -0.2, 0.05]) * 0.1 / (0.2 + 1e-6))
    p.grad = tg.tensor(np.array([np.nan, 1.0, 1.0]))
    with pytest.raises(RuntimeError, match="nan"):
        optim.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    q = nn.Parameter(np.zeros(2))
    q.grad = tg.tensor(np.array([3.0, -4.0]))
    nn.utils.clip_grad_value_([q], 1.0)
    np.testing.assert_array_equal(q.grad.data, [1.0, -1.0])
    r = nn.Parameter(np.zeros(2))
    r.grad = tg.tensor(np.array([3.0, -4.0]))
    assert float(optim.clip_grad_norm_([r], 1.0, norm_type=1)) == pytest.approx(7.0)
