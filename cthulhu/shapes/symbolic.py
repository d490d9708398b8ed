"""Symbolic sizes: named integer unknowns such as ``h`` and expressions built from them.

``shapes.symbolic("b, h, w, 3")`` (the parser's) gives ``(b, h, w, 3)`` where ``b, h, w`` are
:class:`Sym` objects. The length formulas of ``cthulhu.shapes`` only use
``+ - *``, ``//`` and the helpers of ``_arith``, so they run unchanged on
symbols: ``conv_length(h, 3, 2)`` is ``ceil(h/2) - 1`` and records the
condition ``h >= 3`` that the formula needs. Binding the names
(:meth:`Sym.evaluate`, :func:`evaluate`) gives the integer and checks every
recorded condition.

Representation
--------------
A ``Sym`` is a polynomial with integer coefficients over *atoms*: names
(``"h"``), floor divisions ``floor(E/d)`` of an expression by a positive int,
and ``max(a, b)``. Affine expressions are collected and their constants
folded, so ``(h + 4) - 4`` is ``h`` and ``(2*h) // 2`` is ``h``. Floor
divisions are kept in one canonical form (coefficients and constant reduced
modulo ``d``, nested divisions merged: ``floor(floor(h/2)/2)`` is
``floor(h/4)``) and print as ``ceil(E/d)`` when that is what they are.
Equality compares these canonical forms: two equal ``Sym`` always have the
same value, and the canonical form catches the identities the formulas of
this package produce, but it is not a full decision procedure (for example
``floor(h/2) + ceil(h/2)`` does not simplify to ``h``).

An expression that folds to a constant becomes a plain ``int``; an ``int``
carries no conditions, so a condition recorded on a size that then cancels out
entirely (``(h - 3) - (h - 3)``) is dropped with it.
"""

from math import gcd

from ._arith import ceildiv, is_int
from ._canonical import (
    Condition,
    _akey,
    _check_bindings,
    _check_condition,
    _exact_div,
    _Floor,
    _floor,
    _format,
    _is_monomial,
    _Max,
    _merge_conds,
    _mkey,
    _nonneg,
    _product,
)
from .errors import ShapeError, ShapeTypeError

__all__ = ["Sym", "Condition", "evaluate", "subs", "ceildiv", "free_symbols",
           "format_dim", "format_shape"]


