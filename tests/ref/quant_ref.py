#!/usr/bin/python3
"""Reference values for tests/unit/test_quant.c, written to stdout as binary.

f16/bf16 conversions come from PyTorch; q8_0/q4_0 blocks from an independent
NumPy implementation of ggml's reference quantizers (quantize_row_q8_0_ref,
quantize_row_q4_0_ref) in float32 arithmetic.

Layout (all little-endian):
  u32 n_conv; f32[n_conv] x; u16[n_conv] f16(x); u16[n_conv] bf16(x)
  u32 65536 (all f16 bit patterns, in order); u32[65536] bits of float32(f16)
  u32 n_blocks; f32[n_blocks*32] x; u8[n_blocks*34] q8_0; u8[n_blocks*18] q4_0
"""
import struct
import sys

import numpy as np
import torch

torch.set_num_threads(2)
rng = np.random.default_rng(1234)


def conversions():
    edge = [0.0, -0.0, np.inf, -np.inf, 1.0, -1.0, 65504.0, 65519.996, 65520.0, -65520.0, 65536.0, 1e30,
            2.0 ** -14, 2.0 ** -24, 2.0 ** -25, 1.5 * 2.0 ** -25, 3 * 2.0 ** -25, 2.0 ** -26, 1e-40, -1e-45,
            1 + 2.0 ** -11, 1 + 3 * 2.0 ** -11, 1 + 2.0 ** -8, 1 + 3 * 2.0 ** -8, 3.3895313892515355e38,
            3.4028234663852886e38, 6.0975e-5, 6.1e-5, 0.1, 1 / 3]
    edge = np.array(edge, dtype=np.float32)
    bits = rng.integers(0, 2 ** 32, size=20000, dtype=np.uint64).astype(np.uint32)
    bits = bits[((bits >> 23) & 0xFF) != 0xFF]  # NaNs are checked separately
    rand_bits = bits.view(np.float32)
    # values around the f16 range, including its subnormals and round-off ties
    near = (rng.standard_normal(20000) * np.exp2(rng.uniform(-27, 17, 20000))).astype(np.float32)
    ties = (rng.integers(-2048, 2048, 4000) * 2.0 ** -11 + 2.0 ** -12).astype(np.float32) * \
        np.exp2(rng.integers(-14, 15, 4000)).astype(np.float32)
    x = np.concatenate([edge, rand_bits, near, ties]).astype(np.float32)
    t = torch.from_numpy(x.copy())
    h = t.to(torch.float16).view(torch.int16).numpy().astype(np.uint16)
    b = t.to(torch.bfloat16).view(torch.int16).numpy().astype(np.uint16)
    return x, h, b


def f16_table():
    allh = torch.from_numpy(np.arange(65536, dtype=np.uint16).view(np.int16).copy())
    f = allh.view(torch.float16).to(torch.float32).numpy()
    return f.view(np.uint32)


def f16_bits(v):
    return int(torch.tensor([float(v)], dtype=torch.float32).to(torch.float16).view(torch.int16).item()) & 0xFFFF


def q8_0(xb):
    amax = np.float32(np.max(np.abs(xb)))
    d = np.float32(amax / np.float32(127))
    idv = np.float32(1) / d if d != 0 else np.float32(0)
    v = (xb * idv).astype(np.float32).astype(np.float64)
    q = np.sign(v) * np.floor(np.abs(v) + 0.5)  # roundf: half away from zero
    return struct.pack('<H', f16_bits(d)) + q.astype(np.int8).tobytes()


def q4_0(xb):
    i = int(np.argmax(np.abs(xb)))  # first index of the largest |x|
    mx = np.float32(xb[i])
    d = np.float32(mx / np.float32(-8))
    idv = np.float32(1) / d if d != 0 else np.float32(0)
    v = ((xb * idv).astype(np.float32) + np.float32(8.5)).astype(np.float32)
    q = np.minimum(15, np.trunc(v).astype(np.int64)).astype(np.uint8)
    packed = (q[:16] | (q[16:] << 4)).astype(np.uint8)
    return struct.pack('<H', f16_bits(d)) + packed.tobytes()


def blocks():
    xs = []
    for i in range(600):
        scale = float(np.exp2(rng.uniform(-12, 8)))
        kind = i % 6
        if kind == 0:
            xb = rng.standard_normal(32) * scale
        elif kind == 1:
            xb = rng.uniform(-1, 1, 32) * scale
        elif kind == 2:  # quantization ties: multiples of d/2
            xb = rng.integers(-254, 255, 32) * 0.5 * scale / 127
        elif kind == 3:  # a dominant negative value
            xb = rng.standard_normal(32) * scale * 0.1
            xb[rng.integers(0, 32)] = -scale
        elif kind == 4:  # equal |max| with both signs: the first one wins
            xb = rng.uniform(-0.5, 0.5, 32) * scale
            xb[3], xb[20] = scale, -scale
        else:  # sparse, sometimes all zero
            xb = np.where(rng.uniform(size=32) < 0.1, rng.standard_normal(32) * scale, 0.0)
            if i % 12 == 5:
                xb[:] = 0
        xs.append(np.asarray(xb, dtype=np.float32))
    x = np.concatenate(xs).astype(np.float32)
    q8 = b''.join(q8_0(x[i * 32:(i + 1) * 32]) for i in range(len(xs)))
    q4 = b''.join(q4_0(x[i * 32:(i + 1) * 32]) for i in range(len(xs)))
    return x, q8, q4


def main():
    out = sys.stdout.buffer
    x, h, b = conversions()
    out.write(struct.pack('<I', len(x)) + x.tobytes() + h.tobytes() + b.tobytes())
    tab = f16_table()
    out.write(struct.pack('<I', len(tab)) + tab.tobytes())
    xq, q8, q4 = blocks()
    out.write(struct.pack('<I', len(xq) // 32) + xq.tobytes() + q8 + q4)


if __name__ == '__main__':
    main()
