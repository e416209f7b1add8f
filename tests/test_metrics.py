"""Tests of sbdlib.metrics on cases whose values are known exactly or bounded."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pytest
import torch

from sbdlib.metrics import (
    affine_r2,
    discrete_entropy,
    discrete_mutual_info,
    evaluate,
    factor_vae_details,
    factor_vae_score,
    histogram_discretize,
    latents_used,
    mean_posterior_std,
    mig,
    mig_details,
)

EXACT = 1e-9


# ------------------------------------------------------------------------------ helpers


def grid(*sizes: int) -> np.ndarray:
    """Every label combination of the given factor sizes [prod(sizes), K]."""
    return np.array(list(itertools.product(*(range(s) for s in sizes))), dtype=np.int64)


def reference_mi(a: np.ndarray, b: np.ndarray) -> float:
    """Mutual information in nats of two label vectors, by the textbook double sum."""
    n = len(a)
    joint, pa, pb = Counter(zip(a.tolist(), b.tolist())), Counter(a.tolist()), Counter(b.tolist())
    return sum(c / n * math.log(c * n / (pa[x] * pb[y])) for (x, y), c in joint.items())


def rotation(degrees: float) -> np.ndarray:
    """2-D rotation matrix [2, 2]."""
    a = math.radians(degrees)
    return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


class FakeDataset:
    """Images are the factor values as K channels of a 1x1 image; labels uniform."""

    def __init__(self, factor_sizes: tuple[int, ...] = (4, 5, 6)) -> None:
        self.factor_sizes = tuple(factor_sizes)
        self.factor_names = tuple(f"f{k}" for k in range(len(factor_sizes)))

    def sample_labels(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Uniform labels [n, K]."""
        columns = [torch.randint(s, (n,), generator=generator) for s in self.factor_sizes]
        return torch.stack(columns, 1)

    def labels_to_factors(self, labels: torch.Tensor) -> torch.Tensor:
        """Labels scaled to [0, 1] [n, K]."""
        return labels.float() / (torch.tensor(self.factor_sizes).float() - 1).clamp(min=1)

    def render(self, factors: torch.Tensor) -> torch.Tensor:
        """Images [n, K, 1, 1]."""
        return factors[:, :, None, None].clone()

    def eval_set(self, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A seeded held-out set."""
        labels = self.sample_labels(n, torch.Generator().manual_seed(seed))
        factors = self.labels_to_factors(labels)
        return self.render(factors), factors, labels


class FakeVAE(torch.nn.Module):
    """Posterior mean = the factors (first K dims) then zeros; fixed posterior stds."""

    def __init__(self, num_factors: int, latent_dim: int, stds: list[float]) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.weight = torch.nn.Parameter(torch.eye(num_factors, latent_dim))
        self.logvar = torch.nn.Parameter(2 * torch.log(torch.tensor(stds)))
        self.modes_seen: list[bool] = []

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean [B, D], logvar [B, D])."""
        self.modes_seen.append(self.training)
        mean = x.flatten(1) @ self.weight
        return mean, self.logvar.expand_as(mean)

    def loss_terms(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Per-image nll, kl, elbo [B] (deterministic: the generator is not needed)."""
        mean, logvar = self.encode(x)
        recon = mean @ self.weight.T
        nll = ((x.flatten(1) - recon) ** 2).sum(1) / (2 * 0.3) + 1.0
        kl = 0.5 * (mean ** 2 + logvar.exp() - logvar - 1).sum(1)
        return {"nll": nll, "kl": kl, "elbo": nll + kl, "mean": mean, "logvar": logvar}


def identity(images: torch.Tensor) -> torch.Tensor:
    """Representation = the factor values."""
    return images.flatten(1)


# --------------------------------------------------------------------- discretisation / MI


def test_histogram_discretize_uses_left_edges() -> None:
    codes = np.array([[0.0, 5.0], [0.5, 5.0], [1.0, 5.0]])
    # 2 bins over [0, 1], left edges [0, 0.5]: 0.5 and the maximum fall in bin 2;
    # a constant dimension has edges v-0.5..v+0.5 and lands in the middle bin.
    np.testing.assert_array_equal(histogram_discretize(codes, 2), [[1, 2], [2, 2], [2, 2]])
    ints = np.arange(20, dtype=float)[:, None].repeat(2, 1)
    np.testing.assert_array_equal(histogram_discretize(ints)[:, 0], np.arange(1, 21))


def test_histogram_discretize_matches_numpy_recipe() -> None:
    codes = np.random.default_rng(0).standard_normal((500, 3)).astype(np.float32)
    expected = np.stack([np.digitize(c, np.histogram(c, 7)[1][:-1]) for c in codes.T], 1)
    np.testing.assert_array_equal(histogram_discretize(codes, 7), expected)


def test_mutual_info_and_entropy_match_textbook_sums() -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 6, (300, 3))
    b = np.stack([rng.integers(0, 4, 300), a[:, 0] // 2, rng.integers(3, 5, 300)], 1)
    mi = discrete_mutual_info(a, b)
    for d, k in itertools.product(range(3), range(3)):
        assert mi[d, k] == pytest.approx(reference_mi(a[:, d], b[:, k]), abs=1e-12)
    ent = discrete_entropy(b)
    for k in range(3):
        assert ent[k] == pytest.approx(reference_mi(b[:, k], b[:, k]), abs=1e-12)


def test_hand_computed_example() -> None:
    # code 0 -> bins [1,1,1,1,20,20,20,20]; code 1 alternates bins 1 / 20.
    codes = np.array([[0, 0], [0, 1], [0, 0], [0, 1], [1, 0], [1, 1], [1, 0], [1, 1]], dtype=float)
    factor = np.array([[0], [0], [0], [1], [1], [1], [1], [1]])
    # Contingency code0 x factor: [[3, 1], [0, 4]]; code1 x factor: [[2, 2], [1, 3]].
    mi0 = 3 / 8 * math.log(2) + 1 / 8 * math.log(2 / 5) + 1 / 2 * math.log(8 / 5)
    mi1 = (1 / 4 * math.log(4 / 3) + 1 / 4 * math.log(4 / 5)
           + 1 / 8 * math.log(2 / 3) + 3 / 8 * math.log(6 / 5))
    entropy = -(3 / 8 * math.log(3 / 8) + 5 / 8 * math.log(5 / 8))
    details = mig_details(codes, factor)
    np.testing.assert_allclose(details.mutual_info[:, 0], [mi0, mi1], atol=EXACT, rtol=0)
    assert details.entropy[0] == pytest.approx(entropy, abs=EXACT)
    assert mig(codes, factor) == pytest.approx((mi0 - mi1) / entropy, abs=EXACT)  # ~0.5398


# ---------------------------------------------------------------------------------- MIG


def test_perfect_codes_on_full_grid_give_exactly_one() -> None:
    # Codes = factors; <= 20 values per factor so each value has its own bin:
    # MI(code_k, f_k) = H(f_k), and on a full grid the factors are exactly independent.
    labels = grid(10, 8, 5)
    assert mig(labels.astype(float), labels) == pytest.approx(1.0, abs=EXACT)


def test_perfect_codes_sampled_equal_one_minus_factor_dependence() -> None:
    labels = np.random.default_rng(2).integers(0, [10, 8, 5, 3], (10_000, 4))
    k = labels.shape[1]
    # Only empirical dependence between the sampled factors lowers the score.
    cross = np.array([[reference_mi(labels[:, i], labels[:, j]) for j in range(k)]
                      for i in range(k)])
    np.fill_diagonal(cross, -np.inf)
    entropy = np.array([reference_mi(labels[:, j], labels[:, j]) for j in range(k)])
    expected = np.mean(1 - cross.max(axis=0) / entropy)
    score = mig(labels.astype(np.float32), labels)
    assert score == pytest.approx(expected, abs=EXACT)
    assert 0.99 < score < 1.0


def test_rotation_by_45_degrees_destroys_the_gap() -> None:
    # On a full 20x20 grid, (f1 + f2, f1 - f2) / sqrt(2) is symmetric in (f1, f2) up to a
    # reflection and a shift, so both codes share the same MI with each factor: MIG = 0.
    # (Built from sums, not a rotation matrix: cos 45 != sin 45 in floating point, and the
    # rounding moves a few grid points across bin edges, giving 0.002.)
    labels = grid(20, 20)
    rotated = np.stack([labels[:, 0] + labels[:, 1], labels[:, 0] - labels[:, 1]], 1) / math.sqrt(2)
    assert mig(rotated, labels) == pytest.approx(0.0, abs=EXACT)
    assert mig(labels @ rotation(45).T, labels) < 0.01
    assert mig(labels.astype(float), labels) == pytest.approx(1.0, abs=EXACT)


def test_mig_decreases_with_rotation_angle() -> None:
    labels = np.random.default_rng(3).integers(0, 20, (10_000, 2))
    scores = [mig(labels @ rotation(a).T, labels) for a in (0, 15, 30, 45)]
    # Measured: 0.994, 0.385, 0.168, 0.0007.
    assert scores[0] > 0.99
    assert scores[0] > scores[1] > scores[2] > scores[3]
    assert scores[1] < 0.5 and scores[3] < 0.02


def test_random_codes_score_near_zero() -> None:
    rng = np.random.default_rng(4)
    assert mig(rng.standard_normal((10_000, 5)), rng.integers(0, [4, 5, 6], (10_000, 3))) < 0.02


def test_duplicated_informative_dims_give_zero() -> None:
    labels = grid(10, 8)
    codes = np.stack([labels[:, 0], 2.0 * labels[:, 0] + 1, labels[:, 1], labels[:, 1]], 1)
    details = mig_details(codes, labels)
    assert details.score == pytest.approx(0.0, abs=EXACT)
    np.testing.assert_allclose(details.mutual_info[[0, 1], 0], details.entropy[0], atol=EXACT)


def test_scale_shift_and_permutation_invariance() -> None:
    rng = np.random.default_rng(5)
    labels = rng.integers(0, [6, 9, 4], (3000, 3))
    codes = labels @ rng.standard_normal((3, 4)) + 0.3 * rng.standard_normal((3000, 4))
    base = mig(codes, labels)
    affine = codes * np.array([3.0, 0.1, 7.0, 1e3]) + np.array([5.0, -2.0, 0.0, 1e4])
    assert mig(affine, labels) == pytest.approx(base, abs=EXACT)
    assert mig(codes[:, [2, 0, 3, 1]], labels) == pytest.approx(base, abs=EXACT)
    assert mig(torch.from_numpy(codes), torch.from_numpy(labels)) == pytest.approx(base, abs=EXACT)


def test_constant_factors_are_skipped() -> None:
    labels = grid(10, 8)
    with_constant = np.concatenate([labels, np.full((len(labels), 1), 3)], 1)
    details = mig_details(labels.astype(float), with_constant)
    assert details.score == pytest.approx(mig(labels.astype(float), labels), abs=EXACT)
    assert np.isnan(details.gaps[2]) and details.varying.tolist() == [True, True, False]
    with pytest.raises(ValueError, match="constant"):
        mig(labels.astype(float), np.zeros((len(labels), 2), dtype=int))


@pytest.mark.parametrize(
    "codes, factors",
    [
        (np.zeros((10, 1)), np.zeros((10, 1), dtype=int)),  # D < 2
        (np.zeros((10, 3)), np.zeros((9, 1), dtype=int)),  # N mismatch
        (np.zeros(10), np.zeros((10, 1), dtype=int)),  # not 2-D
        (np.full((10, 2), np.nan), np.arange(10)[:, None]),  # NaN codes
        (np.zeros((10, 2)), np.linspace(0, 1, 10)[:, None]),  # non-integer factors
    ],
)
def test_mig_bad_input_raises(codes: np.ndarray, factors: np.ndarray) -> None:
    with pytest.raises(ValueError):
        mig(codes, factors)


def test_mig_bad_num_bins_raises() -> None:
    with pytest.raises(ValueError, match="num_bins"):
        mig(np.zeros((4, 2)), np.arange(4)[:, None], num_bins=0)


# ------------------------------------------------------------------------ FactorVAE score

SMALL = {"batch_size": 64, "num_train": 300, "num_eval": 300, "num_variance_estimate": 2000}


def test_factor_vae_perfect_codes_score_one() -> None:
    scores = factor_vae_score(identity, FakeDataset(), seed=0, **SMALL)
    assert scores == {"train_accuracy": 1.0, "eval_accuracy": 1.0, "num_active_dims": 3}


def test_factor_vae_codes_missing_a_factor_score_two_thirds() -> None:
    # Dims 0, 1 encode factors 0, 1; factor 2's votes split between them, so 1/3 of the
    # votes can never be right: accuracy -> (K - 1) / K = 2/3.
    details = factor_vae_details(lambda x: x.flatten(1)[:, :2], FakeDataset((5, 5, 5)), seed=1,
                                 **{**SMALL, "num_eval": 3000})
    assert details.classifier.tolist() == [0, 1]
    assert details.eval_accuracy == pytest.approx(2 / 3, abs=0.04)


def test_factor_vae_pruned_dim_before_active_ones_is_indexed_correctly() -> None:
    # Dim 0 is nearly constant (std ~0.004 < 0.05) and pruned. disentanglement_lib would
    # record the argmin over active dims (0..2) as a dimension index, i.e. in columns 0..2.
    def rep(images: torch.Tensor) -> torch.Tensor:
        x = images.flatten(1)
        return torch.cat([0.01 * x[:, 2:], x], 1)

    details = factor_vae_details(rep, FakeDataset(), seed=2, **SMALL)
    assert details.active_dims.tolist() == [False, True, True, True]
    assert details.num_active_dims == 3
    assert details.train_votes[:, 0].sum() == 0 and details.eval_votes[:, 0].sum() == 0
    assert details.classifier[1:].tolist() == [0, 1, 2]
    np.testing.assert_array_equal(np.diag(details.train_votes[:, 1:]), details.train_votes.sum(1))
    assert details.eval_accuracy == 1.0


def test_factor_vae_no_active_dims_scores_zero() -> None:
    scores = factor_vae_score(lambda x: torch.zeros(len(x), 4), FakeDataset(), **SMALL)
    assert scores == {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}


def test_factor_vae_is_deterministic_given_seed() -> None:
    def noisy(images: torch.Tensor) -> torch.Tensor:
        noise = torch.randn(len(images), 3, generator=torch.Generator().manual_seed(0))
        return images.flatten(1) + 0.3 * noise

    first = factor_vae_details(noisy, FakeDataset(), seed=7, **SMALL)
    second = factor_vae_details(noisy, FakeDataset(), seed=7, **SMALL)
    np.testing.assert_array_equal(first.eval_votes, second.eval_votes)


@pytest.mark.parametrize("kwargs", [{"batch_size": 1}, {"num_train": 0},
                                    {"num_variance_estimate": 1}, {"prune_threshold": -1.0}])
def test_factor_vae_bad_settings_raise(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        factor_vae_score(identity, FakeDataset(), **kwargs)


# --------------------------------------------------------------------------- latents used


def test_latents_used_counts_mean_std_below_half() -> None:
    stds = torch.tensor([[0.1, 0.499, 0.501, 1.0, 0.2, 0.2], [0.1, 0.499, 0.501, 1.0, 0.9, 0.7]],
                        dtype=torch.float64)
    logvar = 2 * torch.log(stds)
    torch.testing.assert_close(mean_posterior_std(logvar), stds.mean(0))
    # Used: 0.1, 0.499 and the dim whose stds average 0.45; not 0.501, 1.0, nor mean 0.55.
    assert latents_used(logvar) == 3
    assert latents_used(logvar.numpy(), threshold=0.6) == 5


def test_latents_used_bad_input_raises() -> None:
    with pytest.raises(ValueError):
        latents_used(torch.zeros(5))


# ------------------------------------------------------------------------------ evaluate


def test_evaluate_returns_finite_row_and_restores_mode() -> None:
    vae = FakeVAE(num_factors=3, latent_dim=5, stds=[0.1, 0.2, 0.3, 1.0, 1.0])
    vae.train()
    row = evaluate(vae, FakeDataset(), eval_size=500, seed=3, batch_size=128,
                   factor_vae={"num_train": 100, "num_eval": 100, "num_variance_estimate": 500})
    assert set(row) == {"nll", "kl", "elbo", "latents_used", "mig", "factor_vae", "num_active_dims", "affine_r2"}
    assert math.isnan(row.pop("affine_r2"))  # no x and y factors: no latent geometry
    assert all(math.isfinite(v) for v in row.values())
    assert row["elbo"] == pytest.approx(row["nll"] + row["kl"], rel=1e-9)
    assert row["nll"] == pytest.approx(1.0, abs=1e-6)  # perfect reconstruction + constant
    assert row["latents_used"] == 3
    assert row["mig"] > 0.95
    assert row["factor_vae"] == 1.0 and row["num_active_dims"] == 3
    assert vae.training and not any(vae.modes_seen)


def test_evaluate_without_factor_vae_gives_nan() -> None:
    vae = FakeVAE(num_factors=3, latent_dim=4, stds=[0.1, 0.2, 1.0, 1.0]).eval()
    row = evaluate(vae, FakeDataset(), eval_size=200)
    assert math.isnan(row["factor_vae"])
    assert row["num_active_dims"] == 3 and not vae.training


def test_evaluate_rejects_unknown_factor_vae_settings() -> None:
    vae = FakeVAE(num_factors=3, latent_dim=4, stds=[0.1, 0.2, 1.0, 1.0])
    with pytest.raises(ValueError, match="factor_vae"):
        evaluate(vae, FakeDataset(), eval_size=50, factor_vae={"num_votes": 10})


def test_evaluate_measures_affine_r2_on_positional_sets_and_owns_its_noise() -> None:
    from sbdlib.data import Circles
    from sbdlib.models import VAE

    torch.manual_seed(0)
    vae = VAE("sbd", width=4, image_size=32)
    data = Circles("xy", image_size=32)
    torch.manual_seed(123)
    a = evaluate(vae, data, eval_size=64)
    torch.manual_seed(456)  # the global RNG does not matter: evaluation has its own generator
    b = evaluate(vae, data, eval_size=64)
    assert a == b or all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a.values(), b.values()))
    assert -1.0 < a["affine_r2"] <= 1.0


def test_affine_r2_ignores_rotation_and_rejects_bad_shapes() -> None:
    rng = np.random.default_rng(0)
    factors = rng.uniform(size=(100, 2))
    angle = 0.7
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    assert affine_r2(factors, factors @ rotation * 3.0 + 1.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="N >= 3"):
        affine_r2(factors, factors[:10])


# ------------------------------------------------------------- generalisation (App. H)


class PixelVAE(torch.nn.Module):
    """z = the image's pixels; decoding returns them, blanked where the object's centroid lies in ``box``."""

    def __init__(self, box: tuple[tuple[float, float], ...] | None = None) -> None:
        super().__init__()
        self.box = box
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # a parameter, so the module has a device
        self.shape: tuple[int, ...] = ()

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(pixels [B, C*H*W], zeros)."""
        self.shape = tuple(x.shape[1:])
        z = x.flatten(1)
        return z, torch.zeros_like(z)

    def decode_image(self, z: torch.Tensor) -> torch.Tensor:
        """The pixels back, zeroed for objects centred in the box."""
        images = z.reshape(-1, *self.shape).clone()
        if self.box is not None:
            mass = images.sum(1)                                     # [B, H, W]
            side = mass.shape[-1]
            coords = (torch.arange(side) + 0.5) / side
            cx = (mass.sum(1) * coords).sum(1) / mass.sum((1, 2))
            cy = (mass.sum(2) * coords).sum(1) / mass.sum((1, 2))
            (x0, x1), (y0, y1) = self.box
            inside = (cx >= x0) & (cx <= x1) & (cy >= y0) & (cy <= y1)
            images[inside] = 0.0
        return images


def test_hole_reconstruction_error_separates_a_decoder_that_fails_inside_the_hole() -> None:
    from sbdlib.data import get_dataset
    from sbdlib.metrics import hole_reconstruction_error

    data = get_dataset("circles/xy", hole="center", image_size=32)
    perfect = hole_reconstruction_error(PixelVAE(), data, "x", "y", n=8)
    assert perfect["inside"] == 0.0 and perfect["outside"] == 0.0
    failing = hole_reconstruction_error(PixelVAE(data.hole_box), data, "x", "y", n=8)
    assert failing["outside"] == 0.0 and failing["inside"] > 0.01
    with pytest.raises(ValueError, match="no held-out hole"):
        hole_reconstruction_error(PixelVAE(), get_dataset("circles/xy", image_size=32), "x", "y", n=4)


def test_best_threshold_accuracy_by_hand_and_for_either_direction() -> None:
    from sbdlib.metrics import best_threshold_accuracy

    codes = np.array([[0.0, 3.0], [1.0, 2.0], [2.0, 1.0], [3.0, 0.0]])
    labels = np.array([0, 1, 0, 1])
    # Column 0: best split after the first value: 1 zero below + 2 ones above = 3 of 4.
    # Column 1 is column 0 reversed: the same accuracy with class 1 below the threshold.
    assert best_threshold_accuracy(codes, labels).tolist() == [0.75, 0.75]
    assert best_threshold_accuracy(np.array([[5.0], [4.0], [1.0]]), np.array([0, 0, 1])).tolist() == [1.0]
    with pytest.raises(ValueError, match="zeros and ones"):
        best_threshold_accuracy(codes, np.array([0, 1, 2, 1]))


def test_presence_share_is_the_variance_a_binary_label_explains() -> None:
    from sbdlib.metrics import presence_share

    labels = np.array([0, 0, 1, 1])
    # Column 0 is the label itself, column 1 varies within the classes only, column 2 half and half,
    # column 3 is constant.
    codes = np.column_stack([[0.0, 0.0, 1.0, 1.0], [0.0, 2.0, 0.0, 2.0], [0.0, 1.0, 1.0, 2.0], [5.0] * 4])
    assert presence_share(codes, labels).tolist() == pytest.approx([1.0, 0.0, 0.5, 0.0])
    with pytest.raises(ValueError, match="zeros and ones"):
        presence_share(codes, np.array([0, 1, 2, 1]))


def test_presence_latent_finds_the_latent_that_codes_blank_images() -> None:
    from sbdlib.data import get_dataset
    from sbdlib.metrics import presence_latent

    class BrightnessInLatent2(torch.nn.Module):
        """Latent 2 = mean brightness (0 for a blank image), the others noise."""

        def __init__(self) -> None:
            super().__init__()
            self.anchor = torch.nn.Parameter(torch.zeros(()))

        def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            noise = torch.randn(len(x), 4, generator=torch.Generator().manual_seed(0))
            noise[:, 2] = x.flatten(1).mean(1)
            return noise, torch.zeros_like(noise)

    data = get_dataset("circles/xy", blank_fraction=0.5, image_size=32)
    found = presence_latent(BrightnessInLatent2(), data, eval_size=400)
    assert found["latent"] == 2 and found["accuracy"] == 1.0
    assert found["share"] > 0.9 and found["second_share"] < 0.05

    class BrightnessInTwoLatents(BrightnessInLatent2):
        """Presence spread over latents 1 and 2: easy to detect, but not one latent's alone."""

        def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            mean, logvar = super().encode(x)
            mean[:, 1] = -2 * mean[:, 2]
            return mean, logvar

    spread = presence_latent(BrightnessInTwoLatents(), data, eval_size=400)
    assert spread["latent"] in (1, 2) and spread["second_share"] > 0.9 and spread["accuracy"] == 1.0
    with pytest.raises(ValueError, match="no 'present' factor"):
        presence_latent(BrightnessInLatent2(), get_dataset("circles/xy", image_size=32), eval_size=10)
