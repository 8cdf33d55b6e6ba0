"""Optimizers with PyTorch's update rules (`torch.optim.SGD`, `torch.optim.Adam`).

They read each parameter's `.grad` (skipping parameters whose grad is None) and update
`p.data` (a NumPy array) in place, so models, captured tensors and compiled `jit_grad`
functions all see the new values without re-wrapping anything.
"""
from __future__ import annotations

import math

import numpy as np

from tracer import Tensor, no_grad

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "lr_scheduler"]


class Optimizer:
    """Base class. `params`: an iterable of Tensors, or of dicts `{"params": [...], **options}`
    (PyTorch's parameter groups) whose options override the defaults."""

    def __init__(self, params, defaults):
        if isinstance(params, Tensor):
            raise TypeError("params must be an iterable of Tensors (e.g. model.parameters()), "
                            "not a single Tensor")
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.defaults = dict(defaults)
        self.param_groups = []
        self.state = {}  # id(param) -> per-parameter state
        seen = set()
        for g in groups:
            g = dict(g)
            ps = g["params"]
            ps = [ps] if isinstance(ps, Tensor) else list(ps)
            for p in ps:
                if not isinstance(p, Tensor):
                    raise TypeError(f"optimizer can only optimize Tensors, got {type(p).__name__}")
                if not p.is_leaf:
                    raise ValueError("can't optimize a non-leaf Tensor (one computed by an op); "
                                     "pass leaves such as model.parameters()")
                if p.dtype.kind not in "fc":
                    raise TypeError(f"can't optimize a tensor of dtype {p.dtype}")
                if id(p) in seen:
                    raise ValueError("some parameters appear in more than one parameter group")
                seen.add(id(p))
            g["params"] = ps
            for k, v in self.defaults.items():
                g.setdefault(k, v)
            self.param_groups.append(g)

    def zero_grad(self, set_to_none=True):
        """Clear gradients: `None` (PyTorch's default), or zeros with `set_to_none=False`."""
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is None:
                    continue
                p.grad = None if set_to_none else Tensor(np.zeros_like(p.data))

    def _grads(self, group, l2=True):
        """(parameter, gradient) pairs with PyTorch's common options applied: the gradient negated
        for `maximize`, and `weight_decay * p` added unless the optimizer decays decoupled."""
        wd = group.get("weight_decay", 0.0)
        for p in group["params"]:
            if p.grad is None:
                continue
            g = p.grad.data
            if g.shape != p.data.shape:
                raise RuntimeError(f"parameter of shape {p.shape} has a gradient of shape {g.shape}")
            g = g.astype(p.data.dtype, copy=False)
            if group.get("maximize"):
                g = -g
            if wd and l2:
                g = g + wd * p.data
            yield p, g

    def _state(self, p, *buffers):
        """The per-parameter state, created on the first step with zero buffers and step 0."""
        st = self.state.setdefault(id(p), {})
        if not st:
            st["step"] = 0
            st.update({b: np.zeros_like(p.data) for b in buffers})
        return st

    def state_dict(self):
        ids = {id(p): i for i, p in enumerate(p for g in self.param_groups for p in g["params"])}
        state = {ids[k]: {n: (v.copy() if isinstance(v, np.ndarray) else v) for n, v in s.items()}
                 for k, s in self.state.items() if k in ids}
        groups = [{k: v for k, v in g.items() if k != "params"} | {"params": [ids[id(p)] for p in g["params"]]}
                  for g in self.param_groups]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        params = [p for g in self.param_groups for p in g["params"]]
        for g, saved in zip(self.param_groups, state_dict["param_groups"]):
            g.update({k: v for k, v in saved.items() if k != "params"})
        self.state = {id(params[i]): {n: (v.copy() if isinstance(v, np.ndarray) else v) for n, v in s.items()}
                      for i, s in state_dict["state"].items()}

    def step(self):
        raise NotImplementedError


