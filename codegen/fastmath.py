"""Vectorisable scalar math for generated Numba kernels (CPU).

Functions: ``exp log log1p expm1 tanh sigmoid softplus sin cos sqrt pow``.

Calling convention
------------------
Each name is a plain Python function (usable from Python: it then simply calls NumPy) with a
``numba.extending.overload`` that gives the compiled implementation. From ``@njit`` code call them
on float32 or float64 scalars; the result has the argument's precision and float32 arguments are
computed entirely in float32 with float32 constants (no silent promotion to float64). Integer and
boolean arguments are treated as float64, as NumPy does. ``pow(x, y)`` returns ``x``'s precision
(``y`` is converted to it).

The implementations are branch-free (range reduction, a polynomial, selects, and two tiny LLVM
intrinsics that bitcast between a float and the integer of the same width to build ``2**k`` or
split a float into exponent and mantissa), so LLVM vectorises loops that call them: on the PyPI
llvmlite (no SVML) ``np.exp`` inside a loop is a scalar libm call, these are not. Every overload is
compiled with ``fastmath=False`` whatever the calling kernel uses, because the range reductions
rely on exact IEEE rounding (``(t + M) - M`` tricks, Cody-Waite splits). A kernel that calls these
can be ``@njit(cache=True)``; note that Numba's disk cache does not track this module, so a
kernel cache keyed on a content hash should include ``SOURCE_HASH`` (the hash of this file).

Accuracy
--------
Measured over dense sweeps of the useful range (2**20 points, plus 2**17 points each of
+-[1e-30, 1] geometrically spaced; log adds the subnormal inputs), as the error in ULPs of the
result's precision against a higher-precision NumPy reference: float32 results vs NumPy in float64,
float64 results vs NumPy on ``np.longdouble`` (x87 80-bit). "vs NumPy" is the largest difference
to NumPy's own same-precision function (which has its own error of up to 1-3 ULP in float32).
Subnormal results are counted in ULPs of the smallest subnormal. ``tests/codegen/test_fastmath.py``
asserts the bounds in brackets (on 2**18-point sweeps).

=========  ==========================  ============  ============  ============  ============
function   range swept (f32 / f64)     f32 ULP       f64 ULP       f32 vs NumPy  f64 vs NumPy
=========  ==========================  ============  ============  ============  ============
exp        [-103, 88.7] / [-745, 709]  1.00  [1.5]   1.02  [1.5]   3  [3]        1  [1.5]
expm1      [-20, 88] / [-40, 709]      1.65  [2.5]   2.17  [2.5]   2  [3]        2  [3]
log        [tiny, max/2] + subnormals  0.92  [1.5]   1.26  [1.5]   3  [3]        1  [1.5]
log1p      (-1, max/2]                 1.44  [2]     1.54  [2]     2  [3]        2  [2.5]
tanh       [-20, 20]                   2.49  [3]     2.48  [3]     3  [3.5]      3  [3.5]
sigmoid    [-100, 100]                 2.48  [3]     2.69  [3]     3  [3.5]      3  [3.5]
softplus   [-100, 100]                 1.83  [2.5]   1.90  [2.5]   3  [3.5]      2  [3]
sin        |x| <= 8192 / 2**20         0.78a [1]     0.87a [1]     0.5a [1]      1a [1.5]
cos        |x| <= 8192 / 2**20         0.76a [1]     0.89a [1]     0.5a [1]      1a [1.5]
sqrt       [0, 1e6]                    0.5   [0.5]   0.5   [0.5]   0  [0]        0  [0]
pow        libm ``x ** y``             (libm)        (libm)        0             0
=========  ==========================  ============  ============  ============  ============

``a``: sin and cos are measured as absolute error in ULPs of 1.0 (near their zeros away from 0
the relative error is limited by the Cody-Waite reduction with a 3-part pi/2, as in every
vectorised libm). Beyond |x| = 8192 (float32) / 2**20 (float64) the reduction is no longer exact
but stays backward-stable: the absolute error is at most about 0.5 ULP *of x* (the result is sin
of a number within the rounding of x; e.g. float32 sin(1e5) is off by ~1e-6, float64 sin(1e9) by
~6e-8). For |x| >= 2**22 (float32) / 2**51 (float64) the quadrant is lost and they return nan
(NumPy's Payne-Hanek reduction gives the exact value there; use np.sin for such inputs).

Special values follow NumPy: nan propagates everywhere; exp(+inf)=inf, exp(-inf)=0, overflow gives
inf and underflow 0 (subnormals are produced); log(0)=-inf, log(<0)=nan, log(inf)=inf;
log1p(-1)=-inf; expm1(-inf)=-1; tanh(+-inf)=+-1 and tanh/sigmoid saturate without nan for huge
|x|; sigmoid(-inf)=0; softplus(x)=max(x,0)+log1p(exp(-|x|)), softplus(inf)=inf,
softplus(-inf)=0; sin/cos(+-inf)=nan; sqrt(<0)=nan; signed zeros are kept by exp/expm1/log1p/
tanh/sin/sqrt (sigmoid(0)=0.5).

``pow`` is NOT vectorised: it falls back to ``x ** y`` (LLVM ``pow`` -> libm), which has NumPy's
semantics for every case (negative base with integer exponent, 0**negative = inf, nan rules).
Code generators should lower a constant integer exponent to multiplications (x*x) and
``pow(x, 0.5)`` to ``sqrt`` instead of calling ``pow``.
"""
import hashlib
import pathlib

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

