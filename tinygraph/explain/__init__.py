"""What a trained CNN looks at: the classic "visualizing and understanding" methods, NumPy out.

=============================  ==============================================  ===================
function                       what it computes                                returns
=============================  ==============================================  ===================
``saliency``                   max_c |d logit_target / d x|  (Simonyan 2014)    (N, H, W)
``grad_cam``                   ReLU(sum_k alpha_k A_k), upsampled (Selvaraju)   (N, H, W) in [0, 1]
``occlusion``                  p(target) with a square hidden (Zeiler-Fergus)   (N, OH, OW)
``guided_backprop``            gradient through ReLUs that pass only positive   (N, C, H, W)
                               gradients (Springenberg 2015)
``fgsm``                       x + eps sign(d loss / d x)  (Goodfellow 2015)    Tensor (N, C, H, W)
``class_visualization``        gradient ascent on a class's logit               (image, history)
``top_activating_patches``     receptive fields where a channel fires most      [(i, box, value)]
``features`` / ``pca`` /       a layer's outputs as points, drawn in 2-D,       (N, D) / (N, k)
``tsne`` / ``nearest_neighbors``  and each image's neighbours                   / (k,) indices
=============================  ==============================================  ===================

Shared contract: ``model`` is a ``tg.nn.Module`` returning logits ``(N, classes)``; ``x`` is
``(N, C, H, W)``; ``target`` is an int, an ``(N,)`` array or None (the predicted class).  Each
call runs the model in eval mode and restores every module's mode after; the parameters get
no gradient (their ``.grad`` is left untouched).  The pictures are in ``viz``
(``viz.plot_saliency``, ``viz.plot_grad_cam``, ...).
"""

from .cam import grad_cam, upsample_bilinear
from .class_visualization import ClassVisualization, class_visualization, gaussian_blur
from .embedding import features, nearest_neighbors, pca, tsne
from .gradients import fgsm, guided_backprop, saliency
from .occlusion import occlusion
from .patches import top_activating_patches
from .receptive_box import receptive_box

__all__ = [
    "ClassVisualization",
    "class_visualization",
    "features",
    "fgsm",
    "gaussian_blur",
    "grad_cam",
    "guided_backprop",
    "nearest_neighbors",
    "occlusion",
    "pca",
    "receptive_box",
    "saliency",
    "top_activating_patches",
    "tsne",
    "upsample_bilinear",
]
