// Up-sampling: nearest (1D/2D/3D, run as 3D) and bilinear (2D), both data formats.
//
// Pure data movement, so the design goal is to move every byte once with little
// integer arithmetic per element (64-bit divisions would make the kernel compute bound):
//   * the grid is 2D: blockIdx.y walks "rows" (the outer axes, decomposed once per row),
//     blockIdx.x/threadIdx.x walk the elements of a row with 32-bit indices (one image
//     is below 2^31 elements; _launch.py checks it);
//   * nearest reads each input element once and writes its fd*fh*fw copies, so the
//     input is read from DRAM once and every output written once;
//   * neighbouring threads handle neighbouring elements (channels for channels_last,
//     x positions for channels_first), so loads and stores are coalesced.
//
// Bilinear follows TensorFlow 2 tf.image.resize(..., "bilinear") (what Keras'
// UpSampling2D(interpolation="bilinear") runs): half-pixel centres,
//     src = (o + 0.5) * (in / out) - 0.5,  lo = max(floor(src), 0),
//     hi = min(ceil(src), in - 1),  t = src - floor(src).
//
// Symbols: cthulhu_upsample_nearest_ndhwc<T>, cthulhu_upsample_nearest_ncdhw<T>,
// cthulhu_upsample_bilinear_nhwc<T>, cthulhu_upsample_bilinear_nchw<T>,
// cthulhu_upsample_linear_ncdhw<T, RANK> (channels_first linear interpolation of rank 1 and
// 3: trilinear), and the channels_last kernels of the second half of this file.
#include "cthulhu_common.cuh"

