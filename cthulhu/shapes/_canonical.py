"""The machinery behind symbolic sizes: atoms, canonical floor division, conditions, printing.

Kept apart from :mod:`cthulhu.shapes.symbolic` (which defines ``Sym`` and the
public functions) so that each module stays readable. Nothing here names the
``Sym`` class: new expressions are made with ``type(expr)._new``.
"""

from math import gcd

from ._arith import is_int
from .errors import ShapeError, ShapeTypeError


class _Floor:
    """The atom ``floor(inner / d)``; ``inner`` is a canonical condition-free ``Sym``."""

    __slots__ = ("inner", "d", "key", "text", "_hash")

    def __init__(self, inner, d):
        self.inner = inner
        self.d = d
        c = inner._const
        if c == d - 1:
            body = inner - c
            self.text = f"ceil({_frac(body, d)})"
        else:
            self.text = f"floor({_frac(inner, d)})"
        self.key = (1, self.text)
        # atoms are hashed whenever an expression holding them is rebuilt: hash once
        self._hash = hash((inner, d))

    def __eq__(self, other):
        return isinstance(other, _Floor) and self.d == other.d and self.inner == other.inner

    def __hash__(self):
        return self._hash

    def value(self, bindings):
        return _value(self.inner, bindings) // self.d

    def subs(self, bindings):
        return _subs(self.inner, bindings) // self.d

    def names(self):
        return _names(self.inner)


class _Max:
    """The atom ``max(a, b)`` of two sizes (ints or condition-free ``Sym``)."""

    __slots__ = ("a", "b", "key", "text", "_hash")

    def __init__(self, a, b):
        self.a, self.b = a, b
        self.text = f"max({a}, {b})"
        self.key = (2, self.text)
        self._hash = hash((a, b, "max"))

    def __eq__(self, other):
        return isinstance(other, _Max) and (self.a, self.b) == (other.a, other.b)

    def __hash__(self):
        return self._hash

    def value(self, bindings):
        return max(_value(self.a, bindings), _value(self.b, bindings))

    def subs(self, bindings):
        a, b = _subs(self.a, bindings), _subs(self.b, bindings)
        if is_int(a) and is_int(b):
            return max(a, b)
        return b.max(a) if is_int(a) else a.max(b)

    def names(self):
        return _names(self.a) | _names(self.b)


class _Prod:
    """The atom ``f1 * f2 * ...``: a product of primitive condition-free sums, kept unexpanded."""

    __slots__ = ("factors", "key", "text", "_hash")

    def __init__(self, factors):
        self.factors = factors
        self.text = "*".join(f"({f})" for f in factors)
        self.key = (3, self.text)
        self._hash = hash(factors)

    def __eq__(self, other):
        return isinstance(other, _Prod) and self.factors == other.factors

    def __hash__(self):
        return self._hash

    def value(self, bindings):
        out = 1
        for f in self.factors:
            out *= _value(f, bindings)
        return out

    def subs(self, bindings):
        out = 1
        for f in self.factors:
            out = out * _subs(f, bindings)
        return out

    def names(self):
        return frozenset().union(*(_names(f) for f in self.factors))


def _is_monomial(x):
    """One term and no constant: ``3*h*w``."""
    return len(x._terms) == 1 and x._const == 0


