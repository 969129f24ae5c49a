"""The Learn page in Debian's Chromium: the lesson's example (5x5x3 input, padding 1, two 3x3x3
filters, stride 2) shows the engine's own output values, stepped through by keyboard and click."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.e2e.api import Client

pytestmark = [pytest.mark.e2e]


def shown(value: float) -> str:
    """A value as the page writes it (whole numbers without a decimal point)."""
    return str(int(value)) if float(value).is_integer() else str(round(value, 4))


def term(value: float) -> str:
    """A value inside a sum on the page: negatives in brackets."""
    return f"({shown(value)})" if value < 0 else shown(value)


def test_stepping_shows_the_engines_value_and_stride_1_gives_5x5x2(page, stack):
    engine = Client(stack.base_url).get("/lessons/convolution")
    page.goto("/learn")
    expect(page.locator("#lesson-output-shape")).to_have_text("3×3×2")
    expect(page.locator("#lesson-params")).to_have_text("56")
    expect(page.locator("#lesson-output td")).to_have_count(18)
    expect(page.locator("#lesson-input td.pad")).to_have_count(3 * (49 - 25))  # the zero frame
    expect(page.locator("#lesson-explain")).to_contain_text("(3*3*3 + 1) * 2 = 56")

    # away and back, by keyboard and by click, to output cell (0, 0) of filter 0
    page.keyboard.press("ArrowRight")
    expect(page.locator("#lesson-cell-name")).to_have_text("(0, 1) of filter 0")
    page.keyboard.press("ArrowRight")
    page.click("#lesson-prev")
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#lesson-cell-name")).to_have_text("(0, 0) of filter 0")
    value = engine["output"][0][0][0]
    expect(page.locator("#lesson-result")).to_have_text(shown(value))
    expect(page.locator("#lesson-output td.current")).to_have_text(shown(value))
    sums = engine["channel_sums"][0][0][0]
    expect(page.locator("#lesson-sum .total")).to_contain_text(
        f"{' + '.join(term(s) for s in sums)} + bias {term(engine['bias'][0])} = {shown(value)}")
    # the window at (0, 0) reads 3x3 positions in each of the 3 channels, 5 of them padding
    expect(page.locator("#lesson-input td.read")).to_have_count(27)
    expect(page.locator("#lesson-input td.pad.read")).to_have_count(15)
    screenshot(page, "learn-page")

    page.fill("input[name=stride]", "1")
    expect(page.locator("#lesson-output-shape")).to_have_text("5×5×2")
    expect(page.locator("#lesson-output td")).to_have_count(50)
    expect(page.locator("#lesson-explain")).to_contain_text("(5 - 3 + 2*1)/1 + 1 = 5")


def test_impossible_settings_show_the_apis_error_and_pooling_works(page, stack):
    page.goto("/learn?height=2&width=2&padding=0&kernel=3")
    error = page.locator("#lesson-error")
    expect(error).to_contain_text("kernel 3 is larger than the padded input 2x2")
    page.fill("input[name=padding]", "1")
    expect(error).to_be_hidden()
    page.select_option("select[name=kind]", "maxpool2d")
    expect(page.locator("input[name=filters]")).to_be_disabled()
    expect(page.locator("#lesson-sum .total")).to_contain_text("max(")
    engine = Client(stack.base_url).get("/lessons/convolution", kind="maxpool2d", height=2, width=2,
                                        padding=1, kernel=3, stride=2)
    expect(page.locator("#lesson-result")).to_have_text(shown(engine["output"][0][0][0]))
