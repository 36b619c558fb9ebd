"""viz: the pictures a CNN course needs, drawn with matplotlib only.

Every function returns a ``matplotlib.figure.Figure`` (``animate_convolution`` returns the
animation, whose ``.figure`` is the Figure), takes an optional ``ax`` to draw into and an
optional ``save`` path (parent directories are created), and works without a display: when
there is none and no backend was chosen, the file-only Agg backend is used.

    import viz
    viz.plot_kernels(model.conv1)                      # learned filters
    viz.plot_feature_maps(model, x[0])                  # activations of every conv/ReLU/pool
    viz.plot_loss_curves([plain, resnet], labels=["plain", "residual"])
    viz.plot_graph(loss)                                # the autodiff graph; graph_text(loss) for terminals
    viz.plot_confusion_matrix(y_true, y_pred, class_names)
    viz.plot_predictions(images, probs, labels)
    viz.plot_receptive_field({"3x3, 3x3": a, "3x3 dilated": b}, (1, 15, 15))
    viz.animate_convolution(x, k, stride=2, padding=1, save="conv.gif")
    viz.plot_gradient_flow({"plain": plain_net, "residual": res_net})
    viz.explainer(model, x[0], classes, save="explainer.html")  # an interactive page (HTML, not a Figure)
    viz.plot_grad_cam(x, tg.explain.grad_cam(model, x, "features.relu4"))   # also plot_saliency, ...
    viz.plot_conv_arithmetic(x[0], conv.weight, conv.bias, (0, 2, 3))  # one output pixel, number by number
    viz.plot_relu(before, after); viz.plot_pooling(x, 2, out_index=(1, 1)); viz.plot_softmax(logits, classes)
    viz.plot_maps_to_scale({"stride 1": a, "stride 2": b})  # panels at true relative size, one colour scale
"""

from .adversarial import plot_adversarial
from .animation import ConvolutionSteps, animate_convolution, convolution_steps
from .attribution import plot_grad_cam, plot_guided_backprop, plot_occlusion, plot_saliency
from .class_images import plot_class_visualization, plot_top_patches
from .confusion import confusion_matrix, plot_confusion_matrix, plot_predictions
from .curves import plot_loss_curves
from .embedding import plot_embedding
from .explainer_page import explainer
from .feature_maps import capture_activations, plot_feature_maps
from .gradient_flow import gradient_stats, plot_gradient_flow
from .graph import graph_text, plot_graph
from .kernels import plot_kernels
from .receptive_field import field_extent, plot_receptive_field, receptive_field
from .activations import plot_relu, plot_softmax
from .conv_arithmetic import plot_conv_arithmetic
from .pooling import plot_pooling
from .to_scale import plot_maps_to_scale

__all__ = [
    "ConvolutionSteps",
    "animate_convolution",
    "capture_activations",
    "confusion_matrix",
    "convolution_steps",
    "explainer",
    "field_extent",
    "gradient_stats",
    "graph_text",
    "plot_confusion_matrix",
    "plot_feature_maps",
    "plot_gradient_flow",
    "plot_graph",
    "plot_kernels",
    "plot_loss_curves",
    "plot_predictions",
    "plot_receptive_field",
    "receptive_field",
    "plot_saliency",
    "plot_grad_cam",
    "plot_occlusion",
    "plot_guided_backprop",
    "plot_adversarial",
    "plot_class_visualization",
    "plot_top_patches",
    "plot_embedding",
    "plot_relu",
    "plot_softmax",
    "plot_conv_arithmetic",
    "plot_pooling",
    "plot_maps_to_scale",
]
