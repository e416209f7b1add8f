"""The exercise checkers (sbdlib.course.exercises): they accept the library's functions and the notebooks' solutions,
name each typical mistake, and let an unsolved skeleton pass with a "not attempted" line."""

from __future__ import annotations

import math
import re
from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import sbdlib.course.exercises as ex
from sbdlib import data, models, training
from sbdlib.training import objectives

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOLUTION = re.compile(r"<details><summary>Solution</summary>\s*```python\n(.*?)```\s*</details>", re.S)
MY_CHECKERS = ["check_disc_ramp", "check_render_circle", "check_hsv_to_rgb", "check_coordinate_maps",
               "check_spatial_broadcast", "check_sbd_decoder", "check_gaussian_kl", "check_bernoulli_nll",
               "check_train_step"]
LIBRARY = {
    "check_disc_ramp": data.disc_ramp,
    "check_render_circle": data.render_circle,
    "check_hsv_to_rgb": data.hsv_to_rgb,
    "check_coordinate_maps": models.coordinate_maps,
    "check_spatial_broadcast": models.spatial_broadcast,
    "check_sbd_decoder": models.SpatialBroadcastDecoder,
    "check_gaussian_kl": objectives.gaussian_kl,
    "check_bernoulli_nll": objectives.bernoulli_nll,
    "check_train_step": training.train_step,
}


def _rejects(check, fn, *words: str) -> None:
    """``check(fn)`` raises an AssertionError whose message contains every one of ``words``."""
    with pytest.raises(AssertionError) as err:
        check(fn)
    for word in words:
        assert word in str(err.value), f"expected {word!r} in: {err.value}"


def test_the_package_lists_every_checker():
    names = [n for n in dir(ex) if n.startswith("check_")]
    assert set(MY_CHECKERS) <= set(names)
    assert set(MY_CHECKERS) <= set(ex.__all__)


@pytest.mark.parametrize("name", MY_CHECKERS)
def test_checker_accepts_the_library_function(name, capsys):
    state = torch.random.get_rng_state()
    getattr(ex, name)(LIBRARY[name])
    out = capsys.readouterr().out
    assert out.startswith("correct: ") and out.count("\n") == 1, out
    assert torch.equal(state, torch.random.get_rng_state()), "a checker must leave the global generator alone"


@pytest.mark.parametrize("name", MY_CHECKERS)
def test_unsolved_skeleton_is_not_attempted(name, capsys):
    def skeleton(*args, **kwargs):
        raise NotImplementedError

    getattr(ex, name)(skeleton)
    out = capsys.readouterr().out
    assert "not attempted yet: skeleton raises NotImplementedError" in out and "correct" not in out


def test_a_skeleton_class_is_not_attempted(capsys):
    class Skeleton(nn.Module):
        def __init__(self, latent_dim=10, out_channels=3, width=64, image_size=64):
            super().__init__()
            raise NotImplementedError

    ex.check_sbd_decoder(Skeleton)
    assert "not attempted yet: Skeleton raises NotImplementedError" in capsys.readouterr().out


def test_a_bug_that_is_not_a_skeleton_still_raises():
    with pytest.raises(ZeroDivisionError):
        ex.check_gaussian_kl(lambda mu, logvar: 1 / 0)


def _solutions(notebook: str) -> dict[str, str]:
    """``{checker name: solution code}`` of a notebook's exercises."""
    nb = nbformat.read(NOTEBOOKS / notebook, as_version=4)
    found = {}
    for i, cell in enumerate(nb.cells):
        if "exercise" in cell.metadata.get("tags", []):
            checker = re.search(r"exercises\.(check_\w+)", nb.cells[i + 1].source).group(1)
            found[checker] = SOLUTION.search(nb.cells[i + 2].source).group(1)
    return found


