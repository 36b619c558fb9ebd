"""Ready-made CNNs, each small enough to read in one sitting and train on a laptop CPU.

=================  ==================  =============================================
model              input               idea it shows
=================  ==================  =============================================
``LeNet5``         (N, 1, 28, 28)      conv -> pool -> conv -> pool -> dense (1998)
``DigitsCNN``      (N, 1, 8, 8)        a modern small CNN (BN, dropout) for the
                                       embedded 8x8 digits
``SmallResNet``    (N, C, H, W), e.g.  residual (skip) connections, BasicBlocks,
                   1x28x28, 3x32x32    global average pooling
``DilatedCNN``     (N, C, H, W)        dilated convolutions: a receptive field that
                                       doubles per layer at full resolution
``TinyVGG``        (N, 3, 64, 64)      CNN Explainer's network: two VGG blocks
                                       (conv -> ReLU -> conv -> ReLU -> max-pool)
=================  ==================  =============================================

Every docstring lists the shape after every stage; ``tg.nn.summary(model, shape)``
prints the same table with parameter counts and multiply-adds.  Layers are named
(``model.features.conv1``) so hooks and ``viz`` can find them.
"""

from __future__ import annotations

from collections import OrderedDict

from . import nn
from .nn import init

__all__ = ["DIGITS_RECIPE", "DigitsCNN", "DilatedCNN", "LeNet5", "SmallResNet", "TinyVGG"]

#: DigitsCNN's training recipe: Adam(lr) with CosineAnnealingLR(T_max=epochs), shuffled batches, cross-entropy
DIGITS_RECIPE = {"batch_size": 32, "lr": 3e-3, "epochs": 10}


class LeNet5(nn.Module):
    """LeNet-5 (LeCun et al., 1998) for 28x28 digits, in its common modern form.

    ::

        x                          (N, 1, 28, 28)
        features.conv1  5x5, pad 2 (N, 6, 28, 28)   pad 2 makes 28x28 act like the paper's 32x32
        features.relu1             (N, 6, 28, 28)
        features.pool1  2x2 max    (N, 6, 14, 14)
        features.conv2  5x5        (N, 16, 10, 10)
        features.relu2             (N, 16, 10, 10)
        features.pool2  2x2 max    (N, 16, 5, 5)
        classifier.flatten         (N, 400)
        classifier.fc1             (N, 120)   + ReLU
        classifier.fc2             (N, 84)    + ReLU
        classifier.fc3             (N, 10)    logits (use cross_entropy, which applies softmax)

    61,706 parameters.  The modern variant uses ReLU and max pooling; ``classic=True`` uses
    the paper's tanh and average ("subsampling") pooling instead.  Both keep the paper's
    layer sizes but not its sparse C3 connection table or RBF output layer, which later
    work showed are unnecessary.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, classic: bool = False):
        super().__init__()
        act = nn.Tanh if classic else nn.ReLU
        pool = nn.AvgPool2d if classic else nn.MaxPool2d
        self.features = nn.Sequential(
            OrderedDict(
                [
                    ("conv1", nn.Conv2d(in_channels, 6, 5, padding=2)),
                    ("relu1", act()),
                    ("pool1", pool(2)),
                    ("conv2", nn.Conv2d(6, 16, 5)),
                    ("relu2", act()),
                    ("pool2", pool(2)),
                ]
            )
        )
        self.classifier = nn.Sequential(
            OrderedDict(
                [
                    ("flatten", nn.Flatten()),
                    ("fc1", nn.Linear(16 * 5 * 5, 120)),
                    ("relu3", act()),
                    ("fc2", nn.Linear(120, 84)),
                    ("relu4", act()),
                    ("fc3", nn.Linear(84, num_classes)),
                ]
            )
        )

    def forward(self, x):
        return self.classifier(self.features(x))


class DigitsCNN(nn.Module):
    """A small CNN for the embedded 8x8 UCI digits (>= 98% test accuracy with the recipe below).

    ::

        x                          (N, 1, 8, 8)
        features.conv1  3x3, pad 1 (N, 32, 8, 8)  + BN + ReLU
        features.conv2  3x3, pad 1 (N, 32, 8, 8)  + BN + ReLU
        features.pool1  2x2 max    (N, 32, 4, 4)
        features.conv3  3x3, pad 1 (N, 64, 4, 4)  + BN + ReLU
        features.pool2  2x2 max    (N, 64, 2, 2)
        classifier.flatten         (N, 256)
        classifier.dropout         (N, 256)       p = 0.25 while training
        classifier.fc              (N, 10)        logits

    Recipe (:data:`DIGITS_RECIPE`): ``tg.data.Digits`` images (already scaled to [0, 1]),
    batch 32 shuffled, cross-entropy, ``Adam(lr=3e-3)``, ``CosineAnnealingLR(T_max=10)``, 10 epochs.
    It reaches 99.2-99.7% on the 355 test images (seeds 0-3), about 2 s per epoch on 2 cores.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, width: int = 32, dropout: float = 0.25):
        super().__init__()

        def conv_bn_relu(name, c_in, c_out):
            return [
                (name, nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)),
                ("bn" + name[-1], nn.BatchNorm2d(c_out)),
                ("relu" + name[-1], nn.ReLU()),
            ]

        self.features = nn.Sequential(
            OrderedDict(
                conv_bn_relu("conv1", in_channels, width)
                + conv_bn_relu("conv2", width, width)
                + [("pool1", nn.MaxPool2d(2))]
                + conv_bn_relu("conv3", width, 2 * width)
                + [("pool2", nn.MaxPool2d(2))]
            )
        )
        self.classifier = nn.Sequential(
            OrderedDict(
                [
                    ("flatten", nn.Flatten()),
                    ("dropout", nn.Dropout(dropout)),
                    ("fc", nn.Linear(2 * width * 2 * 2, num_classes)),
                ]
            )
        )

    def forward(self, x):
        return self.classifier(self.features(x))


