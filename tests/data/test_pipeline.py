from __future__ import annotations

import numpy as np
import pytest

from shared.data.pipeline import epoch_order, prepare_batch, split_indices


def test_split_is_a_seeded_partition():
    train, val = split_indices(1000, 0.2, seed=7)
    assert len(val) == 200 and len(train) == 800
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(1000))
    again_train, again_val = split_indices(1000, 0.2, seed=7)
    np.testing.assert_array_equal(train, again_train)
    np.testing.assert_array_equal(val, again_val)
    assert not np.array_equal(val, split_indices(1000, 0.2, seed=8)[1])


def test_no_validation_split_keeps_every_sample_for_training():
    train, val = split_indices(10, 0.0, seed=0)
    np.testing.assert_array_equal(train, np.arange(10))
    assert len(val) == 0


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 0.96])
def test_split_fractions_that_leave_nothing_to_train_on_are_errors(fraction):
    with pytest.raises(ValueError):
        split_indices(10, fraction, seed=0)


def test_epoch_order_is_a_deterministic_permutation_per_epoch():
    train, _ = split_indices(500, 0.1, seed=3)
    first = epoch_order(train, seed=3, epoch=0)
    np.testing.assert_array_equal(np.sort(first), train)
    np.testing.assert_array_equal(first, epoch_order(train, seed=3, epoch=0))
    assert not np.array_equal(first, epoch_order(train, seed=3, epoch=1))
    assert not np.array_equal(first, epoch_order(train, seed=4, epoch=0))


def test_uint8_batches_are_scaled_then_standardised_per_channel(rng):
    x = rng.integers(0, 256, (4, 2, 3, 3), dtype=np.uint8)
    mean, std = [0.5, 0.25], [0.2, 0.4]
    batch = prepare_batch(x, mean, std)
    assert batch.dtype == np.float32 and batch.shape == x.shape
    expected = (x / 255 - np.array(mean)[None, :, None, None]) / np.array(std)[None, :, None, None]
    np.testing.assert_allclose(batch, expected, rtol=1e-5, atol=1e-6)


def test_float_batches_are_not_divided_by_255_and_constant_channels_are_only_centred(rng):
    x = rng.normal(size=(3, 2, 2, 2))
    batch = prepare_batch(x, [1.0, -1.0], [2.0, 0.0], dtype="float64")
    assert batch.dtype == np.float64
    np.testing.assert_allclose(batch[:, 0], (x[:, 0] - 1.0) / 2.0)
    np.testing.assert_allclose(batch[:, 1], x[:, 1] + 1.0)


def test_crop_with_padding_takes_a_shifted_window_of_the_zero_padded_image(rng):
    x = np.arange(1, 1 + 8 * 2 * 6 * 6, dtype=np.float32).reshape(8, 2, 6, 6)  # every pixel distinct, none 0
    batch = prepare_batch(x, [0, 0], [1, 1], augment={"crop_padding": 2}, rng=np.random.default_rng(5))
    assert batch.shape == x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    windows = [[padded[i, :, top:top + 6, left:left + 6] for top in range(5) for left in range(5)] for i in range(8)]
    for i in range(8):
        assert any(np.array_equal(batch[i], window) for window in windows[i])
    assert not all(np.array_equal(batch[i], x[i]) for i in range(8))


def test_flip_mirrors_some_images_left_right(rng):
    x = rng.integers(0, 256, (64, 1, 4, 5), dtype=np.uint8)
    batch = prepare_batch(x, [0], [1], augment={"flip": True}, rng=np.random.default_rng(0))
    plain = x / 255
    flipped = [np.allclose(batch[i], plain[i, :, :, ::-1]) for i in range(64)]
    kept = [np.allclose(batch[i], plain[i]) for i in range(64)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 0 < sum(flipped) < 64


def test_augmentation_is_determined_by_the_generator(rng):
    x = rng.integers(0, 256, (16, 3, 8, 8), dtype=np.uint8)
    augment = {"crop_padding": 4, "flip": True}
    first = prepare_batch(x, [0.5] * 3, [0.25] * 3, augment=augment, rng=np.random.default_rng(11))
    second = prepare_batch(x, [0.5] * 3, [0.25] * 3, augment=augment, rng=np.random.default_rng(11))
    other = prepare_batch(x, [0.5] * 3, [0.25] * 3, augment=augment, rng=np.random.default_rng(12))
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


def test_augmentation_needs_known_keys_and_a_generator(rng):
    x = np.zeros((2, 1, 4, 4), np.uint8)
    with pytest.raises(ValueError, match="unknown augmentation"):
        prepare_batch(x, [0], [1], augment={"rotate": 10}, rng=rng)
    with pytest.raises(ValueError, match="random generator"):
        prepare_batch(x, [0], [1], augment={"flip": True})


def test_random_erasing_zeroes_one_rectangle_of_some_images_after_normalisation(rng):
    x = rng.integers(1, 256, (200, 2, 12, 10), dtype=np.uint8)
    mean, std = [0.1, 0.2], [0.5, 0.25]
    plain = prepare_batch(x, mean, std)
    batch = prepare_batch(x, mean, std, augment={"erase": 0.5}, rng=np.random.default_rng(3))
    erased = 0
    for image, original in zip(batch, plain):
        changed = np.argwhere((image != original).any(axis=0))
        if len(changed) == 0:
            continue
        erased += 1
        (top, left), (bottom, right) = changed.min(axis=0), changed.max(axis=0)
        assert np.all(image[:, top:bottom + 1, left:right + 1] == 0)  # one rectangle, every channel
        area = (bottom - top + 1) * (right - left + 1)
        assert 0.02 * 120 / 2 <= area <= 0.33 * 120 * 1.5
        outside = np.ones(image.shape[1:], bool)
        outside[top:bottom + 1, left:right + 1] = False
        np.testing.assert_array_equal(image[:, outside], original[:, outside])
    assert 70 <= erased <= 130
    again = prepare_batch(x, mean, std, augment={"erase": 0.5}, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(batch, again)
    assert np.array_equal(prepare_batch(x, mean, std, augment={"erase": 0.0}, rng=np.random.default_rng(3)), plain)
