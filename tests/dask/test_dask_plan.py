"""The block program plans every block with the shape algebra (cthulhu.shapes), nothing else."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu import layers as L
from cthulhu import shapes
from cthulhu.blockwise import GraphProgram
from cthulhu.blockwise.plan import output_grid
from cthulhu.models import Pile
from tests.support.dask_models import model_cases


@settings(max_examples=30)
@given(case=model_cases(max_layers=3), data=st.data())
def test_program_plans_are_the_shape_algebras_block_plans(case, data):
    """On a chain, the graph plans of the program are the chain's plans, layer by layer."""
    configs, rank, channels, shape = case
    model = case.model()
    program = GraphProgram(model, [shape])
    chain = shapes.chain(model.layers, shape)
    order = program.graph.order
    assert [program.graph.shapes[n] for n in order] == [tuple(s) for s in chain.output_shapes]
    assert program.halo == chain.halo and program.jump == chain.jump
    assert [a.receptive_field for a in program.axis_info] == list(chain.receptive_field)
    out = [program.output_shape[a] for a in program.spatial_axes]
    block = tuple(data.draw(st.integers(1, n)) for n in out)
    for _, ranges in output_grid(out, block):
        ours = program.plan(ranges)
        theirs = chain.block_plan([a for a, _ in ranges], [b for _, b in ranges])
        start = 0 if theirs.from_zeros is None else theirs.from_zeros
        if theirs.from_zeros is None:
            assert program.input_range(ranges) == theirs.input_range
        # the graph plan runs the layers from the last one that starts from zeros
        assert list(ours.nodes) == order[start:]
        for node, other in zip(ours.nodes.values(), theirs.layers[start:], strict=True):
            assert (node.in_range, node.pads, node.zeros, node.keep) == \
                (other.in_range, other.pads, other.zeros, other.keep)


def test_transposed_stride_larger_than_kernel_by_hand():
    """Kernel 1, stride 3: two of every three outputs are the bias alone."""
    model = Pile([L.InputLayer(input_shape=(None, None, 1)),
                  L.Cthalpa2DTranspose(1, 1, strides=3, bias_initializer="ones")])
    model.set_weights([np.full((1, 1, 1, 1), 2.0, np.float32), np.ones(1, np.float32)])
    x = np.arange(1, 17, dtype=np.float32).reshape(1, 4, 4, 1)
    program = GraphProgram(model, [x.shape])
    got = np.zeros((1, 12, 12, 1), np.float32)
    for _, ranges in output_grid((12, 12), (5, 2)):
        index = (slice(None), *(slice(a, b) for a, b in ranges))
        got[index] = program.run(lambda i: x[i], ranges)
    expected = np.ones((12, 12), np.float32)
    expected[::3, ::3] = 2 * x[0, :, :, 0] + 1
    np.testing.assert_array_equal(got[0, :, :, 0], expected)