class SmallResNet(nn.Module):
    """A CIFAR-style ResNet (He et al., 2016): a 3x3 stem and three stages of :class:`~tinygraph.nn.BasicBlock`.

    ::

        x                              (N, C, H, W)          e.g. (N, 1, 28, 28) or (N, 3, 32, 32)
        stem    conv3x3 + BN + ReLU    (N, w1, H, W)         widths = (w1, w2, w3) = (16, 32, 64)
        stage1  blocks x BasicBlock    (N, w1, H, W)
        stage2  blocks x BasicBlock    (N, w2, H/2, W/2)     first block: stride 2, projection shortcut
        stage3  blocks x BasicBlock    (N, w3, H/4, W/4)     (ceil division: 28 -> 14 -> 7)
        pool    global average         (N, w3, 1, 1)
        flatten                        (N, w3)
        fc                             (N, num_classes)

    ``blocks=3`` is ResNet-20 (6 * blocks + 2 layers with weights); the default ``blocks=1`` is ResNet-8.
    ``skip=False`` builds the same network without shortcuts, for plain-vs-residual comparisons.
    """

    def __init__(
        self, in_channels: int = 1, num_classes: int = 10, widths=(16, 32, 64), blocks: int = 1, skip: bool = True
    ):
        super().__init__()
        w1, w2, w3 = widths
        self.stem = nn.Sequential(
            OrderedDict(
                [
                    ("conv", nn.Conv2d(in_channels, w1, 3, padding=1, bias=False)),
                    ("bn", nn.BatchNorm2d(w1)),
                    ("relu", nn.ReLU()),
                ]
            )
        )
        self.stage1 = self._stage(w1, w1, blocks, 1, skip)
        self.stage2 = self._stage(w1, w2, blocks, 2, skip)
        self.stage3 = self._stage(w2, w3, blocks, 2, skip)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(w3, num_classes)

    @staticmethod
    def _stage(c_in, c_out, blocks, stride, skip):
        layers = [nn.BasicBlock(c_in, c_out, stride, skip=skip)]
        layers += [nn.BasicBlock(c_out, c_out, 1, skip=skip) for _ in range(blocks - 1)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.stage3(self.stage2(self.stage1(self.stem(x))))
        return self.fc(self.flatten(self.pool(x)))


class DilatedCNN(nn.Module):
    """Stacked 3x3 convolutions with growing dilation, then global average pooling.

    A 3x3 kernel with dilation ``d`` looks at pixels ``d`` apart, covering ``2d + 1`` pixels with
    9 weights; padding ``d`` keeps the size.  With dilations 1, 2, 4, 8 the receptive field grows
    3 -> 7 -> 15 -> 31 (``1 + 2 * sum(d)``) with no pooling, so every output pixel sees almost a
    whole 28x28 image at full resolution.  (Four undilated 3x3 layers would see only 9x9.)

    ::

        x                                  (N, C, H, W)
        features.conv{i}  3x3, dilation d_i, padding d_i
                          + BN + ReLU      (N, channels, H, W)   for each d_i in dilations
        pool    global average             (N, channels, 1, 1)
        flatten                            (N, channels)
        fc                                 (N, num_classes)
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, channels: int = 32, dilations=(1, 2, 4, 8)):
        super().__init__()
        self.dilations = tuple(int(d) for d in dilations)
        layers, c_in = [], in_channels
        for i, d in enumerate(self.dilations, 1):
            layers += [
                (f"conv{i}", nn.Conv2d(c_in, channels, 3, padding=d, dilation=d, bias=False)),
                (f"bn{i}", nn.BatchNorm2d(channels)),
                (f"relu{i}", nn.ReLU()),
            ]
            c_in = channels
        self.features = nn.Sequential(OrderedDict(layers))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(channels, num_classes)

    @property
    def receptive_field(self) -> int:
        """Side of the input square one output pixel depends on: ``1 + sum((k - 1) * d)`` with k = 3."""
        return 1 + sum(2 * d for d in self.dilations)

    def forward(self, x):
        return self.fc(self.flatten(self.pool(self.features(x))))


class TinyVGG(nn.Module):
    """Tiny VGG, the network CNN Explainer (Wang et al., 2020) draws: two VGG blocks, then one linear layer.

    Every convolution is 3x3 with stride 1 and no padding (each one trims a pixel from every
    side), as in CNN Explainer; ``hidden`` channels throughout.  For the default 64x64 input::

        x                             (N, 3, 64, 64)
        features.conv1_1  3x3         (N, hidden, 62, 62)
        features.relu1_1              (N, hidden, 62, 62)
        features.conv1_2  3x3         (N, hidden, 60, 60)
        features.relu1_2              (N, hidden, 60, 60)
        features.pool1    2x2 max     (N, hidden, 30, 30)
        features.conv2_1  3x3         (N, hidden, 28, 28)
        features.relu2_1              (N, hidden, 28, 28)
        features.conv2_2  3x3         (N, hidden, 26, 26)
        features.relu2_2              (N, hidden, 26, 26)
        features.pool2    2x2 max     (N, hidden, 13, 13)
        classifier.flatten            (N, hidden * 13 * 13)   = (N, 1690) with hidden = 10
        classifier.fc                 (N, num_classes)        logits (cross_entropy applies softmax)

    In general a side ``s`` becomes ``((s - 4) // 2 - 4) // 2``: 64 -> 13, 32 (CIFAR-10) -> 5.
    ``image_size`` fixes the linear layer's input size; it must leave at least one pixel
    (``image_size >= 14``).  ``padding=1`` pads every convolution by one pixel ("same"
    convolutions, as in VGG itself): only the poolings shrink the maps, ``s`` becomes
    ``s // 2 // 2`` (64 -> 16), and the last conv maps cover the whole image, edges included,
    which suits Grad-CAM; ``image_size >= 4``.  The convolutions start from He (Kaiming) normal
    weights and zero biases: with no batch norm, PyTorch's default initialisation shrinks the signal through the
    four ReLU layers until the logits are all near zero and training stalls at the start.
    19,920 parameters with the defaults (hidden = 10, 64x64, 10 classes),
    85% of them in the linear layer.
    """

    def __init__(
        self, in_channels: int = 3, num_classes: int = 10, hidden: int = 10, image_size: int = 64, padding: int = 0
    ):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("num_classes", num_classes), ("hidden", hidden)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"TinyVGG: {name} must be a positive int, got {value!r}")
        self.final_size = self.output_side(image_size, padding)
        layers, c_in = [], in_channels
        for block in (1, 2):
            for k in (1, 2):
                conv = nn.Conv2d(c_in, hidden, 3, padding=padding)
                layers += [(f"conv{block}_{k}", conv), (f"relu{block}_{k}", nn.ReLU())]
                c_in = hidden
            layers.append((f"pool{block}", nn.MaxPool2d(2)))
        self.features = nn.Sequential(OrderedDict(layers))
        for module in self.features.modules():
            if isinstance(module, nn.Conv2d):
                init.kaiming_normal_(module.weight, nonlinearity="relu")
                init.zeros_(module.bias)
        self.classifier = nn.Sequential(
            OrderedDict(
                [
                    ("flatten", nn.Flatten()),
                    ("fc", nn.Linear(hidden * self.final_size * self.final_size, num_classes)),
                ]
            )
        )

    @staticmethod
    def output_side(image_size: int, padding: int = 0) -> int:
        """The side of the last feature maps for a square ``image_size`` input (64 -> 13; 16 with padding=1)."""
        if isinstance(padding, bool) or not isinstance(padding, int) or padding not in (0, 1):
            raise ValueError(f"TinyVGG: padding must be 0 (no padding, CNN Explainer's) or 1 ('same'), got {padding!r}")
        smallest = 14 if padding == 0 else 4
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < smallest:
            how = "four 3x3 convolutions and two 2x2 poolings leave ((s - 4) // 2 - 4) // 2 pixels" if padding == 0 else (
                "two 2x2 poolings leave s // 4 pixels")
            raise ValueError(f"TinyVGG: image_size must be an int >= {smallest} ({how}), got {image_size!r}")
        trim = 4 * (1 - padding)  # two 3x3 convolutions trim 2 pixels each without padding, none with it
        return ((image_size - trim) // 2 - trim) // 2

    def forward(self, x):
        return self.classifier(self.features(x))
