"""Layers: the dense layer and the SwiGLU gated hidden layer, forward and backward.

A layer owns no arrays.  ``forward(x, p, bufs)`` takes its parameters ``p`` (a tuple of arrays in
the order of ``keys``) and returns ``(a, cache)``: the output and everything ``backward`` needs.
``backward(da, cache, p, g, bufs, need_dx)`` writes the parameter gradients into the arrays of
``g`` (same order as ``p``, overwritten, not accumulated) and returns ``dx`` (or None).

``bufs`` is a workspace from ``buffers(batch, dtype)``: preallocated arrays that the forward and
backward write into instead of allocating (the model keeps one per batch size, see
:class:`nnfs.core.model.MLP`).  It is optional for ``forward`` (``bufs=None``: every result is a
fresh array) and required for ``backward``.  Inputs ``x`` and upstream gradients ``da`` are never
written to.  Bias gradients Σ_batch dz are computed as the product ``1ᵀ dz`` with a vector of
ones (one BLAS call, several times faster than a reduction along axis 0 for small batches).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from nnfs.core.activations import IDENTITY, SILU, Activation


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """a @ b, into ``out`` if given.  float16 operands are multiplied in float32 and the result
    rounded to float16 — float16 storage with float32 accumulation, as GPU tensor cores do —
    because numpy has no BLAS kernel for float16 and its own loop is ~30x slower."""
    if a.dtype != np.float16:
        return np.matmul(a, b, out=out)
    with np.errstate(over="ignore"):  # overflow to inf is the loss scaler's business
        r = np.matmul(a.astype(np.float32), b.astype(np.float32))
        if out is None:
            return r.astype(np.float16)
        np.copyto(out, r, casting="same_kind")
    return out


_COPY_WT_MAX = 8192  # Dense copies Wᵀ before dx = dz Wᵀ up to this many weights (measured)


def _buf(bufs, name):
    return None if bufs is None else getattr(bufs, name)


class Dense:
    """z = x @ W + b, a = f(z).   x (batch, n_in), W (n_in, n_out), b (n_out,), a (batch, n_out).

    ``activation=None`` (or identity) makes a = z: the output layer, whose link lives in the loss.
    """

    keys = ("W", "b")

    def __init__(self, n_in: int, n_out: int, activation: Activation | None = None):
        self.n_in, self.n_out = n_in, n_out
        self.act = activation if activation is not None else IDENTITY
        self.linear = self.act is IDENTITY
        # dz @ W.T runs slower than dz @ Wᵀ stored contiguously for small layers, where copying
        # Wᵀ first costs 1-2 µs (batch 200: copy + GEMM 30 vs 35 µs at 64x64, 6 vs 9 µs at
        # 64x10); from 128x128 up the copy costs more than it saves (8 ms of a 17 ms dx at
        # 1024x1024, float64).  With one output the product is an outer product, where
        # broadcasting beats matmul's K = 1 path several times.
        self._outer_dx = n_out == 1
        self._copy_WT = not self._outer_dx and n_in * n_out <= _COPY_WT_MAX

    def shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        return [("W", (self.n_in, self.n_out)), ("b", (self.n_out,))]

    def weight_keys(self) -> tuple[str, ...]:
        return ("W",)

    def buffers(self, batch: int, dtype) -> SimpleNamespace:
        shape = (batch, self.n_out)
        return SimpleNamespace(
            mm=matmul if np.dtype(dtype) == np.float16 else np.matmul,
            z=np.empty(shape, dtype),
            a=None if self.linear or self.act.from_output else np.empty(shape, dtype),
            dz=np.empty(shape, dtype),  # for the output layer: the loss writes its dz here
            dx=np.empty((batch, self.n_in), dtype),
            ones=np.ones(batch, dtype),
            WT=np.empty((self.n_out, self.n_in), dtype) if self._copy_WT else None,
        )

    def _activate(self, x, z, bufs):
        # a = f(z) and the cache (x, z, a)
        if self.linear:
            return z, (x, z, z)
        if bufs is not None and self.act.from_output:
            a = self.act.f(z, out=z)  # in place: backprop needs only a (z is not kept)
            return a, (x, a, a)
        a = self.act.f(z, out=_buf(bufs, "a"))
        return a, (x, z, a)

    def forward(self, x, p, bufs=None):
        W, b = p[0], p[1]
        z = matmul(x, W) if bufs is None else bufs.mm(x, W, out=bufs.z)  # (batch, n_out)
        z += b
        return self._activate(x, z, bufs)

    def _dz(self, da, z, a, bufs):
        return da if self.linear else self.act.backprop(da, z, a, bufs.dz)  # dz = da ⊙ f'(z)

    def _dx(self, dz, W, bufs):
        if self._outer_dx:
            return np.multiply(dz, W.T, out=bufs.dx)  # dx = dz Wᵀ, (batch, 1) x (1, n_in)
        if not self._copy_WT:
            return bufs.mm(dz, W.T, out=bufs.dx)  # dx = dz Wᵀ   (batch, n_in)
        np.copyto(bufs.WT, W.T)
        return bufs.mm(dz, bufs.WT, out=bufs.dx)

    def backward(self, da, cache, p, g, bufs, need_dx=True):
        x, z, a = cache
        dz = self._dz(da, z, a, bufs)
        bufs.mm(x.T, dz, out=g[0])  # dW = xᵀ dz   (n_in, n_out)
        bufs.mm(bufs.ones, dz, out=g[1])  # db = Σ_batch dz = 1ᵀ dz
        return self._dx(dz, p[0], bufs) if need_dx else None


class FoldedDense(Dense):
    """The first dense layer, with its bias riding in the GEMM on the fit loop's hot path.

    [x, 1] @ [W; b] = x W + b.  "W" and "b" are adjacent in the model's flat buffer, so [W; b] is
    one (n_in + 1, n_out) view ``Wb``, and [dW; db] one view of a gradient buffer from
    ``new_grads()``: a single GEMM replaces GEMM + broadcast bias add in the forward pass and
    GEMM + 1ᵀdz in the backward pass.  Only the first layer, whose input the fit loop hands in
    and which is copied into the augmented buffer ``[x, 1]`` anyway, does it; hidden activations
    would have to be written into strided (batch, n + 1) buffers, which measured slower.

    p = (W, b, Wb); g = (dW, db, dWb) with dWb None when dW and db are not adjacent (the
    gradient then goes through a buffer and is copied).  Without a workspace it is a Dense.
    """

    def buffers(self, batch: int, dtype) -> SimpleNamespace:
        bufs = super().buffers(batch, dtype)
        bufs.xa = np.ones((batch, self.n_in + 1), dtype)  # [x, 1]; the ones column stays
        bufs.dWb = np.empty((self.n_in + 1, self.n_out), dtype)
        return bufs

    def forward(self, x, p, bufs=None):
        if bufs is None:
            return super().forward(x, p)
        xa = bufs.xa
        np.copyto(xa[:, :-1], x)
        z = bufs.mm(xa, p[2], out=bufs.z)  # z = [x, 1] [W; b] = x W + b   (batch, n_out)
        return self._activate(xa, z, bufs)

    def backward(self, da, cache, p, g, bufs, need_dx=True):
        xa, z, a = cache
        dz = self._dz(da, z, a, bufs)
        dWb = g[2] if g[2] is not None else bufs.dWb
        bufs.mm(xa.T, dz, out=dWb)  # [dW; db] = [x, 1]ᵀ dz   (n_in + 1, n_out)
        if g[2] is None:
            np.copyto(g[0], dWb[:-1])
            np.copyto(g[1], dWb[-1])
        return self._dx(dz, p[0], bufs) if need_dx else None


def stacked_view(W: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """[W; b] as one (rows + 1, cols) view when ``b`` directly follows ``W`` in one buffer."""
    base = W.base
    if base is None or b.base is not base or base.ndim != 1 or not base.flags.c_contiguous \
            or W.dtype != b.dtype or not W.flags.c_contiguous or b.shape != W.shape[1:]:
        return None
    start = W.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    if start % W.itemsize:
        return None
    start //= W.itemsize
    view = base[start:start + W.size + b.size].reshape(W.shape[0] + 1, W.shape[1])
    same = view.shape[0] > 0 and \
        view[:-1].__array_interface__["data"][0] == W.__array_interface__["data"][0] and \
        view[-1].__array_interface__["data"][0] == b.__array_interface__["data"][0]
    return view if same else None


class SwiGLU:
    """a = silu(x @ W_gate + b_gate) ⊙ (x @ W_up + b_up).   x (batch, n_in), a (batch, n_out).

    The gate decides, per unit and sample, how much of the linear "up" projection passes.
    """

    keys = ("W_gate", "b_gate", "W_up", "b_up")

    def __init__(self, n_in: int, n_out: int):
        self.n_in, self.n_out = n_in, n_out

    def shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        return [("W_gate", (self.n_in, self.n_out)), ("b_gate", (self.n_out,)),
                ("W_up", (self.n_in, self.n_out)), ("b_up", (self.n_out,))]

    def weight_keys(self) -> tuple[str, ...]:
        return ("W_gate", "W_up")

    def buffers(self, batch: int, dtype) -> SimpleNamespace:
        shape = (batch, self.n_out)
        return SimpleNamespace(**{k: np.empty(shape, dtype)
                                  for k in ("zg", "zu", "sg", "a", "dzg", "dzu")},
                               dx=np.empty((batch, self.n_in), dtype),
                               dx_up=np.empty((batch, self.n_in), dtype),
                               ones=np.ones(batch, dtype),
                               mm=matmul if np.dtype(dtype) == np.float16 else np.matmul)

    def forward(self, x, p, bufs=None):
        Wg, bg, Wu, bu = p
        zg = matmul(x, Wg, out=_buf(bufs, "zg"))  # gate pre-activation (batch, n_out)
        zg += bg
        zu = matmul(x, Wu, out=_buf(bufs, "zu"))  # up projection (batch, n_out)
        zu += bu
        sg = SILU.f(zg, out=_buf(bufs, "sg"))
        a = np.multiply(sg, zu, out=_buf(bufs, "a"))
        return a, (x, zg, zu, sg)

    def backward(self, da, cache, p, g, bufs, need_dx=True):
        x, zg, zu, sg = cache
        Wg, _, Wu, _ = p
        dWg, dbg, dWu, dbu = g
        dzu = np.multiply(da, sg, out=bufs.dzu)  # ∂a/∂zu = silu(zg)
        dzg = np.multiply(da, zu, out=bufs.dzg)  # ∂a/∂silu = zu ...
        dzg *= SILU.df(zg)  # ... times silu'(zg)
        mm = bufs.mm
        mm(x.T, dzg, out=dWg)  # dW_gate = xᵀ dzg
        mm(bufs.ones, dzg, out=dbg)
        mm(x.T, dzu, out=dWu)  # dW_up = xᵀ dzu
        mm(bufs.ones, dzu, out=dbu)
        if not need_dx:
            return None
        dx = mm(dzg, Wg.T, out=bufs.dx)  # dx = dzg W_gateᵀ + dzu W_upᵀ
        dx += mm(dzu, Wu.T, out=bufs.dx_up)
        return dx
