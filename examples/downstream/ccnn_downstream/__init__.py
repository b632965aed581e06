"""ccnn_downstream -- an example package built on ccnn's C kernels.

conv_relu_pool(x, weight, bias, padding, pool): conv2d (stride 1) -> ReLU ->
max-pool (pool x pool, stride pool), all three kernels called from one
nogil Cython function (ccnn_downstream/_fused.pyx, which cimports
ccnn.kernels) -- equal to

    F.max_pool2d(F.relu(F.conv2d(x, weight, bias, padding=padding)), pool)

conv2d_into(out, x, weight, padding) and relu_(a): the same kernels called
from plain C through ccnn's function table (ccnn_downstream/_cdemo.c), as
are conv2d_relu_maxpool_into(out, argmax, x, weight, padding) (the fused
conv -> ReLU -> 2x2 max-pool kernel, = F.conv2d_relu_maxpool2d) and
dense_into(out, x, weight, bias, relu) (= F.dense).
"""
from ._cdemo import conv2d_into, conv2d_relu_maxpool_into, dense_into, relu_, simd_path
from ._fused import build_info, conv_relu_pool

__all__ = ["build_info", "conv2d_into", "conv2d_relu_maxpool_into", "conv_relu_pool",
           "dense_into", "relu_", "simd_path"]
