"""tg.graph: the recorded graph as nodes and edges, and as a text tree."""

import numpy as np

import tinygraph as tg


def small_expression():
    """loss = sum(relu(x @ w + b)): four ops we count by hand."""
    x = tg.randn(2, 3)
    x.name = "x"
    w = tg.randn(3, 4, requires_grad=True)
    w.name = "w"
    b = tg.zeros(4, requires_grad=True)
    h = x @ w  # MatMul -> (2, 4)
    z = h + b  # Add -> (2, 4)
    y = z.relu()  # ReLU -> (2, 4)
    loss = y.sum()  # Sum -> ()
    return loss, x, w, b


def by_label(graph, kind):
    return {n.label: n for n in graph.nodes if n.kind == kind}


def test_nodes_and_edges_of_a_known_expression():
    loss, x, w, b = small_expression()
    g = tg.graph(loss)
    ops = by_label(g, "op")
    assert sorted(ops) == ["Add", "MatMul", "ReLU", "Sum"]
    assert len(g.ops()) == 4
    assert ops["MatMul"].shape == (2, 4) and ops["Add"].shape == (2, 4)
    assert ops["ReLU"].shape == (2, 4) and ops["Sum"].shape == ()
    tensors = [n for n in g.nodes if n.kind == "tensor"]
    # leaves x, w, b; the outputs of the four ops (h, z, y, loss)
    assert len(tensors) == 7
    leaves = {n.label: n for n in tensors if n.is_leaf}
    assert set(leaves) == {"x", "w", "param"}
    assert leaves["x"].shape == (2, 3) and not leaves["x"].requires_grad
    assert leaves["w"].shape == (3, 4) and leaves["w"].requires_grad
    assert leaves["param"].shape == (4,)
    # each op: one edge per input, one edge to its output
    assert len(g.edges) == (2 + 1) + (2 + 1) + (1 + 1) + (1 + 1)
    ids = {n.id: n for n in g.nodes}
    matmul_inputs = sorted(ids[src].label for src, dst in g.edges if dst == ops["MatMul"].id)
    assert matmul_inputs == ["w", "x"]
    assert g.nodes[g.root].kind == "tensor" and g.nodes[g.root].shape == ()
    (producer,) = [src for src, dst in g.edges if dst == g.root]
    assert ids[producer].label == "Sum"


def test_op_params_are_recorded():
    x = tg.randn(2, 3, requires_grad=True)
    g = tg.graph(x.sum(dim=1, keepdim=True))
    (op,) = g.ops()
    assert op.label == "Sum" and op.params == {"axes": (1,), "keepdim": True}


def test_reused_tensor_is_one_node():
    a = tg.tensor([1.0, 2.0], requires_grad=True)
    b = a + a
    c = b * b
    g = tg.graph(c)
    assert sorted(n.label for n in g.ops()) == ["Add", "Mul"]
    assert len([n for n in g.nodes if n.kind == "tensor"]) == 3  # a, b, c


def test_names_argument_and_grad_norms_after_backward():
    loss, x, w, b = small_expression()
    loss.backward()
    g = tg.graph(loss, names={b: "bias"})
    leaves = {n.label: n for n in g.nodes if n.kind == "tensor" and n.is_leaf}
    assert "bias" in leaves
    assert leaves["w"].grad_norm == np.linalg.norm(w.grad.data)
    assert leaves["x"].grad_norm is None


def test_text_rendering_names_every_op_and_shape():
    loss, *_ = small_expression()
    text = str(tg.graph(loss))
    for name in ("MatMul", "Add", "ReLU", "Sum", "(2, 4)", "(3, 4)", "x", "w"):
        assert name in text
    assert text.splitlines()[0].startswith("Sum")


def test_graph_of_a_leaf_and_of_a_deep_chain():
    x = tg.ones(3, requires_grad=True)
    g = tg.graph(x)
    assert len(g.nodes) == 1 and g.edges == []
    y = x
    for _ in range(5000):
        y = y * 1.0
    g = tg.graph(y)
    assert len(g.ops()) == 5000
    assert "Mul" in str(g)
