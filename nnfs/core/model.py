"""The multilayer perceptron: dense (or SwiGLU) hidden layers, a dense output layer, a loss.

Memory layout: every parameter lives in ONE contiguous 1-D buffer ``net.flat``; ``net.params`` is a
dict of views into it, in layer order ("0.W", "0.b", ..., "<L>.W", "<L>.b" with L = len(hidden)
the output layer; a SwiGLU hidden layer i has "i.W_gate", "i.b_gate", "i.W_up", "i.b_up").  An
optimizer can therefore update all parameters at once through ``{"flat": net.flat}`` and a flat
gradient buffer from ``net.new_grads()``.

Workspace: ``loss_and_grads`` writes its intermediate arrays (pre-activations, activations, deltas)
into preallocated buffers that the model keeps per batch size (at most a few sizes; the arrays
are overwritten by the next call).  They are scratch memory, not state: nothing in them is read
before being written in the same call, and ``predict``/``loss``/``forward`` (without ``out``)
never use them, so their results are always fresh arrays.  Hence one MLP must not run
``loss_and_grads`` (or ``forward(X, out=...)``) from two threads at once.
"""

from __future__ import annotations

import operator

import numpy as np

from nnfs.core import activations, losses
from nnfs.core import init as initialisation
from nnfs.core.layers import Dense, FoldedDense, SwiGLU, stacked_view

DTYPES = ("float16", "float32", "float64")
_MAX_WORKSPACES = 4  # batch sizes kept: the full batch, the last partial batch, a few more
_FORWARD_CHUNK = 512  # rows per pass of forward(X, out=).  Alone, larger chunks are faster (2,500
# moons test rows, 64-64: 2 x 1,250 rows 843 µs f64, 5 x 500 869 µs), but inside the fit loop
# their buffers push the training step's working set out of the L2 cache: the evaluation cost
# 0.80-0.88 ms per epoch with 512, 1.10-1.12 with 1,024-2,048, 1.04-1.10 with 256-384 (f64;
# f32 0.51-0.65 against 0.72-0.78)


def _dtype(dtype) -> np.dtype:
    try:
        d = np.dtype(dtype)
    except TypeError:
        d = None
    if d is None or d.name not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is not supported; valid: {', '.join(DTYPES)}")
    return d


def _count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name}={value!r} must be an integer >= {minimum}")
    return int(value)