@pytest.mark.parametrize("notebook", ["01_datasets.ipynb", "02_spatial_broadcast.ipynb", "03_training.ipynb"])
def test_checker_accepts_the_notebook_solution(notebook, capsys):
    namespace = {"torch": torch, "F": F, "nn": nn, "data": data, "math": math,
                 "coordinate_maps": models.coordinate_maps, "spatial_broadcast": models.spatial_broadcast}
    solutions = _solutions(notebook)
    assert len(solutions) >= 3
    for checker, code in solutions.items():
        exec(code, namespace)  # defines the learner's function or class (and the names it needs)
        fn = namespace[re.search(r"^(?:def|class) (\w+)", code, re.M).group(1)]
        getattr(ex, checker)(fn)
        out = capsys.readouterr().out
        assert out.startswith("correct: "), f"{notebook}, {checker}: {out}"


# --------------------------------------------------------------------------- notebook 01: named mistakes


def _ramp(dx, dy, r, edge, offsets=(-0.25, 0.25)):
    total = sum((edge - ((dx + ox) ** 2 + (dy + oy) ** 2).sqrt()).clamp(0, 1) for ox in offsets for oy in offsets)
    return total / len(offsets) ** 2


def test_disc_ramp_mistakes_are_named():
    c = ex.check_disc_ramp
    _rejects(c, lambda dx, dy, r: ((dx**2 + dy**2).sqrt() <= r).float(), "a hard edge")
    _rejects(c, lambda dx, dy, r: _ramp(dx, dy, r, r + 0.5), "no area correction")
    _rejects(c, lambda dx, dy, r: _ramp(dx, dy, r, math.sqrt(r * r - 1 / 12) + 0.5, offsets=(0.0,)), "no supersampling")
    _rejects(c, lambda dx, dy, r: _ramp(dx, dy, r, math.sqrt(r * r - 1 / 12)), "+ 0.5 missing")
    _rejects(c, lambda dx, dy, r: _ramp(dx, dy, r, r + 0.5) * 0.5, "differs from the library's", "none of the usual")


def _circle(x, y, diameter, colour, size, *, centre=0.5, hard=False):
    pixels = torch.arange(size) + centre
    dx, dy = (pixels - x * size)[None, None, :], (pixels - y * size)[None, :, None]
    r = diameter * size / 2
    cover = ((dx**2 + dy**2) <= r * r).float()[0] if hard else data.disc_ramp(dx, dy, r)[0]
    return colour[:, None, None] * cover


def test_render_circle_mistakes_are_named():
    c = ex.check_render_circle
    _rejects(c, lambda x, y, d, col, s: _circle(y, x, d, col, s), "x and y swapped")
    _rejects(c, lambda x, y, d, col, s: _circle(x, y, d, col, s, centre=0.0), "pixel centres at integers")
    _rejects(c, lambda x, y, d, col, s: _circle(x, y, 2 * d, col, s), "the diameter used as the radius")
    _rejects(c, lambda x, y, d, col, s: _circle(x, y, d, col, s, hard=True), "a hard edge")
    _rejects(c, lambda x, y, d, col, s: _circle(x, 1 - y, d, col, s), "y growing upwards")
    _rejects(c, lambda x, y, d, col, s: _circle(x, y, d, col, s)[0], "returned shape [64, 64], expected [3, 64, 64]")


def _hsv(h, s, v, order=(5.0, 3.0, 1.0), wrap=True):
    k = torch.tensor(order)[None, :] + 6 * h[:, None]
    k = k % 6 if wrap else k
    return v[:, None] * (1 - s[:, None] * torch.minimum(k, 4 - k).clamp(0, 1))


def test_hsv_to_rgb_mistakes_are_named():
    c = ex.check_hsv_to_rgb
    _rejects(c, lambda h, s, v: _hsv(h, s, v, order=(1.0, 3.0, 5.0)), "the channels in the wrong order")
    _rejects(c, lambda h, s, v: _hsv(h / 360, s, v), "the hue read as degrees")
    _rejects(c, lambda h, s, v: _hsv(h, v, s), "saturation and value swapped")
    _rejects(c, lambda h, s, v: _hsv(h, s, v, wrap=False), "k not wrapped around")


# --------------------------------------------------------------------------- notebook 02: named mistakes


