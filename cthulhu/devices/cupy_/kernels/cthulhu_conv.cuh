// The per-axis geometry of the convolutions' implicit GEMMs, shared by conv_nd.cu and
// igemm.cu: a direct convolution is one GEMM; a transposed one is one dense GEMM per
// output phase o = q * s + r (see conv_nd.cu's header comment), none multiplying the
// zeros a zero-stuffed input would hold.
#ifndef CTHULHU_CONV_CUH
#define CTHULHU_CONV_CUH

namespace cthulhu {

// One axis of the GEMM a block runs: output q (of nq) and tap j (of nt) read input
// q * in_step + origin + j * tap_step, use kernel tap first_tap + j * tap_stride, and
// write output q * out_step + out_offset.
enum AxisField {
    AX_NQ, AX_NT, AX_IN_STEP, AX_ORIGIN, AX_TAP_STEP, AX_FIRST_TAP, AX_TAP_STRIDE,
    AX_OUT_STEP, AX_OUT_OFFSET, AX_FIELDS
};

// Direct convolution: one phase, input q * stride - pad + j * dilation.
__device__ __forceinline__ void direct_axis(int* a, int out, int taps, int stride,
                                            int dilation, int pad) {
    a[AX_NQ] = out;
    a[AX_NT] = taps;
    a[AX_IN_STEP] = stride;
    a[AX_ORIGIN] = -pad;
    a[AX_TAP_STEP] = dilation;
    a[AX_FIRST_TAP] = 0;
    a[AX_TAP_STRIDE] = 1;
    a[AX_OUT_STEP] = 1;
    a[AX_OUT_OFFSET] = 0;
}

// Transposed convolution, phase r of stride s: output o = q * s + r. Dilated-padded
// index o - pad + k * d is a real sample (a multiple of s) only for taps k = kr + j * s
// (with d = 1 when s > 1), namely input q + (r - pad + kr) / s + j.
__device__ __forceinline__ void phase_axis(int* a, int r, int out, int taps, int s,
                                           int dilation, int pad) {
    if (s == 1) {
        direct_axis(a, out, taps, 1, dilation, pad);
        return;
    }
    int kr = (pad - r) % s;
    kr += kr < 0 ? s : 0;
    a[AX_NQ] = r < out ? (out - r + s - 1) / s : 0;
    a[AX_NT] = kr < taps ? (taps - kr + s - 1) / s : 0;
    a[AX_IN_STEP] = 1;
    a[AX_ORIGIN] = (r - pad + kr) / s;  // an exact division
    a[AX_TAP_STEP] = 1;
    a[AX_FIRST_TAP] = kr;
    a[AX_TAP_STRIDE] = s;
    a[AX_OUT_STEP] = s;
    a[AX_OUT_OFFSET] = r;
}

}  // namespace cthulhu

#endif  // CTHULHU_CONV_CUH
