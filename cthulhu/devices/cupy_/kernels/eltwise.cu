// Element-wise, memory-bound kernels: the per-channel epilogue (bias, batch-norm scale
// and shift, activation) on its own, and the float32 -> bfloat16 cast of the bf16
// convolution path.
//
// The pattern for memory-bound kernels here (pooling of issue 10 should follow it):
//   * VEC elements per access (16 bytes for float32 at VEC = 4) when the channel count
//     and the pointers allow it, else VEC = 1 (the host picks, _eltwise.py);
//   * several accesses per thread through a grid-stride loop;
//   * no division per element: for channels_last the channel of a thread's first vector
//     is computed once, and the grid's stride is a multiple of the channel count (the
//     host sizes the grid so), so it never changes along the loop; for channels_first
//     a block walks one (batch, channel) plane at a time (blockIdx.y).
//
// Symbols: cthulhu_channel_epilogue_nhwc<T, VEC>, cthulhu_channel_epilogue_nchw<T>,
// cthulhu_cast_bf16<VEC>.
#include "cthulhu_common.cuh"

// channels_last: ``groups`` = elements / VEC vectors, channel c of vector i is
// (i * VEC) % C; the grid's threads times VEC is a multiple of C. In place when x == y.
template <typename T, int VEC>
__global__ void cthulhu_channel_epilogue_nhwc(const T* x, const T* bias, const T* scale,
                                              const T* shift, T* y, long long groups, int c,
                                              int flags, int act, float alpha) {
    typedef cthulhu::vec_of<T, VEC> V;
    typedef typename cthulhu::acc_of<T>::type A;
    const long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const long long stride = (long long)gridDim.x * blockDim.x;
    const int ch = (int)((first * VEC) % c);  // the same for every vector of this thread
    A b[VEC], sc[VEC], sf[VEC];
#pragma unroll
    for (int e = 0; e < VEC; ++e) {
        b[e] = (flags & CTHULHU_EPI_BIAS) ? cthulhu::to_acc(cthulhu::gload(bias + ch + e)) : A(0);
        sc[e] = (flags & CTHULHU_EPI_SCALE) ? cthulhu::to_acc(cthulhu::gload(scale + ch + e)) : A(1);
        sf[e] = (flags & CTHULHU_EPI_SHIFT) ? cthulhu::to_acc(cthulhu::gload(shift + ch + e)) : A(0);
    }
    for (long long i = first; i < groups; i += stride) {
        V v = cthulhu::gload(reinterpret_cast<const V*>(x) + i);
#pragma unroll
        for (int e = 0; e < VEC; ++e) {
            const A r = (cthulhu::to_acc(v.v[e]) + b[e]) * sc[e] + sf[e];
            v.v[e] = cthulhu::store_as<T>::from(cthulhu::activate(r, act, A(alpha)));
        }
        cthulhu::gstore(reinterpret_cast<V*>(y) + i, v);
    }
}

// channels_first: blockIdx.y walks the (batch, channel) planes of ``inner`` elements.
template <typename T>
__global__ void cthulhu_channel_epilogue_nchw(const T* x, const T* bias, const T* scale,
                                              const T* shift, T* y, long long planes, int c,
                                              int inner, int flags, int act, float alpha) {
    typedef typename cthulhu::acc_of<T>::type A;
    for (long long p = blockIdx.y; p < planes; p += gridDim.y) {
        const int ch = (int)(p % c);
        const A b = (flags & CTHULHU_EPI_BIAS) ? cthulhu::to_acc(cthulhu::gload(bias + ch)) : A(0);
        const A sc = (flags & CTHULHU_EPI_SCALE) ? cthulhu::to_acc(cthulhu::gload(scale + ch)) : A(1);
        const A sf = (flags & CTHULHU_EPI_SHIFT) ? cthulhu::to_acc(cthulhu::gload(shift + ch)) : A(0);
        const T* xp = x + p * inner;
        T* yp = y + p * inner;
        for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < inner; j += gridDim.x * blockDim.x) {
            const A r = (cthulhu::to_acc(cthulhu::gload(xp + j)) + b) * sc + sf;
            cthulhu::gstore(yp + j, cthulhu::store_as<T>::from(cthulhu::activate(r, act, A(alpha))));
        }
    }
}

// float32 -> bfloat16 (round to nearest even), ``groups`` vectors of VEC.
template <int VEC>
__global__ void cthulhu_cast_bf16(const float* x, cthulhu_bf16* y, long long groups) {
    typedef cthulhu::vec_of<float, VEC> VI;
    typedef cthulhu::vec_of<cthulhu_bf16, VEC> VO;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < groups;
         i += (long long)gridDim.x * blockDim.x) {
        const VI v = cthulhu::gload(reinterpret_cast<const VI*>(x) + i);
        VO o;
#pragma unroll
        for (int e = 0; e < VEC; ++e) {
            o.v[e] = cthulhu_float_to_bf16(v.v[e]);
        }
        cthulhu::gstore(reinterpret_cast<VO*>(y) + i, o);
    }
}