SOURCE_HASH = hashlib.sha256(pathlib.Path(__file__).read_bytes()).hexdigest()[:16]

__all__ = ["exp", "log", "log1p", "expm1", "tanh", "sigmoid", "softplus", "sin", "cos", "sqrt",
           "pow", "SOURCE_HASH"]

_JIT = {"fastmath": False, "error_model": "numpy"}
# LLVM-level forced inlining of the overloads into the calling kernel (they stay compiled with
# these flags, whatever the caller uses): without it LLVM declines to inline the larger ones
# (softplus) and the calling loop stays scalar.
_OL_JIT = dict(_JIT, forceinline=True)

# ---------------------------------------------------------------------------------------------
# Per-precision layout: integer width, mantissa bits, exponent bias, and the rounding "magic"
# constant 1.5 * 2**mant: for |y| < 2**(mant-1), (y + M) rounds y to the nearest integer k and the
# low bits of the result's representation are k (bits(y + M) - bits(M) == k exactly).
_LAYOUT = {
    types.float32: dict(bits=32, mant=23, bias=127, magic=np.float32(12582912.0)),
    types.float64: dict(bits=64, mant=52, bias=1023, magic=np.float64(6755399441055744.0)),
}


def _layout(fty):
    return _LAYOUT[fty]


def _int_of(fty):
    return ir.IntType(_layout(fty)["bits"])


def _magic_bits(fty):
    lay = _layout(fty)
    dt = np.int32 if lay["bits"] == 32 else np.int64
    return int(np.array(lay["magic"]).view(dt))


def _k_from_magic(builder, fty, t):
    """Integer k such that t == M + k, for t produced by the magic rounding trick."""
    ity = _int_of(fty)
    return builder.sub(builder.bitcast(t, ity), ir.Constant(ity, _magic_bits(fty)))


def _pow2(builder, fty, k):
    """2.0**k as a float for integer k with exponent field bias+k in [0, 2*bias+1]."""
    lay = _layout(fty)
    ity = _int_of(fty)
    e = builder.add(k, ir.Constant(ity, lay["bias"]))
    return builder.bitcast(builder.shl(e, ir.Constant(ity, lay["mant"])), ir.FloatType() if
                           lay["bits"] == 32 else ir.DoubleType())


def _float_types(*tys):
    return all(t in _LAYOUT for t in tys)


