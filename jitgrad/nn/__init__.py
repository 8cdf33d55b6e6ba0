"""Neural-network building blocks with PyTorch's semantics: `Module`, `Parameter`, layers,
activations and losses. Parameters are float32 leaf tensors with `requires_grad=True`, initialised
as PyTorch does, from NumPy's global generator (`jg.manual_seed` or `np.random.seed` makes it
reproducible).

    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
    opt = jg.optim.SGD(model.parameters(), lr=0.1)
    opt.zero_grad(); nn.MSELoss()(model(x), y).backward(); opt.step()
"""
from __future__ import annotations

import math
import threading
from collections import OrderedDict

import numpy as np

from tracer import Tensor, ops
from tracer.tensor import as_input

from . import functional, init, utils

__all__ = ["Module", "Parameter", "Linear", "Sequential", "ReLU", "Tanh", "Sigmoid", "Identity",
           "Flatten", "MSELoss", "CrossEntropyLoss", "GELU", "LayerNorm", "Embedding", "ModuleList",
           "ModuleDict", "Conv1d", "Conv2d", "MaxPool2d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d",
           "Dropout", "MultiheadAttention", "functional", "init"]


class Parameter(Tensor):
    """A leaf tensor that a `Module` registers as a parameter (requires_grad=True by default).

    Like `torch.nn.Parameter`, wrapping an ndarray or Tensor shares its data (no copy)."""
    __slots__ = ()

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = np.empty(0, dtype=np.float32)
        if isinstance(data, Tensor):
            data = data.data
        super().__init__(np.asarray(data), requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo):
        p = Parameter(self.data.copy(), requires_grad=self.requires_grad)
        memo[id(self)] = p
        return p

    def __reduce__(self):
        return (Parameter, (self.data, self.requires_grad))


class _ModeReads(threading.local):
    reads = None     # a list while jit_grad traces: (module, training flag) for every read


MODE_READS = _ModeReads()


class _TrainingFlag:
    """`Module.training`. Reads are recorded while jit_grad traces, so a compiled function knows
    which modules' modes it depends on and retraces when one changes (model.eval() after the
    first compiled call would otherwise be ignored)."""

    def __get__(self, m, cls=None):
        if m is None:
            return self
        v = m.__dict__.get("_training", True)
        if MODE_READS.reads is not None:
            MODE_READS.reads.append((m, v))
        return v

    def __set__(self, m, value):
        m.__dict__["_training"] = bool(value)


