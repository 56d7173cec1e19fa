"""Chapter 09 (the classic architectures): the autograder cells pass the solution, reject these wrong answers.

The tests are nbtools.ChapterChecks'. Most wrong answers are the solution cell with one line changed
(``old ==> new``, applied by ``wrong_cell``): the blocks are whole classes, and one changed line is the
mistake a learner makes. An answer without ``==>`` is a whole cell.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbtools import ChapterChecks, solution_cells  # noqa: E402

FORBIDDEN = "which this exercise forbids"
STRICT = "does not load torchvision's state_dict with strict=True"


def change(old: str, new: str) -> str:
    return f"{old}\n==>\n{new}"


VISIBLE = [
    (
        "make_vgg",
        "forgets the ReLU after each convolution",
        change(
            "layers += [nn.Conv2d(channels, v, 3, padding=1), nn.ReLU()]",
            "layers += [nn.Conv2d(channels, v, 3, padding=1)]",
        ),
        ["layer 2 of make_vgg", "expected ReLU"],
    ),
    (
        "make_vgg",
        "hard-codes VGG-16's 512 channels in the classifier",
        change("nn.Linear(channels * 7 * 7, hidden)", "nn.Linear(512 * 7 * 7, hidden)"),
        ["expected Linear", "in_features"],
    ),
    (
        "make_vgg",
        "borrows torchvision's make_layers",
        change(
            "layers, channels = [], 3",
            "layers, channels = list(torchvision.models.vgg.make_layers(cfg)), [v for v in cfg if v != 'M'][-1]\n    cfg = []",
        ),
        ["torchvision", FORBIDDEN],
    ),
    (
        "basic_block",
        "calls the shortcut `shortcut`",
        change("self.downsample", "self.shortcut"),
        [STRICT, "downsample.0.weight"],
    ),
    (
        "basic_block",
        "forgets the ReLU after the addition",
        change("        return F.relu(out + shortcut)", "        return out + shortcut"),
        ["BasicBlock(64, 64)", "differ"],
    ),
    (
        "basic_block",
        "subclasses torchvision's BasicBlock",
        """from torchvision.models.resnet import BasicBlock as TorchvisionBasicBlock


class BasicBlock(TorchvisionBasicBlock):
    def __init__(self, in_planes, planes, stride=1):
        downsample = None
        if stride != 1 or in_planes != planes:
            downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes))
        super().__init__(in_planes, planes, stride, downsample)
