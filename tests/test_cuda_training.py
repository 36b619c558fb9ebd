"""End to end on device 'cuda': tensors, autograd, a small CNN's training steps, and the error rules.

Every result is compared with the same computation on 'cpu' (the CPU path is the reference).
Run with ``NUMBA_ENABLE_CUDASIM=1 python -m pytest -m cuda`` (or on a GPU); skipped otherwise,
and skipped until the device integration (``Tensor.to('cuda')``, kernel dispatch in
``functional``) is in the package.
"""

import numpy as np
import pytest
from _cuda_support import skip_without_cuda

pytestmark = pytest.mark.cuda
skip_without_cuda()

import tinygraph as tg  # noqa: E402
import tinygraph.functional as F  # noqa: E402
from tinygraph import nn, optim  # noqa: E402
from tinygraph.ops import elementwise as _elementwise_ops  # noqa: E402

if not hasattr(_elementwise_ops, "ToDevice"):
    pytest.skip("the device integration (Tensor.to('cuda'), ToDevice) is not in the package yet",
                allow_module_level=True)


def cpu(t):
    return t.detach().cpu().numpy()


def test_to_cuda_and_back_keeps_values_dtype_and_gradient_path():
    x = tg.randn(2, 3, dtype=tg.float64, requires_grad=True)
    xd = x.to("cuda")
    assert (xd.device, xd.dtype, xd.shape) == ("cuda", np.float64, (2, 3))
    np.testing.assert_array_equal(cpu(xd), x.detach().numpy())
    ((xd * 3).relu().sum()).backward()  # the gradient comes back through the copy to the CPU leaf
    assert x.grad.device == "cpu"
    np.testing.assert_array_equal(x.grad.numpy(), 3.0 * (x.detach().numpy() > 0))
    assert "device='cuda'" in repr(xd)


def test_factories_take_device():
    for t in (tg.zeros(2, 3, device="cuda"), tg.ones(2, device="cuda"), tg.randn(2, device="cuda"),
              tg.arange(4, device="cuda"), tg.tensor([1.0, 2.0], device="cuda")):
        assert t.device == "cuda"
    assert tg.zeros_like(tg.ones(2, device="cuda")).device == "cuda"


def test_ops_match_cpu_forward_and_backward():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))

    def run(device):
        x = tg.tensor(a, requires_grad=True, device=device)
        w = tg.tensor(b, requires_grad=True, device=device)
        y = (x @ w).tanh() * 2 - x.mean(dim=1, keepdim=True) + x.exp().max(dim=1).values.reshape(3, 1)
        loss = (y.softmax(dim=1) * y.log_softmax(dim=1)).sum() + x.var() + x[1:, ::2].abs().sum()
        loss.backward()
        return loss.item(), x.grad.cpu().numpy(), w.grad.cpu().numpy()

    for got, want in zip(run("cuda"), run("cpu")):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def small_cnn(seed, batch_norm):
    tg.manual_seed(seed)
    norm = [nn.BatchNorm2d(3)] if batch_norm else []
    return nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1), *norm, nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(3, 2, 2), nn.ReLU(), nn.Flatten(), nn.Linear(8, 4),
    )


# Adam-type steps turn any gradient into a step of about lr, even one that is 0 up to rounding, as the
# gradient of a conv bias followed by batch norm is: it would move differently on the two devices.
# So batch norm is trained with SGD here, and Adam without it.
@pytest.mark.parametrize("make_opt,batch_norm", [
    (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-3), True),
    (lambda p: optim.AdamW(p, lr=0.01), False),
], ids=["sgd-batchnorm", "adamw"])
def test_cnn_training_steps_match_cpu(make_opt, batch_norm):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 1, 6, 6)).astype(np.float32)
    y = np.array([1, 3])
    models = {"cpu": small_cnn(0, batch_norm), "cuda": small_cnn(0, batch_norm).to("cuda")}
    opts = {d: make_opt(m.parameters()) for d, m in models.items()}
    losses = {}
    for device, model in models.items():
        losses[device] = []
        for _ in range(2):
            loss = F.cross_entropy(model(tg.tensor(x, device=device)), tg.tensor(y, device=device))
            opts[device].zero_grad()
            loss.backward()
            opts[device].step()
            losses[device].append(loss.item())
    np.testing.assert_allclose(losses["cuda"], losses["cpu"], rtol=1e-5)
    for pc, pg in zip(models["cpu"].parameters(), models["cuda"].parameters()):
        assert pg.device == "cuda"
        np.testing.assert_allclose(cpu(pg), cpu(pc), rtol=1e-4, atol=1e-5)
    for bc, bg in zip(models["cpu"].buffers(), models["cuda"].buffers()):
        np.testing.assert_allclose(cpu(bg), cpu(bc), rtol=1e-5, atol=1e-6)
    models["cpu"].eval()
    models["cuda"].eval()
    np.testing.assert_allclose(cpu(models["cuda"](tg.tensor(x, device="cuda"))), cpu(models["cpu"](tg.tensor(x))),
                               rtol=1e-4, atol=1e-5)


def test_mixing_devices_and_implicit_copies_are_errors():
    xd, xc = tg.ones(2, 3, device="cuda"), tg.ones(2, 3)
    with pytest.raises(RuntimeError, match="different devices"):
        xd + xc
    with pytest.raises(RuntimeError, match="target"):
        F.cross_entropy(tg.ones(2, 4, device="cuda"), tg.tensor([0, 1]))
    with pytest.raises(TypeError, match="cpu"):
        xd.numpy()
    assert (xd * 2).device == "cuda"  # a Python number is a scalar, not a CPU tensor
