"""Exact rewrites of a stride-2, kernel-3, 'same' Conv2DTranspose (what TF's conv2d_transpose
computes, Keras's way), timed against it by `experiments/layer_speed.py`:

- a sub-pixel convolution: one 2×2 conv to 4× the channels, then depth_to_space;
- four phase convolutions (1×1, 1×2, 2×1, 2×2), interleaved by depth_to_space;
- one matmul to 9× the channels, then col2im by shifted adds.

Each takes `(x, kernel)` with Keras's kernel layout (kh, kw, out, in) and returns the same
tensor as `transpose_conv`, values and gradients (tests/test_benchmark.py checks them).
"""

from __future__ import annotations

import tensorflow as tf

# A stride-2, kernel-3, 'same' transposed convolution maps x[m] to y[2m + t] with kernel tap t
# (TF's SAME padding for it puts nothing before), so along each axis the even outputs take
# taps 0 (from x[m]) and 2 (from x[m-1]) and the odd outputs tap 1 (from x[m]).


def _taps(kernel, rows, cols):
    """(len(rows), len(cols), in, out) conv kernel from Conv2DTranspose taps."""
    return tf.stack([tf.stack([tf.transpose(kernel[r, c]) for c in cols]) for r in rows])


def _pad(x, top, left):
    return tf.pad(x, [[0, 0], [top, 0], [left, 0], [0, 0]])


def transpose_conv(x, kernel):
    """TF's conv2d_transpose, what Keras runs: the function every rewrite computes."""
    b, h, w, _ = tf.unstack(tf.shape(x))
    return tf.nn.conv2d_transpose(x, kernel, [b, 2 * h, 2 * w, kernel.shape[2]], 2, "SAME")


def sub_pixel(x, kernel):
    zero = tf.zeros_like(kernel[0, 0])
    phase_taps = ([2, 0], [None, 1])  # per output phase: the tap read from x[m-1], from x[m]

    def tap(r, c):
        return zero if r is None or c is None else kernel[r, c]

    k = tf.stack(
        [
            tf.stack(
                [
                    tf.transpose(
                        tf.concat(
                            [
                                tap(phase_taps[a][dy], phase_taps[b][dx])
                                for a in (0, 1)
                                for b in (0, 1)
                            ],
                            axis=0,
                        )
                    )
                    for dx in (0, 1)
                ]
            )
            for dy in (0, 1)
        ]
    )
    return tf.nn.depth_to_space(tf.nn.conv2d(_pad(x, 1, 1), k, 1, "VALID"), 2)


def phase_convolutions(x, kernel):
    even_even = tf.nn.conv2d(_pad(x, 1, 1), _taps(kernel, [2, 0], [2, 0]), 1, "VALID")
    even_odd = tf.nn.conv2d(_pad(x, 1, 0), _taps(kernel, [2, 0], [1]), 1, "VALID")
    odd_even = tf.nn.conv2d(_pad(x, 0, 1), _taps(kernel, [1], [2, 0]), 1, "VALID")
    odd_odd = tf.nn.conv2d(x, _taps(kernel, [1], [1]), 1, "VALID")
    return tf.nn.depth_to_space(tf.concat([even_even, even_odd, odd_even, odd_odd], -1), 2)


def matmul_col2im(x, kernel):
    _, h, w, cin = x.shape
    cout = kernel.shape[2]
    columns = tf.matmul(
        tf.reshape(x, (-1, cin)), tf.reshape(tf.transpose(kernel, (3, 0, 1, 2)), (cin, 9 * cout))
    )
    c = tf.split(tf.reshape(columns, (-1, h, w, 9 * cout)), 9, axis=-1)  # tap (r, c) at 3r + c

    def down(t):
        return _pad(t, 1, 0)[:, :h]

    def right(t):
        return _pad(t, 0, 1)[:, :, :w]

    even_even = c[0] + down(c[6]) + right(c[2]) + down(right(c[8]))
    even_odd = c[1] + down(c[7])
    odd_even = c[3] + right(c[5])
    return tf.nn.depth_to_space(tf.concat([even_even, even_odd, odd_even, c[4]], -1), 2)


KERAS_WAY = "conv2d_transpose (Keras)"
REWRITES = {
    KERAS_WAY: transpose_conv,
    "sub-pixel 2×2 conv + depth_to_space": sub_pixel,
    "4 phase convs + depth_to_space": phase_convolutions,
    "matmul + col2im": matmul_col2im,
}
