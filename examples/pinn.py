"""A physics-informed network: learn u(t) with du/dt = -u and u(0) = 1 (so u = exp(-t)).

The loss uses du/dt, computed with jg.grad(create_graph=True) inside the loss; jit_grad
differentiates that (a second-order program) w.r.t. the weights and compiles it.

    python examples/pinn.py
"""
import numpy as np

import jitgrad as jg


def init(rng, sizes=(1, 32, 32, 1)):
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        params += [rng.uniform(-1, 1, (a, b)) / np.sqrt(a), np.zeros(b)]
    return params


def net(params, t):
    h = t
    for i in range(0, len(params) - 2, 2):
        h = jg.tanh(h @ params[i] + params[i + 1])
    return h @ params[-2] + params[-1]


@jg.jit_grad
def loss(params, t):
    t = jg.as_tensor(t).detach().requires_grad_()
    u = net(params, t)
    dudt, = jg.grad(jg.sum(u), [t], create_graph=True)
    u0 = net(params, jg.zeros(1, 1, dtype=np.float64))
    return jg.mean((dudt + u) ** 2) + jg.sum((u0 - 1.0) ** 2)


def main(steps=2000, lr=1e-2):
    rng = np.random.default_rng(0)
    params = init(rng)
    t = np.linspace(0, 2, 256).reshape(-1, 1)
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for step in range(1, steps + 1):  # Adam, written out on NumPy arrays
        value, grads = loss(params, t)
        for i, g in enumerate(grads):
            m[i] = 0.9 * m[i] + 0.1 * g
            v[i] = 0.999 * v[i] + 0.001 * g * g
            params[i] = params[i] - lr * (m[i] / (1 - 0.9 ** step)) / (np.sqrt(v[i] / (1 - 0.999 ** step)) + 1e-8)
        if step % 500 == 0 or step == 1:
            print(f"step {step:5d}  loss {float(value):.2e}")
    with jg.no_grad():
        u = net(params, jg.tensor(t)).numpy()
    err = np.max(np.abs(u - np.exp(-t)))
    print(f"max |u - exp(-t)| on [0, 2]: {err:.2e}  (compiled signatures: {loss.cache_info().misses})")


if __name__ == "__main__":
    main()