@intrinsic
def _ldexp_magic(typingctx, p, t):
    """p * 2**k where t == M + k (k from the magic rounding trick); 2**k is applied as two
    factors 2**(k>>1) * 2**(k - k>>1) so that k may range over [-2*bias-2, 2*bias+2] and the
    product overflows to inf / underflows to a subnormal or zero exactly like a correct ldexp
    (up to one extra rounding in the subnormal range)."""
    if not (_float_types(p, t) and p == t):
        return None

    def codegen(context, builder, sig, args):
        pv, tv = args
        fty = sig.args[0]
        ity = _int_of(fty)
        k = _k_from_magic(builder, fty, tv)
        k1 = builder.ashr(k, ir.Constant(ity, 1))
        k2 = builder.sub(k, k1)
        return builder.fmul(builder.fmul(pv, _pow2(builder, fty, k1)), _pow2(builder, fty, k2))

    return p(p, t), codegen


@intrinsic
def _pow2_magic(typingctx, t):
    """2.0**k as a float where t == M + k; k == bias+1 gives +inf, k <= -bias gives garbage
    (callers only use it for k in [-bias+1, bias+1])."""
    if not _float_types(t):
        return None

    def codegen(context, builder, sig, args):
        fty = sig.args[0]
        return _pow2(builder, fty, _k_from_magic(builder, fty, args[0]))

    return t(t), codegen


@intrinsic
def _log_split(typingctx, x):
    """(m, e) with x == m * 2**e, m in [sqrt(1/2), sqrt(2)), e an integer-valued float, for
    positive normal x (callers scale subnormals first and patch 0, inf, nan and negatives)."""
    if not _float_types(x):
        return None

    def codegen(context, builder, sig, args):
        fty = sig.args[0]
        lay = _layout(fty)
        ity = _int_of(fty)
        fl = context.get_value_type(fty)
        dt = np.int32 if lay["bits"] == 32 else np.int64
        ft = np.float32 if lay["bits"] == 32 else np.float64
        sqrt_half = int(np.array(ft(np.sqrt(0.5))).view(dt))
        # i - bits(sqrt(1/2)): exponent field of this is e, the mantissa field re-based on
        # sqrt(1/2) gives m in [sqrt(1/2), sqrt(2)).
        i = builder.sub(builder.bitcast(args[0], ity), ir.Constant(ity, sqrt_half))
        e = builder.ashr(i, ir.Constant(ity, lay["mant"]))
        mmask = (1 << lay["mant"]) - 1
        mi = builder.add(builder.and_(i, ir.Constant(ity, mmask)), ir.Constant(ity, sqrt_half))
        m = builder.bitcast(mi, fl)
        ef = builder.sitofp(e, fl)
        return cgutils.make_anonymous_struct(builder, [m, ef])

    return types.UniTuple(x, 2)(x), codegen


