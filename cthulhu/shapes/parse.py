"""A small, safe text language for shapes and layer chains (used by ``cthulhu shape``).

* Shapes: ``"b, d, h, w, 1"``, ``"(None, 224, 224, 3)"``, ``"(None, 2*h + 1, 3)"``.
* Chains: layer calls separated by ``|``, e.g.
  ``"Cthalpa3D(8, 3) | UbboSathla3D(2) | Cropping3D(1)"``.
* Graphs (skip connections), written as a ``Lump`` is built:
  ``"a = Cthalpa2D(8, 3, padding='same')(x); d = Cthalpa2D(8, 2, strides=2)(a);
  out = Concatenate()([a, UbboSathla2D(2)(d)])"``.

Nothing is evaluated: text is parsed with :mod:`ast` and only literals (numbers,
strings, ``None``, ``True``/``False``, tuples, lists, dicts), names (in shapes)
and integer arithmetic (in shapes) are accepted.
"""

from .catalog import CATALOG, lookup
from .errors import ShapeError
from .layout import DEFAULT_DATA_FORMAT
from .spec import spec_from_config

__all__ = ["symbolic", "parse_shape", "parse_dim", "parse_layer", "parse_chain", "parse_call", "split_chain",
           "parse_graph", "is_graph", "ParsedGraph"]


def _ast():
    import ast  # imported on use: `import cthulhu.shapes` stays light

    return ast


def _is_plain_int(token):
    return token.isdigit()


def parse_shape(text):
    """A tuple of sizes from text: ints, ``None``/``?``, names or integer expressions.

    >>> parse_shape("(None, 224, 224, 3)")
    (None, 224, 224, 3)
    """
    if not isinstance(text, str):
        raise ShapeError(f"a shape must be given as text, got {text!r}")
    body = text.strip()
    if len(body) >= 2 and body[0] + body[-1] in ("()", "[]"):
        body = body[1:-1]
    if not body.strip():
        raise ShapeError(f"empty shape {text!r}")
    items = [t.strip() for t in body.split(",")]
    if items and items[-1] == "":
        items.pop()  # "(3,)" is a 1-tuple
    return tuple(parse_dim(item, text) for item in items)


def parse_dim(token, context=None):
    """One size: ``"224"``, ``"None"``, ``"?"``, ``"h"`` or ``"2*h + 1"``."""
    from .symbolic import Sym

    where = f" in {context!r}" if context else ""
    if token in ("None", "?"):
        return None
    if _is_plain_int(token):
        return int(token)
    if token.isidentifier():
        return Sym(token)
    ast = _ast()
    try:
        node = ast.parse(token, mode="eval").body
    except SyntaxError:
        raise ShapeError(f"cannot read the size {token!r}{where}") from None
    return _dim_expr(ast, node, token, where)


def _dim_expr(ast, node, token, where):
    from .symbolic import Sym

    if isinstance(node, ast.Constant) and isinstance(node.value, int) \
            and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.Name):
        return Sym(node.id)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_dim_expr(ast, node.operand, token, where)
    if isinstance(node, ast.BinOp):
        left = _dim_expr(ast, node.left, token, where)
        right = _dim_expr(ast, node.right, token, where)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if isinstance(node.op, ast.FloorDiv):
            return left // right
    raise ShapeError(f"cannot read the size {token!r}{where}: use ints, None, names, "
                     "+, -, * and //")


def parse_call(text):
    """``"Cthalpa2D(64, 3, strides=2)"`` -> ``("Cthalpa2D", [64, 3], {"strides": 2})``.

    A bare name (``"Flatten"``) is a call without arguments.
    """
    ast = _ast()
    source = text.strip()
    try:
        node = ast.parse(source, mode="eval").body
    except SyntaxError as exc:
        raise ShapeError(f"cannot read the layer {source!r}: {exc.msg}") from None
    if isinstance(node, ast.Name):
        return node.id, [], {}
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise ShapeError(f"expected a layer call such as Cthalpa2D(64, 3), got {source!r}")
    name = node.func.id
    args = [_literal(ast, a, name, source) for a in node.args]
    kwargs = {}
    for kw in node.keywords:
        if kw.arg is None:
            raise ShapeError(f"{name}: '**' arguments are not allowed in {source!r}")
        kwargs[kw.arg] = _literal(ast, kw.value, name, source)
    return name, args, kwargs


