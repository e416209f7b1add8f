"""Fast stride-1 "same" convolutions on the CPU: Winograd minimal filtering and shift-and-add.

The Spatial Broadcast Decoder spends almost all its time in stride-1 ``K x K`` convolutions
(64 -> 64 channels on 64 x 64 maps, TensorFlow "same" padding: ``(K - 1) // 2`` before,
the rest after). A direct convolution needs ``K^2`` multiply-adds per output and input
channel, and oneDNN already runs it at the CPU's GEMM peak, so the only way to go faster is
to do fewer multiplications.

Method: Winograd / Toom-Cook ``F(m x m, K x K)`` (Lavin & Gray, 2016). The output is cut into
``m x m`` tiles; each tile needs an ``alpha x alpha`` input patch, ``alpha = m + K - 1``.
With ``alpha`` interpolation points (``alpha - 1`` finite ones plus infinity),

    Y_tile = A^T [ sum_c (G W_oc G^T) * (B^T D_c B) ] A,

where ``*`` is elementwise, so the channel sum becomes ``alpha^2`` independent GEMMs
``[tiles * batch, C_in] @ [C_in, C_out]``. Multiply-adds per output and channel pair drop
from ``K^2`` to ``alpha^2 / m^2``:

* K = 4, m = 4 (alpha = 7): 49 / 16 = 3.06 instead of 16, 5.2x fewer (plus 6 % padding
  waste on 64 x 64 maps is avoided: 64 = 16 tiles of 4);
* K = 3, m = 4 (alpha = 6): 2.25 instead of 9, 4x fewer;
* K = 5, m = 3 (alpha = 7): 5.4 instead of 25, 4.6x fewer.

The transforms (``B^T . B``, ``A^T . A``) are separable and run as small GEMMs on a
"tile-major" layout ``[rows, column phase, column block, batch, channel]`` that keeps every
step a plain (batched) matrix product with uniform strides, one tile row at a time so the
intermediates (a few MB) stay in cache. The backward pass reuses the same machinery:
the input gradient is a Winograd convolution of the output gradient with the flipped,
transposed kernel (and swapped padding), the weight gradient is the adjoint of the forward
GEMMs, ``dU_p = V_p^T dM_p``, followed by ``dW = G^T dU G``.

Accuracy: the transform matrices are built in float64 and rescaled so that each row of
``B^T`` has unit max-norm; in float32 the relative error (max abs error over output scale)
is about 1e-6 for alpha = 6 and a few 1e-6 for alpha = 7, well inside 1e-4.

Measured speed-up (``benchmarks/bench_conv.py``, 2-core AVX2 CPU shared with other jobs,
so noisy; K = 4, 64 x 64 maps, one torch thread, ratio direct / Winograd):

==========  =========  ===========
B, C        forward    fwd + bwd
==========  =========  ===========
16, 64      1.2-1.8x   1.6-1.9x
32, 32      0.9-1.0x   1.3-1.45x
32, 64      1.4-2.0x   1.5-2.05x
32, 16      --         0.67x (direct wins)
==========  =========  ===========

The GEMMs run near peak; the rest is memory-bound layout work (two NCHW <-> [H, W, B, C]
transposes per convolution, ~40 % of the time), so the gain stays well below the 5.2x FLOP
ratio, and with few channels (cheap GEMMs) direct wins. With two threads on a loaded machine
the many small parallel regions of this implementation suffer more than oneDNN's single call.

Memory: per call, the intermediates are a tile row's worth (a few MB) plus a zero-padded
tile-major copy of the input (about 1.1x the input), which is saved for the backward pass
instead of ``x`` itself, and the [H, W, B, C] copies of the input / output gradient.

The output layer (64 -> 3 channels) is the opposite case: few multiplications, but a
skinny product that oneDNN runs at a fraction of peak (~25 GFLOP/s here). Shift-and-add
(:class:`_ShiftAddConv`) turns it into one well-shaped GEMM over all ``K^2`` taps and
``K^2`` cheap shifted additions; ``benchmarks/bench_conv.py`` has its timings.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

IMPLEMENTATIONS = ("direct", "winograd", "shift", "auto")
"""Values accepted by the ``impl`` argument of :func:`same_conv2d`."""

# Finite interpolation points, in the order they are used: small, exactly representable
# values keep the transforms well conditioned in float32.
INTERPOLATION_POINTS = (0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 3.0, -3.0, 1.0 / 3.0, -1.0 / 3.0)
# Output tile size m per kernel size: alpha = m + K - 1 stays <= 7 for float32 accuracy.
TILE_SIZE = {2: 6, 3: 4, 4: 4, 5: 3, 6: 2}
# "auto" uses Winograd only where it measured faster: enough channels and a big enough map.
AUTO_MIN_CHANNELS = 48
AUTO_MIN_PIXELS = 32 * 32
# "auto" uses shift-and-add for layers with at most this many output channels (the output layer).
AUTO_MAX_SHIFT_OUT = 4
def same_padding_1d(kernel_size: int) -> tuple[int, int]:
    """TensorFlow "same" padding for stride 1: ``(before, after)``, ``before = (K - 1) // 2``."""
    before = (kernel_size - 1) // 2
    return before, kernel_size - 1 - before


