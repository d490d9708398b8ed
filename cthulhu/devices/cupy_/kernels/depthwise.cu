// Depthwise convolution, 1D/2D/3D (run as 3D), both data formats, with the fused
// bias + activation epilogue.
//
//     y[n, o, c * M + m] = act(bias[c * M + m] + sum_k x[n, o * s - pad + k * d, c] * W[k, c, m])
//
// Keras kernel layout (*kernel, C, M). The op is memory bound (a few multiply-adds per
// output), so one thread computes one output element and the data moves once:
// neighbouring threads own neighbouring outputs (channels in channels_last, x positions
// in channels_first), so both the stores and the input/weight loads are coalesced and
// the k x k re-reads of an input sample hit the cache.
//
// Symbols: cthulhu_depthwise_nd_ndhwc<T>, cthulhu_depthwise_nd_ncdhw<T>; any 1D grid
// works (grid-stride loop), _launch.elementwise() picks it.
#include "cthulhu_common.cuh"

namespace cthulhu {

template <typename T, int LAYOUT>
__device__ __forceinline__ void depthwise(const T* __restrict__ x, const T* __restrict__ wt,
                                          const T* __restrict__ bias, T* __restrict__ y, int n,
                                          int d, int h, int w, int c, int od, int oh, int ow,
                                          int mult, int kd, int kh, int kw, int sd, int sh,
                                          int sw, int dd, int dh, int dw, int pd, int ph, int pw,
                                          int use_bias, int act) {
    typedef typename acc_of<T>::type A;
    const int cm_total = c * mult;
    const long long OS = (long long)od * oh * ow;
    const long long IS = (long long)d * h * w;
    const long long total = (long long)n * OS * cm_total;
    const long long step = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += step) {
        int cm;
        long long nb, sp;
        if (LAYOUT == CTHULHU_CHANNELS_LAST) {
            cm = (int)(i % cm_total);
            const long long p = i / cm_total;
            nb = p / OS;
            sp = p - nb * OS;
        } else {
            sp = i % OS;
            const long long p = i / OS;
            cm = (int)(p % cm_total);
            nb = p / cm_total;
        }
        const int ch = cm / mult;
        const int oz = (int)(sp / ((long long)oh * ow));
        const int r = (int)(sp - (long long)oz * oh * ow);
        const int oy = r / ow;
        const int ox = r - oy * ow;
        const long long img = CTHULHU_CHANNELS_LAST == LAYOUT ? nb * IS * c
                                                              : (nb * c + ch) * IS;
        A acc = A(0);
        for (int kz = 0; kz < kd; ++kz) {
            const int iz = oz * sd - pd + kz * dd;
            if (iz < 0 || iz >= d) {
                continue;
            }
            for (int ky = 0; ky < kh; ++ky) {
                const int iy = oy * sh - ph + ky * dh;
                if (iy < 0 || iy >= h) {
                    continue;
                }
                for (int kx = 0; kx < kw; ++kx) {
                    const int ix = ox * sw - pw + kx * dw;
                    if (ix < 0 || ix >= w) {
                        continue;
                    }
                    const long long pos = ((long long)iz * h + iy) * w + ix;
                    const long long off = LAYOUT == CTHULHU_CHANNELS_LAST ? img + pos * c + ch
                                                                          : img + pos;
                    const long long k = ((long long)kz * kh + ky) * kw + kx;
                    acc += to_acc(x[off]) * to_acc(wt[k * cm_total + cm]);
                }
            }
        }
        if (use_bias) {
            acc += to_acc(bias[cm]);
        }
        y[i] = store_as<T>::from(epilogue(acc, act));
    }
}

}  // namespace cthulhu

#define CTHULHU_DEPTHWISE_ARGS                                                               \
    x, w, bias, y, n, d, h, wd, c, od, oh, ow, mult, kd, kh, kw, sd, sh, sw, dd, dh, dw, pd, \
        ph, pw, use_bias, act
#define CTHULHU_DEPTHWISE_PARAMS                                                              \
    const T *__restrict__ x, const T *__restrict__ w, const T *__restrict__ bias,            \
        T *__restrict__ y, int n, int d, int h, int wd, int c, int od, int oh, int ow,        \
        int mult, int kd, int kh, int kw, int sd, int sh, int sw, int dd, int dh, int dw,     \
        int pd, int ph, int pw, int use_bias, int act

template <typename T>
__global__ void cthulhu_depthwise_nd_ndhwc(CTHULHU_DEPTHWISE_PARAMS) {
    cthulhu::depthwise<T, CTHULHU_CHANNELS_LAST>(CTHULHU_DEPTHWISE_ARGS);
}

template <typename T>
__global__ void cthulhu_depthwise_nd_ncdhw(CTHULHU_DEPTHWISE_PARAMS) {
    cthulhu::depthwise<T, CTHULHU_CHANNELS_FIRST>(CTHULHU_DEPTHWISE_ARGS);
}