def _literal(ast, node, name, source):
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError):
        shown = ast.get_source_segment(source, node) or "?"
        raise ShapeError(f"{name}: arguments must be literals (numbers, strings, None, "
                         f"tuples), got {shown}") from None


def parse_layer(text, *, default_data_format=DEFAULT_DATA_FORMAT):
    """The spec of one layer call, binding arguments as the layer's constructor would.

    The signature is the layer's row of :mod:`cthulhu.shapes.catalog`;
    ``default_data_format`` is what ``data_format=None`` stands for.

    >>> parse_layer("Cthalpa2D(64, 3, strides=2, padding='same')")["strides"]
    (2, 2)
    """
    name, args, kwargs = parse_call(text)
    row = lookup(name)
    if row is None:
        known = ", ".join(sorted(CATALOG))
        raise ShapeError(f"unknown layer {name!r}; known layers: {known}")
    canonical = row.name
    params = list(row.params)
    if len(args) > len(params):
        raise ShapeError(f"{name} takes at most {len(params)} positional arguments, "
                         f"got {len(args)}")
    keyword_only = {p for p, _ in row.keyword_only}
    config = dict(zip(params, args, strict=False))
    for key, value in kwargs.items():
        if key in config:
            raise ShapeError(f"{name}: got multiple values for argument {key!r}")
        if key not in params and key not in keyword_only and key != "name":
            raise ShapeError(f"{name}: unexpected keyword argument {key!r}")
        config[key] = value
    return spec_from_config(canonical, config, default_data_format=default_data_format)


def parse_chain(text, *, default_data_format=DEFAULT_DATA_FORMAT):
    """The specs of ``"Layer(...) | Layer(...) | ..."`` (``|`` inside strings is not split)."""
    return [parse_layer(p, default_data_format=default_data_format) for p in split_chain(text)]


def split_chain(text):
    """``"A(1) | B('|')"`` -> ``["A(1)", "B('|')"]``: split on ``|`` outside brackets and strings."""
    parts, depth, quote, current = [], 0, None, []
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    parts = [p.strip() for p in parts]
    if not all(parts):
        raise ShapeError(f"empty layer in the chain {text!r}")
    return parts


def is_graph(text):
    """Whether ``text`` is a graph description (it assigns a name: ``a = Layer(...)(x)``)."""
    ast = _ast()
    try:
        body = ast.parse(text.strip()).body
    except SyntaxError:
        return False
    return any(isinstance(statement, ast.Assign) for statement in body)


class ParsedGraph:
    """What :func:`parse_graph` reads: ``nodes`` (``(id, spec, input ids)``, the form
    :func:`cthulhu.shapes.graph` takes), ``inputs`` (the model inputs' names, in the
    order of first use), ``outputs`` (the names assigned last and never read, or the
    value of a final bare expression) and ``labels`` (node id -> the layer call's text)."""

    def __init__(self, nodes, inputs, outputs, labels):
        self.nodes, self.inputs, self.outputs, self.labels = nodes, inputs, outputs, labels