""",
        ["torchvision's `BasicBlock`", FORBIDDEN],
    ),
    (
        "bottleneck",
        "puts the stride on conv1, as the original paper",
        change(
            "nn.Conv2d(in_planes, planes, 1, bias=False)", "nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False)"
        )
        + "\n@@\n"
        + change(
            "nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)",
            "nn.Conv2d(planes, planes, 3, padding=1, bias=False)",
        ),
        ["Bottleneck(256, 128, 2)", "differ"],
    ),
    (
        "bottleneck",
        "applies a ReLU after bn3, before the addition",
        change("out = self.bn3(self.conv3(out))", "out = F.relu(self.bn3(self.conv3(out)))"),
        ["Bottleneck(256, 64)"],
    ),
    (
        "bottleneck_params",
        "always counts a downsample",
        change("if stride != 1 or in_planes != out_planes:", "if True:"),
        ["bottleneck_params on case 1 of 5"],
    ),
    (
        "bottleneck_params",
        "builds the block to count it",
        change(
            "out_planes = 4 * planes",
            "return sum(p.numel() for p in Bottleneck(in_planes, planes, stride).parameters())",
        ),
        [FORBIDDEN],
    ),
    (
        "squeeze_excitation",
        "uses ReLU where EfficientNet uses SiLU",
        change("self.activation = nn.SiLU()", "self.activation = nn.ReLU()"),
        ["SqueezeExcitation(16, 4)", "differ"],
    ),
    (
        "squeeze_excitation",
        "gives fc1 no bias",
        change("nn.Conv2d(channels, squeeze_channels, 1)", "nn.Conv2d(channels, squeeze_channels, 1, bias=False)"),
        [STRICT, "fc1.bias"],
    ),
    ("mbconv", "expands even when expand_ratio is 1", change("if expanded != in_channels:", "if True:"), [STRICT]),
    (
        "mbconv",
        "puts a SiLU after the projection",
        change(
            "nn.Conv2d(expanded, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))",
            "nn.Conv2d(expanded, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels), nn.SiLU())",
        ),
        ["MBConv(16, 16, 1, 3, 1)", "differ"],
    ),
    (
        "compound_scaling",
        "multiplies by phi instead of raising to its power",
        change(
            "return float(alpha**phi), float(beta**phi), float(gamma**phi)",
            "return float(alpha * phi), float(beta * phi), float(gamma * phi)",
        ),
        ["compound_scaling on case 1 of 5"],
    ),
    (
        "compound_scaling",
        "returns a list",
        change(
            "return float(alpha**phi), float(beta**phi), float(gamma**phi)",
            "return [float(alpha**phi), float(beta**phi), float(gamma**phi)]",
        ),
        ["tuple"],
    ),
]

HIDDEN_ONLY = [
    (
        "make_vgg",
        "reads the last convolution's width off the configuration's end",
        change(
            "nn.Linear(channels * 7 * 7, hidden)", 'nn.Linear((cfg[-2] if cfg[-1] == "M" else cfg[-1]) * 7 * 7, hidden)'
        ),
        ["hidden"],
    ),
    (
        "basic_block",
        "adds a downsample only when the channels change",
        change("if stride != 1 or in_planes != planes:", "if in_planes != planes:"),
        ["hidden"],
    ),
    (
        "bottleneck",
        "adds a downsample only when the channels change",
        change("if stride != 1 or in_planes != out_planes:", "if in_planes != out_planes:"),
        ["hidden"],
    ),
    (
        "bottleneck_params",
        "counts a downsample only when the channels change",
        change("if stride != 1 or in_planes != out_planes:", "if in_planes != out_planes:"),
        ["hidden"],
    ),
    (
        "squeeze_excitation",
        "squeezes with a square window as wide as the image",
        change("self.fc1(self.avgpool(x))", "self.fc1(F.avg_pool2d(x, x.shape[-1]))"),
        ["hidden"],
    ),
    (
        "mbconv",
        "adds the residual at stride 2 too",
        change(
            "self.use_residual = stride == 1 and in_channels == out_channels",
            "self.use_residual = in_channels == out_channels",
        ),
        ["hidden"],
    ),
    (
        "compound_scaling",
        "multiplies phi times, for whole phi only",
        change(
            "return float(alpha**phi), float(beta**phi), float(gamma**phi)",
            "depth = width = resolution = 1.0\n    for _ in range(int(phi)):\n"
            "        depth, width, resolution = depth * alpha, width * beta, resolution * gamma\n"
            "    return depth, width, resolution",
        ),
        ["hidden"],
    ),
]


def apply(source: str, answer: str) -> str:
    """The solution cell with each ``old ==> new`` change applied (each ``old`` must be there), or a whole cell."""
    if "\n==>\n" not in answer:
        return answer
    for part in answer.split("\n@@\n"):
        old, new = part.split("\n==>\n")
        assert old in source, f"the solution cell no longer contains {old!r}"
        source = source.replace(old, new)
    return source


class TestChapter09(ChapterChecks):
    CHAPTER = "09_architectures"
    EXERCISES = [
        "make_vgg",
        "basic_block",
        "bottleneck",
        "bottleneck_params",
        "squeeze_excitation",
        "mbconv",
        "compound_scaling",
    ]
    VISIBLE = VISIBLE
    HIDDEN_ONLY = HIDDEN_ONLY

    def wrong_cell(self, notebook, wrong) -> str:
        return apply(solution_cells(notebook)[wrong.exercise].source, wrong.answer)

    def test_chapter_content_is_present(self, notebook) -> None:
        text = "\n".join(c.source for c in notebook.cells)
        for needle in (
            'torch.device("meta")',
            "FlopCounterMode",
            "efficientnet_b",
            "cifar10_loaders",
            "PreActBlock",
            "Inception",
            "LeNet-5",
            "AlexNet",
            "option A",
            "Tan and Le",
            "strict=True",
        ):
            assert needle in text, f"chapter 09 no longer mentions {needle}"
