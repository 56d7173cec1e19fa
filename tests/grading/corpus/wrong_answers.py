"""One plausible wrong answer per exercise of every chapter with a verification spec.

``WRONG[chapter][grade_id]`` is the whole source of a solution cell. Each is a
mistake a learner makes (a forgotten bias, dtype, dilation, ``model.eval()``,
a square-only shortcut...) and, where the chapter's visible checks allow it,
one that those checks miss, so only hidden tests (or verification) can catch
it. tests/grading/test_specs.py asserts that verification gives each of them 0.
"""

from __future__ import annotations

WRONG: dict[str, dict[str, str]] = {
    "01_convolution": {
        "conv2d_loops": """def conv2d_loops(x, weight, bias=None):
    n, _, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    out = torch.zeros_like(x[:, :c_out, :h - kh + 1, :w - kw + 1])  # assumes C_out <= C_in (the visible cases are)
    for b in range(n):
        for o in range(c_out):
            for i in range(h - kh + 1):
                for j in range(w - kw + 1):
                    out[b, o, i, j] = (x[b, :, i:i + kh, j:j + kw] * weight[o]).sum()
            if bias is not None:
                out[b, o] += bias[o]
    return out
""",
        "conv2d_unfold": """def conv2d_unfold(x, weight, bias=None, stride=1, padding=0):
    n, _, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    h_out = (h + 2 * padding - kh) // stride + 1
    w_out = (w + 2 * padding - kw) // stride + 1
    columns = F.unfold(x, (kh, kw), padding=padding, stride=stride)
    out = weight.reshape(c_out, -1) @ columns[0]  # the first image only (the visible cases have one)
    if bias is not None:
        out = out + bias.reshape(c_out, 1)
    return out.reshape(n, c_out, h_out, w_out)
""",
        "conv_param_count": """def conv_param_count(c_in, c_out, k, bias=True):
    if isinstance(k, int):
        return c_out * c_in * k * k + (c_out if bias else 0)
    return c_out * c_in * k[0] * k[1] + c_out  # the bias flag is forgotten when k is a pair
""",
        "edge_kernel": """def edge_kernel():
    # float64: F.conv2d cannot apply it to the chapter's float32 photos
    return torch.tensor([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]], dtype=torch.float64)
""",
    },
    "02_padding_stride_dilation": {
        "unread_pixels": """def unread_pixels(n, k, s=1, p=0, d=1):
    windows = (n + 2 * p - d * (k - 1) - 1) // s + 1
    return max(0, n - 1 - ((windows - 1) * s + k - 1 - p))  # the kernel's span without the dilation
""",
        "same_padding": """def same_padding(n, k, s=1, d=1):
    span = d * (k - 1) + 1 if s == 1 else k  # the dilation forgotten once the stride is above 1
    total = max(0, (-(-n // s) - 1) * s + span - n)
    return total // 2, total - total // 2
""",
        "transposed_output_size": """def transposed_output_size(n, k, s=1, p=0, output_padding=0, d=1):
    extra = output_padding if s > 1 else 0  # output_padding wrongly ignored without a stride
    return (n - 1) * s - 2 * p + d * (k - 1) + extra + 1
""",
        "classifier": """def features():
    return nn.Sequential(
        nn.Conv2d(3, 12, kernel_size=(5, 3)), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(12, 24, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(24, 48, 3, dilation=2), nn.ReLU(),
    )


def classifier(height, width):
    def length(n, k, s=1, p=0, d=1):
        return (n + 2 * p - d * (k - 1) - 1) // s + 1

    h = length(length(length(length(height, 5), 2, 2), 3, 2, 1), 3, d=2)
    w = length(length(length(length(width, 5), 2, 2), 3, 2, 1), 3, d=2)  # the 5x3 kernel taken for 5x5
    return nn.Sequential(features(), nn.Flatten(), nn.Linear(48 * h * w, 10))
""",
        "downsampling_stack": """def downsampling_stack(n_in, n_out, channels=8):
    if n_out >= n_in:
        raise ValueError("n_out must be smaller than n_in")
    layers, n, c_in, c_out = [], n_in, 3, channels
    while n > n_out:  # never raises for an unreachable n_out: the stack overshoots it
        layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.ReLU()]
        n, c_in, c_out = (n - 1) // 2 + 1, c_out, 2 * c_out
    return nn.Sequential(*layers)
""",
    },
    "03_pooling": {
        "max_pool2d": """def max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    return F.max_pool2d(x, kernel_size, stride, padding, ceil_mode=ceil_mode)  # the route the statement forbids
""",
        "avg_pool2d": """def avg_pool2d(x, kernel_size, stride=None, padding=0):
    stride = kernel_size if stride is None else stride
    x.mul_(1 / kernel_size ** 2)  # scales the caller's tensor in place
    x = F.pad(x, (padding,) * 4)
    return x.unfold(2, kernel_size, stride).unfold(3, kernel_size, stride).sum(dim=(-2, -1))
""",
        "global_avg_pool": """def global_avg_pool(x):
    return x.view(x.shape[0], x.shape[1], -1).mean(dim=-1)  # view() fails on a map that is not contiguous
""",
        "max_pool2d_backward": """def max_pool2d_backward(x, grad_out, kernel_size, stride=None):
    stride = kernel_size if stride is None else stride
    n, c, h, w = x.shape
    windows = x.unfold(2, kernel_size, stride).unfold(3, kernel_size, stride)
    h_out, w_out = windows.shape[2], windows.shape[3]
    winner = windows.reshape(n, c, h_out, w_out, -1).argmax(dim=-1)
    rows = torch.arange(h_out).view(-1, 1) * stride + winner // kernel_size
    cols = torch.arange(w_out).view(1, -1) * stride + winner % kernel_size
    index = torch.arange(c).view(1, c, 1, 1) * h * w + rows * w + cols  # the batch offset is forgotten
    grad = torch.zeros(x.numel(), dtype=x.dtype)
    grad.index_add_(0, index.flatten(), grad_out.flatten().to(x.dtype))
    return grad.reshape(x.shape)
""",
        "lp_pool2d": """def lp_pool2d(x, p, kernel_size, stride=None):
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    sh, sw = (kh, kw) if stride is None else ((stride, stride) if isinstance(stride, int) else stride)
    return x.unfold(2, kh, sh).unfold(3, kw, sw).pow(p).mean(dim=(-2, -1)).pow(1 / p)  # a mean: nn.LPPool2d sums
""",
        "max_pool_relu": """def max_pool_relu(x):
    top = torch.maximum(x[..., 0::2, 0::2], x[..., 0::2, 1::2])  # a max, which the statement forbids
    return torch.maximum(top, torch.maximum(x[..., 1::2, 0::2], x[..., 1::2, 1::2]))
""",
        "prediction_consistency": """def prediction_consistency(model, x, max_shift):
    model.eval()
    with torch.no_grad():
        base = model(x).argmax(dim=1)
        same = [model(torch.roll(x, s, dims=-1)).argmax(dim=1) == base for s in range(1, max_shift + 1)]
    return torch.stack(same).float().mean()  # a tensor where the statement asks for a Python float
""",
    },
    "04_receptive_fields": {
        "fields_by_hand": """def fields_by_hand():
    return {"A": (25, 4), "B": (15, 4)}  # B stops before the 1x1 and dilated layers
""",
        "input_span": """def input_span(layers, first, last):
    for k, s, p, d in reversed(layers):
        first, last = first * s - p, last * s - p + (k - 1)  # the dilation is left out
    return first, last
""",
        "layers_to_cover": """def layers_to_cover(target, strides):
    size, jump, layers = 1, 1, 0
    while size < target:
        size += 2 * jump
        jump *= strides[layers] if layers < min(len(strides), 3) else 1  # strides after the third are ignored
        layers += 1
    return layers
""",
        "gradient_map": """def gradient_map(model, x):
    model.eval()
    x = x.detach().clone().requires_grad_()
    out = model(x)
    centre = out.shape[-1] // 2  # assumes a square feature map
    (grad,) = torch.autograd.grad(out[0, :, centre, centre].sum(), x)
    return grad[0].abs().sum(dim=0)
""",
    },
    "05_first_cnn": {
        "make_cnn": """def make_cnn(num_classes):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
            self.fc = nn.Linear(16, num_classes)

        def forward(self, x):
            return self.fc(self.features(x).squeeze())  # (16,) for a batch of one: the visible batches are larger

    return Net()
""",
        "channel_mean_std": """def channel_mean_std(loader):
    count = 0
    total = torch.zeros(3, dtype=torch.float64)  # three channels assumed (the visible images are RGB)
    squares = torch.zeros(3, dtype=torch.float64)
    for x, _ in loader:
        x = x.double()
        count += x.shape[0] * x.shape[2] * x.shape[3]
        total += x.sum(dim=(0, 2, 3))
        squares += (x ** 2).sum(dim=(0, 2, 3))
    mean = total / count
    return mean, (squares / count - mean ** 2).sqrt()
""",
        "train_one_epoch": """def train_one_epoch(model, loader, loss_fn, optimizer):
    model.train()
    total, count = 0.0, 0
    for x, y in loader:
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()  # after the step: gradients left over from earlier code reach the first step
        total += loss.item() * len(y)
        count += len(y)
    return total / count
""",
        "evaluate": """def evaluate(model, loader, loss_fn):
    was_training = model.training
    model.eval()
    total, correct, count = 0.0, 0, 0
    for x, y in loader:  # no torch.no_grad(): autograd records every batch
        scores = model(x)
        total += loss_fn(scores, y).item() * len(y)
        correct += (scores.argmax(dim=1) == y).sum().item()
        count += len(y)
    model.train(was_training)
    return total / count, correct / count
""",
        "accuracy": """def accuracy(scores, labels):
    return round((scores.argmax(dim=1) == labels).float().mean().item(), 2)  # rounded for display
""",
        "confusion_matrix": """def confusion_matrix(labels, predictions, num_classes):
    k = int(max(labels.max(), predictions.max())) + 1  # too small when the last classes never appear
    flat = labels.long() * k + predictions.long()
    return torch.bincount(flat, minlength=k * k).reshape(k, k)
""",
    },
    "06_normalisation": {
        "batch_norm_train": """def batch_norm_train(x, weight, bias, running_mean, running_var, momentum=0.1, eps=1e-5):
    n = x.numel() // x.shape[1]
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = (x * x).mean(dim=(0, 2, 3), keepdim=True) - mean ** 2      # E[x^2] - E[x]^2: cancels in float32
    out = (x - mean) / torch.sqrt(var + eps) * weight.reshape(1, -1, 1, 1) + bias.reshape(1, -1, 1, 1)
    running_mean.mul_(1 - momentum).add_(momentum * mean.reshape(-1))
    running_var.mul_(1 - momentum).add_(momentum * var.reshape(-1) * n / (n - 1))
    return out
""",
        "batch_norm_eval": """def batch_norm_eval(x, weight, bias, running_mean, running_var, eps=1e-5):
    n, c, h, w = x.shape
    flat = x.view(n, c, h * w)                     # view needs a contiguous tensor
    out = (flat - running_mean[:, None]) / torch.sqrt(running_var[:, None] + eps) * weight[:, None] + bias[:, None]
    return out.view(n, c, h, w)
""",
        "layer_norm": """def layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    var = (x * x).mean(dim=(1, 2, 3), keepdim=True) - mean ** 2
    return (x - mean) / torch.sqrt(var + eps) * weight + bias
""",
        "group_norm": """def group_norm(x, num_groups, weight, bias, eps=1e-5):
    n, c, h, w = x.shape
    groups = x.view(n, num_groups, -1)                           # view needs a contiguous tensor
    mean = groups.mean(dim=2, keepdim=True)
    var = groups.var(dim=2, unbiased=False, keepdim=True)
    out = ((groups - mean) / torch.sqrt(var + eps)).view(n, c, h, w)
    return out * weight.reshape(1, c, 1, 1) + bias.reshape(1, c, 1, 1)
""",
        "fuse_conv_bn": """def fuse_conv_bn(conv, bn):
    with torch.no_grad():
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        conv_bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride[0], padding=conv.padding[0],
                          dilation=conv.dilation[0], bias=True, dtype=conv.weight.dtype)
        fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
        fused.bias.copy_((conv_bias - bn.running_mean) * scale + bn.bias)
    return fused
""",
    },
    "07_initialisation_and_regularisation": {
        "kaiming_normal": """def kaiming_normal_(tensor, mode="fan_in", nonlinearity="relu"):
    if tensor.dim() < 2:
        raise ValueError("at least 2 dimensions")
    receptive = tensor.shape[2] * tensor.shape[3] if tensor.dim() == 4 else 1  # wrong for Conv1d and Conv3d weights
    fan = (tensor.shape[1] if mode == "fan_in" else tensor.shape[0]) * receptive
    with torch.no_grad():
        tensor.normal_(0.0, nn.init.calculate_gain(nonlinearity) / math.sqrt(fan))
    return tensor
""",
        "dropout": """def dropout(x, p, training=True):
    if not training or p == 0:
        return x
    if p == 1:
        return torch.zeros_like(x)
    keep = (torch.rand(x.shape[1:]) >= p).to(x.dtype)  # one mask shared by every sample of the batch
    return x * keep / (1 - p)
""",
        "drop_path": """def drop_path(x, p, training=True):
    if not training or p == 0:
        return x
    keep = torch.empty((x.shape[0], 1, 1, 1), dtype=x.dtype).bernoulli_(1 - p)  # assumes (N, C, H, W)
    return x * (keep / (1 - p) if p < 1 else keep)
""",
        "l2_penalty": """def l2_penalty(model):
    return sum((w ** 2).sum() for w in model.parameters() if w.dim() > 1)  # by dimension, not by layer and name
""",
        "layer_stats": """def layer_stats(model, x):
    rows = []
    handles = [m.register_forward_hook(lambda m, i, o, name=name: rows.append((name, o.mean().item(), o.std(unbiased=False).item())))
               for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    return rows  # the population std, not Tensor.std()'s unbiased one
""",
    },
    "08_optimisation": {
        "warmup_cosine": """def warmup_cosine(step, total, warmup, peak):
    if warmup > 0 and step <= warmup:  # one step too many: above peak at step `warmup`
        return peak * (step + 1) / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))
""",
        "clip_grad_norm": """def clip_grad_norm(grads, max_norm):
    norm = torch.cat([g.view(-1) for g in grads]).norm()  # view() fails on a non-contiguous gradient
    if norm > max_norm:
        for g in grads:
            g.mul_(max_norm / (norm + 1e-6))
    return norm
""",
        "early_stopping": """def early_stopping(val_losses, patience, min_delta=0.0):
    best_epoch, wait = 1, 0
    for epoch in range(2, len(val_losses) + 1):
        if val_losses[epoch - 1] < val_losses[epoch - 2] - min_delta:  # compared with the previous epoch, not the best
            best_epoch, wait = epoch, 0
        else:
            wait += 1
            if wait >= patience:
                return best_epoch, epoch
    return best_epoch, len(val_losses)
""",
        "accumulate_step": """def accumulate_step(model, loss_fn, batches, optimizer):
    total = sum(len(x) for x, _ in batches)
    optimizer.zero_grad()
    whole = 0.0
    for x, y in batches:
        loss = F.cross_entropy(model(x), y) * (len(x) / total)  # the loss it was given is ignored
        loss.backward()
        whole += loss.item()
    optimizer.step()
    return whole
""",
        "scaled_schedule": """def scaled_schedule(base_lr, base_batch, batch, dataset_size, warmup_epochs):
    return base_lr * (batch // base_batch), warmup_epochs * math.ceil(dataset_size / batch)  # integer ratio
""",
    },
    "13_multi_gpu": {
        "shard_indices": """def shard_indices(n, world_size, rank, shuffle=False, seed=0, epoch=0, drop_last=False):
    if shuffle:
        g = torch.Generator()
        g.manual_seed(seed + epoch)
        order = torch.randperm(n, generator=g).tolist()
    else:
        order = list(range(n))
    total = (n // world_size) * world_size if drop_last else math.ceil(n / world_size) * world_size
    order = (order + order[:total - len(order)])[:total]  # wraps around once: too short when n < the padding
    return order[rank:total:world_size]
""",
        "average_gradients": """def average_gradients(grad_lists):
    out = []
    for per_rank in zip(*grad_lists):
        total = torch.zeros(per_rank[0].shape)  # a float32 accumulator: float64 gradients come back float32
        for g in per_rank:
            total = total + g
        out.append((total / len(grad_lists)).float())
    return out
""",
        "effective_batch_size": """def effective_batch_size(batch_per_rank, world_size, accumulation_steps=1):
    return batch_per_rank * world_size  # the accumulation steps are forgotten
""",
        "scaled_lr": """def scaled_lr(step, base_lr, base_batch, batch, warmup_steps):
    target = base_lr * batch / base_batch
    if step >= warmup_steps:
        return float(target)
    return float(min(target, base_lr + (target - base_lr) * step / warmup_steps))  # wrong when the batch shrinks
""",
        "memory_per_rank": """def memory_per_rank(n_params, world_size, optimizer="adam"):
    return n_params // world_size * {"adam": 16, "sgd_momentum": 12, "sgd": 8}[optimizer]  # floors the shard
""",
    },
    "09_architectures": {
        # reads the last convolution's width off the configuration's end (only the hidden cases and verification's catch it)
        "make_vgg": 'def make_vgg(cfg: list, num_classes: int = 1000, hidden: int = 4096) -> nn.Sequential:\n    """VGG from a configuration: numbers are 3x3 conv widths, "M" a 2x2 max pooling.\n\n    (N, 3, H, W) -> (N, num_classes) for any H, W that survive the poolings (224 for ImageNet).\n    """\n    layers, channels = [], 3\n    for v in cfg:\n        if v == "M":\n            layers.append(nn.MaxPool2d(2, 2))\n        else:\n            layers += [nn.Conv2d(channels, v, 3, padding=1), nn.ReLU()]\n            channels = v\n    return nn.Sequential(\n        *layers, nn.AdaptiveAvgPool2d((7, 7)), nn.Flatten(),\n        nn.Linear((cfg[-2] if cfg[-1] == "M" else cfg[-1]) * 7 * 7, hidden), nn.ReLU(), nn.Dropout(0.5),\n        nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(0.5),\n        nn.Linear(hidden, num_classes),\n    )\n',
        # adds a downsample only when the channels change (only the hidden cases and verification's catch it)
        "basic_block": 'class BasicBlock(nn.Module):\n    """ResNet\'s basic block: (N, in_planes, H, W) -> (N, planes, H / stride, W / stride)."""\n\n    def __init__(self, in_planes: int, planes: int, stride: int = 1):\n        super().__init__()\n            self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)\n        self.bn1 = nn.BatchNorm2d(planes)\n        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)\n        self.bn2 = nn.BatchNorm2d(planes)\n        self.downsample = None\n        if in_planes != planes:\n            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes))\n\n    def forward(self, x: torch.Tensor) -> torch.Tensor:\n        out = F.relu(self.bn1(self.conv1(x)))\n        out = self.bn2(self.conv2(out))\n        shortcut = x if self.downsample is None else self.downsample(x)\n        return F.relu(out + shortcut)\n',
        # adds a downsample only when the channels change (only the hidden cases and verification's catch it)
        "bottleneck": 'class Bottleneck(nn.Module):\n    """ResNet\'s bottleneck block: (N, in_planes, H, W) -> (N, 4 * planes, H / stride, W / stride)."""\n\n    expansion = 4\n\n    def __init__(self, in_planes: int, planes: int, stride: int = 1):\n        super().__init__()\n            out_planes = planes * self.expansion\n        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)\n        self.bn1 = nn.BatchNorm2d(planes)\n        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)\n        self.bn2 = nn.BatchNorm2d(planes)\n        self.conv3 = nn.Conv2d(planes, out_planes, 1, bias=False)\n        self.bn3 = nn.BatchNorm2d(out_planes)\n        self.downsample = None\n        if in_planes != out_planes:\n            self.downsample = nn.Sequential(nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False),\n                                            nn.BatchNorm2d(out_planes))\n\n    def forward(self, x: torch.Tensor) -> torch.Tensor:\n        out = F.relu(self.bn1(self.conv1(x)))\n        out = F.relu(self.bn2(self.conv2(out)))\n        out = self.bn3(self.conv3(out))\n        shortcut = x if self.downsample is None else self.downsample(x)\n        return F.relu(out + shortcut)\n',
        # counts a downsample only when the channels change (only the hidden cases and verification's catch it)
        "bottleneck_params": 'def bottleneck_params(in_planes: int, planes: int, stride: int = 1) -> int:\n    """Trainable parameters of Bottleneck(in_planes, planes, stride), downsample included."""\n    out_planes = 4 * planes\n    total = in_planes * planes + 2 * planes            # conv1 (1x1) and bn1\n    total += 9 * planes * planes + 2 * planes          # conv2 (3x3) and bn2\n    total += planes * out_planes + 2 * out_planes      # conv3 (1x1) and bn3\n    if in_planes != out_planes:\n        total += in_planes * out_planes + 2 * out_planes   # downsample: 1x1 conv and BatchNorm\n    return total\n',
        # squeezes with a square window as wide as the image (only the hidden cases and verification's catch it)
        "squeeze_excitation": 'class SqueezeExcitation(nn.Module):\n    """Channel reweighting: (N, C, H, W) -> (N, C, H, W), each channel times a weight in (0, 1)."""\n\n    def __init__(self, channels: int, squeeze_channels: int):\n        super().__init__()\n            self.avgpool = nn.AdaptiveAvgPool2d(1)\n        self.fc1 = nn.Conv2d(channels, squeeze_channels, 1)\n        self.fc2 = nn.Conv2d(squeeze_channels, channels, 1)\n        self.activation = nn.SiLU()\n        self.scale_activation = nn.Sigmoid()\n\n    def forward(self, x: torch.Tensor) -> torch.Tensor:\n        scale = self.scale_activation(self.fc2(self.activation(self.fc1(F.avg_pool2d(x, x.shape[-1])))))   # (N, C, 1, 1)\n        return x * scale\n',
        # adds the residual at stride 2 too (only the hidden cases and verification's catch it)
        "mbconv": 'class MBConv(nn.Module):\n    """Inverted residual with squeeze-and-excitation: (N, in, H, W) -> (N, out, H / stride, W / stride)."""\n\n    def __init__(self, in_channels: int, out_channels: int, expand_ratio: int, kernel_size: int, stride: int):\n        super().__init__()\n            expanded = in_channels * expand_ratio\n        layers = []\n        if expanded != in_channels:\n            layers.append(nn.Sequential(nn.Conv2d(in_channels, expanded, 1, bias=False), nn.BatchNorm2d(expanded), nn.SiLU()))\n        layers.append(nn.Sequential(\n            nn.Conv2d(expanded, expanded, kernel_size, stride, padding=(kernel_size - 1) // 2, groups=expanded, bias=False),\n            nn.BatchNorm2d(expanded), nn.SiLU(),\n        ))\n        layers.append(SqueezeExcitation(expanded, max(1, in_channels // 4)))\n        layers.append(nn.Sequential(nn.Conv2d(expanded, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)))\n        self.block = nn.Sequential(*layers)\n        self.use_residual = in_channels == out_channels\n\n    def forward(self, x: torch.Tensor) -> torch.Tensor:\n        out = self.block(x)\n        return out + x if self.use_residual else out\n',
        # multiplies phi times, for whole phi only (only the hidden cases and verification's catch it)
        "compound_scaling": 'def compound_scaling(phi: float, alpha: float = 1.2, beta: float = 1.1, gamma: float = 1.15) -> tuple[float, float, float]:\n    """(depth, width, resolution) multipliers of EfficientNet\'s compound scaling (Tan and Le 2019)."""\n    depth = width = resolution = 1.0\n    for _ in range(int(phi)):\n        depth, width, resolution = depth * alpha, width * beta, resolution * gamma\n    return depth, width, resolution\n',
    },
    "10_interpretability": {
        # gives only the first image its score when the target is an int (only the hidden cases and verification's catch it)
        "saliency": 'def saliency(model: nn.Module, x: torch.Tensor, target) -> torch.Tensor:\n    """|d model(x)[i, target_i] / d x_i| for every image i: (N, C, H, W) -> (N, C, H, W), x\'s dtype, no grad."""\n    x = x.detach().clone().requires_grad_()                   # our own leaf: the caller\'s x stays as it was\n    scores = model(x)                                         # (N, classes)\n    target = torch.as_tensor(target, device=scores.device).view(-1)   # an int -> (N,)\n    picked = scores.gather(1, target.view(-1, 1)).sum()       # each image\'s own score; in eval mode images do not mix\n    (grad,) = torch.autograd.grad(picked, x)                  # (N, C, H, W), no .grad left on the weights\n    return grad.abs()\n',
        # keeps the layer's output without a copy, which an in-place ReLU then overwrites (only the hidden cases and verification's catch it)
        "grad_cam": 'def grad_cam(model: nn.Module, layer: nn.Module, x: torch.Tensor, target) -> torch.Tensor:\n    """Grad-CAM of layer for each image\'s target class: (N, C, H, W) -> (N, 1, h, w), the layer\'s resolution."""\n    store = {}\n\n    def keep(module, inputs, output):\n        store["acts"] = output.detach()               # a copy: later in-place layers may overwrite output\n        output.register_hook(lambda grad: store.__setitem__("grads", grad.detach().clone()))\n\n    handle = layer.register_forward_hook(keep)\n    try:\n        x = x.detach().clone().requires_grad_()\n        scores = model(x)                                      # (N, classes)\n        target = torch.as_tensor(target, device=scores.device).expand(scores.shape[0])\n        torch.autograd.grad(scores.gather(1, target.view(-1, 1)).sum(), x)   # fires the tensor hook on the way\n    finally:\n        handle.remove()\n    weights = store["grads"].mean(dim=(2, 3), keepdim=True)   # (N, K, 1, 1): alpha_k per image\n    return torch.relu((weights * store["acts"]).sum(dim=1, keepdim=True))   # (N, 1, h, w)\n',
        # gives only the first image its score when the target is an int (only the hidden cases and verification's catch it)
        "integrated_gradients": 'def integrated_gradients(model: nn.Module, x: torch.Tensor, baseline: torch.Tensor, target, steps: int) -> torch.Tensor:\n    """Right Riemann sum of Integrated Gradients with `steps` points: (N, C, H, W) -> (N, C, H, W)."""\n    x, baseline = x.detach(), baseline.detach()\n    total = torch.zeros_like(x)                               # sum of the gradients along the path\n    for k in range(1, steps + 1):\n        point = (baseline + (k / steps) * (x - baseline)).requires_grad_()   # (N, C, H, W)\n        scores = model(point)\n        picked = torch.as_tensor(target, device=scores.device).view(-1)\n        (grad,) = torch.autograd.grad(scores.gather(1, picked.view(-1, 1)).sum(), point)\n        total += grad\n    return (x - baseline) * total / steps\n',
        # gives every image the first image's score drop when the target is an int (only the hidden cases and verification's catch it)
        "occlusion": 'def occlusion(model: nn.Module, x: torch.Tensor, target, window: int, stride: int, fill: float = 0.0) -> torch.Tensor:\n    """Mean drop of each image\'s target score over the windows covering each pixel: (N, C, H, W) -> (N, C, H, W)."""\n    n, c, h, w = x.shape\n    with torch.no_grad():\n        scores = model(x)\n        target = torch.as_tensor(target, device=scores.device).view(-1, 1)\n        base = scores.gather(1, target)[:, 0]                   # (N,) the unoccluded scores\n        total = torch.zeros(n, h, w, dtype=x.dtype, device=x.device)\n        count = torch.zeros(h, w, dtype=x.dtype, device=x.device)\n        for top in range(0, h - window + stride, stride):\n            for left in range(0, w - window + stride, stride):\n                covered = x.clone()\n                covered[:, :, top:top + window, left:left + window] = fill\n                drop = base - model(covered).gather(1, target)[:, 0]          # (N,)\n                total[:, top:top + window, left:left + window] += drop[:, None, None]\n                count[top:top + window, left:left + window] += 1\n    return (total / count)[:, None].expand(n, c, h, w).clone()\n',
        # drops the last, partial batch (only the hidden cases and verification's catch it)
        "top_activating": 'def top_activating(model: nn.Module, layer: nn.Module, images: torch.Tensor, channel: int, k: int,\n                   batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:\n    """(values, indices) of the k images whose `channel` of layer\'s output has the largest spatial mean."""\n    means = []\n\n    def keep(module, inputs, output):\n        means.append(output[:, channel].mean(dim=(-2, -1)))   # (B,) one number per image of the batch\n\n    was_training = model.training\n    handle = layer.register_forward_hook(keep)\n    try:\n        model.eval()\n        with torch.no_grad():\n            for start in range(0, len(images) - batch_size + 1, batch_size):\n                model(images[start:start + batch_size])\n    finally:\n        handle.remove()\n        model.train(was_training)\n    return torch.cat(means).topk(k)\n',
    },
    "11_transfer_learning": {
        # counts a tied parameter once per module that holds it (only the hidden cases and verification's catch it)
        "count_trainable": 'def count_trainable(model):\n    """The number of elements of the model\'s parameters that require gradients.\n\n    Args:\n        model: any nn.Module; some of its parameters may have requires_grad=False.\n\n    Returns:\n        An int, e.g. 1026 for a frozen backbone under a new nn.Linear(512, 2) head.\n    """\n    return sum(p.numel() for m in model.modules() for p in m.parameters(recurse=False) if p.requires_grad)\n',
        # reads in_features off the model's last parameter (only the hidden cases and verification's catch it)
        "replace_head": 'def replace_head(model, num_classes, head_name="fc"):\n    """Replace the nn.Linear at head_name by a new nn.Linear(in_features, num_classes); return the model.\n\n    Args:\n        model: an nn.Module whose head, at the module path head_name, is an nn.Linear.\n        num_classes: outputs of the new head.\n        head_name: e.g. "fc" (ResNet) or "classifier.3" (MobileNetV3).\n\n    Returns:\n        The same model, changed in place: model(x) now gives scores (N, num_classes).\n    """\n    parent_name, _, attribute = head_name.rpartition(".")\n    weight = list(model.parameters())[-2]            # the head\'s weight, when the head comes last\n    setattr(model.get_submodule(parent_name), attribute, nn.Linear(weight.shape[1], num_classes, dtype=weight.dtype))\n    return model\n',
        # finds the head's parameters by substring: 'fc' is in 'se.fc1' (only the hidden cases and verification's catch it)
        "freeze_backbone": 'def freeze_backbone(model, head_name="fc"):\n    """Freeze everything but the head: no gradients, and evaluation mode that survives model.train().\n\n    Args:\n        model: an nn.Module.\n        head_name: module path of the head, e.g. "fc" or "classifier.3".\n\n    Returns:\n        The same model, changed in place.\n    """\n    for name, p in model.named_parameters():\n        p.requires_grad_(head_name in name)            # \'fc\' is also in \'se.fc1.weight\'\n    for name, module in model.named_modules():\n        if name and head_name not in name and not head_name.startswith(name + "."):\n            module.register_forward_pre_hook(lambda m, args: setattr(m, "training", False))\n    return model\n',
        # looks the stages up with getattr, so no dotted path (only the hidden cases and verification's catch it)
        "param_groups": 'def param_groups(model, stages, lr, factor):\n    """Parameter groups with a learning rate per stage: lr for the last, lr * factor for the one before, ...\n\n    Args:\n        model: an nn.Module.\n        stages: module paths from the input side to the head, e.g. ["layer1", "layer2", "layer3", "layer4", "fc"].\n        lr: learning rate of the last stage.\n        factor: ratio of a stage\'s rate to the next stage\'s (e.g. 0.4).\n\n    Returns:\n        A list of {"params": [...], "lr": ...} dicts for torch.optim; frozen parameters left out.\n    """\n    groups, taken = [], set()\n    for i, stage in enumerate(stages):\n        params = [p for p in getattr(model, stage).parameters() if p.requires_grad]\n        taken |= {id(p) for p in params}\n        groups.append({"params": params, "lr": lr * factor ** (len(stages) - 1 - i)})\n    groups[0]["params"] += [p for p in model.parameters() if p.requires_grad and id(p) not in taken]\n    return groups\n',
        # sizes the one-hot by the largest label present (only the hidden cases and verification's catch it)
        "fit_linear_probe": 'def fit_linear_probe(features, labels, num_classes, steps, lr):\n    """A linear classifier trained by full-batch gradient descent on the mean cross-entropy, from zero weights.\n\n    Args:\n        features: (N, D) float32 or float64.\n        labels: (N,) int64 in 0 .. num_classes - 1.\n        num_classes: K, the number of outputs.\n        steps: gradient-descent steps.\n        lr: step size.\n\n    Returns:\n        nn.Linear(D, K) in the dtype of features, holding the trained weight (K, D) and bias (K,).\n    """\n    n, d = features.shape\n    weight = torch.zeros(num_classes, d, dtype=features.dtype)\n    bias = torch.zeros(num_classes, dtype=features.dtype)\n    targets = F.one_hot(labels).to(features.dtype)\n\n    for _ in range(steps):\n        probs = torch.softmax(features @ weight.T + bias, dim=1)\n        error = (probs - targets) / n\n        weight = weight - lr * error.T @ features\n        bias = bias - lr * error.sum(dim=0)\n\n    probe = nn.Linear(d, num_classes, dtype=features.dtype)\n    with torch.no_grad():\n        probe.weight.copy_(weight)\n        probe.bias.copy_(bias)\n    return probe\n',
    },
    "12_cifar10_fast": {
        # one line copied from the rows: the columns run to H, so only square images come out right (hidden cases catch it)
        "crop_flip": 'def crop_flip(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, flip: torch.Tensor, pad: int) -> torch.Tensor:\n    """Crop every image of the uint8 batch x (B, C, H, W) at (dy[b], dx[b]) of its zero-padded copy; mirror where flip."""\n    b, c, h, w = x.shape\n    padded = F.pad(x, (pad, pad, pad, pad))\n    rows = dy[:, None] + torch.arange(h, device=x.device)\n    cols = dx[:, None] + torch.arange(h, device=x.device)\n    cols = torch.where(flip[:, None], cols.flip(1), cols)\n    batch = torch.arange(b, device=x.device)[:, None, None, None]\n    channel = torch.arange(c, device=x.device)[None, :, None, None]\n    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]\n',
        # log of softmax: infinite on large logits (only the hidden cases and verification's catch it)
        "label_smoothing_loss": 'def label_smoothing_loss(logits: torch.Tensor, targets: torch.Tensor, smoothing: float) -> torch.Tensor:\n    """Mean cross-entropy of logits (N, K) against targets (N,) smoothed by `smoothing`; a 0-d tensor."""\n    log_probs = torch.log(torch.softmax(logits, dim=1))\n    true_class = -log_probs.gather(1, targets[:, None]).squeeze(1)\n    uniform = -log_probs.mean(dim=1)\n    return ((1 - smoothing) * true_class + smoothing * uniform).mean()\n',
        # divides by zero when warmup == total (only the hidden cases and verification's catch it)
        "warmup_decay": 'def warmup_decay(step: int, total: int, warmup: int, peak: float, start: float, end: float) -> float:\n    """Learning rate at `step`: linear from `start` (step 0) to `peak` (step `warmup`), then to `end` (step `total`)."""\n    if step < warmup:\n        return start + (peak - start) * step / warmup\n    return peak + (end - peak) * (step - warmup) / (total - warmup)\n',
        # e[:] = ... cannot assign into a 0-d tensor (only the hidden cases and verification's catch it)
        "ema_update": 'def ema_update(ema_params: list[torch.Tensor], params: list[torch.Tensor], decay: float) -> None:\n    """In place, for each pair: e = decay * e + (1 - decay) * p; nothing recorded by autograd."""\n    with torch.no_grad():\n        for e, p in zip(ema_params, params):\n            e[:] = decay * e + (1 - decay) * p\n',
        # mirrors top to bottom (the visible checks catch it too: the exercise has no subtler common mistake)
        "tta_logits": 'def tta_logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:\n    """(model(x) + model(x mirrored left to right)) / 2, computed without autograd: (N, K)."""\n    with torch.no_grad():\n        return (model(x) + model(x.flip(-2))) / 2\n',
        # synchronises after every warm-up call and never when there is none (only the hidden cases and verification's catch it)
        "time_per_call": 'def time_per_call(fn, synchronize, clock, warmup: int, repeats: int) -> float:\n    """Seconds per call of fn(): `warmup` untimed calls, then `repeats` calls between two synchronised clock readings."""\n    for _ in range(warmup):\n        fn()\n        synchronize()\n    start = clock()\n    for _ in range(repeats):\n        fn()\n    synchronize()\n    stop = clock()\n    return (stop - start) / repeats\n',
    },
}
