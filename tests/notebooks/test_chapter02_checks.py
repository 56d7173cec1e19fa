"""Chapter 02 (padding, stride, dilation): the autograder cells pass the solution, reject these wrong answers.

The tests are nbtools.ChapterChecks'; VISIBLE and HIDDEN_ONLY answers replace a solution block.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbtools import ChapterChecks  # noqa: E402


class TestChapter02(ChapterChecks):
    CHAPTER = "02_padding_stride_dilation"
    EXERCISES = ["output_size", "transposed_output_size", "same_padding", "fix_in_features", "downsampling_stack"]

    VISIBLE = [
        ("output_size", "rounds up", "return -(-(n + 2 * p - d * (k - 1) - 1) // s) + 1", "output_size on case"),
        ("output_size", "ignores dilation", "return (n + 2 * p - k) // s + 1", "expected the number"),
        ("transposed_output_size", "forgets output_padding",
         "return (n - 1) * s - 2 * p + d * (k - 1) + 1", "transposed_output_size on case"),
        ("transposed_output_size", "uses the conv formula", "return (n + 2 * p - d * (k - 1) - 1) // s + 1", "expected"),
        ("same_padding", "ignores dilation", "return (k - 1) // 2", "same_padding on case 4 of 4"),
        ("same_padding", "never refuses", "return d * (k - 1) // 2", "raise ValueError instead"),
        ("fix_in_features", "keeps the wrong in_features", "in_features = 48 * 7 * 7", "raised RuntimeError"),
        ("fix_in_features", "forgets the channels", "in_features = 3 * 3", "raised RuntimeError"),
        ("downsampling_stack", "pads nothing", """
         layers, n, c_in = [], n_in, 3
         while n > n_out:
             layers += [nn.Conv2d(c_in, channels, 3, stride=2), nn.ReLU()]
             n, c_in = (n - 3) // 2 + 1, channels
         return nn.Sequential(*layers)
         """, "use only Conv2d(..., 3, stride=2, padding=1)"),
        ("downsampling_stack", "halves once too often", """
         layers, n, c_in = [], n_in, 3
         while n >= n_out:
             layers += [nn.Conv2d(c_in, channels, 3, stride=2, padding=1), nn.ReLU()]
             n, c_in = (n - 1) // 2 + 1, channels
         return nn.Sequential(*layers)
        """, "maps an input of shape (2, 3, 224, 224)"),
    ]

    HIDDEN_ONLY = [
        ("output_size", "believes a 1x1 kernel always keeps the size", """
         if k == 1:
             return n
         return (n + 2 * p - d * (k - 1) - 1) // s + 1
         """, "a hidden case"),
        ("same_padding", "refuses every even kernel, even with even dilation", """
         if k % 2 == 0:
             raise ValueError("even kernel")
         return d * (k - 1) // 2
         """, "a hidden test input"),
        ("fix_in_features", "pools to 7x7 instead of fixing in_features", """
         in_features = 48 * 7 * 7
         return nn.Sequential(features(), nn.AdaptiveAvgPool2d(7), nn.Flatten(), nn.Linear(in_features, 10))
         """, "AdaptiveAvgPool2d"),
        ("downsampling_stack", "hard-codes the 224 -> 7 answer", """
         layers = [nn.Conv2d(3, channels, 3, stride=2, padding=1), nn.ReLU()]
         for _ in range(4):
             layers += [nn.Conv2d(channels, channels, 3, stride=2, padding=1), nn.ReLU()]
         return nn.Sequential(*layers)
         """, "hidden case"),
    ]
