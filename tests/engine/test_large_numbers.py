"""Definitions with huge kernels, paddings, strides or inputs are planned in closed form: instantly
valid, or refused with the estimate and the limit, never an OverflowError or a long loop."""
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.cnn import DefinitionError, summarize
from shared.cnn.layers.window import MAX_LISTED_RANGES, unread


def conv(input_shape, **fields):
    return {"input_shape": input_shape, "layers": [{"type": "conv2d", "filters": 1, **fields}]}


def timed_summary(definition, attempts: int = 3):
    """The result and the best time of a few attempts: a pause of the machine in one of them is
    not the code being slow, which all of them would be."""
    best = float("inf")
    for _ in range(attempts):
        start = time.perf_counter()
        try:
            result = summarize(definition)
            result.as_text(), result.explain()
        except DefinitionError as exc:
            result = exc
        best = min(best, time.perf_counter() - start)
    return result, best


@pytest.mark.parametrize("size", [10_000, 1_000_000])
def test_a_kernel_as_large_as_its_padding_is_summarised_at_once(size):
    # took 15 s at 10,000 and grew with the square of the numbers
    result, seconds = timed_summary(conv([1, 1, 1], kernel_size=[size, 1], padding=[size, 0]))
    assert seconds < 0.1
    if size == 10_000:  # valid as in PyTorch: 10,002 rows, the outer ones see padding only
        assert result.plans[0].output_shape == (1, 10_002, 1)
    else:
        assert "gathering its 1000000x1x1 windows would need ~3725.3 GiB per sample; the limit is 2.0 GiB" in str(result)


def test_padding_near_10_to_the_300_is_a_definition_error():
    result, seconds = timed_summary(conv([1, 1, 1], kernel_size=[3, 1], padding=[10**300, 0]))
    assert isinstance(result, DefinitionError) and seconds < 0.1
    assert result.errors[0]["loc"] == ["layers", 0, "filters"]
    assert "activations would need ~7.4e291 GiB per sample by this layer; the limit is 2.0 GiB" in str(result)


def test_a_huge_input_is_refused_before_any_layer():
    result, _ = timed_summary(conv([1, 10**300, 1], kernel_size=3, padding="same"))
    assert result.errors == [{"loc": ["input_shape"], "msg": (
        "input_shape: one sample would need ~3.7e291 GiB; the limit is 2.0 GiB per sample")}]


def test_huge_parameter_counts_are_written_in_powers_of_ten():
    result, _ = timed_summary(conv([1, 1, 1], kernel_size=1) | {"layers": [
        {"type": "conv2d", "filters": 10**300, "kernel_size": 1}]})
    assert "would need 2.0e300 parameters (~7.4e291 GiB as float32) by this layer; the limit is 2,147,483,648" \
        in str(result)


def test_a_long_list_of_unread_rows_is_cut_and_counted():
    text = summarize({"input_shape": [1, 1_000_000, 1], "layers": [
        {"type": "maxpool2d", "pool_size": 1, "stride": [100_000, 1]}]}).explain()
    assert ("input rows 1-99999, 100001-199999, 200001-299999, 300001-399999, 400001-499999, "
            "500001-599999, 600001-699999, 700001-799999 and 199,998 more (999,990 in all) are never read"
            ) in text


def brute_force_unread(n, k, s, p, dl, out):
    read = {o * s + t * dl - p for o in range(out) for t in range(k)}
    return [i for i in range(n) if i not in read]


@settings(max_examples=400, deadline=None)
@given(n=st.integers(1, 40), k=st.integers(1, 6), s=st.integers(1, 7), p=st.integers(0, 6),
       dl=st.integers(1, 3))
def test_unread_rows_match_a_brute_force_walk(n, k, s, p, dl):
    span = dl * (k - 1) + 1
    if span > n + 2 * p:
        return
    out = (n + 2 * p - span) // s + 1
    expected = brute_force_unread(n, k, s, p, dl, out)
    ranges, count = unread(n, k, s, p, dl, out)
    assert count == len(expected)
    listed = [i for first, last in ranges for i in range(first, last + 1)]
    assert listed == expected[:len(listed)]
    assert len(ranges) == MAX_LISTED_RANGES or listed == expected


sizes = st.integers(1, 10**300)


@settings(max_examples=200, deadline=1000)
@given(h=sizes, k=sizes, s=sizes, p=sizes, dl=st.integers(1, 10**6), filters=st.integers(1, 10**12))
def test_any_numbers_validate_fast_or_fail_clearly(h, k, s, p, dl, filters):
    for definition in (
        {"input_shape": [1, h % 10**7 + 1, 3], "layers": [
            {"type": "conv2d", "filters": filters, "kernel_size": [k % 10**7 + 1, 1],
             "stride": [s % 10**7 + 1, 1], "padding": [p % 10**7, 0], "dilation": [dl, 1]}]},
        conv([1, h, 3], kernel_size=[k, 1], stride=[s, 1], padding=[p, 0], dilation=[dl, 1]),
        {"input_shape": [1, h % 10**7 + 1, 3], "layers": [
            {"type": "maxpool2d", "pool_size": [k % 10**7 + 1, 1], "stride": [s % 10**7 + 1, 1]}]},
    ):
        result, seconds = timed_summary(definition)
        assert seconds < 0.5
        if isinstance(result, DefinitionError):
            assert result.errors[0]["msg"].startswith(("layers[0] conv2d_1", "layers[0] maxpool2d_1",
                                                       "input_shape"))
