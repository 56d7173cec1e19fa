"""Chapter 04 (receptive fields): the autograder cells pass the solution, reject these wrong answers.

The tests are nbtools.ChapterChecks'; VISIBLE and HIDDEN_ONLY answers replace a solution block.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbtools import ChapterChecks  # noqa: E402


class TestChapter04(ChapterChecks):
    CHAPTER = "04_receptive_fields"
    EXERCISES = ["fields_by_hand", "field_recursion", "layers_to_cover", "gradient_map"]

    VISIBLE = [
        ("fields_by_hand", "forgets the dilation", 'return {"A": (17, 4), "B": (23, 4)}', "fields_by_hand()['A']"),
        ("fields_by_hand", "swaps size and jump", 'return {"A": (4, 25), "B": (4, 39)}', "expected the tuple (25, 4)"),
        ("fields_by_hand", "returns a tuple", "return (25, 4), (39, 4)", "should return a dict"),
        ("field_recursion", "multiplies the jump too early", """
         size, jump, start, out = 1, 1, 0.5, []
         for k, s, p, d in layers:
             jump *= s
             size, start = size + (k - 1) * d * jump, start + ((k - 1) / 2 * d - p) * jump
             out.append((size, jump, start))
         return out
         """, "field_recursion on case 2 of 3"),
        ("field_recursion", "ignores padding in start", """
         size, jump, start, out = 1, 1, 0.5, []
         for k, s, p, d in layers:
             size, start = size + (k - 1) * d * jump, start + (k - 1) / 2 * d * jump
             jump *= s
             out.append((size, jump, start))
         return out
         """, "field_recursion on case 1 of 3"),
        ("layers_to_cover", "stops one layer late at an exact fit", """
         size, jump, layers = 1, 1, 0
         while size <= target:
             size += 2 * jump
             jump *= strides[layers] if layers < len(strides) else 1
             layers += 1
         return layers
         """, "layers_to_cover on case 3 of 3"),
        ("layers_to_cover", "applies a layer's stride to its own growth", """
         size, jump, layers = 1, 1, 0
         while size < target:
             jump *= strides[layers] if layers < len(strides) else 1
             size += 2 * jump
             layers += 1
         return layers
         """, "layers_to_cover on case 2 of 3"),
        ("gradient_map", "keeps the sign of the gradient", """
         model.eval()
         x = x.detach().clone().requires_grad_()
         out = model(x)
         (grad,) = torch.autograd.grad(out[0, :, out.shape[-2] // 2, out.shape[-1] // 2].sum(), x)
         return grad[0].sum(dim=0)
         """, "gradient_map on case 1 of 1"),
        ("gradient_map", "backpropagates from the corner unit", """
         model.eval()
         x = x.detach().clone().requires_grad_()
         (grad,) = torch.autograd.grad(model(x)[0, :, 0, 0].sum(), x)
         return grad[0].abs().sum(dim=0)
         """, "gradient_map on case 1 of 1"),
    ]

    HIDDEN_ONLY = [
        ("fields_by_hand", "gets stack B wrong", 'return {"A": (25, 4), "B": (23, 4)}', "fields_by_hand()['B']"),
        ("field_recursion", "forgets the dilation", """
         size, jump, start, out = 1, 1, 0.5, []
         for k, s, p, d in layers:
             size, start = size + (k - 1) * jump, start + ((k - 1) / 2 - p) * jump
             jump *= s
             out.append((size, jump, start))
         return out
         """, "a hidden case"),
        ("gradient_map", "assumes square feature maps", """
         model.eval()
         x = x.detach().clone().requires_grad_()
         out = model(x)
         centre = out.shape[-1] // 2
         (grad,) = torch.autograd.grad(out[0, :, centre, centre].sum(), x)
         return grad[0].abs().sum(dim=0)
         """, "hidden test input"),
        ("gradient_map", "forgets eval mode", """
         x = x.detach().clone().requires_grad_()
         out = model(x)
         (grad,) = torch.autograd.grad(out[0, :, out.shape[-2] // 2, out.shape[-1] // 2].sum(), x)
         return grad[0].abs().sum(dim=0)
         """, "a hidden case"),
    ]