class Sym:
    """A symbolic integer size: a name such as ``h`` or an expression of names.

    Parameters
    ----------
    name : str
        A Python identifier; ``Sym("h")`` is the size called ``h``.

    Notes
    -----
    Supported: ``+``, ``-`` and ``*`` with ints and other symbols, ``//`` and
    ``%`` by a non-zero int, :func:`ceildiv`, :meth:`max`. Comparisons with
    ``<`` and friends raise ``TypeError``: a symbol has no value until bound.

    Examples
    --------
    >>> h = Sym("h")
    >>> (h - 3) // 2 + 1
    ceil(h/2) - 1
    >>> ((h + 4) - 4, (2 * h) // 2)
    (h, h)
    >>> ceildiv(ceildiv(h, 2), 2)
    ceil(h/4)
    >>> ((h - 3) // 2 + 1).evaluate(h=7)
    3
    """

    __slots__ = ("_terms", "_const", "_conds", "_hash", "_str")

    def __init__(self, name):
        if not isinstance(name, str) or not name.isidentifier() or name == "None":
            raise ShapeError(f"a symbolic size needs a name that is a Python identifier, "
                             f"got {name!r}")
        self._terms = (((name,), 1),)
        self._const = 0
        self._conds = ()
        self._hash = None
        self._str = None

    @classmethod
    def _new(cls, terms, const, conds=()):
        """A ``Sym`` (or an ``int`` when no term is left) from a dict ``monomial -> coef``."""
        items = [(m, c) for m, c in terms.items() if c]
        if not items:
            return const
        if len(items) > 1:
            items.sort(key=lambda mc: _mkey(mc[0]))
        obj = object.__new__(cls)
        obj._terms = tuple(items)
        obj._const = const
        obj._conds = conds
        obj._hash = None
        obj._str = None
        return obj

    # ----------------------------------------------------------- arithmetic
    def _plain(self):
        """The same expression without conditions (for atoms and conditions)."""
        if not self._conds:
            return self
        return Sym._new(dict(self._terms), self._const)

    def __add__(self, other):
        if is_int(other):
            if other == 0:
                return self
            return Sym._new(dict(self._terms), self._const + other, self._conds)
        if isinstance(other, Sym):
            terms = dict(self._terms)
            for m, c in other._terms:
                terms[m] = terms.get(m, 0) + c
            return Sym._new(terms, self._const + other._const,
                            _merge_conds(self._conds, other._conds))
        return NotImplemented

    __radd__ = __add__

    def __neg__(self):
        return Sym._new({m: -c for m, c in self._terms}, -self._const, self._conds)

    def __pos__(self):
        return self

    def __sub__(self, other):
        if is_int(other):
            return self + (-other)
        if isinstance(other, Sym):
            return self + (-other)
        return NotImplemented

    def __rsub__(self, other):
        if is_int(other):
            return (-self) + other
        return NotImplemented

    def __mul__(self, other):
        if is_int(other):
            if other == 1:
                return self
            if other == 0:
                return 0
            return Sym._new({m: c * other for m, c in self._terms}, self._const * other,
                            self._conds)
        if isinstance(other, Sym):
            conds = _merge_conds(self._conds, other._conds)
            if not (_is_monomial(self) or _is_monomial(other)):
                # (h - 2)*(w - 2) stays a product: expanding it would print unreadably
                return _product(self._plain(), other._plain(), conds)
            terms = {}
            a_items = [*self._terms, ((), self._const)]
            b_items = [*other._terms, ((), other._const)]
            for ma, ca in a_items:
                for mb, cb in b_items:
                    m = tuple(sorted(ma + mb, key=_akey)) if ma and mb else ma or mb
                    terms[m] = terms.get(m, 0) + ca * cb
            const = terms.pop((), 0)
            return Sym._new(terms, const, conds)
        return NotImplemented

    __rmul__ = __mul__

    def __floordiv__(self, other):
        if is_int(other):
            if other == 0:
                raise ZeroDivisionError(f"symbolic size {self} divided by zero")
            if other < 0:
                return _floordiv(-self, -other, self._conds)
            return _floordiv(self, other, self._conds)
        if isinstance(other, Sym):
            return _exact_div(self, other)
        return NotImplemented

    def __rfloordiv__(self, other):
        if is_int(other):
            raise ShapeTypeError(f"cannot divide {other} by the symbolic size {self}; "
                                 "bind the symbols first")
        return NotImplemented

    def __mod__(self, other):
        if is_int(other):
            return self - other * (self // other)
        return NotImplemented

    def ceildiv(self, d):
        """``ceil(self / d)`` for a positive int ``d``."""
        return -((-self) // d)

    def max(self, other):
        """``max(self, other)``; simplified when the difference is a constant."""
        if other is None:
            return None
        if not (is_int(other) or isinstance(other, Sym)):
            raise ShapeTypeError(f"max of a symbolic size and {other!r}")
        diff = self - other
        if is_int(diff):
            return self if diff >= 0 else other
        conds = _merge_conds(self._conds, other._conds) if isinstance(other, Sym) else self._conds
        a, b = self._plain(), other._plain() if isinstance(other, Sym) else other
        if is_int(b) and b <= 0 and _nonneg(a):
            return self
        pair = sorted((a, b), key=lambda x: (0, str(x)) if is_int(x) else (1, str(x)))
        atom = _Max(*pair)
        return Sym._new({(atom,): 1}, 0, conds)

    def require_at_least(self, minimum, what):
        """This size, carrying the recorded condition ``self >= minimum`` (reason ``what``)."""
        body = Sym._new(dict(self._terms), 0)
        bound = minimum - self._const
        while True:
            g = 0
            for _, c in body._terms:
                g = gcd(g, c)
            if g > 1:
                body = Sym._new({m: c // g for m, c in body._terms}, 0)
                bound = -((-bound) // g)
            (mono, coef), *others = body._terms
            if others or coef != 1 or len(mono) != 1 or not isinstance(mono[0], _Floor):
                break
            # floor(E/d) >= m  <=>  E >= d*m  (E integer): state the condition on E itself.
            atom = mono[0]
            bound = bound * atom.d - atom.inner._const
            body = Sym._new(dict(atom.inner._terms), 0)
        if bound <= 0 and _nonneg(body):
            return self
        cond = Condition(body, bound, what)
        return Sym._new(dict(self._terms), self._const, _merge_conds(self._conds, (cond,)))

    # ------------------------------------------------------------ inspection
    @property
    def conditions(self):
        """The recorded requirements, as a tuple of :class:`Condition` (``str`` -> ``h >= 3``)."""
        return self._conds

    @property
    def free_symbols(self):
        """The names this size depends on (its conditions' names included)."""
        out = set()
        for m, _ in self._terms:
            for atom in m:
                out.update((atom,) if isinstance(atom, str) else atom.names())
        for c in self._conds:
            out.update(c.expr.free_symbols)
        return frozenset(out)

    def is_affine(self):
        """True when every term is ``coefficient * name`` (no floor, max or product)."""
        return all(len(m) == 1 and isinstance(m[0], str) for m, _ in self._terms)

    def evaluate(self, **bindings):
        """The integer value for these bindings, after checking every recorded condition.

        Raises
        ------
        ShapeError
            A name has no value, a value is not an int >= 0, or a recorded
            condition does not hold (the message names the condition).
        """
        _check_bindings(bindings)
        for cond in self._conds:
            _check_condition(cond, bindings)
        return self._eval(bindings)

    def subs(self, **bindings):
        """Bind some names; the result is an ``int`` when none is left, else a ``Sym``."""
        _check_bindings(bindings)
        return self._subs(bindings)

    def _eval(self, bindings):
        total = self._const
        for m, c in self._terms:
            v = c
            for atom in m:
                if isinstance(atom, str):
                    if atom not in bindings:
                        raise ShapeError(f"no value given for the symbolic size {atom!r} "
                                         f"(in {self})")
                    v *= bindings[atom]
                else:
                    v *= atom.value(bindings)
            total += v
        return total

    def _subs(self, bindings):
        total = self._const
        for m, c in self._terms:
            v = c
            for atom in m:
                if isinstance(atom, str):
                    v = v * bindings[atom] if atom in bindings else v * Sym(atom)
                else:
                    v = v * atom.subs(bindings)
            total = total + v
        for cond in self._conds:
            left = cond.expr._subs(bindings)
            if is_int(left):
                if left < cond.bound:
                    _check_condition(cond, bindings)
            elif isinstance(total, Sym):
                total = _attach(total, left, cond)
        return total

    # ------------------------------------------------------------- identity
    def __eq__(self, other):
        if isinstance(other, Sym):
            return self._terms == other._terms and self._const == other._const
        if is_int(other):
            return False
        return NotImplemented

    def __hash__(self):
        if self._hash is None:
            self._hash = hash((self._terms, self._const))
        return self._hash

    def _cmp(self, other):
        raise TypeError(f"cannot compare the symbolic size {self} with {other!r}: it has no "
                        "value until its names are bound (use .evaluate(...))")

    __lt__ = __le__ = __gt__ = __ge__ = _cmp

    def __str__(self):
        if self._str is None:
            self._str = _format(self)
        return self._str

    __repr__ = __str__


def _attach(total, left, cond):
    """``total`` carrying the condition ``left >= cond.bound`` (left a partially bound Sym)."""
    carrier = left.require_at_least(cond.bound, cond.what)
    return Sym._new(dict(total._terms), total._const,
                    _merge_conds(total._conds, carrier._conds))


def _floordiv(expr, d, conds):
    """Canonical ``floor(expr / d)`` for a ``Sym`` and an int ``d > 0``, carrying ``conds``."""
    out = _floor(expr._plain() if expr._conds else expr, d)
    if conds and isinstance(out, Sym):
        out = Sym._new(dict(out._terms), out._const, _merge_conds(out._conds, conds))
    return out


def _binding_check(shape_entry, bindings):
    if isinstance(shape_entry, Sym):
        return shape_entry.evaluate(**bindings)
    return shape_entry


def evaluate(shape, **bindings):
    """Bind every symbol of ``shape`` (a tuple of sizes, or one size) and return ints.

    ``None`` entries stay ``None``. A recorded condition that does not hold
    raises ``ShapeError`` naming it, e.g. ``size condition h >= 3 does not
    hold for h=2``.

    >>> h, w = Sym("h"), Sym("w")
    >>> evaluate((None, (h - 3) // 2 + 1, w * 2), h=9, w=4)
    (None, 4, 8)
    """
    _check_bindings(bindings)
    if isinstance(shape, (tuple, list)):
        return tuple(_binding_check(s, bindings) for s in shape)
    return _binding_check(shape, bindings)


def subs(shape, **bindings):
    """Bind some symbols of ``shape`` (tuple or one size); unbound names stay symbolic."""
    _check_bindings(bindings)
    if isinstance(shape, (tuple, list)):
        return tuple(s._subs(bindings) if isinstance(s, Sym) else s for s in shape)
    return shape._subs(bindings) if isinstance(shape, Sym) else shape


def free_symbols(shape):
    """The names used anywhere in a shape (tuple) or size."""
    items = shape if isinstance(shape, (tuple, list)) else (shape,)
    out = set()
    for s in items:
        if isinstance(s, Sym):
            out |= s.free_symbols
    return frozenset(out)


def format_dim(dim):
    """``'None'``, ``'224'`` or ``'ceil(h/2)'``."""
    return "None" if dim is None else str(dim)


def format_shape(shape):
    """A shape as text, with symbols printed readably: ``(None, ceil(h/2), 64)``."""
    items = [format_dim(d) for d in shape]
    if len(items) == 1:
        return f"({items[0]},)"
    return "(" + ", ".join(items) + ")"
