"""Recording and reverse mode; no code generation (imports never reach `codegen`).

Modules import one way: tensor (Tensor, Node, bind) -> primitives (the table) -> ops (the
wrappers) -> vjps (the rules, written with ops) -> engine (the reverse sweep) -> program
(flat Programs from a trace)."""
__version__ = "0.1.0"   # the one version constant: jitgrad.__version__, pyproject, kernel cache keys
from .tensor import (STATE, AnomalyError, Node, AccumulateGrad, ShapeError, Tensor, TraceError,
                     enable_grad, is_grad_enabled, no_grad, set_grad_enabled, bind, tracing)
from .primitives import PRIMS, Prim
from . import ops, vjps  # noqa: F401  (vjps fills the table's rules)
from .engine import backward, grad, sweep
from .program import Eqn, Literal, Program, Var, evaluate, make_program, trace_value_and_grad
