"""Sliding-window geometry shared by convolution and pooling: output size, padding, explanation.

Output size follows PyTorch: ``floor((in + pad_before + pad_after - dilation*(k-1) - 1) / stride) + 1``.
Everything here is integer arithmetic whose cost does not depend on the sizes involved, so a
definition with huge numbers is refused or explained at once.
"""
from __future__ import annotations

from dataclasses import dataclass

from .plan import LayerPlan, ReceptiveField, ShapeError

MAX_LISTED_RANGES = 8  # unread rows/columns listed before the rest is counted
MAX_DILATED_READS = 100_000  # dilated windows are walked one read at a time, up to this many


@dataclass(frozen=True)
class Window:
    """The geometry of a sliding window over (rows, columns)."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int, int, int]  # top, bottom, left, right
    dilation: tuple[int, int] = (1, 1)


def pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def resolve_padding(padding, size, kernel, stride, dilation) -> tuple[int, int, int, int]:
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        # Keras' rule: output = ceil(in / stride); any odd leftover goes after (bottom/right).
        pads = []
        for n, k, s, dl in zip(size, kernel, stride, dilation):
            total = max((-(-n // s) - 1) * s + dl * (k - 1) + 1 - n, 0)
            pads += [total // 2, total - total // 2]
        return tuple(pads)
    ph, pw = pair(padding)
    return (ph, ph, pw, pw)


def window_of(kernel, stride, padding, dilation, in_shape) -> Window:
    """``stride`` None means the kernel size (pooling windows side by side)."""
    kernel = pair(kernel)
    stride = kernel if stride is None else pair(stride)
    dilation = pair(dilation)
    return Window(kernel, stride, resolve_padding(padding, in_shape[1:], kernel, stride, dilation),
                  dilation)


def slide(window: Window, in_shape, kernel_field: str, word: str) -> tuple[int, int]:
    """Output rows and columns, or a ShapeError in the user's own numbers."""
    h, w = in_shape[1:]
    (kh, kw), (sh, sw), (pt, pb, pl, pr), (dh, dw) = (window.kernel, window.stride,
                                                       window.padding, window.dilation)
    eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    if word == "pool" and (2 * max(pt, pb) > kh or 2 * max(pl, pr) > kw):
        # A window made mostly of padding would pool nothing real (PyTorch has the same rule).
        raise ShapeError("padding", f"padding {pad_text(window)} must be at most half the pool "
                         f"size {kernel_text(window)}")
    hp, wp = h + pt + pb, w + pl + pr
    if eh > hp or ew > wp:
        raise ShapeError(kernel_field, f"{word} {kernel_text(window)}{_dilated(window)} is larger "
                         f"than the padded input {hp}x{wp}")
    return (hp - eh) // sh + 1, (wp - ew) // sw + 1


def _dilated(window: Window) -> str:
    (kh, kw), (dh, dw) = window.kernel, window.dilation
    return "" if (dh, dw) == (1, 1) else f" (dilated to {dh * (kh - 1) + 1}x{dw * (kw - 1) + 1})"


def kernel_text(window: Window) -> str:
    kh, kw = window.kernel
    return str(kh) if kh == kw else f"{kh}x{kw}"


def pad_text(window: Window) -> str:
    pads = set(window.padding)
    return str(window.padding[0]) if len(pads) == 1 else str(window.padding)


def quotient_text(numerator: int, divisor: int) -> str:
    """numerator / divisor in decimals, exactly for integers, never rounded up to the next one."""
    whole, rest = divmod(numerator, divisor)
    if rest == 0:
        return str(whole)
    for places in range(2, 13):
        scaled = (2 * rest * 10**places + divisor) // (2 * divisor)  # rest/divisor, rounded half up
        if scaled < 10**places:
            return f"{whole}.{scaled:0{places}d}".rstrip("0")
    return f"{whole} + {rest}/{divisor}"


def axis_formula(n, k, s, p_before, p_after, dl, out) -> str:
    kernel = str(k) if dl == 1 else f"({dl}*({k} - 1) + 1)"
    pad = f"2*{p_before}" if p_before == p_after else f"{p_before} + {p_after}"
    numerator = n - (dl * (k - 1) + 1) + p_before + p_after
    shown = quotient_text(numerator + s, s)
    shown = shown if shown == str(out) else f"{shown}, floor -> {out}"
    return f"({n} - {kernel} + {pad})/{s} + 1 = {shown}"