class MLP:
    """A multilayer perceptron with hand-derived backpropagation.

    Parameters
    ----------
    n_in : number of input features.
    hidden : widths of the hidden layers; ``[]`` is linear / logistic / softmax regression.
    n_out : outputs: 1 for binary, k >= 2 for multiclass, any >= 1 for regression.
    activation : hidden activation name (see :mod:`nnfs.core.activations`); "swiglu" makes every
        hidden layer a SwiGLU gated layer.
    task : "regression" (identity output), "binary" (one logit, sigmoid), "multiclass" (softmax).
    loss : "mse" or "cross_entropy" (classifiers only), reductions as in PyTorch.
    l2 : adds ``0.5 * l2 * Σ ||W||²`` over weight matrices (never biases) to the loss.
    rng : ``numpy.random.Generator`` for the initial weights (None: ``default_rng(0)``).
    dtype : float64, float32 or float16; parameters, activations and gradients use it.
    init : "auto", "glorot" or "he" (see :mod:`nnfs.core.init`).
    """

    def __init__(self, n_in, hidden, n_out, activation="relu", task="binary",
                 loss="cross_entropy", l2=0.0, rng=None, dtype=np.float64, init="auto"):
        self.n_in = _count("n_in", n_in, 1)
        if isinstance(hidden, int | np.integer) or hidden is None:
            raise ValueError(f"hidden={hidden!r} must be a list of layer widths (e.g. [8, 8])")
        self.hidden = [_count("hidden width", h, 1) for h in hidden]
        self.n_out = _count("n_out", n_out, 1)
        self.act = activations.get(activation)
        losses.check(task, loss)
        if task == "binary" and self.n_out != 1:
            raise ValueError(f"n_out={n_out} but task 'binary' has one logit: n_out=1")
        if task == "multiclass" and self.n_out < 2:
            raise ValueError(f"n_out={n_out} but task 'multiclass' needs n_out >= 2")
        ok = isinstance(l2, int | float | np.integer | np.floating) and not isinstance(l2, bool)
        if not ok or not np.isfinite(l2) or l2 < 0:
            raise ValueError(f"l2={l2!r} must be a finite number >= 0")
        l2 = float(l2)
        initialisation.check(init)
        self.task, self.loss_name, self.l2, self.init = task, loss, l2, init
        self.dtype = _dtype(dtype)
        self.activation = self.act.name

        widths = [self.n_in, *self.hidden, self.n_out]
        self.layers = [
            SwiGLU(widths[i], widths[i + 1]) if self.act.gated
            else Dense(widths[i], widths[i + 1], self.act)
            for i in range(len(self.hidden))
        ]
        self.layers.append(Dense(widths[-2], widths[-1], None))
        if type(self.layers[0]) is Dense:  # its bias rides in the GEMM (see FoldedDense)
            first = self.layers[0]
            self.layers[0] = FoldedDense(first.n_in, first.n_out,
                                         None if first.linear else first.act)
        self.n_layers = len(self.layers)

        # the layout: (key, offset, shape) in layer order, over one flat buffer
        self._layout = []
        offset = 0
        for i, layer in enumerate(self.layers):
            for name, shape in layer.shapes():
                self._layout.append((f"{i}.{name}", offset, shape))
                offset += int(np.prod(shape))
        self.flat = np.zeros(offset, dtype=self.dtype)
        self.params = self._views(self.flat)
        self._weight_keys = [f"{i}.{k}" for i, layer in enumerate(self.layers)
                             for k in layer.weight_keys()]
        self._bind()
        self._workspaces: dict[int, list] = {}
        self._grads_cache = None

        if rng is None:
            rng = np.random.default_rng(0)
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng={rng!r} must be a numpy.random.Generator")
        for i, layer in enumerate(self.layers):
            scheme = initialisation.scheme_for(self.init, self.act.he_init,
                                               output_layer=i == self.n_layers - 1)
            for k in layer.weight_keys():
                W = self.params[f"{i}.{k}"]
                W[...] = initialisation.weights(scheme, W.shape[0], W.shape[1], rng)

    # ------------------------------------------------------------------ buffers and keys
    def _views(self, flat: np.ndarray) -> dict[str, np.ndarray]:
        return {key: flat[o:o + int(np.prod(s))].reshape(s) for key, o, s in self._layout}

    def _bind(self) -> None:
        # per layer, the tuple of its parameter views in the layer's key order
        self._layer_params = [tuple(self.params[f"{i}.{k}"] for k in layer.keys)
                              for i, layer in enumerate(self.layers)]
        if isinstance(self.layers[0], FoldedDense):
            W, b = self._layer_params[0]
            self._layer_params[0] = (W, b, stacked_view(W, b))  # adjacent in self.flat
        self._layer_keys = [tuple(f"{i}.{k}" for k in layer.keys)
                            for i, layer in enumerate(self.layers)]

    @property
    def n_params(self) -> int:
        return self.flat.size

    def new_grads(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """A zeroed flat gradient buffer and its dict of views, keyed like ``params``."""
        gflat = np.zeros_like(self.flat)
        return gflat, self._views(gflat)

    def layer_index(self, key: str) -> int:
        """The layer a parameter key belongs to: the integer before the dot ("2.W" -> 2)."""
        if key not in self.params:
            raise ValueError(f"key={key!r} is not a parameter; valid: {', '.join(self.params)}")
        return int(key.split(".", 1)[0])

    # ------------------------------------------------------------------ forward
    def _input(self, X) -> np.ndarray:
        if type(X) is np.ndarray and X.dtype == self.dtype and X.ndim == 2 \
                and X.shape[1] == self.n_in:
            return X  # the fit loop's case: nothing to convert
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_in:
            raise ValueError(f"X has shape {X.shape}; expected (batch, {self.n_in})")
        return X.astype(self.dtype, copy=False)

    def forward(self, X, out=None) -> np.ndarray:
        """Raw outputs (logits) of shape (batch, n_out) for X (batch, n_in); a fresh array.

        With ``out`` (an array (batch, n_out) of the model's dtype) the logits are written into
        it and it is returned: the pass then runs in equal chunks of at most 512 rows through
        the workspace buffers, allocating nothing (the fit loop's evaluation of a split every
        epoch; measured 20 % faster than the allocating pass on 2,500 rows of 64-64).
        """
        h = self._input(X)
        if out is None:
            for layer, p in zip(self.layers, self._layer_params, strict=True):
                h, _ = layer.forward(h, p)
            return h
        n = h.shape[0]
        if out.shape != (n, self.n_out) or out.dtype != self.dtype:
            raise ValueError(f"out has shape {out.shape} and dtype {out.dtype}; expected "
                             f"({n}, {self.n_out}) {self.dtype}")
        chunk = -(-n // -(-n // _FORWARD_CHUNK))  # equal chunks: few workspace sizes
        for a in range(0, n, chunk):
            z = h[a:a + chunk]
            for layer, p, bufs in zip(self.layers, self._layer_params,
                                      self._workspace(z.shape[0]), strict=True):
                z, _ = layer.forward(z, p, bufs)
            out[a:a + chunk] = z
        return out

    def hidden_preactivations(self, X) -> list[np.ndarray]:
        """Pre-activations z (batch, width) of every hidden layer (the gate z for SwiGLU)."""
        zs, h = [], self._input(X)
        for layer, p in zip(self.layers[:-1], self._layer_params[:-1], strict=True):
            h, cache = layer.forward(h, p)
            zs.append(cache[1])
        return zs

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (batch, k); k = 2 for binary (columns: P(y=0), P(y=1))."""
        if self.task == "regression":
            raise ValueError("predict_proba needs task binary or multiclass; "
                             "this MLP has task 'regression'")
        p = losses.link(self.forward(X), self.task)
        if self.task == "binary":
            return np.hstack([1 - p, p])
        return p

    def predict(self, X) -> np.ndarray:
        """Labels (batch,) int64 for classifiers; values (batch,) or (batch, n_out) for
        regression."""
        z = self.forward(X)
        if self.task == "binary":
            return (z[:, 0] > 0).astype(np.int64)  # σ(z) > 1/2  ⇔  z > 0
        if self.task == "multiclass":
            return z.argmax(axis=1).astype(np.int64)
        return z[:, 0] if self.n_out == 1 else z

    # ------------------------------------------------------------------ loss and gradients
    def _l2_term(self) -> float:
        if self.l2 == 0.0:
            return 0.0
        total = 0.0
        for key in self._weight_keys:
            W = self.params[key].ravel()
            total += float(np.dot(W, W)) if W.dtype != np.float16 else \
                float(np.dot(W.astype(np.float32), W.astype(np.float32)))
        return 0.5 * self.l2 * total

    def loss(self, X, y) -> float:
        """The loss (a float, l2 term included) on X (batch, n_in) and targets y."""
        z = self.forward(X)
        t = losses.targets(y, self.task, self.n_out, self.dtype, self.loss_name)
        value, _ = losses.LOSS_FUNCTIONS[self.task, self.loss_name](z, t, 1.0, np.empty_like(z))
        return value + self._l2_term()

    def _workspace(self, batch: int) -> list:
        ws = self._workspaces.get(batch)
        if ws is None:
            if len(self._workspaces) >= _MAX_WORKSPACES:
                self._workspaces.pop(next(iter(self._workspaces)))
            ws = [layer.buffers(batch, self.dtype) for layer in self.layers]
            self._workspaces[batch] = ws
        return ws

    def _grad_tuples(self, out: dict) -> list[tuple]:
        # per layer, the gradient arrays of ``out`` in the layer's key order; remembered for the
        # last ``out`` seen, since the fit loop passes the same dict at every step
        cached = self._grads_cache
        if cached is not None and cached[0] is out and len(out) == len(cached[1]) \
                and all(map(operator.is_, out.values(), cached[1])):
            return cached[2]
        try:
            tuples = [tuple(out[k] for k in keys) for keys in self._layer_keys]
            if isinstance(self.layers[0], FoldedDense):
                tuples[0] = (*tuples[0], stacked_view(*tuples[0]))
        except KeyError as e:
            raise ValueError(f"out is missing the key {e.args[0]!r}; it needs the keys of "
                             "params (use new_grads())") from None
        for key, view in self.params.items():
            if out[key].shape != view.shape or out[key].dtype != self.dtype:
                raise ValueError(f"out[{key!r}] has shape {out[key].shape} and dtype "
                                 f"{out[key].dtype}; expected {view.shape} {self.dtype}")
        self._grads_cache = (out, tuple(out.values()), tuples)
        return tuples

    def loss_and_grads(self, X, y, *, scale=1.0, out=None, logits_out=None):
        """Loss and gradients by backpropagation.

        X (batch, n_in), y targets (see :func:`nnfs.core.losses.targets`).  Returns
        ``(loss, grads)``: ``loss`` is the unscaled float (l2 term included); ``grads`` holds
        d(scale · loss)/dθ for every key of ``params``.  With ``out`` (a dict keyed like
        ``params``, e.g. from :meth:`new_grads`) the gradients overwrite its arrays and ``out``
        is returned; otherwise fresh arrays are returned.  With ``logits_out`` (an array
        (batch, n_out) of the model's dtype) the logits of this forward pass — what
        :meth:`forward` returns for X, up to rounding (the first layer folds its bias into the
        GEMM here) — are copied into it: the fit loop measures training accuracy from them
        without a second forward pass.
        """
        X = self._input(X)
        if out is None:
            _, out = self.new_grads()
        t = losses.targets(y, self.task, self.n_out, self.dtype, self.loss_name)
        if t.shape[0] != X.shape[0]:
            raise ValueError(f"y has {t.shape[0]} samples but X has {X.shape[0]}")
        return self.loss_and_grads_prepared(X, t, out, scale=scale, logits_out=logits_out)

    def loss_and_grads_prepared(self, X, t, out, *, scale=1.0, logits_out=None):
        """:meth:`loss_and_grads` for a loop that prepared its data once: no conversion and no
        check of X and t, which saves a few µs per step (the targets' label check scans them).

        X (batch, n_in) of the model's dtype; t = ``losses.targets(y, task, n_out, dtype,
        loss)`` for this model, with the same batch; ``out`` a dict from :meth:`new_grads`.
        Inputs that break these rules give numpy errors or wrong numbers, not a ValueError.
        """
        ws = self._workspace(X.shape[0])

        h, caches = X, []
        for layer, p, bufs in zip(self.layers, self._layer_params, ws, strict=True):
            h, cache = layer.forward(h, p, bufs)
            caches.append(cache)
        grads = self._grad_tuples(out)
        if logits_out is not None:
            # the output layer's z is a workspace buffer the loss only reads: batch x n_out
            # elements, a copy far cheaper than a forward pass
            np.copyto(logits_out, h)

        # dz of the output layer, d(scale · loss)/dz (batch, n_out), into its workspace buffer
        loss, dh = losses.LOSS_FUNCTIONS[self.task, self.loss_name](h, t, scale, ws[-1].dz)
        for i in range(self.n_layers - 1, -1, -1):
            dh = self.layers[i].backward(dh, caches[i], self._layer_params[i], grads[i], ws[i],
                                         need_dx=i > 0)

        if self.l2 != 0.0:
            loss += self._l2_term()
            c = self.l2 * scale
            for key in self._weight_keys:
                out[key] += c * self.params[key]  # d(½ l2 ||W||²)/dW = l2 W
        return loss, out

    # ------------------------------------------------------------------ copies and config
    def config(self) -> dict:
        """Plain dict that rebuilds the architecture with :meth:`from_config`."""
        return {"n_in": self.n_in, "hidden": list(self.hidden), "n_out": self.n_out,
                "activation": self.activation, "task": self.task, "loss": self.loss_name,
                "l2": self.l2, "dtype": self.dtype.name, "init": self.init}

    @classmethod
    def from_config(cls, config: dict, params: dict | None = None) -> MLP:
        """An MLP from :meth:`config` output, with ``params`` (dict of arrays) copied in."""
        net = cls(**config)
        if params is not None:
            net.set_params(params)
        return net

    def set_params(self, params: dict) -> None:
        """Copy arrays (keyed like ``params``, same shapes) into this model's buffer."""
        if set(params) != set(self.params):
            raise ValueError(f"params keys {sorted(params)} differ from {list(self.params)}")
        for key, view in self.params.items():
            value = np.asarray(params[key])
            if value.shape != view.shape:
                raise ValueError(f"params[{key!r}] has shape {value.shape}; expected {view.shape}")
            view[...] = value

    def astype(self, dtype) -> MLP:
        """A new MLP with the same architecture and the parameters cast to ``dtype`` (a copy)."""
        net = MLP(**{**self.config(), "dtype": dtype})
        net.flat[...] = self.flat  # same layout, so one cast copy of the buffer
        return net

    def __getstate__(self) -> dict:
        # pickle/deepcopy: the architecture and the one buffer; the views are rebuilt on load
        # (pickled separately they would stop being views), the workspaces are not kept
        return {"config": self.config(), "flat": self.flat}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state["config"])
        self.flat[...] = state["flat"]

    def copy(self) -> MLP:
        """An independent copy (same dtype)."""
        return self.astype(self.dtype)

    def __repr__(self) -> str:
        return (f"MLP(n_in={self.n_in}, hidden={self.hidden}, n_out={self.n_out}, "
                f"activation={self.activation!r}, task={self.task!r}, loss={self.loss_name!r}, "
                f"l2={self.l2}, dtype={self.dtype.name}, init={self.init!r})")