# ----------------------------------------------------------------------------- transforms


@functools.lru_cache(maxsize=None)
def _winograd_matrices_f64(m: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Toom-Cook matrices of the 1-D correlation ``F(m, k)`` in float64.

    ``y = AT @ ((G @ g) * (BT @ d))`` computes ``y[i] = sum_j d[i + j] g[j]`` for
    ``d`` of length ``alpha = m + k - 1``, ``g`` of length ``k``, ``y`` of length ``m``.

    Derivation: with ``E_n`` the ``[alpha, n]`` matrix evaluating a degree ``n - 1``
    polynomial at the points (the last one being infinity, which picks the leading
    coefficient), the linear convolution ``c = a * g`` is
    ``E_alpha^{-1} ((E_m a) * (E_k g))``; the correlation is its transpose in ``a``:
    ``AT = E_m^T``, ``G = E_k``, ``BT = E_alpha^{-T}``.

    Returns:
        ``(AT [m, alpha], G [alpha, k], BT [alpha, alpha])``.
    """
    alpha = m + k - 1
    points = INTERPOLATION_POINTS[: alpha - 1]
    if len(points) < alpha - 1:
        raise ValueError(f"F({m}, {k}) needs {alpha - 1} finite points")

    def evaluation(n: int) -> np.ndarray:
        e = np.zeros((alpha, n))
        for i, p in enumerate(points):
            e[i] = np.asarray(p) ** np.arange(n)
        e[alpha - 1, n - 1] = 1.0
        return e

    at = evaluation(m).T
    g = evaluation(k)
    bt = np.linalg.inv(evaluation(alpha)).T
    # Row scaling D: G -> D G, BT -> D^{-1} BT keeps the product; balance BT rows to max 1.
    scale = np.abs(bt).max(axis=1)
    return at, g * scale[:, None], bt / scale[:, None]


@functools.lru_cache(maxsize=64)
def _winograd_matrices(
    m: int, k: int, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`_winograd_matrices_f64` as tensors of ``dtype`` on ``device``."""
    return tuple(torch.tensor(a, dtype=dtype, device=device) for a in _winograd_matrices_f64(m, k))


class _Plan:
    """Tile geometry of one Winograd convolution.

    Args:
        height, width: input size.
        kernel_size: K.
        pads: ``(top, bottom, left, right)`` zero padding.
        tile: output tile size m.
    """

    def __init__(self, height: int, width: int, kernel_size: int, pads: tuple[int, int, int, int], tile: int) -> None:
        self.k = kernel_size
        self.m = tile
        self.alpha = tile + kernel_size - 1
        self.top, self.bottom, self.left, self.right = pads
        self.height, self.width = height, width
        self.out_h = height + self.top + self.bottom - kernel_size + 1
        self.out_w = width + self.left + self.right - kernel_size + 1
        self.tiles_h = math.ceil(self.out_h / tile)
        self.tiles_w = math.ceil(self.out_w / tile)
        # Input columns are split as w = block * m + phase; tile tj reads blocks tj .. tj+shifts-1.
        self.shifts = math.ceil(self.alpha / tile)
        self.blocks_w = self.tiles_w + self.shifts - 1
        self.rows = (self.tiles_h - 1) * tile + self.alpha

    def tile_major(self, x_hw: torch.Tensor) -> torch.Tensor:
        """Zero-padded copy ``X[h, phase, block, b, c] = x_pad[b, c, h, block * m + phase]``.

        Copies of whole ``B * C`` rows; only the padding is zeroed.

        Args:
            x_hw: the input as ``[H, W, B, C]`` (see :func:`_to_hw`).

        Returns:
            ``[rows, m, blocks_w, B, C]``.
        """
        h, w, b, c = x_hw.shape
        m, top = self.m, self.top
        src = x_hw.view(h, w, b * c)
        out = x_hw.new_empty(self.rows, m, self.blocks_w, b * c)
        h_end = min(self.rows, top + h)
        out[:top].zero_()
        out[h_end:].zero_()
        inner = out[top:h_end]
        src = src[: h_end - top]
        for phase in range(m):
            first = max(0, -((phase - self.left) // m))  # first block with column >= left
            start = first * m + phase - self.left
            count = 0 if start >= w else min(self.blocks_w - first, (w - start + m - 1) // m)
            inner[:, phase, :first].zero_()
            inner[:, phase, first + count :].zero_()
            if count:
                inner[:, phase, first : first + count] = src[:, start : start + (count - 1) * m + 1 : m]
        return out.view(self.rows, m, self.blocks_w, b, c)

    def input_transform(
        self, xt: torch.Tensor, tile_row: int, tr: "_Transforms", work: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """``V = B^T D B`` for every tile of one tile row.

        Args:
            xt: tile-major input from :meth:`tile_major`, ``[rows, m, blocks_w, B, C]``.
            tile_row: index of the tile row.
            tr: transform matrices.
            work: reusable buffers (filled on first use); PyTorch's matmuls are much faster
                with preallocated outputs here.

        Returns:
            ``[alpha (rows), alpha (cols), tiles_w * B, C]``, a view of a work buffer.
        """
        m, alpha, tw = self.m, self.alpha, self.tiles_w
        bc = xt.shape[3] * xt.shape[4]
        rows = xt[tile_row * m : tile_row * m + alpha].reshape(alpha, -1)
        s1 = _buffer(work, "s1", (alpha, m * self.blocks_w * bc), xt)
        torch.mm(tr.bt, rows, out=s1)
        s1 = s1.view(alpha, m, self.blocks_w, bc)
        v = _buffer(work, "v", (alpha, alpha, tw * bc), xt)
        for s, bts in enumerate(tr.bt_blocks):
            src = s1[:, : bts.shape[2], s : s + tw].flatten(2)  # [alpha, m_s, tw*B*C], strided rows
            if s == 0:
                torch.bmm(bts, src, out=v)
            else:
                v.baddbmm_(bts, src)
        return v.view(alpha, alpha, tw * xt.shape[3], xt.shape[4])


def _buffer(work: dict[str, torch.Tensor], name: str, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """A work buffer of ``shape``, allocated once per call and reused for every tile row."""
    buf = work.get(name)
    if buf is None:
        buf = work[name] = like.new_empty(shape)
    return buf


def _bt_blocks(bt: torch.Tensor, m: int) -> list[torch.Tensor]:
    """Column blocks ``bt[:, s m : (s + 1) m]`` expanded over the first transform index."""
    alpha = bt.shape[0]
    blocks = []
    for s in range(math.ceil(alpha / m)):
        blk = bt[:, s * m : min(alpha, (s + 1) * m)]
        blocks.append(blk.unsqueeze(0).expand(alpha, -1, -1).contiguous())
    return blocks


def _weight_transform(weight: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """``U = G W G^T`` laid out for the GEMMs: ``[alpha^2, C_in, C_out]``."""
    alpha = g.shape[0]
    u = torch.einsum("au,bv,ocuv->abco", g, g, weight)
    return u.reshape(alpha * alpha, weight.shape[1], weight.shape[0])


def _to_hw(x: torch.Tensor) -> torch.Tensor:
    """``[B, C, H, W]`` -> contiguous ``[H, W, B, C]`` by one blocked 2-D transpose."""
    b, c, h, w = x.shape
    return _transpose_2d(x.reshape(b * c, h * w)).view(h, w, b, c)


def _transpose_2d(a: torch.Tensor) -> torch.Tensor:
    """Contiguous transpose of a 2-D tensor (PyTorch's blocked copy kernel)."""
    out = a.new_empty(a.shape[1], a.shape[0])
    return out.copy_(a.t())


def _from_hw(y_hw: torch.Tensor, out_h: int, out_w: int) -> torch.Tensor:
    """``[H', W', B, C]`` (H' >= out_h, W' >= out_w) -> contiguous ``[B, C, out_h, out_w]``."""
    full_h, full_w, b, c = y_hw.shape
    if (full_h, full_w) == (out_h, out_w):
        return _transpose_2d(y_hw.view(full_h * full_w, b * c)).view(b, c, out_h, out_w)
    return y_hw[:out_h, :out_w].permute(2, 3, 0, 1).contiguous()


class _Transforms:
    """The transform matrices of ``F(m x m, K x K)`` in the shapes the GEMMs want."""

    def __init__(self, m: int, k: int, dtype: torch.dtype, device: torch.device) -> None:
        at, g, bt = _winograd_matrices(m, k, dtype, device)
        alpha = m + k - 1
        self.at, self.g, self.bt = at, g, bt
        self.a_t = at.t().contiguous()  # [alpha, m]
        self.bt_blocks = _bt_blocks(bt, m)
        self.at_batched = at.unsqueeze(0).expand(m, -1, -1).contiguous()  # [m, m, alpha]
        self.a_batched = self.a_t.unsqueeze(0).expand(alpha, -1, -1).contiguous()  # [alpha, alpha, m]


def _winograd_forward_hw(
    x_hw: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    plan: _Plan,
    tr: _Transforms,
    xt: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Winograd cross-correlation (as ``F.conv2d``) of the padded input.

    Args:
        x_hw: input as ``[H, W, B, C_in]``.
        weight: ``[C_out, C_in, K, K]``.
        bias: ``[C_out]`` or None.
        plan: tile geometry.
        tr: transform matrices.
        xt: the tile-major input if already computed.

    Returns:
        ``(y [B, C_out, H_out, W_out], tile-major input)``.
    """
    batch = x_hw.shape[2]
    c_out = weight.shape[0]
    m, alpha, tw = plan.m, plan.alpha, plan.tiles_w
    u = _weight_transform(weight, tr.g)
    if xt is None:
        xt = plan.tile_major(x_hw)
    # Output rows in [H, W, B * C_out] order; one blocked transpose to NCHW at the end.
    y_hw = x_hw.new_empty(plan.tiles_h, m, tw, m, batch * c_out)
    work: dict[str, torch.Tensor] = {}
    n_out = tw * batch * c_out
    prod = x_hw.new_empty(alpha * alpha, tw * batch, c_out)
    z = x_hw.new_empty(m, alpha * n_out)
    r = x_hw.new_empty(m, m, n_out)
    for ti in range(plan.tiles_h):
        v = plan.input_transform(xt, ti, tr, work)  # [alpha, alpha, tw*B, C]
        torch.bmm(v.view(alpha * alpha, -1, v.shape[3]), u, out=prod)  # [alpha^2, tw*B, C_out]
        torch.mm(tr.at, prod.view(alpha, -1), out=z)  # [i, b, tw*B*C_out]
        torch.bmm(tr.at_batched, z.view(m, alpha, n_out), out=r)  # [i, j, tj*B*O]
        if bias is not None:
            r.view(-1, c_out).add_(bias)
        y_hw[ti].copy_(r.view(m, m, tw, -1).transpose(1, 2))
    y = _from_hw(y_hw.view(plan.tiles_h * m, tw * m, batch, c_out), plan.out_h, plan.out_w)
    return y, xt


def _winograd_weight_grad(xt: torch.Tensor, g_hw: torch.Tensor, plan: _Plan, tr: _Transforms) -> torch.Tensor:
    """Gradient of the Winograd convolution w.r.t. its weight.

    The adjoint of the forward pass: ``dM = A g A^T`` per output tile, ``dU_p = V_p^T dM_p``
    summed over tiles, then ``dW = G^T dU G``.

    Args:
        xt: tile-major input ``[rows, m, blocks_w, B, C_in]``.
        g_hw: output gradient as ``[H_out, W_out, B, C_out]``.
        plan: tile geometry.
        tr: transform matrices.

    Returns:
        ``[C_out, C_in, K, K]``.
    """
    m, alpha, tw = plan.m, plan.alpha, plan.tiles_w
    out_h, out_w, batch, c_out = g_hw.shape
    c_in = xt.shape[4]
    pad_h, pad_w = plan.tiles_h * m - out_h, tw * m - out_w
    if pad_h or pad_w:
        g_hw = F.pad(g_hw, (0, 0, 0, 0, 0, pad_w, 0, pad_h))
    g_tiles = g_hw.view(plan.tiles_h, m, tw, m, batch * c_out)
    d_u = xt.new_zeros(alpha * alpha, c_in, c_out)
    gt = xt.new_empty(m, m, tw, batch * c_out)
    work: dict[str, torch.Tensor] = {}
    n_out = tw * batch * c_out
    z = xt.new_empty(alpha, m * n_out)
    d_m = xt.new_empty(alpha, alpha, n_out)
    for ti in range(plan.tiles_h):
        v = plan.input_transform(xt, ti, tr, work)  # [alpha, alpha, tw*B, C_in]
        gt.copy_(g_tiles[ti].transpose(1, 2))  # [i, j, tj, B*O]
        torch.mm(tr.a_t, gt.view(m, -1), out=z)  # [a, j, tj*B*O]
        torch.bmm(tr.a_batched, z.view(alpha, m, n_out), out=d_m)  # [a, b, tj*B*O]
        d_u.baddbmm_(v.view(alpha * alpha, -1, c_in).transpose(1, 2), d_m.view(alpha * alpha, -1, c_out))
    d_u = d_u.view(alpha, alpha, c_in, c_out)
    return torch.einsum("au,bv,abco->ocuv", tr.g, tr.g, d_u)


def _flipped_pads(plan: _Plan) -> tuple[int, int, int, int]:
    """Padding of the input-gradient convolution (full correlation with the flipped kernel)."""
    k = plan.k
    top, left = k - 1 - plan.top, k - 1 - plan.left
    bottom = plan.height + k - 1 - plan.out_h - top
    right = plan.width + k - 1 - plan.out_w - left
    return top, bottom, left, right


class _WinogradConv(torch.autograd.Function):
    """Autograd wrapper: saves ``x``'s tile-major copy and ``weight``; backward is Winograd too."""

    @staticmethod
    def forward(ctx, x, weight, bias, pads, tile):  # noqa: D102  (autograd signature)
        plan = _Plan(x.shape[2], x.shape[3], weight.shape[2], pads, tile)
        tr = _Transforms(tile, weight.shape[2], x.dtype, x.device)
        y, xt = _winograd_forward_hw(_to_hw(x), weight, bias, plan, tr)
        ctx.plan, ctx.tr, ctx.tile, ctx.has_bias = plan, tr, tile, bias is not None
        ctx.save_for_backward(xt, weight)
        return y

    @staticmethod
    def backward(ctx, grad_out):  # noqa: D102
        xt, weight = ctx.saved_tensors
        plan, tr = ctx.plan, ctx.tr
        g_hw = _to_hw(grad_out.contiguous())
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            back = _Plan(plan.out_h, plan.out_w, plan.k, _flipped_pads(plan), ctx.tile)
            w_back = weight.flip(2, 3).transpose(0, 1)
            grad_x, _ = _winograd_forward_hw(g_hw, w_back, None, back, tr)
        if ctx.needs_input_grad[1]:
            grad_w = _winograd_weight_grad(xt, g_hw, plan, tr).to(weight.dtype)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_out.sum(dim=(0, 2, 3))
        return grad_x, grad_w, grad_b, None, None


def winograd_applies(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether :func:`same_conv2d` can use ``impl="winograd"`` for these operands."""
    k = weight.shape[2]
    return (
        x.dim() == 4
        and weight.shape[2] == weight.shape[3]
        and k in TILE_SIZE
        and x.dtype in (torch.float32, torch.float64)
        and weight.dtype == x.dtype
        and x.shape[2] >= 1
        and x.shape[3] >= 1
        and x.numel() > 0
    )


def _vmapped(*tensors: torch.Tensor) -> bool:
    """True inside ``torch.vmap`` (any of ``tensors`` is a batched view)."""
    return any(torch._C._functorch.is_batchedtensor(t) for t in tensors)


def choose_impl(x: torch.Tensor, weight: torch.Tensor) -> str:
    """The implementation ``impl="auto"`` picks on the CPU, from ``benchmarks/bench_conv.py``.

    * Narrow outputs (at most :data:`AUTO_MAX_SHIFT_OUT` channels, an image layer): shift-and-add,
      because oneDNN's direct kernels run such layers far below the GEMM peak.
    * Wide layers (both channel counts at least :data:`AUTO_MIN_CHANNELS`, at least
      :data:`AUTO_MIN_PIXELS` pixels): Winograd; smaller ones are dominated by per-call overheads.
    * Everything else, CUDA always, and under ``torch.vmap`` (a stacked population: the
      custom autograd kernels have no batching rule): direct.
    """
    if x.device.type != "cpu" or not winograd_applies(x, weight) or _vmapped(x, weight):
        return "direct"
    if weight.shape[0] <= AUTO_MAX_SHIFT_OUT:
        return "shift"
    big = x.shape[2] * x.shape[3] >= AUTO_MIN_PIXELS
    wide = min(weight.shape[0], weight.shape[1]) >= AUTO_MIN_CHANNELS
    return "winograd" if big and wide else "direct"


# ------------------------------------------------------------------------ shift-and-add


def _tap_windows(size: int, offset: int) -> tuple[slice, slice]:
    """Rows (or columns) of the output and of the shifted input that a tap at ``offset`` pairs.

    Output pixel ``i`` reads input pixel ``i + offset``; pixels outside the map are "same"
    padding zeros and are simply skipped.
    """
    lo, hi = max(0, -offset), min(size, size - offset)
    return slice(lo, hi), slice(lo + offset, hi + offset)


def _taps(height: int, width: int, kernel_size: int, before: int):
    """Yield ``(u, v, out_window, in_window)`` for every kernel tap: the ``(rows, cols)`` of
    the output and of the input that tap ``(u, v)`` pairs (see :func:`_tap_windows`)."""
    for u in range(kernel_size):
        rows_out, rows_in = _tap_windows(height, u - before)
        for v in range(kernel_size):
            cols_out, cols_in = _tap_windows(width, v - before)
            yield u, v, (rows_out, cols_out), (rows_in, cols_in)


def _tap_matrix(weight: torch.Tensor) -> torch.Tensor:
    """``[C_out, C_in, K, K]`` -> ``[K * K * C_out, C_in]``, tap-major rows."""
    out, c, k, _ = weight.shape
    return weight.permute(2, 3, 0, 1).reshape(k * k * out, c)


class _ShiftAddConv(torch.autograd.Function):
    """A stride-1 "same" convolution as one GEMM over all taps plus ``K^2`` shifted adds.

    With few output channels (an image layer: ``C_out`` = 1 or 3) a direct convolution is a
    skinny matrix product that oneDNN runs far below peak. Instead, compute every tap's
    contribution at once, ``Z = W_taps @ X`` with ``W_taps`` of shape ``[K^2 C_out, C_in]``
    (a well-shaped GEMM over all pixels), then add each tap's slice of ``Z`` into the output
    at that tap's offset. The backward pass is the adjoint: gather the output gradient at each
    tap's offset into ``dZ``, then ``dX = W_taps^T dZ`` and ``dW_taps = sum_b dZ_b X_b^T``.
    Same multiply count as direct; only the summation order differs (float32 error ~1e-6).
    Memory: ``Z`` / ``dZ`` hold ``K^2 C_out`` channels, cheap while ``C_out`` is small.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, before):  # noqa: D102  (autograd signature)
        b, c, h, w = x.shape
        out, _, k, _ = weight.shape
        z = torch.matmul(_tap_matrix(weight), x.reshape(b, c, h * w)).view(b, k, k, out, h, w)
        y = x.new_zeros(b, out, h, w) if bias is None else bias.view(1, out, 1, 1).expand(b, out, h, w).contiguous()
        for u, v, (rows_y, cols_y), (rows_z, cols_z) in _taps(h, w, k, before):
            y[:, :, rows_y, cols_y] += z[:, u, v, :, rows_z, cols_z]
        ctx.before, ctx.has_bias = before, bias is not None
        ctx.save_for_backward(x, weight)
        return y

    @staticmethod
    def backward(ctx, grad_out):  # noqa: D102
        x, weight = ctx.saved_tensors
        b, c, h, w = x.shape
        out, _, k, _ = weight.shape
        grad_z = grad_out.new_zeros(b, k, k, out, h, w)
        for u, v, (rows_y, cols_y), (rows_z, cols_z) in _taps(h, w, k, ctx.before):
            grad_z[:, u, v, :, rows_z, cols_z] = grad_out[:, :, rows_y, cols_y]
        grad_z = grad_z.view(b, k * k * out, h * w)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.matmul(_tap_matrix(weight).t(), grad_z).view(b, c, h, w)
        if ctx.needs_input_grad[1]:
            grad_taps = torch.einsum("bkp,bcp->kc", grad_z, x.reshape(b, c, h * w))
            grad_w = grad_taps.view(k, k, out, c).permute(2, 3, 0, 1).contiguous()
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_out.sum(dim=(0, 2, 3))
        return grad_x, grad_w, grad_b, None


def same_conv2d(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, *, impl: str = "auto"
) -> torch.Tensor:
    """Stride-1 convolution with TensorFlow "same" padding (``(K-1)//2`` before, rest after).

    Args:
        x: ``[B, C_in, H, W]``.
        weight: ``[C_out, C_in, K, K]``.
        bias: ``[C_out]`` or None.
        impl: ``"direct"`` (``F.conv2d`` on the padded input), ``"winograd"`` (falls back to
            direct where it does not apply, see :func:`winograd_applies`), ``"shift"``
            (shift-and-add, :class:`_ShiftAddConv`) or ``"auto"`` (:func:`choose_impl`).

    Returns:
        ``[B, C_out, H, W]``, differentiable w.r.t. ``x``, ``weight`` and ``bias``.
    """
    if impl not in IMPLEMENTATIONS:
        raise ValueError(f"impl must be one of {IMPLEMENTATIONS}, got {impl!r}")
    if weight.dim() != 4 or weight.shape[2] != weight.shape[3]:
        raise ValueError(f"weight must be [C_out, C_in, K, K], got {tuple(weight.shape)}")
    if x.dim() != 4 or x.shape[1] != weight.shape[1]:
        raise ValueError(f"x must be [B, {weight.shape[1]}, H, W], got {tuple(x.shape)}")
    if impl == "auto":
        impl = choose_impl(x, weight)
    before, after = same_padding_1d(weight.shape[2])
    if impl == "winograd" and winograd_applies(x, weight):
        return _WinogradConv.apply(x, weight, bias, (before, after, before, after), TILE_SIZE[weight.shape[2]])
    if impl == "shift":
        return _ShiftAddConv.apply(x, weight, bias, before)
    return F.conv2d(F.pad(x, (before, after, before, after)), weight, bias)