def _content(x):
    """``(g, f)`` with ``x == g * f``, ``f`` primitive with a positive leading coefficient."""
    g = x._const
    for _, c in x._terms:
        g = gcd(g, c)
    if x._terms[0][1] < 0:
        g = -g
    if g == 1:
        return 1, x
    return g, type(x)._new({m: c // g for m, c in x._terms}, x._const // g)


def _product(a, b, conds):
    """``a * b`` for two sums (neither a monomial) as ``coefficient * _Prod(factors)``."""
    factors = []
    coef = 1
    for x in (a, b):
        if len(x._terms) == 1 and x._const == 0 and isinstance(x._terms[0][0][0], _Prod):
            (mono, c), = x._terms
            factors.extend(mono[0].factors)
            coef *= c
            continue
        g, f = _content(x)
        coef *= g
        factors.append(f)
    factors.sort(key=str)
    return type(a)._new({(_Prod(tuple(factors)),): coef}, 0, conds)


def _frac(expr, d):
    text = str(expr)
    simple = len(expr._terms) == 1 and expr._const == 0 and expr._terms[0][1] == 1 \
        and len(expr._terms[0][0]) == 1
    return f"{text}/{d}" if simple else f"({text})/{d}"


def _akey(atom):
    return (0, atom) if isinstance(atom, str) else atom.key


def _mkey(mono):
    return tuple(_akey(a) for a in mono)


def _value(x, bindings):
    return x if is_int(x) else x._eval(bindings)


def _subs(x, bindings):
    return x if is_int(x) else x._subs(bindings)


def _names(x):
    return frozenset() if is_int(x) else x.free_symbols


class Condition:
    """A requirement ``expr >= bound`` recorded on a symbolic size, with the reason ``what``.

    ``expr`` has no constant term (the constant is moved into ``bound``) and
    its coefficients are divided by their common divisor, so that ``h - 2 >= 1``
    reads ``h >= 3``.
    """

    __slots__ = ("expr", "bound", "what")

    def __init__(self, expr, bound, what):
        self.expr, self.bound, self.what = expr, bound, what

    def __str__(self):
        if all(c < 0 for _, c in self.expr._terms):
            return f"{-self.expr} <= {-self.bound}"
        return f"{self.expr} >= {self.bound}"

    def __repr__(self):
        return f"Condition({str(self)!r}, what={self.what!r})"

    def __eq__(self, other):
        return isinstance(other, Condition) and (self.expr, self.bound) == (other.expr, other.bound)

    def __hash__(self):
        return hash((self.expr, self.bound))

    def holds(self, **bindings):
        """Whether the condition holds for these bindings (all its names bound)."""
        return self.expr._eval(bindings) >= self.bound


def _merge_conds(a, b):
    """Union of two condition tuples, keeping the strongest bound per expression."""
    if not a:
        return b
    if not b or a is b:
        return a
    out = {c.expr: c for c in a}
    for c in b:
        old = out.get(c.expr)
        if old is None or c.bound > old.bound:
            out[c.expr] = c
    return tuple(out.values())


def _nonneg(expr):
    """Conservatively: is this condition-free expression >= 0 for all sizes >= 0?"""
    if is_int(expr):
        return expr >= 0
    if expr._const < 0:
        return False
    for m, c in expr._terms:
        if c < 0:
            return False
        for atom in m:
            if isinstance(atom, _Floor) and not _nonneg(atom.inner):
                return False
            if isinstance(atom, _Max) and not (_nonneg(atom.a) or _nonneg(atom.b)):
                return False
            if isinstance(atom, _Prod) and not all(_nonneg(f) for f in atom.factors):
                return False
    return True


def _floor(expr, d):
    """Canonical ``floor(expr / d)`` (see the module docstring of ``symbolic``)."""
    if d == 1:
        return expr
    if is_int(expr):
        return expr // d
    new = type(expr)._new
    terms = dict(expr._terms)
    # floor((floor(E/a) + T)/d) == floor((E + a*T)/(a*d)) for integer T: merge nested floors.
    for m, c in expr._terms:
        if c == 1 and len(m) == 1 and isinstance(m[0], _Floor):
            inner = m[0]
            del terms[m]
            rest = new(terms, expr._const)
            return _floor(inner.inner + inner.d * rest, inner.d * d)
    g = d
    for _, c in expr._terms:
        g = gcd(g, c)
    if g > 1:
        # floor((g*X + c)/(g*d)) == floor((X + floor(c/g))/d)
        terms = {m: c // g for m, c in expr._terms}
        return _floor(new(terms, expr._const // g), d // g)
    if expr._terms[0][1] < 0:
        # floor(x/d) == -ceil(-x/d) == -floor((-x + d - 1)/d): keep the leading term positive.
        return -_floor(-expr + (d - 1), d)
    quotient = {}
    rest = {}
    for m, c in expr._terms:
        q = c // d if c > 0 else -((-c) // d)      # truncate toward zero
        if q:
            quotient[m] = q
        if c - q * d:
            rest[m] = c - q * d
    q0, r0 = divmod(expr._const, d)
    if quotient:
        return new(quotient, q0) + _floor(new(rest, r0), d) if rest else \
            new(quotient, q0)
    atom = _Floor(new(rest, r0), d)
    return new({(atom,): 1}, q0)


def _exact_div(num, den):
    """``num // den`` for two symbols: only when ``den`` is one monomial dividing every term."""
    if len(den._terms) == 1 and den._const == 0:
        (dm, dc), = den._terms
        out = {}
        for m, c in num._terms:
            rest = list(m)
            try:
                for atom in dm:
                    rest.remove(atom)
            except ValueError:
                break
            if c % dc:
                break
            out[tuple(rest)] = c // dc
        else:
            if num._const == 0:
                const = out.pop((), 0)
                return type(num)._new(out, const, _merge_conds(num._conds, den._conds))
    raise ShapeTypeError(f"cannot divide the symbolic size {num} by {den} exactly; "
                         "bind the symbols first")


def _format(expr):
    parts = []
    for m, c in expr._terms:
        body = "*".join(a if isinstance(a, str) else a.text for a in m)
        mag = abs(c)
        text = body if mag == 1 else f"{mag}*{body}"
        parts.append((c < 0, text))
    if expr._const:
        parts.append((expr._const < 0, str(abs(expr._const))))
    neg, first = parts[0]
    out = ("-" if neg else "") + first
    for neg, text in parts[1:]:
        out += (" - " if neg else " + ") + text
    return out


def _check_bindings(bindings):
    for name, value in bindings.items():
        if not is_int(value) or value < 0:
            raise ShapeError(f"the symbolic size {name!r} must be bound to an int >= 0, "
                             f"got {value!r}")


def _check_condition(cond, bindings):
    value = cond.expr._eval(bindings)
    if value < cond.bound:
        names = sorted(cond.expr.free_symbols)
        shown = ", ".join(f"{n}={bindings[n]}" for n in names if n in bindings)
        raise ShapeError(f"size condition {cond} does not hold for {shown} "
                         f"({cond.what})")
