"""GradientTape, the TensorFlow way: watch, persistent tapes, nested tapes, jacobians.

    python examples/gradient_tape.py
"""
import warnings

import numpy as np

import jitgrad as jg

x = jg.tensor(3.0)
with jg.GradientTape() as tape:
    tape.watch(x)                       # plain tensors must be watched
    y = x * x
print("dy/dx at 3:", tape.gradient(y, x))                        # 6

w = jg.tensor([1.0, 2.0], requires_grad=True)                    # watched automatically
with jg.GradientTape(persistent=True) as tape:
    z = jg.sum(w ** 3)
    q = jg.sum(jg.sin(w))
print("dz/dw:", tape.gradient(z, w), " dq/dw:", tape.gradient(q, w))   # persistent: 2 calls

with jg.GradientTape() as outer:
    outer.watch(x)
    with jg.GradientTape() as inner:
        inner.watch(x)
        y = x ** 3
    dy = inner.gradient(y, x)           # recorded by the outer tape
print("d2y/dx2 at 3:", outer.gradient(dy, x))                    # 6x = 18

v = jg.tensor([1.0, 2.0, 3.0])
with jg.GradientTape() as tape:
    tape.watch(v)
    s = jg.softmax(v)
print("jacobian of softmax:\n", tape.jacobian(s, v))

with jg.GradientTape() as tape:
    tape.watch(v)
    leaked = np.sum(v.numpy() ** 2)     # leaves the tape: NumPy does not record
    r = jg.tensor(leaked) * 2
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    print("gradient through .numpy():", tape.gradient(r, v))
print("warning:", caught[0].message if caught else None)
