"""course_utils.inspection.attribution: Spearman's rank correlation and cascading randomisation."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from course_utils.errors import CourseError
from course_utils.inspection import cascading_randomisation, randomise_, spearman


def brute_force_spearman(a: list[float], b: list[float]) -> float:
    """Pearson's correlation of mean ranks, ranks counted one value at a time (the textbook definition)."""

    def ranks(values):
        return [sum(1 for w in values if w < v) + (sum(1 for w in values if w == v) + 1) / 2 for v in values]

    ra, rb = torch.tensor(ranks(a), dtype=torch.float64), torch.tensor(ranks(b), dtype=torch.float64)
    return float(torch.corrcoef(torch.stack([ra, rb]))[0, 1])


def test_spearman_is_one_for_an_increasing_function_and_minus_one_for_a_decreasing_one():
    a = torch.randn(5, 7, generator=torch.Generator().manual_seed(0))
    assert spearman(a, a.exp() * 3 + 1) == pytest.approx(1.0)
    assert spearman(a, -(a**3)) == pytest.approx(-1.0)
    assert spearman(a, a.exp()) != pytest.approx(
        float(torch.corrcoef(torch.stack([a.flatten(), a.exp().flatten()]))[0, 1])
    )


def test_spearman_matches_the_textbook_definition_with_ties():
    g = torch.Generator().manual_seed(1)
    for _ in range(20):
        a = torch.randint(0, 4, (15,), generator=g).float()  # many ties
        b = torch.randint(0, 6, (15,), generator=g).float()
        if a.unique().numel() > 1 and b.unique().numel() > 1:
            assert spearman(a, b) == pytest.approx(brute_force_spearman(a.tolist(), b.tolist()), abs=1e-12)


def test_spearman_hand_example():
    # ranks of a: 1, 2.5, 2.5, 4; of b: 2, 1, 3, 4; centred products sum to 3, squares to 4.5 and 5
    value = spearman(torch.tensor([1.0, 5.0, 5.0, 9.0]), torch.tensor([2.0, 0.0, 3.0, 8.0]))
    assert value == pytest.approx(3 / (4.5 * 5) ** 0.5)


def test_spearman_refuses_what_has_no_rank_correlation():
    with pytest.raises(CourseError, match="same size"):
        spearman(torch.zeros(3), torch.zeros(4))
    with pytest.raises(CourseError, match="constant"):
        spearman(torch.ones(6), torch.arange(6.0))
    with pytest.raises(CourseError, match="at least two"):
        spearman(torch.ones(1), torch.ones(1))


def small_model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2)).eval()


def test_randomise_resets_weights_from_the_seed_and_keeps_the_global_random_state():
    model = small_model()
    before = model[0].weight.clone()
    state = torch.random.get_rng_state()
    randomise_(model[0], seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert not torch.allclose(model[0].weight, before)
    again = randomise_(small_model()[0], seed=3)
    assert torch.equal(again.weight, model[0].weight)


def test_cascade_randomises_from_the_top_cumulatively_and_leaves_the_model_alone():
    model = small_model()
    with torch.no_grad():
        model[1].running_mean.fill_(0.5)
    original = {k: v.clone() for k, v in model.state_dict().items()}
    steps = list(cascading_randomisation(model, ["4", "1", "0"], seed=0))
    assert [name for name, _ in steps] == ["4", "1", "0"]
    for k, v in model.state_dict().items():
        assert torch.equal(v, original[k]), f"the model's {k} changed"
    changed = [{k for k, v in copy.state_dict().items() if not torch.equal(v, original[k])} for _, copy in steps]
    assert changed[0] == {"4.weight", "4.bias"}
    assert {"1.running_mean", "4.weight"} <= changed[1] and "0.weight" not in changed[1]
    assert {"0.weight", "1.running_mean", "4.weight"} <= changed[2]
    assert all(not copy.training for _, copy in steps)
    for (_, first), (_, second) in itertools.pairwise(steps):
        assert first is not second


def test_cascade_names_a_missing_layer():
    with pytest.raises(CourseError, match="no layer named 'fc'"):
        list(cascading_randomisation(small_model(), ["fc"]))
