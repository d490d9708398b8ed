// Max and average pooling (1D/2D/3D, run as 3D) and global pooling, both data formats.
//
// Pooling is memory bound. cthulhu_pool_ndhwc/_ncdhw: one thread per output element
// over a 2D grid as in upsample.cu (blockIdx.y walks rows: (n, od, oh) for
// channels_last with elements (ow, c); (n, c, od) for channels_first with elements
// (oh, ow)), so neighbouring threads read neighbouring channels (channels_last) or
// positions (channels_first). Each thread reduces its window clipped to the input:
// padding is *excluded* (TensorFlow's pooling), the maximum starts from the window's
// first real sample, an average divides by the number of real samples. The maximum
// keeps a NaN it meets (as numpy.maximum); float16 accumulates in float32.
//
// cthulhu_global_pool_ndhwc/_ncdhw: x as [outer][positions][inner] (channels_last:
// (N, P, C); channels_first: (N*C, P, 1)). A block of (bx, 256 / bx) threads reduces
// bx consecutive inner entries of one outer entry: threadIdx.y strides the positions
// (reads coalesced along inner), then a shared-memory tree over threadIdx.y, in a fixed
// order (the same result on every run).
//
// Symbols: cthulhu_pool_ndhwc<T>, cthulhu_pool_ncdhw<T>, cthulhu_global_pool_ndhwc<T>,
// cthulhu_global_pool_ncdhw<T>.
#include "cthulhu_common.cuh"

namespace cthulhu {

// max(m, v) keeping a NaN: v when v is larger or NaN; a NaN already in m stays
template <typename A>
__device__ __forceinline__ A max_nan(A m, A v) {
    return (v > m || v != v) ? v : m;
}

// [lo, hi) of window o along an axis of n samples, clipped to the input
__device__ __forceinline__ void window(int o, int s, int p, int k, int n, int& lo, int& hi) {
    const int a = o * s - p;
    const int b = a + k;
    lo = a > 0 ? a : 0;
    hi = b < n ? b : n;
}

template <typename T, int LAYOUT>
__device__ __forceinline__ void pool(const T* __restrict__ x, T* __restrict__ y, int n, int c,
                                     int d, int h, int w, int od, int oh, int ow, int kd,
                                     int kh, int kw, int sd, int sh, int sw, int pd, int ph,
                                     int pw, int avg) {
    typedef typename acc_of<T>::type A;
    constexpr bool CL = LAYOUT == CTHULHU_CHANNELS_LAST;
    const long long rows = CL ? (long long)n * od * oh : (long long)n * c * od;
    const unsigned len = CL ? (unsigned)ow * c : (unsigned)oh * ow;
    for (long long r = blockIdx.y; r < rows; r += gridDim.y) {
        int oz, oy = 0;
        long long plane;  // channels_last: the batch item; channels_first: n * c + channel
        if (CL) {
            oy = (int)(r % oh);
            const long long q = r / oh;
            oz = (int)(q % od);
            plane = q / od;
        } else {
            oz = (int)(r % od);
            plane = r / od;
        }
        int z0, z1;
        window(oz, sd, pd, kd, d, z0, z1);
        for (unsigned j = blockIdx.x * blockDim.x + threadIdx.x; j < len;
             j += gridDim.x * blockDim.x) {
            int ox, ch = 0;
            if (CL) {
                ox = (int)(j / c);
                ch = (int)(j - (unsigned)ox * c);
            } else {
                oy = (int)(j / ow);
                ox = (int)(j - (unsigned)oy * ow);
            }
            int y0, y1, x0, x1;
            window(oy, sh, ph, kh, h, y0, y1);
            window(ox, sw, pw, kw, w, x0, x1);
            A acc = A(0);
            bool first = true;
            for (int iz = z0; iz < z1; ++iz) {
                for (int iy = y0; iy < y1; ++iy) {
                    const long long row = ((plane * d + iz) * h + iy) * (long long)w;
                    for (int ix = x0; ix < x1; ++ix) {
                        const long long at = CL ? (row + ix) * c + ch : row + ix;
                        const A v = to_acc(gload(x + at));
                        acc = first ? v : (avg ? acc + v : max_nan(acc, v));
                        first = false;
                    }
                }
            }
            if (avg) {
                acc = acc / A((z1 - z0) * (y1 - y0) * (x1 - x0));
            }
            gstore(y + r * len + j, store_as<T>::from(acc));
        }
    }
}

#define CTHULHU_GLOBAL_THREADS 256

template <typename T>
__device__ __forceinline__ void global_pool(const T* __restrict__ x, T* __restrict__ y,
                                            int outer, int positions, int inner, int avg) {
    typedef typename acc_of<T>::type A;
    __shared__ A part[CTHULHU_GLOBAL_THREADS];
    __shared__ int seen[CTHULHU_GLOBAL_THREADS];
    const int lane = threadIdx.y * blockDim.x + threadIdx.x;
    const int col = blockIdx.x * blockDim.x + threadIdx.x;
    for (long long o = blockIdx.y; o < outer; o += gridDim.y) {
        A acc = A(0);
        int any = 0;
        if (col < inner) {
            const T* src = x + o * positions * (long long)inner + col;
            for (int p = threadIdx.y; p < positions; p += blockDim.y) {
                const A v = to_acc(gload(src + (long long)p * inner));
                acc = any ? (avg ? acc + v : max_nan(acc, v)) : v;
                any = 1;
            }
        }
        part[lane] = acc;
        seen[lane] = any;
        __syncthreads();
        for (int half = blockDim.y / 2; half > 0; half /= 2) {
            if ((int)threadIdx.y < half) {
                const int other = lane + half * blockDim.x;
                if (seen[other]) {
                    const A v = part[other];
                    part[lane] = seen[lane] ? (avg ? part[lane] + v : max_nan(part[lane], v))
                                            : v;
                    seen[lane] = 1;
                }
            }
            __syncthreads();
        }
        if (threadIdx.y == 0 && col < inner) {
            A v = part[threadIdx.x];
            if (avg) {
                v = v / A(positions);
            }
            gstore(y + o * inner + col, store_as<T>::from(v));
        }
        __syncthreads();  // part[] is written again for the next outer entry
    }
}

}  // namespace cthulhu