namespace cthulhu {

// Nearest. Rows are input rows: (n, z, y) for channels_last with elements (x, c);
// (n, c, z) for channels_first with elements (y, x).
template <typename T, int LAYOUT>
__device__ __forceinline__ void upsample_nearest(const T* __restrict__ x, T* __restrict__ y,
                                                 int n, int d, int h, int w, int c, int fd,
                                                 int fh, int fw) {
    constexpr bool CL = LAYOUT == CTHULHU_CHANNELS_LAST;
    const long long rows = CL ? (long long)n * d * h : (long long)n * c * d;
    const unsigned len = CL ? (unsigned)w * c : (unsigned)h * w;
    const int od = d * fd;
    const int oh = h * fh;
    const int ow = w * fw;
    for (long long r = blockIdx.y; r < rows; r += gridDim.y) {
        // Input row r; out_base is the output offset of its first copy.
        long long in_base, out_base;
        int z, yy = 0;
        if (CL) {
            yy = (int)(r % h);
            const long long q = r / h;
            z = (int)(q % d);
            const long long nb = q / d;
            in_base = r * len;
            out_base = (((nb * od + (long long)z * fd) * oh + (long long)yy * fh) * ow) * c;
        } else {
            z = (int)(r % d);
            const long long nc = r / d;  // n * c + channel
            in_base = r * len;
            out_base = ((nc * od + (long long)z * fd) * oh) * ow;
        }
        for (unsigned j = blockIdx.x * blockDim.x + threadIdx.x; j < len;
             j += gridDim.x * blockDim.x) {
            const T v = x[in_base + j];
            // First output of this element's block of copies, and the copies' strides.
            long long first;
            long long sx, sy, sz;
            if (CL) {
                const unsigned ix = j / c;
                const unsigned ch = j - ix * c;
                first = out_base + (long long)ix * fw * c + ch;
                sx = c;
                sy = (long long)ow * c;
                sz = (long long)oh * ow * c;
            } else {
                const unsigned iy = j / w;
                const unsigned ix = j - iy * w;
                first = out_base + ((long long)iy * fh) * ow + (long long)ix * fw;
                sx = 1;
                sy = ow;
                sz = (long long)oh * ow;
            }
            for (int dz = 0; dz < fd; ++dz) {
                for (int dy = 0; dy < fh; ++dy) {
                    const long long row = first + dz * sz + dy * sy;
                    for (int dx = 0; dx < fw; ++dx) {
                        y[row + dx * sx] = v;
                    }
                }
            }
        }
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

// Bilinear. Rows are output rows: (n, oy) for channels_last with elements (ox, c);
// (n, c) for channels_first with elements (oy, ox).
template <typename T, int LAYOUT>
__device__ __forceinline__ void upsample_bilinear(const T* __restrict__ x, T* __restrict__ y,
                                                  int n, int h, int w, int c, int fh, int fw) {
    typedef typename acc_of<T>::type A;
    constexpr bool CL = LAYOUT == CTHULHU_CHANNELS_LAST;
    const int oh = h * fh;
    const int ow = w * fw;
    const long long rows = CL ? (long long)n * oh : (long long)n * c;
    const unsigned len = CL ? (unsigned)ow * c : (unsigned)oh * ow;
    for (long long r = blockIdx.y; r < rows; r += gridDim.y) {
        int y0 = 0, y1 = 0;
        A ty = A(0);
        long long img;  // offset of this row's input image (channels_first: its channel plane)
        if (CL) {
            const int oy = (int)(r % oh);
            img = (r / oh) * h * w * c;
            half_pixel<A>(oy, h, oh, y0, y1, ty);
        } else {
            img = r * h * w;
        }
        for (unsigned j = blockIdx.x * blockDim.x + threadIdx.x; j < len;
             j += gridDim.x * blockDim.x) {
            int x0, x1, ox;
            A tx;
            long long base;
            long long px;  // distance between horizontally neighbouring input samples
            if (CL) {
                ox = (int)(j / c);
                base = img + (j - (unsigned)ox * c);
                px = c;
            } else {
                const int oy = (int)(j / ow);
                ox = (int)(j - (unsigned)oy * ow);
                half_pixel<A>(oy, h, oh, y0, y1, ty);
                base = img;
                px = 1;
            }
            half_pixel<A>(ox, w, ow, x0, x1, tx);
            const A tl = to_acc(x[base + ((long long)y0 * w + x0) * px]);
            const A tr = to_acc(x[base + ((long long)y0 * w + x1) * px]);
            const A bl = to_acc(x[base + ((long long)y1 * w + x0) * px]);
            const A br = to_acc(x[base + ((long long)y1 * w + x1) * px]);
            const A top = tl + (tr - tl) * tx;
            const A bottom = bl + (br - bl) * tx;
            y[r * len + j] = store_as<T>::from(top + (bottom - top) * ty);
        }
    }
}

// Linear interpolation, channels_first, RANK 1 to 3 (the missing leading axes have size 1):
// rows are output rows (n, c, oz, oy), whose source rows and weights are computed once per
// row; elements are the row's x positions (coalesced). Interpolates along x, then y, then
// z, as the channels_last kernels do.
template <typename T, int RANK>
__device__ __forceinline__ void upsample_linear_cf(const T* __restrict__ x, T* __restrict__ y,
                                                   int n, int d, int h, int w, int c, int fd,
                                                   int fh, int fw) {
    typedef typename acc_of<T>::type A;
    const int od = d * fd, oh = h * fh, ow = w * fw;
    const long long rows = (long long)n * c * od * oh;
    for (long long r = blockIdx.y; r < rows; r += gridDim.y) {
        const int oy = (int)(r % oh);
        const long long q = r / oh;
        const int oz = (int)(q % od);
        const long long nc = q / od;  // n * c + channel: the input plane
        int y0 = 0, y1 = 0, z0 = 0, z1 = 0;
        A ty = A(0), tz = A(0);
        if (RANK >= 2) {
            half_pixel<A>(oy, h, oh, y0, y1, ty);
        }
        if (RANK == 3) {
            half_pixel<A>(oz, d, od, z0, z1, tz);
        }
        const T* plane = x + nc * d * h * (long long)w;
        const T* r00 = plane + ((long long)z0 * h + y0) * w;
        const T* r01 = plane + ((long long)z0 * h + y1) * w;
        const T* r10 = plane + ((long long)z1 * h + y0) * w;
        const T* r11 = plane + ((long long)z1 * h + y1) * w;
        T* out = y + r * ow;
        for (unsigned j = blockIdx.x * blockDim.x + threadIdx.x; j < (unsigned)ow;
             j += gridDim.x * blockDim.x) {
            int x0, x1;
            A tx;
            half_pixel<A>((int)j, w, ow, x0, x1, tx);
            auto along_x = [&](const T* row) {
                const A a = to_acc(gload(row + x0));
                return a + (to_acc(gload(row + x1)) - a) * tx;
            };
            A v = along_x(r00);
            if (RANK >= 2) {
                v = v + (along_x(r01) - v) * ty;
            }
            if (RANK == 3) {
                A back = along_x(r10);
                back = back + (along_x(r11) - back) * ty;
                v = v + (back - v) * tz;
            }
            gstore(out + j, store_as<T>::from(v));
        }
    }
}

}  // namespace cthulhu

template <typename T, int RANK>
__global__ void cthulhu_upsample_linear_ncdhw(const T* __restrict__ x, T* __restrict__ y, int n,
                                              int d, int h, int w, int c, int fd, int fh,
                                              int fw) {
    cthulhu::upsample_linear_cf<T, RANK>(x, y, n, d, h, w, c, fd, fh, fw);
}

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

// -- channels_last at memory bandwidth (VEC channels per access) ------------------------
//
// The layout of every channels_last memory-bound kernel (depthwise.cu's too, pooling
// should follow): a 2D block, threadIdx.x over channel vectors (looping when there are
// more than blockDim.x), threadIdx.y over x positions; blockIdx.x over blocks of x
// positions; blockIdx.y over rows (batch, z, y), grid-stride, decomposed once per row.
// No division per element; every access is VEC * sizeof(T) bytes, neighbouring lanes
// on neighbouring vectors. The host picks VEC = 4 when C % 4 == 0 and the pointers are
// aligned (_memory.py).

namespace cthulhu {

// Nearest: one input vector read once and written to its fd * fh * fw copies. Rows are
// input rows (n, z, y); x an input column.
template <typename T, int VEC>
__device__ __forceinline__ void upsample_nearest_cl(const T* __restrict__ x, T* __restrict__ y,
                                                    int n, int d, int h, int w, int c, int fd,
                                                    int fh, int fw) {
    typedef vec_of<T, VEC> V;
    const int cg = c / VEC;
    const int ix = blockIdx.x * blockDim.y + threadIdx.y;
    if (ix >= w) {
        return;  // no barrier in this kernel
    }
    const long long rows = (long long)n * d * h;
    const long long ow = (long long)w * fw, oh = (long long)h * fh, od = (long long)d * fd;
    for (long long r = blockIdx.y; r < rows; r += gridDim.y) {
        const int iy = (int)(r % h);
        const long long q = r / h;
        const int iz = (int)(q % d);
        const long long nb = q / d;
        const V* src = reinterpret_cast<const V*>(x) + (r * w + ix) * cg;
        V* dst = reinterpret_cast<V*>(y) +
                 (((nb * od + (long long)iz * fd) * oh + (long long)iy * fh) * ow +
                  (long long)ix * fw) * cg;
        for (int g = threadIdx.x; g < cg; g += blockDim.x) {
            const V v = gload(src + g);
            for (int dz = 0; dz < fd; ++dz) {
                for (int dy = 0; dy < fh; ++dy) {
                    V* line = dst + ((dz * oh + dy) * ow) * cg + g;
                    for (int dx = 0; dx < fw; ++dx) {
                        gstore(line + (long long)dx * cg, v);
                    }
                }
            }
        }
    }
}

// (Bi/tri)linear, TF2 half-pixel centres, RANK 2 (d = fd = 1) or 3. Rows are output rows
// (n, oz, oy): their source rows and weights are computed once per row; the columns'
// once per thread.
template <typename T, int VEC, int RANK>
__device__ __forceinline__ void upsample_linear_cl(const T* __restrict__ x, T* __restrict__ y,
                                                   int n, int d, int h, int w, int c, int fd,
                                                   int fh, int fw) {
    typedef typename acc_of<T>::type A;
    typedef vec_of<T, VEC> V;
    const int cg = c / VEC;
    const int od = d * fd, oh = h * fh, ow = w * fw;
    const int ox = blockIdx.x * blockDim.y + threadIdx.y;
    if (ox >= ow) {
        return;
    }
    int x0, x1;
    A tx;
    half_pixel<A>(ox, w, ow, x0, x1, tx);
    const long long rows = (long long)n * od * oh;
    for (long long r = blockIdx.y; r < rows; r += gridDim.y) {
        const int oy = (int)(r % oh);
        const long long q = r / oh;
        const int oz = (int)(q % od);
        const long long nb = q / od;
        int y0, y1, z0 = 0, z1 = 0;
        A ty, tz = A(0);
        half_pixel<A>(oy, h, oh, y0, y1, ty);
        if (RANK == 3) {
            half_pixel<A>(oz, d, od, z0, z1, tz);
        }
        const V* img = reinterpret_cast<const V*>(x) + nb * d * h * (long long)w * cg;
        auto at = [&](int zz, int yy, int xx, int g) {
            return gload(img + (((long long)zz * h + yy) * w + xx) * cg + g);
        };
        V* dst = reinterpret_cast<V*>(y) + (r * ow + ox) * cg;
        for (int g = threadIdx.x; g < cg; g += blockDim.x) {
            V out;
            const V a = at(z0, y0, x0, g), b = at(z0, y0, x1, g);
            const V e = at(z0, y1, x0, g), f = at(z0, y1, x1, g);
            V a2 = a, b2 = b, e2 = e, f2 = f;
            if (RANK == 3) {
                a2 = at(z1, y0, x0, g);
                b2 = at(z1, y0, x1, g);
                e2 = at(z1, y1, x0, g);
                f2 = at(z1, y1, x1, g);
            }
#pragma unroll
            for (int k = 0; k < VEC; ++k) {
                const A top = to_acc(a.v[k]) + (to_acc(b.v[k]) - to_acc(a.v[k])) * tx;
                const A bottom = to_acc(e.v[k]) + (to_acc(f.v[k]) - to_acc(e.v[k])) * tx;
                A v = top + (bottom - top) * ty;
                if (RANK == 3) {
                    const A top2 = to_acc(a2.v[k]) + (to_acc(b2.v[k]) - to_acc(a2.v[k])) * tx;
                    const A bottom2 = to_acc(e2.v[k]) + (to_acc(f2.v[k]) - to_acc(e2.v[k])) * tx;
                    const A v2 = top2 + (bottom2 - top2) * ty;
                    v = v + (v2 - v) * tz;
                }
                out.v[k] = store_as<T>::from(v);
            }
            gstore(dst + g, out);
        }
    }
}

}  // namespace cthulhu

template <typename T, int VEC>
__global__ void cthulhu_upsample_nearest_cl(const T* __restrict__ x, T* __restrict__ y, int n,
                                            int d, int h, int w, int c, int fd, int fh, int fw) {
    cthulhu::upsample_nearest_cl<T, VEC>(x, y, n, d, h, w, c, fd, fh, fw);
}

template <typename T, int VEC, int RANK>
__global__ void cthulhu_upsample_linear_cl(const T* __restrict__ x, T* __restrict__ y, int n,
                                           int d, int h, int w, int c, int fd, int fh, int fw) {
    cthulhu::upsample_linear_cl<T, VEC, RANK>(x, y, n, d, h, w, c, fd, fh, fw);
}
