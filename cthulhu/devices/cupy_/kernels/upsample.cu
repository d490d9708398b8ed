// Up-sampling: nearest (1D/2D/3D, run as 3D) and bilinear (2D), both data formats.
//
// Pure data movement: one thread per output element, neighbouring threads own
// neighbouring outputs, so every output is written once with coalesced stores and
// each input sample is read from DRAM about once (its repeats hit the cache).
//
// Bilinear follows TensorFlow 2 tf.image.resize(..., "bilinear") (what Keras'
// UpSampling2D(interpolation="bilinear") runs): half-pixel centres,
//     src = (o + 0.5) * (in / out) - 0.5,  lo = max(floor(src), 0),
//     hi = min(ceil(src), in - 1),  t = src - floor(src).
//
// Symbols: cthulhu_upsample_nearest_ndhwc<T>, cthulhu_upsample_nearest_ncdhw<T>,
// cthulhu_upsample_bilinear_nhwc<T>, cthulhu_upsample_bilinear_nchw<T>.
#include "cthulhu_common.cuh"

namespace cthulhu {

template <typename T, int LAYOUT>
__device__ __forceinline__ void upsample_nearest(const T* __restrict__ x, T* __restrict__ y,
                                                 int n, int d, int h, int w, int c, int fd,
                                                 int fh, int fw) {
    const int od = d * fd;
    const int oh = h * fh;
    const int ow = w * fw;
    const long long total = (long long)n * od * oh * ow * c;
    const long long step = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += step) {
        long long r = i;
        int ch = 0;
        if (LAYOUT == CTHULHU_CHANNELS_LAST) {
            ch = (int)(r % c);
            r /= c;
        }
        const int ox = (int)(r % ow);
        r /= ow;
        const int oy = (int)(r % oh);
        r /= oh;
        const int oz = (int)(r % od);
        r /= od;
        if (LAYOUT == CTHULHU_CHANNELS_FIRST) {
            ch = (int)(r % c);
            r /= c;
        }
        const long long nb = r;
        const long long pos = ((long long)(oz / fd) * h + oy / fh) * w + ox / fw;
        const long long src = LAYOUT == CTHULHU_CHANNELS_LAST
                                  ? (nb * d * h * w + pos) * c + ch
                                  : (nb * c + ch) * ((long long)d * h * w) + pos;
        y[i] = x[src];
    }
}

// Source rows/columns and weight of output coordinate o (TF2 half-pixel centres).
template <typename A>
__device__ __forceinline__ void half_pixel(int o, int in, int out, int& lo, int& hi, A& t) {
    const A scale = A(in) / A(out);
    const A src = (A(o) + A(0.5)) * scale - A(0.5);
    const A fl = floor(src);
    lo = fl > A(0) ? (int)fl : 0;
    hi = (int)ceil(src);
    hi = hi < in - 1 ? hi : in - 1;
    hi = hi > 0 ? hi : 0;
    t = src - fl;
}

template <typename T, int LAYOUT>
__device__ __forceinline__ void upsample_bilinear(const T* __restrict__ x, T* __restrict__ y,
                                                  int n, int h, int w, int c, int fh, int fw) {
    typedef typename acc_of<T>::type A;
    const int oh = h * fh;
    const int ow = w * fw;
    const long long total = (long long)n * oh * ow * c;
    const long long step = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += step) {
        long long r = i;
        int ch = 0;
        if (LAYOUT == CTHULHU_CHANNELS_LAST) {
            ch = (int)(r % c);
            r /= c;
        }
        const int ox = (int)(r % ow);
        r /= ow;
        const int oy = (int)(r % oh);
        r /= oh;
        if (LAYOUT == CTHULHU_CHANNELS_FIRST) {
            ch = (int)(r % c);
            r /= c;
        }
        const long long nb = r;
        int y0, y1, x0, x1;
        A ty, tx;
        half_pixel<A>(oy, h, oh, y0, y1, ty);
        half_pixel<A>(ox, w, ow, x0, x1, tx);
        // Element (iy, ix) of this image and channel.
        const long long base = LAYOUT == CTHULHU_CHANNELS_LAST ? nb * h * w * c + ch
                                                               : (nb * c + ch) * h * w;
        const long long px = LAYOUT == CTHULHU_CHANNELS_LAST ? c : 1;
        const A tl = to_acc(x[base + ((long long)y0 * w + x0) * px]);
        const A tr = to_acc(x[base + ((long long)y0 * w + x1) * px]);
        const A bl = to_acc(x[base + ((long long)y1 * w + x0) * px]);
        const A br = to_acc(x[base + ((long long)y1 * w + x1) * px]);
        const A top = tl + (tr - tl) * tx;
        const A bottom = bl + (br - bl) * tx;
        y[i] = store_as<T>::from(top + (bottom - top) * ty);
    }
}

}  // namespace cthulhu

template <typename T>
__global__ void cthulhu_upsample_nearest_ndhwc(const T* __restrict__ x, T* __restrict__ y, int n,
                                               int d, int h, int w, int c, int fd, int fh,
                                               int fw) {
    cthulhu::upsample_nearest<T, CTHULHU_CHANNELS_LAST>(x, y, n, d, h, w, c, fd, fh, fw);
}

template <typename T>
__global__ void cthulhu_upsample_nearest_ncdhw(const T* __restrict__ x, T* __restrict__ y, int n,
                                               int d, int h, int w, int c, int fd, int fh,
                                               int fw) {
    cthulhu::upsample_nearest<T, CTHULHU_CHANNELS_FIRST>(x, y, n, d, h, w, c, fd, fh, fw);
}

template <typename T>
__global__ void cthulhu_upsample_bilinear_nhwc(const T* __restrict__ x, T* __restrict__ y, int n,
                                               int h, int w, int c, int fh, int fw) {
    cthulhu::upsample_bilinear<T, CTHULHU_CHANNELS_LAST>(x, y, n, h, w, c, fh, fw);
}

template <typename T>
__global__ void cthulhu_upsample_bilinear_nchw(const T* __restrict__ x, T* __restrict__ y, int n,
                                               int h, int w, int c, int fh, int fw) {
    cthulhu::upsample_bilinear<T, CTHULHU_CHANNELS_FIRST>(x, y, n, h, w, c, fh, fw);
}
