import pytest

from shared.cnn import DefinitionError, build_network, parse_definition, summarize


def errors_of(definition) -> list[dict]:
    with pytest.raises(DefinitionError) as info:
        parse_definition(definition)
    assert str(info.value)
    return info.value.errors


def test_kernel_larger_than_padded_input_names_layer_and_field():
    definition = {"input_shape": [1, 8, 8], "layers": [
        {"type": "conv2d", "filters": 2, "kernel_size": 3}, {"type": "relu"},
        {"type": "maxpool2d", "pool_size": 2},
        {"type": "conv2d", "filters": 2, "kernel_size": 5}]}
    [error] = errors_of(definition)
    assert error["loc"] == ["layers", 3, "kernel_size"]
    assert error["msg"] == "layers[3] conv2d_2: kernel_size: kernel 5 is larger than the padded input 3x3"


def test_schema_errors_name_layer_and_field():
    errors = errors_of({"input_shape": [1, 8, 8], "layers": [
        {"type": "conv2d", "filters": "many", "kernel_size": 3},
        {"type": "convolution"},
        {"type": "dense"},
        {"type": "relu", "alpha": 1}]})
    by_loc = {tuple(e["loc"]): e["msg"] for e in errors}
    assert by_loc[("layers", 0, "filters")].startswith("layers[0] conv2d_1: filters:")
    assert "unknown layer type 'convolution'" in by_loc[("layers", 1)]
    assert by_loc[("layers", 2, "units")].startswith("layers[2] dense_1: units:")
    assert "unknown field 'alpha'" in by_loc[("layers", 3, "alpha")]


def test_missing_top_level_fields_and_wrong_document():
    errors = errors_of({"layers": [{"type": "relu"}]})
    assert errors[0]["loc"] == ["input_shape"]
    assert errors_of([1, 2, 3])[0]["loc"] == []


def test_negative_and_zero_numbers_refused():
    errors = errors_of({"input_shape": [1, 8, 8], "layers": [
        {"type": "conv2d", "filters": 0, "kernel_size": 3, "stride": -1}]})
    assert {tuple(e["loc"]) for e in errors} == {("layers", 0, "filters"), ("layers", 0, "stride")}


def test_dense_on_feature_map_and_conv_on_flat_input():
    [error] = errors_of({"input_shape": [1, 8, 8], "layers": [{"type": "dense", "units": 3}]})
    assert "add a flatten layer" in error["msg"] and error["msg"].startswith("layers[0] dense_1")
    [error] = errors_of({"input_shape": [10], "layers": [{"type": "conv2d", "filters": 1, "kernel_size": 1}]})
    assert "flat shape (10,)" in error["msg"]


def test_pool_padding_over_half_the_window():
    [error] = errors_of({"input_shape": [1, 8, 8], "layers": [{"type": "maxpool2d", "pool_size": 2, "padding": 2}]})
    assert error["loc"] == ["layers", 0, "padding"]


def test_duplicate_names():
    [error] = errors_of({"input_shape": [4], "layers": [
        {"type": "dense", "units": 2, "name": "head"}, {"type": "dense", "units": 2, "name": "head"}]})
    assert error["loc"] == ["layers", 1, "name"] and "layers[0]" in error["msg"]


def test_absurd_memory_refused_with_estimate_and_limit():
    [error] = errors_of({"input_shape": [1, 28, 28], "layers": [
        {"type": "conv2d", "filters": 10**7, "kernel_size": 3}]})
    assert error["loc"] == ["layers", 0, "filters"]
    assert "GiB per sample" in error["msg"] and "limit" in error["msg"]
    [error] = errors_of({"input_shape": [100000], "layers": [{"type": "dense", "units": 10**6}]})
    assert "100,001,000,000 parameters" in error["msg"] and "2,147,483,648" in error["msg"]


def test_convolution_windows_too_large_for_memory():
    [error] = errors_of({"input_shape": [64, 2000, 2000], "layers": [
        {"type": "conv2d", "filters": 1, "kernel_size": 5, "padding": 2}]})
    assert error["loc"] == ["layers", 0, "kernel_size"]
    assert "5x5x64 windows would need ~23.9 GiB per sample" in error["msg"]


def test_summary_and_build_raise_the_same_error():
    bad = {"input_shape": [1, 4, 4], "layers": [{"type": "avgpool2d", "pool_size": 5}]}
    with pytest.raises(DefinitionError):
        summarize(bad)
    with pytest.raises(DefinitionError):
        build_network(bad)


def test_default_names_count_per_type(lenet5):
    definition = parse_definition(lenet5)
    assert definition.layer_names()[-3:] == ["dense_2", "relu_4", "dense_3"]
