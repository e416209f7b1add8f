"""Tests of sbdlib.data: the datasets must draw exactly what their factors say."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sbdlib.data import (
    CIRCLE_SET_NAMES,
    DATASET_NAMES,
    Circles,
    ColoredSprites,
    DSpritesFile,
    Shapes3DFile,
    centre_of_mass,
    get_dataset,
    hsv_to_rgb,
    rgb_to_hsv,
)

SIZE = 64
DIAMETERS = {"xy": 0.2, "xh": 0.3, "rg": 0.5, "xyh_small": 0.1, "xyh_tiny": 0.075}
AREA_TOLERANCE = 0.01  # relative error allowed on the anti-aliased area pi r^2 (spec: ~2%)
PIXEL = 1.0 / SIZE


def mask_of(images: torch.Tensor) -> torch.Tensor:
    """Coverage of a fully saturated object: the brightest channel, ``[N, H, W]``."""
    return images.amax(dim=1)


def centroid(mask: torch.Tensor) -> torch.Tensor:
    """Centre of mass ``[N, 2]`` (x, y) of ``[N, H, W]`` masks, in frame units."""
    return centre_of_mass(mask) / mask.shape[-1]


def hole_box(ds: Circles, hole: str) -> list[tuple[float, float]]:
    """The held-out box, recomputed independently from the paper's definition."""
    box = []
    for lo, hi in ds.factor_ranges[:2]:
        quarter = (hi - lo) / 4
        box.append((lo + quarter, hi - quarter) if hole == "center" else (lo + 2 * quarter, hi))
    return box


def inside(factors: torch.Tensor, box: list[tuple[float, float]]) -> torch.Tensor:
    """Rows whose first two factors fall in ``box``."""
    return ((factors[:, 0] >= box[0][0]) & (factors[:, 0] <= box[0][1])
            & (factors[:, 1] >= box[1][0]) & (factors[:, 1] <= box[1][1]))


# ---------------------------------------------------------------------------------------
# Interface
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in DATASET_NAMES if not n.endswith("_file")])
def test_interface_and_config_round_trip(name: str) -> None:
    ds = get_dataset(name)
    k = len(ds.factor_names)
    assert len(ds.factor_ranges) == len(ds.factor_sizes) == len(ds.factor_discrete) == k
    assert ds.num_channels == 3 and ds.image_size == SIZE
    for i in range(k):
        values = ds.factor_values(i)
        assert values.shape == (ds.factor_sizes[i],)
        lo, hi = ds.factor_ranges[i]
        assert values.min() >= lo - 1e-6 and values.max() <= hi + 1e-6
    images, factors = ds.sample(16, seed=3)
    assert images.shape == (16, 3, SIZE, SIZE) and images.dtype == torch.float32
    assert factors.shape == (16, k)
    assert 0.0 <= images.min() and images.max() <= 1.0
    rebuilt = get_dataset(**ds.config())
    assert rebuilt.config() == ds.config()
    assert torch.equal(rebuilt.sample(16, seed=3)[0], images)


def test_factor_names() -> None:
    assert Circles("xy").factor_names == ("x", "y")
    assert Circles("xh").factor_names == ("x", "hue")
    assert Circles("rg").factor_names == ("red", "green")
    assert Circles("xyh_tiny").factor_names == ("x", "y", "hue")
    assert Circles("xh", blank_fraction=0.5).factor_names == ("x", "hue", "present")
    assert Circles("xh").fixed_factors["y"] == 0.5
    assert Circles("xy").factor_sizes == (32, 32)
    assert ColoredSprites().factor_sizes[:5] == (3, 6, 40, 32, 32)
    values = Circles("xy").factor_values(0)
    assert values[0] == pytest.approx(0.2) and values[-1] == pytest.approx(0.8)


# ---------------------------------------------------------------------------------------
# Circles: geometry, area, anti-aliasing, colour
# ---------------------------------------------------------------------------------------