class Module:
    """Base class: assign `Parameter`s and sub-`Module`s as attributes in `__init__` (they are
    registered in assignment order) and define `forward`; call the module to run it."""

    training = _TrainingFlag()

    def __init__(self):
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())

    # -- registration
    def _registries(self, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {type(value).__name__} before Module.__init__() "
                                 f"call (call super().__init__() first in {type(self).__name__})")
        return self._parameters, self._buffers, self._modules

    def __setattr__(self, name, value):
        if isinstance(value, (Parameter, Module)):
            params, buffers, modules = self._registries(value)
            for d in (params, buffers, modules):
                d.pop(name, None)
            (params if isinstance(value, Parameter) else modules)[name] = value
        elif "_parameters" in self.__dict__:
            if name in self._parameters:
                if value is not None:
                    raise TypeError(f"cannot assign {type(value).__name__} as parameter {name!r} "
                                    f"(jg.nn.Parameter or None expected)")
                self._parameters[name] = None
            elif name in self._modules:
                if value is not None:
                    raise TypeError(f"cannot assign {type(value).__name__} as child module {name!r} "
                                    f"(jg.nn.Module or None expected)")
                self._modules[name] = None
            elif name in self._buffers:
                self._buffers[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        for d in ("_parameters", "_buffers", "_modules"):
            self.__dict__.get(d, {}).pop(name, None)
        object.__delattr__(self, name)

    def register_parameter(self, name, param):
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a jg.nn.Parameter or None")
        self._parameters[name] = param
        object.__setattr__(self, name, param)

    def register_buffer(self, name, tensor):
        """A non-trainable tensor that is part of the state (saved in `state_dict`)."""
        if tensor is not None and not isinstance(tensor, Tensor):
            tensor = Tensor(np.asarray(tensor))
        self._buffers[name] = tensor
        object.__setattr__(self, name, tensor)

    def add_module(self, name, module):
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a jg.nn.Module or None")
        self._modules[name] = module
        object.__setattr__(self, name, module)

    # -- running
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward() method")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # -- traversal
    def named_modules(self, memo=None, prefix=""):
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(memo, prefix + ("." if prefix else "") + name)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def named_parameters(self, prefix="", recurse=True):
        """(name, Parameter) pairs in registration order; shared parameters appear once."""
        seen = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mprefix, m in mods:
            for name, p in m._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (mprefix + "." if mprefix else "") + name, p

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix=""):
        for mprefix, m in self.named_modules(prefix=prefix):
            for name, b in m._buffers.items():
                if b is not None:
                    yield (mprefix + "." if mprefix else "") + name, b

    def buffers(self):
        for _, b in self.named_buffers():
            yield b

    def apply(self, fn):
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # -- modes and gradients
    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Clear the parameters' gradients: `None` (PyTorch's default), or zeros in place."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad = Tensor(np.zeros_like(p.data))

    def astype(self, dtype):
        """Convert every floating-point parameter and buffer to `dtype` (in place; returns self)."""
        dtype = np.dtype(dtype)
        for p in self.parameters():
            if p.dtype.kind == "f" and p.dtype != dtype:
                p.data = p.data.astype(dtype)
                p.grad = None
        for m in self.modules():
            for name, b in m._buffers.items():
                if b is not None and b.dtype.kind == "f":
                    b.data = b.data.astype(dtype)
        return self

    def double(self):
        return self.astype(np.float64)

    def float(self):
        return self.astype(np.float32)

    # -- state
    def state_dict(self):
        """Ordered name -> ndarray copy of every parameter and buffer."""
        out = OrderedDict()
        for name, p in self.named_parameters():
            out[name] = p.data.copy()
        for name, b in self.named_buffers():
            out[name] = b.data.copy()
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy values (ndarrays or Tensors) into the parameters and buffers in place."""
        own = OrderedDict(list(self.named_parameters()) + list(self.named_buffers()))
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise RuntimeError(f"error loading state_dict into {type(self).__name__}: missing keys "
                               f"{missing}, unexpected keys {unexpected}")
        for k, t in own.items():
            if k not in state_dict:
                continue
            v = state_dict[k]
            v = v.data if isinstance(v, Tensor) else np.asarray(v)
            if v.shape != t.shape:
                raise RuntimeError(f"error loading state_dict: {k!r} has shape {v.shape} in the "
                                   f"checkpoint but {t.shape} in the model")
            np.copyto(t.data, v, casting="unsafe")
        return missing, unexpected

    # -- printing
    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in self._modules.items()]
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        body = "\n  ".join(([extra] if extra else []) + lines)
        return f"{type(self).__name__}(\n  {body}\n)"


# ----------------------------------------------------------------------------- layers
class Linear(Module):
    """y = x @ weight.T + bias, weight of shape (out_features, in_features). PyTorch's default
    initialisation: weight ~ kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)), bias ~ the
    same interval."""

    def __init__(self, in_features, out_features, bias=True, dtype=np.float32):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=dtype))
        if bias:
            self.bias = Parameter(np.empty((self.out_features,), dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        x = x if isinstance(x, Tensor) else np.asarray(x)
        if x.shape[-1] != self.in_features:
            from tracer import ShapeError
            raise ShapeError(f"Linear: input has shape {tuple(x.shape)}, but the layer expects "
                             f"{self.in_features} features in its last axis")
        return functional.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Sequential(Module):
    """Runs its modules in order; `Sequential(m1, m2, ...)` or `Sequential(OrderedDict(...))`."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (dict, OrderedDict)):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        mods = list(self._modules.items())
        if isinstance(idx, slice):
            return Sequential(OrderedDict(mods[idx]))
        return mods[idx][1]

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x


