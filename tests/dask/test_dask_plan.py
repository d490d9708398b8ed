"""The block planner agrees with the shape algebra's own block plans (cthulhu.shapes.chain)."""

from dask_models import model_cases
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu import shapes
from cthulhu.devices.dask_.plan import AxisMap, output_grid, plan_regions
from cthulhu.devices.dask_.program import BlockProgram, model_layers


def _comparable(configs):
    # shapes.chain's plans read the range a transposed convolution needs when kernel >= stride
    # (with a smaller kernel the Dask planner reads one sample more on purpose), and do not
    # model bilinear edge clamping.
    for kind, kwargs in configs:
        if kind == "transpose" and kwargs["kernel_size"] < kwargs["strides"]:
            return False
        if kind == "up" and kwargs.get("interpolation") == "bilinear":
            return False
    return True


@settings(max_examples=40)
@given(case=model_cases(max_layers=3), data=st.data())
def test_read_ranges_equal_shapes_chain_block_plans(case, data):
    configs, rank, channels, shape = case
    if not _comparable(configs):
        return
    model = case.model()
    layers = model_layers(model)
    program = BlockProgram(layers, shape)
    chain = shapes.chain([layer.shape_spec() for layer in layers], shape)
    out = [program.output_shape[a] for a in program.spatial_axes]
    block = tuple(data.draw(st.integers(1, n)) for n in out)
    maps = [stage.maps for stage in program.stages]
    for _, ranges in output_grid(out, block):
        ours = plan_regions(maps, program.in_lengths, ranges)
        theirs = chain.block_plan([a for a, _ in ranges], [b for _, b in ranges]).layers
        for mine, other in zip(ours, theirs, strict=True):
            if mine is None or mine.src is None:
                continue  # only border zeros reach this layer: nothing is read
            assert mine.src == tuple(other.in_range)


def test_axis_map_kinds_by_hand():
    # 3-tap convolution, stride 2, 'same' padding (1, 1): outputs [2, 4) read inputs [3, 8)
    assert AxisMap("window", 3, 2, (1, 1)).need(2, 4) == (3, 8, 0)
    # nearest up-sampling by 3: outputs [4, 8) come from inputs [1, 3), starting 1 in
    assert AxisMap("upsample", 1, 3).need(4, 8) == (1, 3, 1)
    # cropping (2, 0): output o is input o + 2
    assert AxisMap("shift", pad=(2, 0)).need(0, 5) == (2, 7, 0)
    # transposed, kernel 3, stride 2, 'valid': full padding (2, 2), target padding (2, 2)
    assert AxisMap("transpose", 3, 2, (2, 2), (2, 2)).need(0, 5) == (-1, 3, 2)
