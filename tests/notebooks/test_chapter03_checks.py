"""Chapter 03 (pooling): the autograder cells pass the solution, reject these wrong answers.

The tests are nbtools.ChapterChecks'; VISIBLE and HIDDEN_ONLY answers replace a solution block.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbtools import ChapterChecks  # noqa: E402


class TestChapter03(ChapterChecks):
    CHAPTER = "03_pooling"
    EXERCISES = ["max_pool2d", "avg_pool2d", "global_avg_pool", "mixed_pool", "prediction_consistency"]

    VISIBLE = [
        ("max_pool2d", "pads with zeros", """
         stride = kernel_size if stride is None else stride
         x = F.pad(x, (padding, padding, padding, padding))
         return x.unfold(2, kernel_size, stride).unfold(3, kernel_size, stride).amax(dim=(-2, -1))
         """, "max_pool2d on case 3 of 3"),
        ("max_pool2d", "ignores the stride", """
         x = F.pad(x, (padding, padding, padding, padding), value=float("-inf"))
         return x.unfold(2, kernel_size, kernel_size).unfold(3, kernel_size, kernel_size).amax(dim=(-2, -1))
         """, "case 2 of 3"),
        ("avg_pool2d", "leaves padded cells out of the mean", """
         stride = kernel_size if stride is None else stride
         ones = F.pad(torch.ones_like(x), (padding,) * 4)
         x = F.pad(x, (padding,) * 4)
         cut = lambda t: t.unfold(2, kernel_size, stride).unfold(3, kernel_size, stride).sum(dim=(-2, -1))
         return cut(x) / cut(ones)
         """, "avg_pool2d on case 3 of 3"),
        ("avg_pool2d", "forgets the padding", """
         stride = kernel_size if stride is None else stride
         return x.unfold(2, kernel_size, stride).unfold(3, kernel_size, stride).mean(dim=(-2, -1))
         """, "has shape"),
        ("global_avg_pool", "keeps H and W", "return x.mean(dim=(2, 3), keepdim=True)", "4 dimensions where 2"),
        ("global_avg_pool", "takes the maximum", "return x.amax(dim=(2, 3))", "differs from the expected values"),
        ("mixed_pool", "weights both poolings by a", """
         return self.a * F.max_pool2d(x, self.kernel_size, self.stride) + self.a * F.avg_pool2d(x, self.kernel_size, self.stride)
         """, "MixedPool2d(2, None, a=0.25) output"),
        ("mixed_pool", "swaps max and average", """
         return (1 - self.a) * F.max_pool2d(x, self.kernel_size, self.stride) + self.a * F.avg_pool2d(x, self.kernel_size, self.stride)
         """, "MixedPool2d(2, None, a=0.25) output"),
        ("prediction_consistency", "counts changes instead of agreements", """
         model.eval()
         with torch.no_grad():
             base = model(x).argmax(dim=1)
             same = [model(torch.roll(x, s, dims=-1)).argmax(dim=1) != base for s in range(1, max_shift + 1)]
         return torch.stack(same).float().mean().item()
         """, "prediction_consistency on case 1 of 1"),
        ("prediction_consistency", "returns a count", """
         model.eval()
         with torch.no_grad():
             base = model(x).argmax(dim=1)
             return sum(int((model(torch.roll(x, s, dims=-1)).argmax(dim=1) == base).sum()) for s in range(1, max_shift + 1))
         """, "expected the number"),
    ]

    HIDDEN_ONLY = [
        ("max_pool2d", "assumes square inputs", """
         stride = kernel_size if stride is None else stride
         x = F.pad(x, (padding, padding, padding, padding), value=float("-inf"))
         n_out = (x.shape[2] - kernel_size) // stride + 1
         out = torch.empty(x.shape[0], x.shape[1], n_out, n_out, dtype=x.dtype)
         for i in range(n_out):
             for j in range(n_out):
                 window = x[:, :, i * stride:i * stride + kernel_size, j * stride:j * stride + kernel_size]
                 out[:, :, i, j] = window.amax(dim=(-2, -1))
         return out
         """, "hidden test input"),
        ("avg_pool2d", "always steps by the window size", """
         x = F.pad(x, (padding,) * 4)
         return x.unfold(2, kernel_size, kernel_size).unfold(3, kernel_size, kernel_size).mean(dim=(-2, -1))
         """, "a hidden case"),
        ("global_avg_pool", "assumes square maps", "return x.sum(dim=(2, 3)) / x.shape[2] ** 2", "a hidden case"),
        ("mixed_pool", "turns a into a number", """
         a = self.a.item()
         return a * F.max_pool2d(x, self.kernel_size, self.stride) + (1 - a) * F.avg_pool2d(x, self.kernel_size, self.stride)
         """, "self.a.item()"),
        ("prediction_consistency", "forgets eval mode", """
         with torch.no_grad():
             base = model(x).argmax(dim=1)
             same = [model(torch.roll(x, s, dims=-1)).argmax(dim=1) == base for s in range(1, max_shift + 1)]
         return torch.stack(same).float().mean().item()
         """, "model.eval()"),
    ]