class ReLU(Module):
    def forward(self, x):
        return functional.relu(x)


class Tanh(Module):
    def forward(self, x):
        return functional.tanh(x)


class Sigmoid(Module):
    def forward(self, x):
        return functional.sigmoid(x)


class Identity(Module):
    def forward(self, x):
        return x


class Flatten(Module):
    """Flattens all axes from `start_dim` on (default: all but the batch axis)."""

    def __init__(self, start_dim=1):
        super().__init__()
        self.start_dim = start_dim

    def forward(self, x):
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
        s = self.start_dim % max(x.ndim, 1)
        return ops.reshape(x, x.shape[:s] + (-1,))


# ----------------------------------------------------------------------------- losses
class GELU(Module):
    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        return functional.gelu(x, self.approximate)


class LayerNorm(Module):
    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True):
        super().__init__()
        self.normalized_shape = ((normalized_shape,) if isinstance(normalized_shape, (int, np.integer))
                                 else tuple(normalized_shape))
        self.eps = eps
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, np.float32))
            self.bias = Parameter(np.zeros(self.normalized_shape, np.float32))
        else:
            self.weight = self.bias = None

    def forward(self, x):
        return functional.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)


class Embedding(Module):
    """A lookup table initialised from N(0, 1), as PyTorch."""

    def __init__(self, num_embeddings, embedding_dim):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = Parameter(np.zeros((num_embeddings, embedding_dim), np.float32))
        init.normal_(self.weight)

    def forward(self, indices):
        return functional.embedding(indices, self.weight)


class _ConvNd(Module):
    """PyTorch's initialisation: weight ~ kaiming_uniform(a=sqrt(5)), bias ~ U(+-1/sqrt(fan_in))."""
    n = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, dtype=np.float32):
        super().__init__()
        who = type(self).__name__
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{who}: in_channels ({in_channels}) and out_channels ({out_channels}) must be "
                             f"divisible by groups ({groups})")
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        self.kernel_size = functional._tuple(kernel_size, self.n, "kernel_size", who)
        self.stride, self.dilation = stride, dilation
        self.padding = padding
        self.weight = Parameter(np.empty((self.out_channels, self.in_channels // self.groups) + self.kernel_size,
                                         dtype=dtype))
        if bias:
            self.bias = Parameter(np.empty((self.out_channels,), dtype=dtype))
        else:
            self.register_parameter("bias", None)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = init.fan_in_and_fan_out(self.weight)[0]
            init.uniform_(self.bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))

    def forward(self, x):
        conv = functional.conv2d if self.n == 2 else functional.conv1d
        return conv(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}" + (f", groups={self.groups}" if self.groups != 1 else "")
                + ("" if self.bias is not None else ", bias=False"))


class Conv2d(_ConvNd):
    n = 2


class Conv1d(_ConvNd):
    n = 1


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return functional.max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(MaxPool2d):
    def forward(self, x):
        return functional.avg_pool2d(x, self.kernel_size, self.stride, self.padding)


