// Depthwise convolution, 1D/2D/3D (run as 3D), both data formats, with the fused
// epilogue of cthulhu_common.cuh (bias, a folded batch norm's scale and shift, activation):
//
//     z = sum_k x[n, o * s - pad + k * d, c] * W[k, c, m]
//     y[n, o, c * M + m] = act((z + bias[c * M + m]) * scale[c * M + m] + shift[c * M + m])
//
// each part present or not (CTHULHU_EPI_* flags), so a depthwise -> BatchNormalization ->
// ReLU chain folded by cthulhu.engine.fusion is one launch.
//
// Keras kernel layout (*kernel, C, M). The op is memory bound (a few multiply-adds per
// output), so one thread computes one output element and the data moves once:
// neighbouring threads own neighbouring outputs (channels in channels_last, x positions
// in channels_first), so both the stores and the input/weight loads are coalesced and
// the k x k re-reads of an input sample hit the cache. The grid is 2D (blockIdx.y walks
// rows of outer axes, decomposed once per row; x walks a row with 32-bit indices), which
// keeps 64-bit divisions out of the per-element work.
//
// Symbols: cthulhu_depthwise_nd_ndhwc<T>, cthulhu_depthwise_nd_ncdhw<T>; any grid works
// (grid-stride loops in both directions), _launch.depthwise_launch() picks it.
#include "cthulhu_common.cuh"

namespace cthulhu {

template <typename T, int LAYOUT>
__device__ __forceinline__ void depthwise(const T* __restrict__ x, const T* __restrict__ wt,
                                          const T* __restrict__ bias,
                                          const T* __restrict__ scale,
                                          const T* __restrict__ shift, T* __restrict__ y, int n,
                                          int d, int h, int w, int c, int od, int oh, int ow,
                                          int mult, int kd, int kh, int kw, int sd, int sh,
                                          int sw, int dd, int dh, int dw, int pd, int ph, int pw,
                                          int flags, int act, typename acc_of<T>::type alpha) {
    typedef typename acc_of<T>::type A;
    constexpr bool CL = LAYOUT == CTHULHU_CHANNELS_LAST;
    const int cm_total = c * mult;
    const long long IS = (long long)d * h * w;
    // Rows: (n, oz, oy) with elements (ox, c*M + m) for channels_last; (n, c*M + m, oz)
    // with elements (oy, ox) for channels_first. The output offset is r * len + j.
    const long long rows = CL ? (long long)n * od * oh : (long long)n * cm_total * od;
    const unsigned len = CL ? (unsigned)ow * cm_total : (unsigned)oh * ow;
    for (long long r = blockIdx.y; r < rows; r += gridDim.y) {
        long long nb;
        int oz, row_y = 0, row_cm = 0;
        if (CL) {
            row_y = (int)(r % oh);
            const long long q = r / oh;
            oz = (int)(q % od);
            nb = q / od;
        } else {
            oz = (int)(r % od);
            const long long q = r / od;
            row_cm = (int)(q % cm_total);
            nb = q / cm_total;
        }
        for (unsigned j = blockIdx.x * blockDim.x + threadIdx.x; j < len;
             j += gridDim.x * blockDim.x) {
            int ox, oy, cm;
            if (CL) {
                ox = (int)(j / cm_total);
                cm = (int)(j - (unsigned)ox * cm_total);
                oy = row_y;
            } else {
                oy = (int)(j / ow);
                ox = (int)(j - (unsigned)oy * ow);
                cm = row_cm;
            }
            const int ch = mult == 1 ? cm : cm / mult;
            const long long img = CL ? nb * IS * c : (nb * c + ch) * IS;
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
                        const long long off = CL ? img + pos * c + ch : img + pos;
                        const int k = (kz * kh + ky) * kw + kx;
                        acc += to_acc(x[off]) * to_acc(wt[(long long)k * cm_total + cm]);
                    }
                }
            }
            y[r * len + j] = store_as<T>::from(
                epilogue<T, A>(acc, cm, bias, scale, shift, flags, act, alpha));
        }
    }
}

}  // namespace cthulhu

// The parameters in the order _launch.depthwise_launch() packs them; ``alpha`` (leaky_relu)
// is in the accumulation type (double for T = double).
#define CTHULHU_DEPTHWISE_ARGS                                                                \
    x, w, bias, scale, shift, y, n, d, h, wd, c, od, oh, ow, mult, kd, kh, kw, sd, sh, sw, dd, \
        dh, dw, pd, ph, pw, flags, act, alpha