class SGD(Optimizer):
    """p -= lr * (momentum buffer of (grad + weight_decay * p)), as torch.optim.SGD: the first step
    sets the buffer to the gradient; later steps do buf = momentum * buf + (1 - dampening) * grad."""

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, dampening=0.0, nesterov=False,
                 maximize=False):
        if lr is None or lr < 0:
            raise ValueError(f"invalid learning rate {lr}")
        if momentum < 0 or weight_decay < 0:
            raise ValueError(f"invalid momentum {momentum} or weight_decay {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      dampening=dampening, nesterov=nesterov, maximize=maximize))

    @no_grad()
    def step(self):
        for group in self.param_groups:
            lr, mom = group["lr"], group["momentum"]
            for p, g in self._grads(group):
                if mom:
                    st = self.state.setdefault(id(p), {})
                    buf = st.get("momentum_buffer")
                    if buf is None:
                        buf = st["momentum_buffer"] = np.array(g, dtype=p.data.dtype, copy=True)
                    else:
                        buf *= mom
                        buf += (1 - group["dampening"]) * g
                    g = g + mom * buf if group["nesterov"] else buf
                p.data -= lr * g


class Adam(Optimizer):
    """torch.optim.Adam: m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2,
    p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps); weight_decay adds wd * p to g
    (L2, not AdamW)."""

    decoupled = False    # AdamW: weight decay applied to the parameter, not added to the gradient

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 maximize=False):
        if lr < 0 or eps < 0 or weight_decay < 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"invalid {type(self).__name__} hyperparameters lr={lr}, betas={betas}, "
                             f"eps={eps}, weight_decay={weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    @no_grad()
    def step(self):
        for group in self.param_groups:
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p, g in self._grads(group, l2=not self.decoupled):
                if wd and self.decoupled:
                    p.data *= 1 - lr * wd
                st = self._state(p, "exp_avg", "exp_avg_sq")
                st["step"] += 1
                t, m, v = st["step"], st["exp_avg"], st["exp_avg_sq"]
                m *= b1
                m += (1 - b1) * g
                v *= b2
                v += (1 - b2) * (g * g)
                bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
                denom = np.sqrt(v) / math.sqrt(bc2) + eps
                p.data -= (lr / bc1) * (m / denom)


class AdamW(Adam):
    """torch.optim.AdamW: Adam whose weight decay shrinks the parameter, p *= 1 - lr * wd, before
    the Adam step (decoupled, not an L2 term in the gradient)."""
    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, maximize)


class RMSprop(Optimizer):
    """torch.optim.RMSprop: v = alpha v + (1-alpha) g^2 (centered: minus the squared running mean
    of g), p -= lr * g / (sqrt(v) + eps), through a momentum buffer when momentum > 0."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, maximize=False):
        if lr < 0 or eps < 0 or momentum < 0 or weight_decay < 0 or not 0 <= alpha:
            raise ValueError(f"invalid RMSprop hyperparameters lr={lr}, alpha={alpha}, eps={eps}, "
                             f"momentum={momentum}, weight_decay={weight_decay}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    @no_grad()
    def step(self):
        for group in self.param_groups:
            lr, alpha, eps, mom = (group[k] for k in ("lr", "alpha", "eps", "momentum"))
            for p, g in self._grads(group):
                st = self._state(p, "square_avg", *(["momentum_buffer"] if mom > 0 else []),
                                 *(["grad_avg"] if group["centered"] else []))
                st["step"] += 1
                sq = st["square_avg"]
                sq *= alpha
                sq += (1 - alpha) * (g * g)
                if group["centered"]:
                    ga = st["grad_avg"]
                    ga *= alpha
                    ga += (1 - alpha) * g
                    avg = np.sqrt(sq - ga * ga) + eps
                else:
                    avg = np.sqrt(sq) + eps
                if mom > 0:
                    buf = st["momentum_buffer"]
                    buf *= mom
                    buf += g / avg
                    p.data -= lr * buf
                else:
                    p.data -= lr * (g / avg)


class _LRScheduler:
    """PyTorch's schedulers: construction records each group's `initial_lr` (epoch 0), every
    `step()` advances one epoch and writes the new rates into the optimizer's groups."""

    def __init__(self, optimizer, last_epoch=-1):
        self.optimizer = optimizer
        for g in optimizer.param_groups:
            g.setdefault("initial_lr", g["lr"])
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def get_last_lr(self):
        return list(self._last_lr)

    def step(self):
        self.last_epoch += 1
        lrs = self.get_lr()
        for g, lr in zip(self.optimizer.param_groups, lrs):
            g["lr"] = lr
        self._last_lr = lrs

    def state_dict(self):
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state):
        self.__dict__.update(state)


class StepLR(_LRScheduler):
    """lr = initial_lr * gamma ** (epoch // step_size)."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size:
            return [g["lr"] for g in self.optimizer.param_groups]
        return [g["lr"] * self.gamma for g in self.optimizer.param_groups]


class CosineAnnealingLR(_LRScheduler):
    """eta_min + (initial_lr - eta_min) (1 + cos(pi epoch / T_max)) / 2, computed by PyTorch's
    recursive form (the same rounding as torch)."""

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        e, T, lo = self.last_epoch, self.T_max, self.eta_min
        groups = self.optimizer.param_groups
        if e == 0:
            return [g["lr"] for g in groups]
        if (e - 1 - T) % (2 * T) == 0:
            return [g["lr"] + (b - lo) * (1 - math.cos(math.pi / T)) / 2 for g, b in zip(groups, self.base_lrs)]
        return [(1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T)) * (g["lr"] - lo) + lo
                for g in groups]


class _Schedulers:
    StepLR = StepLR
    CosineAnnealingLR = CosineAnnealingLR


lr_scheduler = _Schedulers
