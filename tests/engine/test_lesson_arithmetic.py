"""The lesson's numbers, explained: labelled factors, both output axes, receptive fields,
parameter sharing, parameter-free layers and what pooling saves the layers after it."""
import time

from shared.cnn import summarize

LESSON_CONV = {"type": "conv2d", "filters": 2, "kernel_size": 3, "stride": 2, "padding": 1}


def lesson(*after):
    return summarize({"input_shape": [3, 5, 5], "layers": [LESSON_CONV, *after]})


def explained(summary, name):
    """The lines of one layer's explanation (its first line and the indented ones after it)."""
    lines, found = [], False
    for line in summary.explain().splitlines():
        if not line.startswith(" "):
            found = line.startswith(f"{name}:")
        if found:
            lines.append(line.strip())
    return lines


def test_two_3x3x3_filters_labelled_factors_and_depth():
    summary = lesson()
    conv = summary.as_dict()["layers"][0]
    assert conv["params"] == 56 and conv["output_shape"] == [2, 3, 3]
    text = "\n".join(explained(summary, "conv2d_1"))
    assert "params = (F*F*D_in + 1) * K = (3*3*3 + 1) * 2 = 56" in text
    assert "D_in = 3 input channels" in text and "depth must equal D_in" in text
    assert "K = 2 filters, so the output has depth 2: 3x3x2" in text


def test_dense_equivalent_of_the_lesson_conv_and_its_multiply_adds():
    summary = lesson()
    conv = summary.as_dict()["layers"][0]
    assert conv["dense_equivalent_params"] == 1368 == (3 * 5 * 5 + 1) * (2 * 3 * 3)
    assert conv["macs"] == 56 * 9
    text = "\n".join(explained(summary, "conv2d_1"))
    assert ("a dense layer from 3x5x5 to 2x3x3 would need 1,368 parameters; "
            "the convolution needs 56") in text
    assert "504 multiply-adds against the dense layer's 1,368" in text
    assert "cross-correlation" in text and "flipped 180 degrees" in text


def test_2x2_pooling_has_no_parameters_and_says_what_it_saves():
    summary = summarize({"input_shape": [1, 4, 4], "layers": [
        {"type": "maxpool2d", "pool_size": 2}, {"type": "flatten"}, {"type": "dense", "units": 10}]})
    pool = summary.plans[0]
    assert pool.output_shape == (1, 2, 2) and pool.params == 0
    text = "\n".join(explained(summary, "maxpool2d_1"))
    assert "H2 = W2 = (4 - 2 + 2*0)/2 + 1 = 2" in text and "nothing to learn" in text
    # after it: (4 + 1) * 10 = 50 parameters; without it (16 + 1) * 10 = 170
    assert "need 50 parameters and 50 multiply-adds, against 170 and 170 without it" in text
    assert "saves 120 parameters and 120 multiply-adds" in text


def test_activations_say_why_they_have_no_parameters():
    text = "\n".join(explained(lesson({"type": "relu"}), "relu_1"))
    assert "params = 0 (out = max(x, 0): a fixed rule for each value on its own, nothing to learn)" in text


def test_dense_1000x1000_to_100_explained():
    summary = summarize({"input_shape": [1, 1000, 1000], "layers": [
        {"type": "flatten"}, {"type": "dense", "units": 100}]})
    assert summary.total_params == 100_000_100
    assert "(1000000 + 1) * 100 = 100,000,100" in summary.explain()


def test_h2_and_w2_both_when_the_axes_differ():
    summary = summarize({"input_shape": [1, 7, 9], "layers": [
        {"type": "conv2d", "filters": 1, "kernel_size": [3, 5], "stride": [2, 1], "padding": [1, 0]}]})
    first = explained(summary, "conv2d_1")[0]
    assert "H2 = (7 - 3 + 2*1)/2 + 1 = 4; W2 = (9 - 5 + 2*0)/1 + 1 = 5" in first
    assert "(F_h*F_w*D_in + 1) * K = (3*5*1 + 1) * 1 = 16" in first
    rf = summary.as_dict()["layers"][0]["receptive_field"]
    assert rf == {"size": [3, 5], "jump": [2, 1]}


def test_batchnorm_names_two_learned_and_two_running_statistics():
    summary = lesson({"type": "batchnorm"})
    norm = summary.plans[1]
    assert norm.trainable_params == 4 and norm.non_trainable_params == 4
    text = "\n".join(explained(summary, "batchnorm_1"))
    assert "params = 4*2 = 8: per channel 2 learned" in text and "2 running statistics" in text


def test_receptive_fields_of_lenet5(lenet5):
    layers = summarize(lenet5).as_dict()["layers"]
    sizes = {layer["name"]: layer["receptive_field"] for layer in layers}
    assert sizes["conv2d_1"] == {"size": [5, 5], "jump": [1, 1]}
    assert sizes["maxpool2d_1"] == {"size": [6, 6], "jump": [2, 2]}
    assert sizes["conv2d_2"] == {"size": [14, 14], "jump": [2, 2]}
    assert sizes["maxpool2d_2"] == {"size": [16, 16], "jump": [4, 4]}
    assert sizes["flatten_1"] is None and sizes["dense_1"] is None
    text = "\n".join(explained(summarize(lenet5), "conv2d_2"))
    assert "r = r_in + (k - 1)*j_in = 6 + (5 - 1)*2 = 14; j = j_in*s = 2*1 = 2" in text


def test_receptive_fields_of_vgg16(vgg16):
    summary = summarize(vgg16)
    layers = summary.as_dict()["layers"]
    last_conv = [layer for layer in layers if layer["type"] == "conv2d"][-1]
    last_pool = [layer for layer in layers if layer["type"] == "maxpool2d"][-1]
    assert last_conv["receptive_field"] == {"size": [196, 196], "jump": [16, 16]}
    assert last_pool["receptive_field"] == {"size": [212, 212], "jump": [32, 32]}
    assert "212x212, jump 32" in summary.as_text()


def test_dilation_widens_the_receptive_field():
    summary = summarize({"input_shape": [1, 9, 9], "layers": [
        {"type": "conv2d", "filters": 1, "kernel_size": 3, "dilation": 2}]})
    assert summary.plans[0].receptive_field.size == (5, 5)


def test_huge_sizes_are_explained_at_once():
    started = time.perf_counter()
    summary = summarize({"input_shape": [1, 10**6, 10**6], "layers": [
        {"type": "maxpool2d", "pool_size": 100}, {"type": "conv2d", "filters": 1, "kernel_size": 999,
                                                   "stride": 7, "dilation": 3}]},
        max_params=10**30, max_activation_bytes=10**30)
    text = summary.explain()
    assert time.perf_counter() - started < 2
    assert "receptive field" in text and "would need" in text
