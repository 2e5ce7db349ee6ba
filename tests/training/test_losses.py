import math

import torch

from wordspot.training.losses import AllPairsLoss, JointLoss, PairLoss, levenshtein_matrix, levenshtein_pairs


def naive_all_pairs(x, y, lev, symmetric):
    total, n = 0.0, 0
    for i in range(len(x)):
        for j in range(len(y)):
            if symmetric and j <= i:
                continue
            d = math.sqrt(sum((float(a) - float(b)) ** 2 for a, b in zip(x[i], y[j])))
            total += (d - float(lev[i, j])) ** 2
            n += 1
    return total / n


def test_all_pairs_loss_matches_naive_loop():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(7, 5, generator=g), torch.randn(4, 5, generator=g)
    lev_xy = torch.randint(0, 8, (7, 4), generator=g).float()
    lev_xx = torch.randint(0, 8, (7, 7), generator=g).float()
    loss = AllPairsLoss()
    assert math.isclose(loss(x, y, lev_xy).item(), naive_all_pairs(x, y, lev_xy, False), rel_tol=1e-5)
    assert math.isclose(loss(x, x, lev_xx, symmetric=True).item(), naive_all_pairs(x, x, lev_xx, True), rel_tol=1e-5)


def test_pair_loss_is_squared_distance_error():
    fa, fb = torch.tensor([[0.0, 0.0], [1.0, 1.0]]), torch.tensor([[3.0, 4.0], [1.0, 1.0]])
    lev = torch.tensor([2.0, 0.0])
    # pair 0: distance 5 vs 2 -> 9; pair 1: distance 0 vs 0 -> 0
    assert math.isclose(PairLoss()(fa, fb, lev).item(), 4.5, rel_tol=1e-5)


def test_gradient_finite_at_zero_distance():
    x = torch.ones(3, 4, requires_grad=True)
    AllPairsLoss()(x, x, torch.ones(3, 3)).backward()
    assert torch.isfinite(x.grad).all()


def test_joint_loss_combines_the_three_terms():
    g = torch.Generator().manual_seed(1)
    img, txt = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    lev = levenshtein_matrix(["ab", "abc", "b", "xyz", "ab"], ["ab", "abc", "b", "xyz", "ab"])
    parts = JointLoss(1.0, 2.0, 0.5)(img, txt, lev)
    ap = AllPairsLoss()
    assert math.isclose(parts["ss"].item(), ap(txt, txt, lev, True).item(), rel_tol=1e-6)
    assert math.isclose(parts["is"].item(), ap(img, txt, lev).item(), rel_tol=1e-6)
    assert math.isclose(parts["total"].item(),
                        parts["ss"].item() + 2 * parts["is"].item() + 0.5 * parts["ii"].item(), rel_tol=1e-6)


def test_levenshtein_helpers():
    assert levenshtein_pairs(["kitten", "a"], ["sitting", "a"]).tolist() == [3.0, 0.0]
    assert levenshtein_matrix(["ab"], ["ab", "ba", ""]).tolist() == [[0.0, 2.0, 2.0]]