def unread(n, k, s, p_before, dl, out) -> tuple[list[tuple[int, int]], int] | None:
    """Input indices (rows or columns) no window reads: up to MAX_LISTED_RANGES first ranges
    (first, last) and the count of all; None when a dilated window is too large to walk."""
    if dl > 1 and k > 1:
        return _unread_dilated(n, k, s, p_before, dl, out)
    # Padded position q is read when it is in a window [o*s, o*s + k - 1], 0 <= o < out.
    if k >= s:  # windows touch or overlap: one read run from 0, everything after it unread
        first = max((out - 1) * s + k - p_before, 0)
        return ([(first, n - 1)], n - first) if first < n else ([], 0)

    def reads_below(q: int) -> int:  # read positions in [0, q)
        q = min(max(q, 0), out * s)
        return (q // s) * k + min(q % s, k)

    count = n - (reads_below(p_before + n) - reads_below(p_before))
    ranges, o = [], max(p_before // s - 1, 0)
    while len(ranges) < MAX_LISTED_RANGES and o < out:
        gap_end = (o + 1) * s - 1 if o + 1 < out else p_before + n - 1  # last gap runs to the end
        first, last = max(o * s + k - p_before, 0), min(gap_end - p_before, n - 1)
        if first > n - 1:
            break
        if first <= last:
            ranges.append((first, last))
        o += 1
    return ranges, count


def _unread_dilated(n, k, s, p_before, dl, out):
    if out * k > MAX_DILATED_READS:
        return None
    positions = {o * s + t * dl - p_before for o in range(out) for t in range(k)}
    read = sorted(i for i in positions if 0 <= i < n)
    ranges, previous = [], -1
    for index in read + [n]:  # the gaps between consecutive reads
        if index > previous + 1 and len(ranges) < MAX_LISTED_RANGES:
            ranges.append((previous + 1, index - 1))
        previous = index
    return ranges, n - len(read)


def _unread_text(word: str, found) -> str:
    if not found or not found[1]:
        return ""
    ranges, count = found
    listed = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)
    shown = sum(b - a + 1 for a, b in ranges)
    if shown < count:
        return f"; input {word}s {listed} and {count - shown:,} more ({count:,} in all) are never read"
    if count == 1:
        return f"; input {word} {listed} is never read"
    return f"; input {word}s {listed} are never read"


def window_explain(plan: LayerPlan) -> str:
    window, (h, w), out_hw = plan.window, plan.input_shape[1:], plan.output_shape[1:]
    (kh, kw), (sh, sw), (pt, pb, pl, pr), (dh, dw) = (window.kernel, window.stride,
                                                       window.padding, window.dilation)
    h_text = axis_formula(h, kh, sh, pt, pb, dh, out_hw[0])
    w_text = axis_formula(w, kw, sw, pl, pr, dw, out_hw[1])
    text = f"H2 = W2 = {w_text}" if (h_text == w_text) else f"H2 = {h_text}; W2 = {w_text}"
    text += _unread_text("row", unread(h, kh, sh, pt, dh, out_hw[0]))
    return text + _unread_text("column", unread(w, kw, sw, pl, dw, out_hw[1]))


def _spans(window: Window) -> tuple[int, int]:
    """Input pixels a window covers along rows and columns, dilation included."""
    return tuple(d * (k - 1) + 1 for k, d in zip(window.kernel, window.dilation))


def window_receptive_field(plan: LayerPlan) -> ReceptiveField | None:
    """The standard recursion per axis: r_out = r_in + (k - 1)*j_in, j_out = j_in*s."""
    before = plan.receptive_in
    if before is None:
        return None
    spans, stride = _spans(plan.window), plan.window.stride
    return ReceptiveField(
        tuple(r + (k - 1) * j for r, k, j in zip(before.size, spans, before.jump)),
        tuple(j * s for j, s in zip(before.jump, stride)))


def receptive_explain(plan: LayerPlan) -> str:
    """``receptive field 5x5, jump 1: r = r_in + (k - 1)*j_in = 1 + (5 - 1)*1 = 5; ...``"""
    before, after = plan.receptive_in, plan.receptive_field
    if before is None or after is None:
        return ""
    spans, stride = _spans(plan.window), plan.window.stride
    axes = [f"r = r_in + (k - 1)*j_in = {r} + ({k} - 1)*{j} = {r_out}; j = j_in*s = {j}*{s} = {j_out}"
            for r, k, j, s, r_out, j_out in zip(before.size, spans, before.jump, stride,
                                                 after.size, after.jump)]
    worked = axes[0] if axes[0] == axes[1] else f"rows: {axes[0]}; columns: {axes[1]}"
    return (f"receptive field {after.text()} (input pixels one output sees; input pixels between "
            f"neighbouring outputs): {worked}")