#define CTHULHU_DEPTHWISE_PARAMS                                                              \
    const T *__restrict__ x, const T *__restrict__ w, const T *__restrict__ bias,            \
        const T *__restrict__ scale, const T *__restrict__ shift, T *__restrict__ y, int n,   \
        int d, int h, int wd, int c, int od, int oh, int ow, int mult, int kd, int kh,        \
        int kw, int sd, int sh, int sw, int dd, int dh, int dw, int pd, int ph, int pw,       \
        int flags, int act, typename cthulhu::acc_of<T>::type alpha

template <typename T>
__global__ void cthulhu_depthwise_nd_ndhwc(CTHULHU_DEPTHWISE_PARAMS) {
    cthulhu::depthwise<T, CTHULHU_CHANNELS_LAST>(CTHULHU_DEPTHWISE_ARGS);
}

template <typename T>
__global__ void cthulhu_depthwise_nd_ncdhw(CTHULHU_DEPTHWISE_PARAMS) {
    cthulhu::depthwise<T, CTHULHU_CHANNELS_FIRST>(CTHULHU_DEPTHWISE_ARGS);
}

// -- channels_last at memory bandwidth: multiplier 1, VEC channels per access ----------
// Block layout as upsample.cu's channels_last kernels: threadIdx.x over channel vectors,
// threadIdx.y over output x, blockIdx.y over output rows (n, oz, oy), decomposed once
// per row. Each tap is one vector load of the input and one of the weights (*k, C, 1);
// the epilogue's per-channel arrays are read as vectors too (the host checks that every
// pointer is aligned to the vector, _memory.vector_width).
template <typename T, int VEC>
__global__ void cthulhu_depthwise_cl(const T* __restrict__ x, const T* __restrict__ wt,
                                     const T* __restrict__ bias, const T* __restrict__ scale,
                                     const T* __restrict__ shift, T* __restrict__ y, int n, int d,
                                     int h, int w, int c, int od, int oh, int ow, int kd, int kh,
                                     int kw, int sd, int sh, int sw, int dd, int dh, int dw,
                                     int pd, int ph, int pw, int flags, int act,
                                     typename cthulhu::acc_of<T>::type alpha) {
    typedef typename cthulhu::acc_of<T>::type A;
    typedef cthulhu::vec_of<T, VEC> V;
    const int cg = c / VEC;
    const int ox = blockIdx.x * blockDim.y + threadIdx.y;
    if (ox >= ow) {
        return;
    }
    const V* wv = reinterpret_cast<const V*>(wt);
    const long long rows = (long long)n * od * oh;
    for (long long r = blockIdx.y; r < rows; r += gridDim.y) {
        const int oy = (int)(r % oh);
        const long long q = r / oh;
        const int oz = (int)(q % od);
        const long long nb = q / od;
        const V* img = reinterpret_cast<const V*>(x) + nb * d * h * (long long)w * cg;
        V* dst = reinterpret_cast<V*>(y) + (r * ow + ox) * cg;
        for (int g = threadIdx.x; g < cg; g += blockDim.x) {
            A acc[VEC];
#pragma unroll
            for (int k = 0; k < VEC; ++k) {
                acc[k] = A(0);
            }
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
                        const V v = cthulhu::gload(img + (((long long)iz * h + iy) * w + ix) * cg + g);
                        const V k = cthulhu::gload(wv + ((kz * kh + ky) * kw + kx) * cg + g);
#pragma unroll
                        for (int e = 0; e < VEC; ++e) {
                            acc[e] += cthulhu::to_acc(v.v[e]) * cthulhu::to_acc(k.v[e]);
                        }
                    }
                }
            }
            V out;
            const bool has_b = flags & CTHULHU_EPI_BIAS;
            const bool has_sc = flags & CTHULHU_EPI_SCALE;
            const bool has_sf = flags & CTHULHU_EPI_SHIFT;
            const V b = has_b ? cthulhu::gload(reinterpret_cast<const V*>(bias) + g) : V();
            const V sc = has_sc ? cthulhu::gload(reinterpret_cast<const V*>(scale) + g) : V();
            const V sf = has_sf ? cthulhu::gload(reinterpret_cast<const V*>(shift) + g) : V();
#pragma unroll
            for (int e = 0; e < VEC; ++e) {
                // the order of cthulhu::epilogue: + bias, * scale, + shift, activation
                A v = acc[e];
                if (has_b) {
                    v += cthulhu::to_acc(b.v[e]);
                }
                if (has_sc) {
                    v *= cthulhu::to_acc(sc.v[e]);
                }
                if (has_sf) {
                    v += cthulhu::to_acc(sf.v[e]);
                }
                out.v[e] = cthulhu::store_as<T>::from(cthulhu::activate(v, act, alpha));
            }
            cthulhu::gstore(dst + g, out);
        }
    }
}