class _BatchNorm(Module):
    """Batch statistics in training mode, which also move the running ones (buffers, saved in
    state_dict, written back by jit_grad's compiled function); running statistics in eval mode."""
    dims = (2,)

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 dtype=np.float32):
        super().__init__()
        self.num_features, self.eps, self.momentum = int(num_features), eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(np.ones(self.num_features, dtype))
            self.bias = Parameter(np.zeros(self.num_features, dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(self.num_features, dtype))
            self.register_buffer("running_var", np.ones(self.num_features, dtype))
            self.register_buffer("num_batches_tracked", np.zeros((), np.int64))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def forward(self, x):
        if x.ndim not in self.dims:
            want = " or ".join(f"{d}D" for d in self.dims)
            raise ValueError(f"{type(self).__name__}: expected {want} input (got {x.ndim}D input)")
        training = self.training
        momentum = self.momentum
        if training and self.track_running_stats:
            count = self.num_batches_tracked + 1
            ops.assign_(self.num_batches_tracked, count)
            if momentum is None:   # a cumulative average
                momentum = 1.0 / ops.cast(count, x.dtype)
        use_buffers = not training or self.track_running_stats
        return functional.batch_norm(x, self.running_mean if use_buffers else None,
                                     self.running_var if use_buffers else None, self.weight, self.bias,
                                     training or self.running_mean is None, 0.0 if momentum is None else momentum,
                                     self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    dims = (4,)


class Dropout(Module):
    def __init__(self, p=0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p

    def forward(self, x):
        return functional.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class MultiheadAttention(Module):
    """PyTorch's multi-head attention with packed input projections (`in_proj_weight` (3E, E),
    `in_proj_bias`, `out_proj`) and its initialisation; `batch_first=True` only. As PyTorch, a
    boolean `attn_mask` or `key_padding_mask` marks the positions *not* to attend to, a float
    one is added; returns `(output, weights)` with the weights averaged over heads."""

    def __init__(self, embed_dim, num_heads, bias=True, batch_first=True, dtype=np.float32):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by num_heads "
                             f"({num_heads})")
        if not batch_first:
            raise NotImplementedError("MultiheadAttention: only batch_first=True (inputs (N, L, E))")
        self.embed_dim, self.num_heads, self.batch_first = int(embed_dim), int(num_heads), True
        self.in_proj_weight = Parameter(np.empty((3 * embed_dim, embed_dim), dtype))
        init.xavier_uniform_(self.in_proj_weight)
        if bias:
            self.in_proj_bias = Parameter(np.zeros(3 * embed_dim, dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, dtype=dtype)
        if bias:
            init.zeros_(self.out_proj.bias)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        q, k, v = as_input(query), as_input(key), as_input(value)
        e, h = self.embed_dim, self.num_heads
        if q.ndim != 3 or q.shape[-1] != e or k.shape[-1] != e or v.shape[-1] != e:
            raise RuntimeError(f"MultiheadAttention: expected inputs (N, L, {e}), got query {q.shape}, key "
                               f"{k.shape}, value {v.shape}")
        w, b = self.in_proj_weight, self.in_proj_bias
        proj = [functional.linear(t, w[i * e:(i + 1) * e], None if b is None else b[i * e:(i + 1) * e])
                for i, t in enumerate((q, k, v))]
        n, d = q.shape[0], e // h
        qh, kh, vh = (ops.transpose(ops.reshape(t, (n, t.shape[1], h, d)), (0, 2, 1, 3)) for t in proj)
        s = ops.matmul(qh, ops.swapaxes(kh, -1, -2)) * (1.0 / math.sqrt(d))
        if is_causal and attn_mask is None:
            attn_mask = ~np.tril(np.ones((q.shape[1], k.shape[1]), dtype=bool))
        for m, shape in ((attn_mask, None), (key_padding_mask, (n, 1, 1, k.shape[1]))):
            if m is None:
                continue
            m = m.data if isinstance(m, Tensor) else np.asarray(m)
            m = m.reshape(shape) if shape is not None else m
            s = ops.where(m, -np.inf, s) if m.dtype == np.bool_ else s + m
        p = ops.softmax(s, -1)
        out = ops.reshape(ops.transpose(ops.matmul(p, vh), (0, 2, 1, 3)), (n, q.shape[1], e))
        out = self.out_proj(out)
        if not need_weights:
            return out, None
        return out, (ops.mean(p, 1) if average_attn_weights else p)


class ModuleList(Module):
    """Sub-modules in a list, registered (their parameters are the list's), as PyTorch's."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def __getitem__(self, i):
        items = list(self._modules.values())
        return ModuleList(items[i]) if isinstance(i, slice) else items[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class ModuleDict(Module):
    """Sub-modules by name, registered, as PyTorch's."""

    def __init__(self, modules=None):
        super().__init__()
        for k, m in (modules or {}).items():
            self[k] = m

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __getitem__(self, key):
        return self._modules[key]

    def __contains__(self, key):
        return key in self._modules

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()


class MSELoss(Module):
    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, input, target):
        return functional.mse_loss(input, target, self.reduction)


class CrossEntropyLoss(Module):
    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, logits, target):
        return functional.cross_entropy(logits, target, self.reduction)
