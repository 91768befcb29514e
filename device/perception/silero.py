"""Silero VAD v6 at 16 kHz in NumPy: the ONNX model's 16 kHz branch, op for op, with its weights.

Why not onnxruntime: it is the only thing the voice path needs it for, and loading it costs a live
service about 20 MiB of its RSS (docs/service.md, "Memory"); with the face on LiteRT, the service
then needs no ONNX runtime at all. The weights are ``models/silero_vad_16k.npz``, taken from
``models/silero_vad.onnx`` by ``tools/models/silero_weights.py``, which also checks this code
against onnxruntime on real speech (max |difference| 6.7e-6 on the demo session's 2,699 chunks,
no decision changed); tests/test_voice.py does the same.

One 32 ms step, as the ONNX graph does it: the 512 new samples after the previous 64, reflect-padded
by 64 on the right; an STFT by convolution with the model's basis (256-sample frames, hop 128: four
frames) and its magnitude (129 bins); four 3-tap convolutions with ReLU (strides 1, 2, 2, 1: four
frames become one); an LSTM cell (PyTorch's gate order i, f, g, o) carrying (h, c) across chunks;
ReLU, a 1x1 convolution and a sigmoid: the speech probability. The strided and single-frame
convolutions are written for those fixed sizes (taps that only ever see zero padding are dropped).
"""

from __future__ import annotations

import numpy as np

CHUNK = 512
CONTEXT = 64
HIDDEN = 128


class SileroNumpy:
    def __init__(self, weights) -> None:
        f = lambda k: np.asarray(weights[k], dtype=np.float32)  # noqa: E731

        def k_major(w: np.ndarray) -> np.ndarray:  # (out, in, k) -> (out, k * in): one matmul per layer
            return np.ascontiguousarray(w.transpose(0, 2, 1).reshape(w.shape[0], -1))

        self._basis = np.ascontiguousarray(f("stft.forward_basis_buffer")[:, 0, :].T)  # (256, 258)
        w = [f(f"encoder.{i}.reparam_conv.weight") for i in range(4)]
        self._b = [f(f"encoder.{i}.reparam_conv.bias") for i in range(4)]
        self._w0, self._w1 = k_major(w[0]), k_major(w[1])
        # Layer 2 (stride 2, two frames in, one out): its first tap sees the left padding only.
        self._w2 = np.ascontiguousarray(np.concatenate([w[2][:, :, 1], w[2][:, :, 2]], axis=1))
        # Layer 3 (one frame): only the middle tap sees data.
        self._w3 = np.ascontiguousarray(w[3][:, :, 1])
        self._w_lstm = np.ascontiguousarray(np.concatenate([f("decoder.rnn.weight_ih"), f("decoder.rnn.weight_hh")], axis=1))
        self._b_lstm = f("decoder.rnn.bias_ih") + f("decoder.rnn.bias_hh")
        self._w_out = np.ascontiguousarray(f("decoder.decoder.2.weight")[0, :, 0])
        self._b_out = float(f("decoder.decoder.2.bias")[0])
        self._x = np.zeros(CONTEXT + CHUNK + CONTEXT, np.float32)
        self._p0 = np.zeros((129, 6), np.float32)      # magnitude, zero-padded by one frame each side
        self._p1 = np.zeros((HIDDEN, 6), np.float32)   # layer 0's output, padded the same way
        self._xh = np.zeros(2 * HIDDEN, np.float32)    # [LSTM input, h]
        self._c = np.zeros(HIDDEN, np.float32)
        self.reset()

    def reset(self) -> None:
        self._x[:] = 0.0
        self._xh[:] = 0.0
        self._c[:] = 0.0

    def probability(self, chunk: np.ndarray) -> float:
        x, n = self._x, CONTEXT + CHUNK
        x[:CONTEXT] = x[n - CONTEXT:n]
        x[CONTEXT:n] = chunk
        x[n:] = x[n - 2:n - 2 - CONTEXT:-1]  # reflect padding: x[n - 2], x[n - 3], ...
        spec = np.lib.stride_tricks.sliding_window_view(x, 256)[::128] @ self._basis  # (4, 258)
        p0 = self._p0
        p0[:, 1:5] = np.sqrt(np.square(spec[:, :129]) + np.square(spec[:, 129:])).T
        h = self._w0 @ np.concatenate((p0[:, 0:4], p0[:, 1:5], p0[:, 2:6])) + self._b[0][:, None]
        p1 = self._p1
        np.maximum(h, 0.0, out=p1[:, 1:5])
        h = np.maximum(self._w1 @ np.concatenate((p1[:, 0:4:2], p1[:, 1:5:2], p1[:, 2:6:2])) + self._b[1][:, None], 0.0)
        h = np.maximum(self._w2 @ h.T.ravel() + self._b[2], 0.0)
        xh = self._xh
        np.maximum(self._w3 @ h + self._b[3], 0.0, out=xh[:HIDDEN])
        gates = self._w_lstm @ xh + self._b_lstm
        i, f, g, o = _sigmoid(gates[:HIDDEN]), _sigmoid(gates[HIDDEN:2 * HIDDEN]), np.tanh(gates[2 * HIDDEN:3 * HIDDEN]), _sigmoid(gates[3 * HIDDEN:])
        self._c = f * self._c + i * g
        h = o * np.tanh(self._c)
        xh[HIDDEN:] = h
        z = float(self._w_out @ np.maximum(h, 0.0)) + self._b_out
        return 1.0 / (1.0 + float(np.exp(-z)))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))
