"""A tour of reverse-mode autodiff in tinygraph: build a graph, backpropagate, check the gradients.

    python examples/autodiff_tour.py [--out outputs/autodiff_tour]

Prints the recorded graph as a tree, the gradients backward() computed, and the
same gradients worked out by hand and by finite differences (tg.gradcheck).
Saves to --out (default outputs/autodiff_tour/):

    graph.png    the tiny classifier's graph (viz.plot_graph), with |grad| after backward()
"""

import argparse
import os

import numpy as np

import tinygraph as tg
import viz


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--features", type=int, default=4, help="input features of the tiny classifier")
    parser.add_argument("--out", default=os.path.join("outputs", "autodiff_tour"), help="folder for the picture")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    tg.manual_seed(args.seed)

    print("1. A scalar expression and its derivative")
    a = tg.tensor(3.0, requires_grad=True)
    b = a + a  # reused input: gradients from both uses add up
    c = b * b  # c = 4 a^2, so dc/da = 8 a = 24
    c.backward()
    print(f"   a = {a.item()}, c = (a + a)^2 = {c.item()}, dc/da = {a.grad.item()} (by hand: 8a = {8 * a.item()})")

    print("\n2. A tiny classifier: logits = x W^T + b, loss = cross_entropy(logits, y)")
    x = tg.randn(5, args.features)
    y = tg.tensor([0, 2, 1, 2, 0])
    w = tg.randn(3, args.features, requires_grad=True)
    bias = tg.zeros(3, requires_grad=True)
    w.name, bias.name, x.name = "W", "b", "x"
    loss = tg.functional.cross_entropy(tg.functional.linear(x, w, bias), y)
    loss.backward()
    print(f"   loss = {loss.item():.4f}\n   the recorded graph, root first:")
    print("   " + str(tg.graph(loss)).replace("\n", "\n   "))
    path = os.path.join(args.out, "graph.png")
    viz.plot_graph(loss, title="loss = cross_entropy(x W^T + b, y), after backward()", save=path)
    print(f"   saved its picture to {path}")

    # By hand: dL/dlogits = (softmax(logits) - onehot(y)) / N, then dL/dW = dlogits^T x.
    logits = x.numpy() @ w.detach().numpy().T + bias.detach().numpy()
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(5), y.numpy()] -= 1
    dw_by_hand = p.T @ x.numpy() / 5
    print("\n   dL/dW from backward():\n   " + np.array2string(w.grad.numpy(), precision=4, prefix="   "))
    difference = abs(w.grad.numpy() - dw_by_hand).max()
    print(f"   largest difference from the formula (softmax - onehot) x / N: {difference:.2e}")

    print("\n3. tg.gradcheck: backward() against central finite differences in float64")
    result = tg.gradcheck(lambda w_, b_: tg.functional.cross_entropy(tg.functional.linear(x.double(), w_, b_), y),
                          w, bias)
    print(f"   {result}")


if __name__ == "__main__":
    main()
