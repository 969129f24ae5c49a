from shared.cnn import summarize


def conv_net(input_shape, **conv):
    return {"input_shape": input_shape, "layers": [{"type": "conv2d", **conv}]}


def test_7x7x3_padded_volume_two_3x3_filters_stride_2():
    # CS231n's demo: a 5x5x3 input with padding 1 is the 7x7x3 padded volume.
    for input_shape, padding in (([3, 5, 5], 1), ([3, 7, 7], 0)):
        summary = summarize(conv_net(input_shape, filters=2, kernel_size=3, stride=2, padding=padding))
        layer = summary.as_dict()["layers"][0]
        assert layer["output_shape"] == [2, 3, 3]
        assert layer["params"] == 56
    # An unpadded 7x7 input padded by 1 more is 9x9: (7 - 3 + 2*1)/2 + 1 = 4
    assert summarize(conv_net([3, 7, 7], filters=2, kernel_size=3, stride=2, padding=1)).plans[0].output_shape == (2, 4, 4)


def test_5x5_input_3x3_filter_stride_1_and_2():
    assert summarize(conv_net([1, 5, 5], filters=1, kernel_size=3)).plans[0].output_shape == (1, 3, 3)
    assert summarize(conv_net([1, 5, 5], filters=1, kernel_size=3, stride=2)).plans[0].output_shape == (1, 2, 2)


def test_dense_1000x1000_to_100():
    summary = summarize({"input_shape": [1000 * 1000], "layers": [{"type": "dense", "units": 100}]})
    assert summary.total_params == 100_000_100


def test_lenet5_totals_and_layers(lenet5):
    summary = summarize(lenet5).as_dict()
    assert summary["total_params"] == 61_706
    assert summary["trainable_params"] == 61_706
    assert summary["non_trainable_params"] == 0
    assert [layer["name"] for layer in summary["layers"]][:4] == ["conv2d_1", "relu_1", "maxpool2d_1", "conv2d_2"]
    shapes = [tuple(layer["output_shape"]) for layer in summary["layers"]]
    assert shapes[0] == (6, 28, 28) and shapes[2] == (6, 14, 14) and shapes[5] == (16, 5, 5)
    assert shapes[6] == (400,) and shapes[-1] == (10,)
    # torchinfo's count: (weights + bias) per output position
    assert summary["layers"][0]["macs"] == 156 * 28 * 28
    assert summary["total_macs"] == 122_304 + 241_600 + 48_120 + 10_164 + 850
    assert summary["layers"][0]["activation_bytes"] == 6 * 28 * 28 * 4


def test_vgg16_224_from_shapes_alone(vgg16):
    summary = summarize(vgg16)
    assert summary.total_params == 138_357_544
    assert summary.plans[-1].output_shape == (1000,)


def test_explain_shows_the_arithmetic(lenet5):
    lines = [line for line in summarize(lenet5).explain().splitlines() if not line.startswith(" ")]
    assert lines[0] == ("conv2d_1: H2 = W2 = (28 - 5 + 2*2)/1 + 1 = 28; "
                        "params = (F*F*D_in + 1) * K = (5*5*1 + 1) * 6 = 156")
    assert lines[2] == "maxpool2d_1: H2 = W2 = (28 - 2 + 2*0)/2 + 1 = 14; params = 0"
    assert lines[7] == "dense_1: units = 120; params = (N_in + 1) * units = (400 + 1) * 120 = 48,120"


def test_explain_names_rows_never_read():
    text = summarize(conv_net([1, 6, 6], filters=1, kernel_size=3, stride=2)).explain()
    assert "(6 - 3 + 2*0)/2 + 1 = 2.5, floor -> 2" in text
    assert "input row 5 is never read" in text and "input column 5 is never read" in text


def test_explain_non_square_and_stride_gaps():
    text = summarize(conv_net([1, 5, 8], filters=1, kernel_size=[1, 3], stride=[2, 1])).explain()
    assert "H2 = (5 - 1 + 2*0)/2 + 1 = 3; W2 = (8 - 3 + 2*0)/1 + 1 = 6" in text
    assert "input rows 1, 3 are never read" in text
    assert "input columns" not in text and "input column " not in text


def test_same_padding_keeps_size_and_dilation_enlarges_kernel():
    same = summarize(conv_net([2, 9, 10], filters=4, kernel_size=4, padding="same"))
    assert same.plans[0].output_shape == (4, 9, 10)
    dilated = summarize(conv_net([2, 9, 10], filters=4, kernel_size=3, dilation=2))
    assert dilated.plans[0].output_shape == (4, 5, 6)


def test_batchnorm_running_statistics_are_non_trainable():
    summary = summarize({"input_shape": [3, 4, 4], "layers": [{"type": "batchnorm"}]}).as_dict()
    assert summary["total_params"] == 12
    assert summary["trainable_params"] == 6
    assert summary["non_trainable_params"] == 6


def test_text_table_like_keras(lenet5):
    text = summarize(lenet5).as_text()
    assert 'Network: "lenet5"' in text
    assert "conv2d_1 (Conv2D)" in text and "(6, 28, 28)" in text
    assert "Total params: 61,706" in text
    assert "Trainable params: 61,706" in text


def test_explain_never_rounds_a_fraction_up_to_the_next_whole_number():
    # (500 - 1)/250 + 1 = 2.996: printed as "3., floor -> 2" before
    text = summarize(conv_net([1, 500, 1], filters=1, kernel_size=1, stride=[250, 1])).explain()
    assert "H2 = (500 - 1 + 2*0)/250 + 1 = 2.996, floor -> 2" in text
    text = summarize(conv_net([1, 100_000, 1], filters=1, kernel_size=1, stride=[100_000, 1])).explain()
    assert "= 1.99999, floor -> 1" in text