template <typename T>
__global__ void cthulhu_pool_ndhwc(const T* __restrict__ x, T* __restrict__ y, int n, int c,
                                   int d, int h, int w, int od, int oh, int ow, int kd, int kh,
                                   int kw, int sd, int sh, int sw, int pd, int ph, int pw,
                                   int avg) {
    cthulhu::pool<T, CTHULHU_CHANNELS_LAST>(x, y, n, c, d, h, w, od, oh, ow, kd, kh, kw, sd,
                                            sh, sw, pd, ph, pw, avg);
}

template <typename T>
__global__ void cthulhu_pool_ncdhw(const T* __restrict__ x, T* __restrict__ y, int n, int c,
                                   int d, int h, int w, int od, int oh, int ow, int kd, int kh,
                                   int kw, int sd, int sh, int sw, int pd, int ph, int pw,
                                   int avg) {
    cthulhu::pool<T, CTHULHU_CHANNELS_FIRST>(x, y, n, c, d, h, w, od, oh, ow, kd, kh, kw, sd,
                                             sh, sw, pd, ph, pw, avg);
}

// The two layouts share one reduction over [outer][positions][inner]; two entry points
// keep the naming of the other kernels (_launch.py picks one by layout).
template <typename T>
__global__ void cthulhu_global_pool_ndhwc(const T* __restrict__ x, T* __restrict__ y,
                                          int outer, int positions, int inner, int avg) {
    cthulhu::global_pool<T>(x, y, outer, positions, inner, avg);
}

template <typename T>
__global__ void cthulhu_global_pool_ncdhw(const T* __restrict__ x, T* __restrict__ y,
                                          int outer, int positions, int inner, int avg) {
    cthulhu::global_pool<T>(x, y, outer, positions, inner, avg);
}