def parse_graph(text, *, default_data_format=DEFAULT_DATA_FORMAT):
    """The nodes of a graph written as a ``Lump`` is built, one statement per node.

    Statements (separated by ``;`` or new lines) assign a layer call applied to its
    inputs: ``name = Layer(args)(source)``, where ``source`` is a name, a list of
    sources (``Concatenate()([a, b])``) or another such call (nested calls are
    nodes of their own). A name read before it is assigned is a model input; a
    name assigned again (``x = Layer(...)(x)``) names the new node from then on
    (its id gets a suffix: ``x_2``). A last statement may be a bare call: the
    output. Layer arguments are literals, bound
    to the layer's catalog signature as :func:`parse_layer` does; nothing is
    evaluated.

    >>> g = parse_graph("a = Cthalpa1D(2, 3, padding='same')(x); s = Add()([x, a])")
    >>> [(node_id, spec["kind"], sources) for node_id, spec, sources in g.nodes]
    [('a', 'conv', 'x'), ('s', 'merge', ['x', 'a'])]
    >>> g.inputs, g.outputs
    (['x'], ['s'])
    """
    ast = _ast()
    source = text.strip()
    try:
        body = ast.parse(source).body
    except SyntaxError as exc:
        raise ShapeError(f"cannot read the graph {source!r}: {exc.msg}") from None
    if not body:
        raise ShapeError("empty graph description")
    state = _GraphReader(ast, source, default_data_format)
    final = None
    for index, statement in enumerate(body):
        shown = ast.get_source_segment(source, statement)
        if isinstance(statement, ast.Assign):
            if len(statement.targets) != 1 or not isinstance(statement.targets[0], ast.Name):
                raise ShapeError(f"expected 'name = Layer(...)(inputs)', got {shown!r}")
            name = statement.targets[0].id
            state.current[name] = state.node(statement.value, shown, name)
        elif isinstance(statement, ast.Expr) and index == len(body) - 1:
            final = state.node(statement.value, shown)
        else:
            raise ShapeError(f"expected 'name = Layer(...)(inputs)', got {shown!r}")
    if final is not None:
        outputs = [final]
    else:
        read = {s for _, _, sources in state.nodes
                for s in (sources if isinstance(sources, list) else [sources])}
        outputs = [node_id for node_id, _, _ in state.nodes if node_id not in read]
    return ParsedGraph(state.nodes, state.inputs, outputs, state.labels)


class _GraphReader:
    def __init__(self, ast, source, default_data_format):
        self.ast, self.source, self.fmt = ast, source, default_data_format
        self.nodes, self.inputs, self.labels, self.defined = [], [], {}, set()
        self.current = {}              # name in the text -> the node id it names now

    def fresh(self, base, numbered):
        """An unused node id: ``base`` itself if free (unless ``numbered``), else
        ``base_2``, ``base_3``, ... (``base_1``, ... when ``numbered``)."""
        taken = self.defined | set(self.inputs) | set(self.current)
        if not numbered and base not in taken:
            return base
        count = 1 if numbered else 2
        while f"{base}_{count}" in taken:
            count += 1
        return f"{base}_{count}"

    def node(self, expr, shown, name=None):
        """Add the node ``expr`` computes (``Layer(...)(sources)``); returns its id."""
        ast = self.ast
        if not (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Call)):
            raise ShapeError(f"expected a layer applied to its inputs, Layer(...)(inputs), "
                             f"in {shown!r}")
        call = ast.get_source_segment(self.source, expr.func)
        if len(expr.args) != 1 or expr.keywords:
            raise ShapeError(f"{call}: takes one input (a name, a call, or a list of them), "
                             f"in {shown!r}")
        spec = parse_layer(call, default_data_format=self.fmt)
        sources = self.sources(expr.args[0], shown)
        name = self.fresh(name or spec.get("class_name", spec["kind"]).lower(), name is None)
        self.defined.add(name)
        self.nodes.append((name, spec, sources))
        self.labels[name] = call
        return name

    def sources(self, expr, shown):
        ast = self.ast
        if isinstance(expr, (ast.List, ast.Tuple)):
            if not expr.elts or any(isinstance(e, (ast.List, ast.Tuple)) for e in expr.elts):
                raise ShapeError(f"a list of inputs holds names or layer calls, got "
                                 f"{ast.get_source_segment(self.source, expr)!r} in {shown!r}")
            return [self.sources(e, shown) for e in expr.elts]
        if isinstance(expr, ast.Name):
            if expr.id in self.current:
                return self.current[expr.id]
            if expr.id not in self.inputs:
                self.inputs.append(expr.id)
            return expr.id
        if isinstance(expr, ast.Call):
            return self.node(expr, shown)
        raise ShapeError(f"an input must be a name, a layer call or a list of them, got "
                         f"{ast.get_source_segment(self.source, expr)!r} in {shown!r}")


def symbolic(text):
    """A shape from text: ``"b, h, w, 3"`` -> ``(b, h, w, 3)`` with ``b, h, w`` symbolic.

    Entries are ints, ``None`` (or ``?``) for an unknown size, names, or
    integer expressions of names (``2*h + 1``). Parentheses or brackets
    around the whole shape are optional.

    Examples
    --------
    >>> symbolic("b, h, w, 3")
    (b, h, w, 3)
    >>> symbolic("(None, 2*h + 1, 3)")
    (None, 2*h + 1, 3)
    """
    return parse_shape(text)