def test_pixel_convention_and_centroid_follows_position() -> None:
    ds = Circles("xy")
    factors = torch.tensor([[0.25, 0.5], [0.5, 0.25], [0.2, 0.8], [0.71, 0.33], [0.8, 0.8]])
    masks = mask_of(ds.render(factors))
    assert masks[0, :, : SIZE // 2].sum() > 0.99 * masks[0].sum()  # x small -> left half
    assert masks[1, : SIZE // 2].sum() > 0.99 * masks[1].sum()  # y small -> top half
    assert torch.allclose(centroid(masks), factors, atol=0.05 * PIXEL)


def test_centre_of_mass_uses_the_pixel_convention() -> None:
    images = torch.zeros(3, 3, 4, 6)
    images[0, :, 1, 2] = 1.0  # one lit pixel: row 1, column 2 -> centre (2.5, 1.5) pixels
    images[1, 0, 0, 0] = 1.0  # weight 1 at (row 0, column 0) and weight 3 at (row 3, column 5)
    images[1, 0, 3, 5] = 3.0
    centres = centre_of_mass(images)
    assert centres.shape == (3, 2)
    assert torch.allclose(centres[0], torch.tensor([2.5, 1.5]))
    assert torch.allclose(centres[1], torch.tensor([(0.5 + 5.5 * 3) / 4, (0.5 + 3.5 * 3) / 4]))
    assert torch.isnan(centres[2]).all()  # a blank image has no centre
    assert torch.allclose(centre_of_mass(images[:2, 0]), centres[:2])  # [N, H, W] masks: the same
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        centre_of_mass(images[0, 0])


def test_normalise_maps_each_range_onto_minus_one_one() -> None:
    ds = Circles("xh")  # x in [0.2, 0.8], hue in [0.2, 0.8]
    factors = torch.tensor([[0.2, 0.8], [0.5, 0.35], [0.8, 0.2]])
    code = ds.normalise(factors, ("hue", "x"))
    assert torch.allclose(code, torch.tensor([[1.0, -1.0], [-0.5, 0.0], [-1.0, 1.0]]), atol=1e-6)
    with pytest.raises(ValueError, match="unknown factor"):
        ds.normalise(factors, ("y",))


def test_centroid_follows_position_with_hue() -> None:
    ds = Circles("xyh_small")
    factors = ds.sample_factors(64, torch.Generator().manual_seed(0))
    assert torch.allclose(centroid(mask_of(ds.render(factors))), factors[:, :2], atol=0.05 * PIXEL)


def test_area_scales_with_diameter_squared() -> None:
    where = {"x": 0.5, "y": 0.5, "hue": 0.5}
    areas = {}
    for name in ("xy", "xyh_small", "xyh_tiny"):
        ds = Circles(name)
        factors = torch.tensor([[where[f] for f in ds.factor_names]])
        areas[name] = float(mask_of(ds.render(factors)).sum())
        expected = math.pi * (DIAMETERS[name] * SIZE / 2) ** 2
        assert areas[name] == pytest.approx(expected, rel=AREA_TOLERANCE)
    assert areas["xy"] / areas["xyh_small"] == pytest.approx(4.0, rel=AREA_TOLERANCE)
    assert areas["xyh_small"] / areas["xyh_tiny"] == pytest.approx((0.1 / 0.075) ** 2, rel=AREA_TOLERANCE)


@pytest.mark.parametrize("name", CIRCLE_SET_NAMES)
def test_edges_are_anti_aliased_and_area_is_exact(name: str) -> None:
    ds = Circles(name)
    rest = {"hue": 0.5, "red": 0.8, "green": 0.8}
    factors = ds.sample_factors(200, torch.Generator().manual_seed(1))
    for i, f in enumerate(ds.factor_names):
        if f in rest:  # keep a saturated colour so the brightest channel is the coverage
            factors[:, i] = rest[f]
    images = ds.render(factors)
    masks = mask_of(images) / images.amax(dim=(1, 2, 3))[:, None, None]
    partial = ((masks > 0.05) & (masks < 0.95)).sum(dim=(1, 2))
    radius = DIAMETERS[name] * SIZE / 2
    assert (partial >= 2 * math.pi * radius * 0.5).all()  # a soft rim all around
    area = masks.sum(dim=(1, 2))
    assert torch.allclose(area, torch.full_like(area, math.pi * radius**2), rtol=AREA_TOLERANCE)


def test_hue_round_trips_through_the_rendered_colour() -> None:
    ds = Circles("xh")
    hues = torch.linspace(0.2, 0.8, 13)
    factors = torch.stack([torch.full_like(hues, 0.5), hues], dim=1)
    centre_pixel = ds.render(factors)[:, :, SIZE // 2, SIZE // 2]
    hsv = rgb_to_hsv(centre_pixel)
    assert torch.allclose(hsv[:, 0], hues, atol=1e-5)
    assert torch.allclose(hsv[:, 1:], torch.ones(13, 2), atol=1e-5)


def test_rgb_set_colours_and_ranges() -> None:
    ds = Circles("rg")
    factors = torch.tensor([[0.4, 0.8], [0.8, 0.4], [0.6, 0.5]])
    centre = ds.render(factors)[:, :, SIZE // 2, SIZE // 2]
    assert torch.allclose(centre, torch.cat([factors, torch.ones(3, 1)], dim=1), atol=1e-6)
    white = Circles("xy").render(torch.tensor([[0.5, 0.5]]))[0, :, SIZE // 2, SIZE // 2]
    assert torch.allclose(white, torch.ones(3))


def test_hsv_helpers_are_inverse() -> None:
    g = torch.Generator().manual_seed(0)
    hsv = torch.rand(1000, 3, generator=g) * torch.tensor([1.0, 0.9, 0.9]) + torch.tensor([0.0, 0.1, 0.1])
    rgb = hsv_to_rgb(*hsv.unbind(1))
    assert rgb.min() >= 0 and rgb.max() <= 1
    assert torch.allclose(rgb_to_hsv(rgb), hsv, atol=1e-5)
    primaries = hsv_to_rgb(torch.tensor([0.0, 1 / 3, 2 / 3]), torch.ones(3), torch.ones(3))
    assert torch.allclose(primaries, torch.eye(3), atol=1e-6)


# ---------------------------------------------------------------------------------------
# Holes, blanks, seeds
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("hole", ["center", "corner"])
def test_holes_are_never_sampled_but_render(hole: str) -> None:
    ds = Circles("xy", hole=hole)
    box = hole_box(ds, hole)
    images, factors = ds.sample(5000, seed=0)
    assert not inside(factors, box).any() and not ds.in_hole(factors).any()
    assert images.shape == (5000, 3, SIZE, SIZE)
    # the samples fill the rest of the space up to the hole's edge
    margin = 0.03
    near = ((factors[:, 0] > box[0][0] - margin) & (factors[:, 0] < box[0][0])
            & (factors[:, 1] > box[1][0]) & (factors[:, 1] < box[1][1]))
    assert near.sum() > 10
    labels = ds.sample_labels(5000, torch.Generator().manual_seed(1))
    assert not inside(ds.labels_to_factors(labels), box).any()
    held = torch.tensor([[0.5 * (box[0][0] + box[0][1]), 0.5 * (box[1][0] + box[1][1])]])
    assert ds.in_hole(held).all()
    assert torch.allclose(centroid(mask_of(ds.render(held))), held, atol=0.05 * PIXEL)


@pytest.mark.parametrize("name", ["xh", "rg"])
@pytest.mark.parametrize("hole", ["center", "corner"])
def test_holes_on_other_two_factor_sets(name: str, hole: str) -> None:
    ds = Circles(name, hole=hole)
    factors = ds.sample_factors(5000, torch.Generator().manual_seed(2))
    assert not inside(factors, hole_box(ds, hole)).any()
    assert inside(Circles(name).sample_factors(5000, torch.Generator().manual_seed(2)), hole_box(ds, hole)).float().mean() > 0.2


def test_blank_fraction_and_present_factor() -> None:
    ds = Circles("xy", blank_fraction=0.3)
    images, factors = ds.sample(2000, seed=5)
    blank = images.amax(dim=(1, 2, 3)) == 0
    assert blank.float().mean().item() == pytest.approx(0.3, abs=0.03)
    assert torch.equal(blank, factors[:, -1] == 0)
    assert set(factors[:, -1].unique().tolist()) == {0.0, 1.0}
    assert ds.factor_sizes[-1] == 2 and ds.factor_ranges[-1] == (0.0, 1.0)
    _, _, labels = ds.sample_discrete(2000, seed=6)
    assert (labels[:, -1] == 0).float().mean().item() == pytest.approx(0.3, abs=0.03)


def test_seeds_are_reproducible_and_local() -> None:
    ds = Circles("xyh_small")
    state = torch.random.get_rng_state()
    a, fa = ds.sample(64, seed=7)
    b, fb = ds.sample(64, seed=7)
    c, _ = ds.sample(64, seed=8)
    assert torch.equal(a, b) and torch.equal(fa, fb)
    assert not torch.equal(a, c)
    assert torch.equal(state, torch.random.get_rng_state())
    e1, f1, l1 = ds.eval_set(32)
    e2, f2, l2 = ds.eval_set(32)
    assert torch.equal(e1, e2) and torch.equal(l1, l2)
    assert torch.equal(ds.labels_to_factors(l1), f1)


def test_discrete_samples_lie_on_the_grid() -> None:
    ds = ColoredSprites()
    _, factors, labels = ds.sample_discrete(256, seed=0)
    for i in range(len(ds.factor_names)):
        assert torch.equal(ds.factor_values(i)[labels[:, i]], factors[:, i])
    _, continuous = ds.sample(256, seed=0)
    for i, name in enumerate(ds.factor_names):  # dSprites factors on the grid, colour continuous
        on_grid = torch.isin(continuous[:, i], ds.factor_values(i))
        assert on_grid.all() if ds.factor_discrete[i] else not on_grid.any(), name


# ---------------------------------------------------------------------------------------
# Sprites
# ---------------------------------------------------------------------------------------


def sprite(shape: int, scale: float = 1.0, angle: float = 0.0, x: float = 0.5, y: float = 0.5) -> torch.Tensor:
    """One sprite's factor row with a fixed colour."""
    return torch.tensor([[shape, scale, angle, x, y, 0.1, 0.5, 0.6]])


def test_sprite_shapes_differ_and_colour_multiplies_the_mask() -> None:
    ds = ColoredSprites()
    masks = ds.masks(torch.cat([sprite(k) for k in range(3)]))
    for a in range(3):
        for b in range(a + 1, 3):
            assert (masks[a] - masks[b]).abs().sum() > 20  # > 20 pixels of difference
    image = ds.render(sprite(2))[0]
    colour = hsv_to_rgb(torch.tensor([0.1]), torch.tensor([0.5]), torch.tensor([0.6]))[0]
    assert torch.allclose(image, colour[:, None, None] * masks[2][None], atol=1e-6)


def test_sprite_orientation_rotates_the_mask() -> None:
    ds = ColoredSprites()
    quarter = math.pi / 2
    heart = ds.masks(torch.cat([sprite(2, angle=0.3), sprite(2, angle=0.3 + quarter), sprite(2, angle=math.pi)]))
    # counter-clockwise on screen: a quarter turn equals rot90 of the image
    assert (heart[1] - torch.rot90(heart[0], 1, dims=(0, 1))).abs().max() < 1e-3
    # the heart has no 180 degree symmetry
    upright = ds.masks(sprite(2))[0]
    assert (heart[2] - upright).abs().sum() > 20
    assert torch.allclose(heart[2], torch.rot90(upright, 2, dims=(0, 1)), atol=1e-3)
    assert centroid(upright[None])[0, 1] < 0.5  # tip down: mass above the centre


def test_sprite_scale_changes_area_and_position_moves_it() -> None:
    ds = ColoredSprites()
    for shape in range(3):
        masks = ds.masks(torch.cat([sprite(shape, 1.0), sprite(shape, 0.5)]))
        assert float(masks[0].sum() / masks[1].sum()) == pytest.approx(4.0, rel=0.05)
    square = ds.masks(torch.cat([sprite(0, x=0.0, y=0.0), sprite(0, x=1.0, y=1.0)]))
    c = centroid(square)
    assert (c[0] < 0.25).all() and (c[1] > 0.75).all()
    assert square[:, 0].sum() == 0 and square[:, :, -1].sum() == 0  # inside the frame


# ---------------------------------------------------------------------------------------
# Stream and grid
# ---------------------------------------------------------------------------------------


def test_stream_yields_fresh_batches() -> None:
    ds = Circles("xyh_small")
    stream = ds.stream(24, seed=3)
    batches = [next(stream) for _ in range(30)]  # crosses several internal blocks
    assert all(b.shape == (24, 3, SIZE, SIZE) for b in batches)
    assert all(not torch.equal(a, b) for a, b in zip(batches, batches[1:]))
    again = ds.stream(24, seed=3)
    assert torch.equal(next(again), batches[0])
    assert not torch.equal(next(ds.stream(24, seed=4)), batches[0])


def test_grid_shapes_order_and_held_out() -> None:
    ds = Circles("xy", hole="center")
    images, factors, held_out = ds.grid("x", "y", 4, 6)
    assert images.shape == (24, 3, SIZE, SIZE) and factors.shape == (24, 2)
    assert torch.equal(factors[:6, 0], torch.full((6,), 0.2))  # x varies slowest
    assert torch.allclose(factors[:6, 1], torch.linspace(0.2, 0.8, 6))
    # hole = [0.35, 0.65]^2: x in {0.4, 0.6} (rows 1, 2) and y in {0.44, 0.56} (columns 2, 3)
    assert held_out.dtype == torch.bool and held_out.nonzero()[:, 0].tolist() == [8, 9, 14, 15]
    assert torch.allclose(centroid(mask_of(images)), factors, atol=0.05 * PIXEL)
    sprites, sf, none = ColoredSprites().grid("shape", "orientation", 3, 5, base={"scale": 1.0})
    assert sprites.shape == (15, 3, SIZE, SIZE) and not none.any()
    assert (sf[:, 1] == 1.0).all() and sf[:, 0].unique().tolist() == [0.0, 1.0, 2.0]


# ---------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: get_dataset("circles/nope"), "circles/xy"),
        (lambda: Circles("nope"), "xyh_small"),
        (lambda: Circles("xyh_small", hole="center"), "two free factors"),
        (lambda: Circles("xy", hole="middle"), "center"),
        (lambda: Circles("xy", image_size=0), "image_size"),
        (lambda: ColoredSprites(image_size=-3), "image_size"),
        (lambda: Circles("xy", image_size=100000), "image_size must be an integer between 8 and 256"),
        (lambda: Circles("xy", image_size=3), "image_size must be an integer between 8 and 256"),
        (lambda: ColoredSprites(image_size=100000), "image_size must be an integer between 8 and 256"),
        (lambda: Circles("xy").sample(2, seed=2**70), "seed must be an integer between 0 and"),
        (lambda: Circles("xy", blank_fraction=1.0), "blank_fraction"),
        (lambda: Circles("xy", blank_fraction=-0.1), "blank_fraction"),
        (lambda: Circles("xy").render(torch.zeros(3, 3)), r"\[N, 2\]"),
        (lambda: Circles("xy").render(torch.zeros(3)), r"\[N, 2\]"),
        (lambda: Circles("xy").render(torch.tensor([[0.5, 0.9]])), "'y' must lie in"),
        (lambda: Circles("xy").render(torch.tensor([[float("nan"), 0.5]])), "'x' must lie in"),
        (lambda: ColoredSprites().render(sprite(3)), "'shape' must lie in"),
        (lambda: Circles("xy").sample(-1), "n must be"),
        (lambda: Circles("xy").stream(0), "batch_size"),
        (lambda: Circles("xy").grid("x", "hue"), "unknown factor"),
        (lambda: Circles("xy").labels_to_factors(torch.tensor([[0, 32]])), "labels must lie"),
    ],
)
def test_bad_input_raises_value_error(make, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()


# ---------------------------------------------------------------------------------------
# Readers of stored files (tiny fake files of the real structure)
# ---------------------------------------------------------------------------------------


def product_grid(*axes: list[float]) -> np.ndarray:
    """All combinations of the axes' values, last axis fastest (as the real files)."""
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(axes))


def test_dsprites_reader(tmp_path) -> None:
    values = product_grid([1.0], [1.0, 2.0, 3.0], [0.5, 1.0], [0.0, math.pi], [0.0, 1.0], [0.0, 0.5, 1.0])
    n = len(values)
    images = np.zeros((n, 64, 64), dtype=np.uint8)
    for row in range(n):  # image `row` has row + 1 lit pixels: identifies it
        images[row].reshape(-1)[: row + 1] = 1
    path = tmp_path / "dsprites.npz"
    np.savez(path, imgs=images, latents_values=values, latents_classes=np.zeros_like(values, dtype=np.int64))
    ds = DSpritesFile(path)
    assert ds.factor_names == ("shape", "scale", "orientation", "x", "y")  # colour is constant
    assert ds.factor_sizes == (3, 2, 2, 2, 3) and ds.num_channels == 1
    rendered = ds.render(torch.tensor(values[:, 1:], dtype=torch.float32))
    assert rendered.shape == (n, 1, 64, 64)
    assert torch.equal(rendered.sum(dim=(1, 2, 3)), torch.arange(1, n + 1, dtype=torch.float32))
    near = ds.render(torch.tensor([[2.9, 0.6, 3.0, 0.9, 0.4]]))  # nearest: row (2, 0, 1, 1, 1)
    assert near.sum() == 2 * 24 + 0 * 12 + 1 * 6 + 1 * 3 + 1 + 1
    imgs, factors, labels = ds.sample_discrete(10, seed=0)
    assert imgs.shape == (10, 1, 64, 64) and torch.equal(ds.labels_to_factors(labels), factors)
    assert next(ds.stream(4)).shape == (4, 1, 64, 64)
    assert DSpritesFile(**{k: v for k, v in ds.config().items() if k != "name"}).factor_sizes == ds.factor_sizes
    with pytest.raises(ValueError, match="must lie in"):
        ds.render(torch.tensor([[4.0, 0.5, 0.0, 0.0, 0.0]]))


def test_shapes3d_reader(tmp_path) -> None:
    h5py = pytest.importorskip("h5py")
    values = product_grid([0.0, 0.5], [0.0, 0.5], [0.1, 0.9], [0.75, 1.25], [0.0, 1.0, 2.0], [-30.0, 30.0])
    n = len(values)
    images = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 64, 64, 3)).copy()
    images[:, 0, 0, 1] = 255  # channel order check
    path = tmp_path / "3dshapes.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=images)
        f.create_dataset("labels", data=values)
    ds = Shapes3DFile(path)
    assert ds.factor_names == ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    assert ds.factor_sizes == (2, 2, 2, 2, 3, 2) and ds.num_channels == 3
    order = torch.tensor([5, 0, 77, 5])  # unsorted, repeated rows
    rendered = ds.render(torch.tensor(values, dtype=torch.float32)[order])
    assert rendered.shape == (4, 3, 64, 64)
    assert torch.allclose(rendered[:, 0, 10, 10], order.float() / 255)
    assert (rendered[:, 1, 0, 0] == 1).all() and (rendered[:, 0, 0, 0] < 1).all()
    assert next(ds.stream(8, seed=1)).shape == (8, 3, 64, 64)
    assert get_dataset(**ds.config()).factor_sizes == ds.factor_sizes


# ---------------------------------------------------------------------------------------
# Scale and devices
# ---------------------------------------------------------------------------------------


def test_sampling_100k_images_in_bounded_chunks() -> None:
    # 32 x 32 keeps the output itself at 1.2 GB; the chunked renderer is the same code path.
    ds = Circles("xy", image_size=32)
    images, factors = ds.sample(100_000, seed=0)
    assert images.shape == (100_000, 3, 32, 32) and factors.shape == (100_000, 2)
    sums = images[::997].sum(dim=(1, 2, 3))
    assert torch.allclose(sums, torch.full_like(sums, 3 * math.pi * 3.2**2), rtol=AREA_TOLERANCE)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    for ds in (Circles("xyh_tiny", blank_fraction=0.2), ColoredSprites()):
        cpu, factors = ds.sample(64, seed=0)
        gpu, gpu_factors = ds.sample(64, seed=0, device="cuda")
        assert gpu.device.type == "cuda" and torch.equal(gpu_factors.cpu(), factors)
        assert torch.allclose(gpu.cpu(), cpu, atol=1e-4)


def test_factor_explorer_builds_and_updates() -> None:
    from sbdlib.figures.widgets import factor_explorer

    for ds in (ColoredSprites(), Circles("xh", blank_fraction=0.5)):
        widget = factor_explorer(ds, initial={"x": 0.3})
        title, body = widget.children
        sliders, image = body.children[0].children, body.children[1]
        assert [s.description for s in sliders] == list(ds.factor_names)
        assert "x = 0.3" in title.value and bytes(image.value).startswith(b"\x89PNG")
        before = bytes(image.value)
        sliders[-1].value = sliders[-1].min  # darkest colour / blank image
        assert bytes(image.value) != before
    assert type(factor_explorer(ColoredSprites()).children[1].children[0].children[0]).__name__ == "IntSlider"
    with pytest.raises(ValueError, match="unknown factor"):
        factor_explorer(Circles("xy"), initial={"hue": 0.5})


@pytest.mark.parametrize("name", ["circles/xy", "circles/rg", "sprites"])
def test_factors_to_labels_inverts_labels_to_factors(name):
    ds = get_dataset(name)
    labels = ds.sample_labels(200, torch.Generator().manual_seed(0))
    assert torch.equal(ds.factors_to_labels(ds.labels_to_factors(labels)), labels)


def test_grid_points_get_discrete_labels():
    ds = Circles("xy")
    _, factors, _ = ds.grid("x", "y", n_a=4, n_b=3)
    labels = ds.factors_to_labels(factors)
    assert labels.dtype == torch.int64 and labels.shape == (12, 2)
    assert labels[:, 0].unique().numel() == 4 and labels[:, 1].unique().numel() == 3
    assert labels.min() >= 0 and labels.max() < 32
    with pytest.raises(ValueError, match="must lie in"):
        ds.factors_to_labels(torch.tensor([[2.0, 0.5]]))


def test_stream_skip_continues_exactly():
    from sbdlib.data import Circles

    ds = Circles("xy", image_size=16)
    full = ds.stream(7, seed=3)
    batches = [next(full) for _ in range(200)]  # several blocks
    for skip in (0, 5, 73, 146, 199):
        resumed = ds.stream(7, seed=3, skip=skip)
        assert torch.equal(next(resumed), batches[skip])