@intrinsic
def _sincos_fix(typingctx, s, c, t, off):
    """Quadrant fix-up for sin/cos: n = k + off (t == M + k); returns (c if n odd else s) with
    its sign flipped if n & 2."""
    if not (_float_types(s, c, t) and s == c == t and isinstance(off, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        sv, cv, tv, ov = args
        fty = sig.args[0]
        lay = _layout(fty)
        ity = _int_of(fty)
        o = context.cast(builder, ov, sig.args[3], types.int64)
        if lay["bits"] == 32:
            o = builder.trunc(o, ity)
        n = builder.add(_k_from_magic(builder, fty, tv), o)
        odd = builder.icmp_unsigned("!=", builder.and_(n, ir.Constant(ity, 1)), ir.Constant(ity, 0))
        r = builder.select(odd, cv, sv)
        sign = builder.shl(builder.and_(n, ir.Constant(ity, 2)), ir.Constant(ity, lay["bits"] - 2))
        return builder.bitcast(builder.xor(builder.bitcast(r, ity), sign), r.type)

    return s(s, c, t, off), codegen


@intrinsic
def _copysign(typingctx, a, b):
    """|a| with the sign bit of b."""
    if not (_float_types(a, b) and a == b):
        return None

    def codegen(context, builder, sig, args):
        av, bv = args
        ity = _int_of(sig.args[0])
        bits = _layout(sig.args[0])["bits"]
        sign = ir.Constant(ity, 1 << (bits - 1))
        mag = builder.and_(builder.bitcast(av, ity), ir.Constant(ity, (1 << (bits - 1)) - 1))
        sb = builder.and_(builder.bitcast(bv, ity), sign)
        return builder.bitcast(builder.or_(mag, sb), av.type)

    return a(a, b), codegen


def _llvm_unary(name):
    @intrinsic
    def _f(typingctx, x):
        if not _float_types(x):
            return None

        def codegen(context, builder, sig, args):
            fn = builder.module.declare_intrinsic(name, [args[0].type])
            return builder.call(fn, [args[0]])

        return x(x), codegen

    return _f


_fabs = _llvm_unary("llvm.fabs")
_sqrt = _llvm_unary("llvm.sqrt")


# ---------------------------------------------------------------------------------------------
# Polynomial coefficients (highest degree first), near-minimax fits made with mpmath.chebyfit at
# 50 digits on the reduced intervals, then rounded to the target precision.
# P(r) = (e**r - 1 - r) / r**2 on |r| <= ln2/2
_PEXP = {
    32: [0.0013926176119935578884, 0.0083631730745137109028, 0.041666554662050533982,
         0.1666657702559798819, 0.5],
    64: [2.5100375832561233664e-8, 2.7620075879983366586e-7, 2.7557268480310025526e-6,
         0.000024801521322368693266, 0.00019841269863040545271, 0.0013888888917196719077,
         0.0083333333333300644495, 0.041666666666624161903, 0.16666666666666667452,
         0.50000000000000010211],
}
# Q(z) = (2 atanh(s) - 2 s) / s**3, z = s**2, s in [0, (sqrt2-1)/(sqrt2+1)]
_QLOG = {
    32: [0.29579949391972784709, 0.39988780566021981899, 0.66666685039575855022],
    64: [0.1461644968504340586, 0.15331721600556041269, 0.1818288912526172208,
         0.22222211134795079855, 0.28571428625975484921, 0.3999999999989950449,
         0.66666666666666696862],
}
# S(z) = (sin r - r) / r**3 and C(z) = (cos r - 1 + z/2) / z**2, z = r**2 <= (pi/4)**2
_SSIN = {
    32: [-0.00019587890880412385786, 0.0083327482706297494849, -0.1666666466231437862],
    64: [1.5918129294866608667e-10, -2.5051131845003624417e-8, 2.7557316102552440119e-6,
         -0.00019841269836758574323, 0.0083333333333309484855, -0.16666666666666664624],
}
_CCOS = {
    32: [0.000024547942085071572513, -0.0013888303035894866037, 0.041666664659502206772],
    64: [-1.1382632425521718005e-11, 2.0876146268403197893e-9, -2.7557317271729792882e-7,
         0.000024801587298765687927, -0.0013888888888887397237, 0.041666666666666665389],
}


def _ftype(x):
    """The float Numba type a call computes in, or None if unsupported."""
    if x in _LAYOUT:
        return x
    if isinstance(x, (types.Integer, types.Boolean)):
        return types.float64
    return None


class _C:
    """Typed constants for one precision (attributes are np.float32 / np.float64 scalars, which
    Numba freezes into the closure as constants of that type)."""

    def __init__(self, fty):
        self.fty = fty
        self.bits = 32 if fty == types.float32 else 64
        F = self.F = np.float32 if self.bits == 32 else np.float64
        self.zero, self.one, self.two, self.half = F(0), F(1), F(2), F(0.5)
        self.inf, self.nan = F(np.inf), F(np.nan)
        self.magic = _LAYOUT[fty]["magic"]
        self.log2e = F(1.4426950408889634)
        if self.bits == 32:
            # ln2 = LN2_HI + LN2_LO with LN2_HI having 8 significant bits: k * LN2_HI is exact.
            self.ln2_hi, self.ln2_lo = F(0.693359375), F(-2.12194440e-4)
            self.exp_lo, self.exp_hi = F(-104.0), F(89.0)       # clamp: result 0 / inf
            self.em1_lo, self.em1_hi = F(-18.0), F(88.72283935546875)   # expm1 -> -1 / inf
            self.tiny = F(2.0 ** -126)
            self.sub_scale, self.sub_e = F(2.0 ** 24), F(24.0)
            # pi/2 = P1 + P2 + P3, P1, P2 with trailing zero bits so q*P1, q*P2 are exact.
            self.twoopi = F(0.6366197723675814)
            self.pio2_1, self.pio2_2 = F(1.5703125), F(4.83751296997070312500e-04)
            self.pio2_3 = F(7.54978995489188216e-08)
            self.trig_max = F(2.0 ** 22)
        else:
            self.ln2_hi, self.ln2_lo = F(6.93147180369123816490e-01), F(1.90821492927058770002e-10)
            self.exp_lo, self.exp_hi = F(-746.0), F(710.0)
            self.em1_lo, self.em1_hi = F(-40.0), F(709.782712893384)
            self.tiny = F(2.0 ** -1022)
            self.sub_scale, self.sub_e = F(2.0 ** 54), F(54.0)
            # fdlibm's pi/2 split (33 + 33 + 53 bits).
            self.twoopi = F(0.6366197723675814)
            self.pio2_1 = F(1.57079632673412561417e+00)
            self.pio2_2 = F(6.07710050630396597660e-11)
            self.pio2_3 = F(2.02226624879595063154e-21)
            self.trig_max = F(2.0 ** 51)

    def poly(self, table):
        return tuple(self.F(c) for c in table[self.bits])


_CONSTS = {}


def _consts(x):
    fty = _ftype(x)
    if fty is None:
        return None
    if fty not in _CONSTS:
        _CONSTS[fty] = _C(fty)
    return _CONSTS[fty]


def _horner(coefs):
    """A jitted Horner evaluator for a fixed coefficient tuple (highest degree first)."""
    n = len(coefs)
    if n == 3:
        c0, c1, c2 = coefs

        def h(z):
            return (c0 * z + c1) * z + c2
    elif n == 5:
        c0, c1, c2, c3, c4 = coefs

        def h(z):
            return (((c0 * z + c1) * z + c2) * z + c3) * z + c4
    elif n == 6:
        c0, c1, c2, c3, c4, c5 = coefs

        def h(z):
            return ((((c0 * z + c1) * z + c2) * z + c3) * z + c4) * z + c5
    elif n == 7:
        c0, c1, c2, c3, c4, c5, c6 = coefs

        def h(z):
            return (((((c0 * z + c1) * z + c2) * z + c3) * z + c4) * z + c5) * z + c6
    elif n == 10:
        c0, c1, c2, c3, c4, c5, c6, c7, c8, c9 = coefs

        def h(z):
            return ((((((((c0 * z + c1) * z + c2) * z + c3) * z + c4) * z + c5) * z + c6) * z
                     + c7) * z + c8) * z + c9
    else:
        raise NotImplementedError(n)
    from numba import njit
    return njit(inline="always", **_JIT)(h)


# One compiled Horner evaluator per (table, precision).
_HORNERS = {}


def _poly(c, table, name):
    key = (name, c.bits)
    if key not in _HORNERS:
        _HORNERS[key] = _horner(c.poly(table))
    return _HORNERS[key]


# ---------------------------------------------------------------------------------------------
# Building blocks, generated per precision. Each returns an njit-able closure over typed
# constants; the public overloads call them.

def _make_exp(c):
    P = _poly(c, _PEXP, "pexp")
    F = c.F
    lo, hi, log2e, magic = c.exp_lo, c.exp_hi, c.log2e, c.magic
    ln2_hi, ln2_lo, one = c.ln2_hi, c.ln2_lo, c.one

    zero = F(0.0)

    def exp_impl(x):
        x = F(x)
        xc = hi if x > hi else x          # nan-preserving clamps
        # below lo the result is 0: selected, not computed as an underflowing product, which
        # costs a microcode assist per vector (a causal mask's -inf: a softmax 5x slower)
        tiny = xc < lo
        xc = zero if tiny else xc
        t = xc * log2e + magic            # t == M + round(xc / ln2)
        kf = t - magic
        r = (xc - kf * ln2_hi) - kf * ln2_lo
        p = one + (r + r * r * P(r))
        y = _ldexp_magic(p, t)
        return zero if tiny else y

    return exp_impl


def _make_expm1(c, nonpos=False):
    """expm1; with nonpos=True a cheaper variant valid only for x <= 0 (used by tanh)."""
    P = _poly(c, _PEXP, "pexp")
    F = c.F
    lo, hi, log2e, magic = c.em1_lo, c.em1_hi, c.log2e, c.magic
    ln2_hi, ln2_lo, one, inf = c.ln2_hi, c.ln2_lo, c.one, c.inf

    def expm1_impl(x):
        x = F(x)
        xc = hi if x > hi else x
        xc = lo if xc < lo else xc
        t = xc * log2e + magic
        kf = t - magic
        r = (xc - kf * ln2_hi) - kf * ln2_lo
        em = r + r * r * P(r)             # expm1(r); exactly x's expm1 poly when k == 0
        s = _pow2_magic(t)                # 2**k (k <= bias), inf for k == bias+1
        small = s * em + (s - one)        # 2**k * (em + 1) - 1 without cancellation
        if nonpos:
            return small
        big = _ldexp_magic(em + one, t)
        res = small if s < inf else big
        res = inf if x > hi else res
        return x if x == F(0) else res    # keeps -0.0

    return expm1_impl


def _make_log(c):
    Q = _poly(c, _QLOG, "qlog")
    F = c.F
    tiny, sub_scale, sub_e = c.tiny, c.sub_scale, c.sub_e
    ln2_hi, ln2_lo, one, two, zero, inf, nan = (c.ln2_hi, c.ln2_lo, c.one, c.two, c.zero, c.inf,
                                                c.nan)

    def log_impl(x):
        x = F(x)
        sub = x < tiny
        xs = x * sub_scale if sub else x
        m, e = _log_split(xs)
        e = e - sub_e if sub else e
        f = m - one
        s = f / (two + f)
        z = s * s
        lm = f - s * (f - z * Q(z))        # == 2s + s^3 Q: log(m), written f - s*(f - s^2 Q)
        res = e * ln2_hi + (lm + e * ln2_lo)
        special = -inf if x == zero else (x if x == inf else nan)
        return res if (x > zero) & (x < inf) else special

    return log_impl


def _make_log1p(c, log_impl):
    F = c.F
    one, zero, inf = c.one, c.zero, c.inf

    def log1p_impl(x):
        x = F(x)
        u = one + x
        corr = (x - (u - one)) / u         # first-order correction for the rounding of 1 + x
        corr = corr if (u > zero) & (u < inf) else zero
        res = log_impl(u) + corr
        return x if x == zero else res     # keeps -0.0

    return log1p_impl


def _make_sincos(c, off):
    S = _poly(c, _SSIN, "ssin")
    C = _poly(c, _CCOS, "ccos")
    F = c.F
    twoopi, magic, p1, p2, p3 = c.twoopi, c.magic, c.pio2_1, c.pio2_2, c.pio2_3
    one, half, tmax, nan = c.one, c.half, c.trig_max, c.nan

    def sc_impl(x):
        x = F(x)
        xr = x if abs(x) < tmax else nan   # also maps +-inf to nan
        t = xr * twoopi + magic
        q = t - magic
        r = ((xr - q * p1) - q * p2) - q * p3
        z = r * r
        sn = r + r * z * S(z)
        cs = one - z * half + z * z * C(z)
        res = _sincos_fix(sn, cs, t, off)
        return x if (x == F(0)) & (off == 0) else res   # sin(-0.0) = -0.0


    return sc_impl


# ---------------------------------------------------------------------------------------------
# Public stubs (Python-level behaviour = NumPy) and their overloads.

def exp(x):
    """e**x."""
    return np.exp(x)


def log(x):
    """Natural logarithm."""
    return np.log(x)


def log1p(x):
    """log(1 + x), accurate for small x."""
    return np.log1p(x)


def expm1(x):
    """e**x - 1, accurate for small x."""
    return np.expm1(x)


def tanh(x):
    """Hyperbolic tangent."""
    return np.tanh(x)


def sigmoid(x):
    """1 / (1 + e**-x), without overflow."""
    x = np.asarray(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))[()]


def softplus(x):
    """log(1 + e**x) = max(x, 0) + log1p(e**-|x|)."""
    return np.logaddexp(np.zeros_like(x), x)


def sin(x):
    """Sine (1 ULP for |x| <= 8192 float32, 2**20 float64; nan from 2**22 / 2**51; see the
    module docstring)."""
    return np.sin(x)


def cos(x):
    """Cosine (1 ULP for |x| <= 8192 float32, 2**20 float64; nan from 2**22 / 2**51; see the
    module docstring)."""
    return np.cos(x)


def sqrt(x):
    """Square root (llvm.sqrt: vectorised, correctly rounded)."""
    return np.sqrt(x)


def pow(x, y):
    """x ** y in x's precision; libm-backed, not vectorised (see module docstring)."""
    return np.power(x, y)


def _make_tanh(c):
    em1 = _impl("expm1_nonpos", c)
    F, two, neg2 = c.F, c.two, c.F(-2)

    def tanh_impl(x):
        x = F(x)
        e = em1(neg2 * abs(x))         # in [-1, 0]: no overflow, exact sign handling
        return _copysign(-e / (two + e), x)
    return tanh_impl


def _make_sigmoid(c):
    ex = _impl("exp", c)
    F, one, zero = c.F, c.one, c.zero

    def sigmoid_impl(x):
        x = F(x)
        e = ex(-abs(x))
        q = one / (one + e)
        return q if x >= zero else e * q
    return sigmoid_impl


def _make_softplus(c):
    ex, l1p = _impl("exp", c), _impl("log1p", c)
    F, zero = c.F, c.zero

    def softplus_impl(x):
        x = F(x)
        m = x if x > zero else zero
        return m + l1p(ex(-abs(x)))    # nan: log1p(nan) = nan propagates
    return softplus_impl


def _make_sqrt(c):
    F = c.F

    def sqrt_impl(x):
        return _sqrt(F(x))
    return sqrt_impl


_MAKERS = {   # building block -> (precision constants -> the Python function Numba jits)
    "exp": _make_exp, "expm1": _make_expm1, "log": _make_log,
    "log1p": lambda c: _make_log1p(c, _impl("log", c)),
    "sin": lambda c: _make_sincos(c, 0), "cos": lambda c: _make_sincos(c, 1),
    "expm1_nonpos": lambda c: _make_expm1(c, nonpos=True),
    "tanh": _make_tanh, "sigmoid": _make_sigmoid, "softplus": _make_softplus, "sqrt": _make_sqrt,
}
_IMPLS = {}


def _impl(name, c):
    """Build (once per precision) the jitted building block `name`."""
    key = (name, c.bits)
    if key not in _IMPLS:
        from numba import njit
        _IMPLS[key] = njit(inline="always", **_JIT)(_MAKERS[name](c))
    return _IMPLS[key]


def _register_unary(stub, name):
    @overload(stub, jit_options=_OL_JIT)
    def _ol(x):
        c = _consts(x)
        if c is None:
            return None
        f = _impl(name, c)

        def impl(x):
            return f(x)

        return impl


for _stub in (exp, log, log1p, expm1, tanh, sigmoid, softplus, sin, cos, sqrt):
    _register_unary(_stub, _stub.__name__)


@overload(pow, jit_options=_OL_JIT)
def _ol_pow(x, y):
    c = _consts(x)
    if c is None or not (isinstance(y, (types.Integer, types.Boolean)) or y in _LAYOUT):
        return None
    F = c.F

    def impl(x, y):
        return F(x) ** F(y)

    return impl
