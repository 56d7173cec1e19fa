"""The course's ResNet-18 for 32x32 images: torchvision's own ResNet and BasicBlock, narrower, with a CIFAR stem.

He et al. (2016), "Deep Residual Learning for Image Recognition", define ResNet-18 as a
stem, four stages of two basic blocks (two 3x3 convolutions and a shortcut) whose
channels double while the resolution halves, global average pooling and a linear
classifier. torchvision's ``resnet18`` is built for 224x224 ImageNet photos: a 7x7
stride-2 convolution and a max pool shrink the input four times before the first
stage, so a 32x32 CIFAR image would leave a 1x1 map after ``layer4``. The course's
version changes only what 32x32 images need, as is usual for CIFAR-10:

- the stem is a 3x3 stride-1 convolution and ``maxpool`` is ``nn.Identity()``, so the
  maps after ``layer1`` .. ``layer4`` are 32x32, 16x16, 8x8 and 4x4 (room for Grad-CAM);
- the stages have ``width, 2*width, 4*width, 8*width`` channels instead of 64 .. 512,
  so that it trains in minutes on a laptop's CPU.

Everything else is torchvision's: the object is a ``torchvision.models.ResNet`` whose
blocks are ``torchvision.models.resnet.BasicBlock`` (the same in-place ReLU that
forward hooks and Captum meet on ``resnet18``), with the same attribute names
(``conv1, bn1, relu, maxpool, layer1 .. layer4, avgpool, fc``) and the same
initialisation, so chapter code written for one works on the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import CourseError

if TYPE_CHECKING:
    from torch import nn

DEFAULT_WIDTH = 8  # channels of layer1; layer4 has 8x as many (the course backbone's width, see models.recipe)


def _stage(in_channels: int, channels: int, stride: int) -> nn.Sequential:
    """Two torchvision BasicBlocks; the first changes the resolution and channels, with a 1x1 projection shortcut."""
    from torch import nn
    from torchvision.models.resnet import BasicBlock, conv1x1

    shortcut = None
    if stride != 1 or in_channels != channels:
        shortcut = nn.Sequential(conv1x1(in_channels, channels, stride), nn.BatchNorm2d(channels))
    return nn.Sequential(BasicBlock(in_channels, channels, stride, shortcut), BasicBlock(channels, channels))


def course_resnet18(num_classes: int = 8, *, width: int = DEFAULT_WIDTH) -> nn.Module:
    """An untrained ResNet-18 for 32x32 images: a ``torchvision.models.ResNet`` with a CIFAR stem.

    Args:
        num_classes: outputs of the classifier ``fc``.
        width: channels of ``layer1``; ``layer2 .. layer4`` have 2, 4 and 8 times as many
            (torchvision's ``resnet18`` corresponds to ``width=64``).

    Returns:
        The network, in training mode. Input ``(N, 3, 32, 32)`` gives ``layer4`` maps
        ``(N, 8*width, 4, 4)`` and logits ``(N, num_classes)``; other sizes work too
        (the pooling is adaptive).

    Raises:
        CourseError: when ``num_classes`` or ``width`` is not a positive integer.

    Example:
        >>> model = course_resnet18(num_classes=8, width=8)
        >>> model.fc                                     # doctest: +SKIP
        Linear(in_features=64, out_features=8, bias=True)
        >>> model(torch.zeros(2, 3, 32, 32)).shape       # doctest: +SKIP
        torch.Size([2, 8])
    """
    from torch import nn
    from torchvision.models.resnet import ResNet

    for name, value in (("num_classes", num_classes), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CourseError(f"course_resnet18 needs a positive whole number for {name}; got {value!r}.")
    # torchvision's ResNet constructor fixes the ImageNet stem and the 64..512 widths, so the
    # object is made without it and given its layers here; forward() is ResNet's own.
    model = ResNet.__new__(ResNet)
    nn.Module.__init__(model)
    model.conv1 = nn.Conv2d(3, width, kernel_size=3, stride=1, padding=1, bias=False)  # (N, w, 32, 32)
    model.bn1 = nn.BatchNorm2d(width)
    model.relu = nn.ReLU(inplace=True)
    model.maxpool = nn.Identity()
    model.layer1 = _stage(width, width, 1)  # (N, w, 32, 32)
    model.layer2 = _stage(width, 2 * width, 2)  # (N, 2w, 16, 16)
    model.layer3 = _stage(2 * width, 4 * width, 2)  # (N, 4w, 8, 8)
    model.layer4 = _stage(4 * width, 8 * width, 2)  # (N, 8w, 4, 4)
    model.avgpool = nn.AdaptiveAvgPool2d((1, 1))  # (N, 8w, 1, 1)
    model.fc = nn.Linear(8 * width, num_classes)  # (N, num_classes)
    for module in model.modules():  # the initialisation torchvision's ResNet applies
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.constant_(module.weight, 1)
            nn.init.constant_(module.bias, 0)
    return model
