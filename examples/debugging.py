"""Debugging a compiled function: eager mode, detect_anomaly, explain.

    python examples/debugging.py
"""
import numpy as np

import jitgrad as jg


def loss(x, w):
    h = jg.log(x * w)          # NaN where x * w < 0
    return jg.sum(h * h)


x = np.array([1.0, 2.0, -3.0])
w = np.array([0.5, 0.5, 0.5])
f = jg.jit_grad(loss, argnums=(0, 1))

value, grads = f(x, w)
print("compiled value:", value, "(a NaN: something is wrong)")

# 1. the same function op by op, so prints and breakpoints work (also JITGRAD_EAGER=1)
value_e, _ = jg.jit_grad(loss, argnums=(0, 1), eager=True)(x, w)
print("eager value:   ", value_e)

# 2. find the op that made the NaN, with the line of user code
try:
    with jg.detect_anomaly():
        jg.jit_grad(loss, argnums=(0, 1), eager=True)(x, w)
except jg.AnomalyError as e:
    print("detect_anomaly:", e)

# 3. what the compiler did: tape, loop IR, kernel source, cache key, why it compiled
f(x[:2], w[:2])
print(str(jg.explain(f, x[:2], w[:2]))[:1500], "...")
