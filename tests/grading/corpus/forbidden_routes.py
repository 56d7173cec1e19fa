"""Answers that take a route the exercise forbids, per chapter and solution cell (grade_id).

Each is a correct answer by value (PyTorch computes it), so only the statement's
rule can refuse it: nbgrader's hidden test (through ``course_utils.checks.Forbid``)
and the verification spec (``Exercise(forbid=...)``) must both score it 0.
test_corpus.py hands in one notebook per chapter listed here with every one of
these cells answered this way (the other cells answered correctly).
"""

from __future__ import annotations

FORBIDDEN: dict[str, dict[str, str]] = {
    "01_convolution": {
        "conv2d_loops": "def conv2d_loops(x, weight, bias=None):\n    return F.conv2d(x, weight, bias)\n",
        "conv2d_unfold": (
            "def conv2d_unfold(x, weight, bias=None, stride=1, padding=0):\n"
            "    return F.conv2d(x, weight, bias, stride=stride, padding=padding)\n"
        ),
        "conv_param_count": (
            "def conv_param_count(c_in, c_out, k, bias=True):\n"
            "    return sum(p.numel() for p in torch.nn.Conv2d(c_in, c_out, k, bias=bias).parameters())\n"
        ),
    },
    "02_padding_stride_dilation": {
        "unread_pixels": (
            "def unread_pixels(n, k, s=1, p=0, d=1):\n"
            "    x = torch.zeros(1, 1, 1, n + 2 * p, requires_grad=True)\n"
            "    F.conv2d(x, torch.ones(1, 1, 1, k), stride=s, dilation=d).sum().backward()\n"
            "    return max(0, p + n - 1 - int(x.grad.flatten().nonzero().max()))\n"
        ),
        "transposed_output_size": (
            "def transposed_output_size(n, k, s=1, p=0, output_padding=0, d=1):\n"
            "    return F.conv_transpose2d(torch.zeros(1, 1, 1, n), torch.zeros(1, 1, 1, k), stride=s,\n"
            "                              padding=(0, p), output_padding=(0, output_padding),\n"
            "                              dilation=d).shape[-1]\n"
        ),
    },
    "03_pooling": {
        "max_pool2d": (
            "def max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):\n"
            "    return F.max_pool2d(x, kernel_size, stride, padding, ceil_mode=ceil_mode)\n"
        ),
        "avg_pool2d": (
            "def avg_pool2d(x, kernel_size, stride=None, padding=0):\n"
            "    return nn.AvgPool2d(kernel_size, stride, padding)(x)\n"
        ),
        "max_pool2d_backward": (
            "def max_pool2d_backward(x, grad_out, kernel_size, stride=None):\n"
            "    leaf = x.detach().requires_grad_()\n"
            "    return torch.autograd.grad(F.max_pool2d(leaf, kernel_size, stride), leaf, grad_out)[0]\n"
        ),
        "lp_pool2d": (
            "def lp_pool2d(x, p, kernel_size, stride=None):\n    return F.lp_pool2d(x, p, kernel_size, stride)\n"
        ),
        "max_pool_relu": "def max_pool_relu(x):\n    return torch.ops.aten.max_pool2d_with_indices(x, [2, 2], [2, 2])[0]\n",
    },
    "05_first_cnn": {
        "train_one_epoch": (
            "def train_one_epoch(model, loader, loss_fn, optimizer):\n"
            "    history = fit(model, loader, epochs=1, optimizer=optimizer, loss_fn=loss_fn, progress=False)\n"
            "    return history['train_loss'][0]\n"
        ),
        "confusion_matrix": (
            "def confusion_matrix(labels, predictions, num_classes):\n"
            "    from course_utils import confusion_counts\n"
            "    return confusion_counts(labels, predictions, num_classes)\n"
        ),
    },
    "06_normalisation": {
        "batch_norm_train": "def batch_norm_train(x, weight, bias, running_mean, running_var, momentum=0.1, eps=1e-5):\n    return F.batch_norm(x, running_mean, running_var, weight, bias, training=True, momentum=momentum, eps=eps)\n",
        "batch_norm_eval": "def batch_norm_eval(x, weight, bias, running_mean, running_var, eps=1e-5):\n    return torch.ops.aten.native_batch_norm(x, weight, bias, running_mean, running_var, False, 0.0, eps)[0]\n",
        "layer_norm": "def layer_norm(x, weight, bias, eps=1e-5):\n    return F.layer_norm(x, x.shape[1:], weight, bias, eps)\n",
        "group_norm": "def group_norm(x, num_groups, weight, bias, eps=1e-5):\n    return F.group_norm(x, num_groups, weight, bias, eps)\n",
        "fuse_conv_bn": "def fuse_conv_bn(conv, bn):\n    import copy\n    from torch.nn.utils import fusion\n    return fusion.fuse_conv_bn_eval(copy.deepcopy(conv).eval(), copy.deepcopy(bn).eval())\n",
    },
    "07_initialisation_and_regularisation": {
        "kaiming_normal": (
            'def kaiming_normal_(tensor, mode="fan_in", nonlinearity="relu"):\n'
            "    return nn.init.kaiming_normal_(tensor, mode=mode, nonlinearity=nonlinearity)\n"
        ),
        "dropout": "def dropout(x, p, training=True):\n    return F.dropout(x, p, training=training)\n",
        "drop_path": (
            "def drop_path(x, p, training=True):\n"
            "    from torchvision.ops import stochastic_depth\n"
            '    return stochastic_depth(x, p, "row", training)\n'
        ),
        "layer_stats": (
            "def layer_stats(model, x):\n"
            "    from course_utils import activation_stats\n"
            "    with torch.no_grad(), activation_stats(model, [nn.Conv2d, nn.Linear]) as stats:\n"
            "        model(x)\n"
            "    return [(n, m, s) for n, m, s, _ in stats.rows()]\n"
        ),
    },
    "08_optimisation": {
        "clip_grad_norm": (
            "def clip_grad_norm(grads, max_norm):\n"
            "    params = [torch.nn.Parameter(torch.empty_like(g)) for g in grads]\n"
            "    for p, g in zip(params, grads):\n"
            "        p.grad = g\n"
            "    return torch.nn.utils.clip_grad_norm_(params, max_norm)\n"
        ),
        "accumulate_step": (
            "def accumulate_step(model, loss_fn, batches, optimizer):\n"
            "    x, y = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])\n"
            "    optimizer.zero_grad()\n"
            "    loss = loss_fn(model(x), y)\n"
            "    loss.backward()\n"
            "    optimizer.step()\n"
            "    return loss.item()\n"
        ),
    },
    "09_architectures": {
        "basic_block": "from torchvision.models.resnet import BasicBlock as TorchvisionBasicBlock\n\n\nclass BasicBlock(TorchvisionBasicBlock):\n    def __init__(self, in_planes, planes, stride=1):\n        downsample = None\n        if stride != 1 or in_planes != planes:\n            downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes))\n        super().__init__(in_planes, planes, stride, downsample)\n",
        "bottleneck_params": 'def bottleneck_params(in_planes: int, planes: int, stride: int = 1) -> int:\n    """Trainable parameters of Bottleneck(in_planes, planes, stride), downsample included."""\n    return sum(p.numel() for p in Bottleneck(in_planes, planes, stride).parameters())\n',
    },
    "10_interpretability": {
        "saliency": (
            "def saliency(model, x, target):\n"
            "    from captum.attr import Saliency\n"
            "    return Saliency(model).attribute(x.detach().clone().requires_grad_(), target=target).detach()\n"
        ),
        "grad_cam": (
            "def grad_cam(model, layer, x, target):\n"
            "    from captum.attr import LayerGradCam\n"
            "    return LayerGradCam(model, layer).attribute(x, target=target, relu_attributions=True).detach()\n"
        ),
        "integrated_gradients": (
            "def integrated_gradients(model, x, baseline, target, steps):\n"
            "    import captum.attr\n"
            "    ig = captum.attr.IntegratedGradients(model)\n"
            "    return ig.attribute(x, baselines=baseline, target=target, n_steps=steps, method='riemann_right').detach()\n"
        ),
        "occlusion": (
            "def occlusion(model, x, target, window, stride, fill=0.0):\n"
            "    from captum.attr import Occlusion\n"
            "    c = x.shape[1]\n"
            "    return Occlusion(model).attribute(x, sliding_window_shapes=(c, window, window),\n"
            "                                      strides=(c, stride, stride), target=target, baselines=fill)\n"
        ),
        "top_activating": (
            "def top_activating(model, layer, images, channel, k, batch_size=64):\n"
            "    from captum.attr import LayerActivation\n"
            "    was = model.training\n"
            "    model.eval()\n"
            "    with torch.no_grad():\n"
            "        acts = torch.cat([LayerActivation(model, layer).attribute(images[i:i + batch_size])\n"
            "                          for i in range(0, len(images), batch_size)])\n"
            "    model.train(was)\n"
            "    return acts[:, channel].mean(dim=(-2, -1)).topk(k)\n"
        ),
    },
    "11_transfer_learning": {
        "count_trainable": 'def count_trainable(model):\n    """The number of elements of the model\'s parameters that require gradients.\n\n    Args:\n        model: any nn.Module; some of its parameters may have requires_grad=False.\n\n    Returns:\n        An int, e.g. 1026 for a frozen backbone under a new nn.Linear(512, 2) head.\n    """\n    from course_utils.checks import count_parameters\n    return count_parameters(model, trainable_only=True)\n',
        "fit_linear_probe": 'def fit_linear_probe(features, labels, num_classes, steps, lr):\n    """A linear classifier trained by full-batch gradient descent on the mean cross-entropy, from zero weights.\n\n    Args:\n        features: (N, D) float32 or float64.\n        labels: (N,) int64 in 0 .. num_classes - 1.\n        num_classes: K, the number of outputs.\n        steps: gradient-descent steps.\n        lr: step size.\n\n    Returns:\n        nn.Linear(D, K) in the dtype of features, holding the trained weight (K, D) and bias (K,).\n    """\n    probe = nn.Linear(features.shape[1], num_classes, dtype=features.dtype)\n    nn.init.zeros_(probe.weight)\n    nn.init.zeros_(probe.bias)\n    optimizer = torch.optim.SGD(probe.parameters(), lr=lr)\n    for _ in range(steps):\n        optimizer.zero_grad()\n        F.cross_entropy(probe(features), labels).backward()\n        optimizer.step()\n    return probe\n',
    },
    "12_cifar10_fast": {
        "crop_flip": (
            "def crop_flip(x, dy, dx, flip, pad):\n"
            "    from torchvision.transforms.v2 import functional as TF\n"
            "    h, w = x.shape[-2:]\n"
            "    out = []\n"
            "    for image, top, left, mirror in zip(x, dy.tolist(), dx.tolist(), flip.tolist()):\n"
            "        image = TF.crop(TF.pad(image, [pad], fill=0), top, left, h, w)\n"
            "        out.append(TF.horizontal_flip(image) if mirror else image)\n"
            "    return torch.stack(out)\n"
        ),
        "label_smoothing_loss": (
            "def label_smoothing_loss(logits, targets, smoothing):\n"
            "    return F.cross_entropy(logits, targets, label_smoothing=smoothing)\n"
        ),
        "warmup_decay": (
            "def warmup_decay(step, total, warmup, peak, start, end):\n"
            "    import numpy as np\n"
            "    ends = [start if warmup else peak, peak, end if total > warmup else peak]\n"
            "    return float(np.interp(step, [0, warmup, total], ends))\n"
        ),
        "ema_update": (
            "def ema_update(ema_params, params, decay):\n"
            "    from torch.optim.swa_utils import get_ema_avg_fn\n"
            "    average = get_ema_avg_fn(decay)\n"
            "    with torch.no_grad():\n"
            "        for e, p in zip(ema_params, params):\n"
            "            e.copy_(average(e, p, None))\n"
        ),
        "tta_logits": (
            "def tta_logits(model, x):\n"
            "    from course_utils.fast import evaluate\n"
            "    with torch.no_grad():\n"
            "        return evaluate.tta_logits(model, x, 1)\n"
        ),
    },
}