def _maps(h, w, lo=-1.0, swap=False):
    yy, xx = torch.meshgrid(torch.linspace(lo, 1, h), torch.linspace(lo, 1, w), indexing="ij")
    return torch.stack([yy, xx] if swap else [xx, yy])


def test_coordinate_maps_mistakes_are_named():
    c = ex.check_coordinate_maps
    _rejects(c, lambda h, w: _maps(h, w, lo=0.0), "coordinates in [0, 1] instead of [-1, 1]")
    _rejects(c, lambda h, w: _maps(h, w, swap=True), "x and y swapped")
    _rejects(c, lambda h, w: torch.stack(torch.meshgrid((torch.arange(h) + 0.5) / h * 2 - 1,
                                                        (torch.arange(w) + 0.5) / w * 2 - 1, indexing="ij")[::-1]),
             "pixel-centre coordinates")


def _broadcast(z, h, w, *, lo=-1.0, swap=False, coords=True, tile=True, first=False):
    b, k = z.shape
    tiled = z[:, :, None, None].expand(b, k, h, w) if tile else torch.zeros(b, k, h, w)
    maps = _maps(h, w, lo, swap).expand(b, 2, h, w)
    if not coords:
        return tiled
    return torch.cat([maps, tiled] if first else [tiled, maps], 1)


def test_spatial_broadcast_mistakes_are_named():
    c = ex.check_spatial_broadcast
    _rejects(c, lambda z, h, w: _broadcast(z, h, w, lo=0.0), "coordinates in [0, 1] instead of [-1, 1]")
    _rejects(c, lambda z, h, w: _broadcast(z, h, w, swap=True), "x and y swapped")
    _rejects(c, lambda z, h, w: _broadcast(z, h, w, coords=False), "the coordinate channels missing")
    _rejects(c, lambda z, h, w: _broadcast(z, h, w, tile=False), "the latents not tiled")
    _rejects(c, lambda z, h, w: _broadcast(z, h, w, first=True), "the coordinates placed before the latents")


class _Decoder(nn.Module):
    """Table 1's decoder with one switch per typical mistake."""

    def __init__(self, latent_dim=10, out_channels=3, width=64, image_size=64, *, coords=True, padding=None,
                 stride=1, final_relu=False, swap=False, kernel=4):
        super().__init__()
        self.size, self.coords, self.final_relu, self.swap, self.padding = image_size, coords, final_relu, swap, padding
        self.convs = nn.ModuleList([nn.Conv2d(latent_dim + 2 * coords, width, kernel, stride=stride),
                                    nn.Conv2d(width, width, kernel), nn.Conv2d(width, out_channels, kernel)])

    def forward(self, z):
        h = _broadcast(z, self.size, self.size, swap=self.swap, coords=self.coords)
        for i, conv in enumerate(self.convs):
            pad = models.same_padding(conv.kernel_size[0]) if self.padding is None else (self.padding,) * 4
            h = conv(F.pad(h, pad))
            if i < 2 or self.final_relu:
                h = F.relu(h)
        return h


def _decoder(**mistake):
    return lambda *args, **kwargs: _Decoder(*args, **kwargs, **mistake)


def test_sbd_decoder_passes_and_its_mistakes_are_named(capsys):
    ex.check_sbd_decoder(_Decoder)
    assert "correct: _Decoder — 81,027 parameters" in capsys.readouterr().out
    c = ex.check_sbd_decoder
    _rejects(c, _decoder(coords=False), "the coordinate channels are missing")
    _rejects(c, _decoder(padding=1), "the size changes", "padding")
    _rejects(c, _decoder(stride=2), "strided convolution")
    _rejects(c, _decoder(final_relu=True), "a ReLU after the last convolution")
    _rejects(c, _decoder(swap=True), "x and y swapped")
    _rejects(c, _decoder(kernel=3), "expected [[8, 6, 4, 4]")


# --------------------------------------------------------------------------- notebook 03: named mistakes


def _kl(mu, logvar, half=0.5, reduce="sum", sign=1.0):
    terms = mu**2 + logvar.exp() - 1 - logvar
    return sign * half * (terms.sum(1) if reduce == "sum" else terms.mean(1))


def test_gaussian_kl_mistakes_are_named():
    c = ex.check_gaussian_kl
    _rejects(c, lambda mu, lv: _kl(mu, lv, half=1.0), "the 1/2 missing")
    _rejects(c, lambda mu, lv: _kl(mu, lv, reduce="mean"), "the mean over latents instead of the sum")
    _rejects(c, lambda mu, lv: _kl(mu, lv, sign=-1.0), "a sign error")
    _rejects(c, lambda mu, lv: 0.5 * (mu**2 + (0.5 * lv).exp() - 1 - lv).sum(1), "the standard deviation where the variance")
    _rejects(c, lambda mu, lv: _kl(mu, lv).mean(), "one KL per image")


def _bce(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1)


def test_bernoulli_nll_mistakes_are_named():
    c = ex.check_bernoulli_nll
    _rejects(c, lambda lg, x: _bce(lg, x).mean(1), "the mean over pixels instead of the sum")
    _rejects(c, lambda lg, x: _bce(torch.sigmoid(lg), x).sum(1), "a sigmoid applied before")
    _rejects(c, lambda lg, x: -_bce(lg, x).sum(1), "the sign missing")
    _rejects(c, lambda lg, x: _bce(lg, x).sum(1).mean(), "one NLL per image")
    naive = lambda lg, x: -(x * torch.sigmoid(lg).log() + (1 - x) * (1 - torch.sigmoid(lg)).log()).flatten(1).sum(1)  # noqa: E731
    _rejects(c, naive, "large logits", "binary_cross_entropy_with_logits is stable")


def _step(*, zero_grad=True, step=True, use_beta=True, mean=True):
    def train_step(vae, optimizer, x, beta):
        if zero_grad:
            optimizer.zero_grad()
        t = vae.loss_terms(x)  # the library's forward pass: noise from torch.randn, like randn_like
        per_image = t["nll"] + (beta if use_beta else 1.0) * t["kl"]
        loss = per_image.mean() if mean else per_image.sum()
        loss.backward()
        if step:
            optimizer.step()
        return {"loss": loss.item(), "nll": t["nll"].mean().item(), "kl": t["kl"].mean().item()}

    return train_step


def test_train_step_passes_and_its_mistakes_are_named(capsys):
    ex.check_train_step(_step())
    assert capsys.readouterr().out.startswith("correct: train_step")
    c = ex.check_train_step
    _rejects(c, _step(zero_grad=False), "optimizer.zero_grad() forgotten")
    _rejects(c, _step(step=False), "optimizer.step() forgotten")
    _rejects(c, _step(use_beta=False), "beta not applied")
    _rejects(c, _step(mean=False), "summed over the batch")

    def no_dict(vae, optimizer, x, beta):
        return _step()(vae, optimizer, x, beta)["loss"]

    _rejects(c, no_dict, "expected a dict with at least ['loss', 'nll', 'kl']")


# --------------------------------------------------------------------------- the library functions the checks use


def test_render_circle_is_the_circles_datasets_pixels():
    for name, factors in [("xy", [0.25, 0.35]), ("xy", [0.8, 0.2]), ("xyh_tiny", [0.2, 0.8, 0.3])]:
        ds = data.Circles(name)
        f = torch.tensor([factors])
        x, y = (factors[0], factors[1])
        assert torch.equal(ds.render(f)[0], data.render_circle(x, y, ds.diameter, ds.colours(f)[0], ds.image_size))


def test_objective_functions_are_the_vae_loss_terms():
    torch.manual_seed(0)
    vae = models.VAE("sbd", latent_dim=3, channels=1, width=4, image_size=16)
    x = torch.rand(5, 1, 16, 16)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        terms = vae.loss_terms(x)
        torch.manual_seed(1)
        mu, logvar = vae.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
    assert torch.allclose(terms["kl"], objectives.gaussian_kl(mu, logvar))
    assert torch.allclose(terms["nll"], objectives.bernoulli_nll(vae.decode(z), x))
