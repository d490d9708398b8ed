// Convolution and transposed convolution, 1D/2D/3D, as an implicit GEMM.
//
// Every rank is run as 3D (absent axes have size 1). The GEMM is
//     y[m, f] = sum_k im2col(x)[m, k] * W[k, f]
// with m = (batch, output position) and k = (kernel offset, input channel), which
// is exactly the Keras kernel layout (*kernel, C, F) flattened to (K, F).
// A block computes a BM x BN tile of y (output positions x filters); the K loop
// stages BK-deep slices of im2col(x) and W through shared memory, and each thread
// accumulates a TM x TN micro-tile in registers. The next slice is loaded into
// registers while the current one is multiplied (software pipelining).
//
// Transposed convolution (Keras Conv2DTranspose, gradient-of-conv semantics) is the
// direct convolution of the input with (stride - 1) zeros inserted between samples,
// zero-padded by (pd, ph, pw) before each axis, with the kernel flipped spatially and
// its last two axes swapped: kernel (*k, F, C). Most products with the inserted zeros
// would be wasted (3/4 of them in 2D at stride 2), so the outputs are split into the
// stride**rank phases o = q * s + r: for one phase only every s-th kernel tap meets
// real samples, and what remains is a dense stride-1 convolution with a sub-kernel.
// blockIdx.z is the phase; every phase is a GEMM with its own M and K and no zeros.
// (Keras forbids stride > 1 together with dilation > 1; _launch.py rejects it here.)
//
// Each accumulator goes once through the epilogue of cthulhu_common.cuh (+ bias, * scale,
// + shift: a folded inference batch norm, then the activation) before its store, so a
// conv -> BatchNormalization -> ReLU chain folded by cthulhu.engine.fusion is one launch.
//
// Kernel symbols (name expressions): cthulhu_conv_nd_ndhwc<T, BM, BN, TM, TN>,
// cthulhu_conv_nd_ncdhw<...>, cthulhu_conv_transpose_nd_ndhwc<...>,
// cthulhu_conv_transpose_nd_ncdhw<...>; T is float, double or cthulhu_half.
// The grid is (ceil(M / BM), ceil(F / BN), phases) with (BM / TM) * (BN / TN) threads
// per block (M of the largest phase for the transposed kernels);
// cthulhu/devices/cupy_/_launch.py computes it and picks the tile.
#include "cthulhu_common.cuh"
#include "cthulhu_conv.cuh"

namespace cthulhu {

struct ConvShape {
    int n, d, h, w, c;  // input: batch, depth, height, width, channels
    int od, oh, ow, f;  // output: depth, height, width, filters
    int kd, kh, kw;     // kernel spatial size
    int sd, sh, sw;     // strides
    int dd, dh, dw;     // dilation
    int pd, ph, pw;     // zero padding before each axis
};

constexpr int CONV_BK = 16;
// An origin that makes every coordinate test fail (rows past the end of M).
constexpr int CONV_NOWHERE = -(1 << 29);

template <typename T, int LAYOUT, bool TRANSPOSED, int BM, int BN, int TM, int TN>
__device__ __forceinline__ void conv_igemm(const T* __restrict__ x, const T* __restrict__ wt,
                                           const T* __restrict__ bias,
                                           const T* __restrict__ scale,
                                           const T* __restrict__ shift, T* __restrict__ y,
                                           const ConvShape& s, int flags, int act,
                                           typename acc_of<T>::type alpha) {
    typedef typename acc_of<T>::type A;
    constexpr int BK = CONV_BK;
    constexpr int NT = (BM / TM) * (BN / TN);
    constexpr int A_LOADS = BM * BK / NT;
    constexpr int B_LOADS = BK * BN / NT;
    static_assert(BM % TM == 0 && BN % TN == 0, "the micro-tile must divide the tile");
    static_assert((BM * BK) % NT == 0 && (BK * BN) % NT == 0, "every thread loads equally");
    static_assert(NT % BK == 0 && NT % BM == 0 && NT % BN == 0, "fixed per-thread load slots");
    constexpr bool CL = LAYOUT == CTHULHU_CHANNELS_LAST;
    // channels_last: neighbouring threads load neighbouring k (= channels) of one row;
    // channels_first: neighbouring threads load neighbouring m (= output x positions).
    constexpr int M_SLOTS = CL ? A_LOADS : 1;

    // +4: breaks the bank conflicts of the transposing stores, keeps 16-byte rows
    // (aligned, so that the micro-tile reads below become vector loads).
    __shared__ __align__(16) A As[BK][BM + 4];
    __shared__ __align__(16) A Bs[BK][BN + 4];
    // This block's GEMM geometry per axis (z, y, x), see AxisField.
    __shared__ int Ax[3][AX_FIELDS];

    const int tid = threadIdx.x;
    if (tid == 0) {
        const int r = (int)blockIdx.z;  // the phase (always 0 for the direct convolution)
        if (TRANSPOSED) {
            phase_axis(Ax[0], r / (s.sh * s.sw), s.od, s.kd, s.sd, s.dd, s.pd);
            phase_axis(Ax[1], (r / s.sw) % s.sh, s.oh, s.kh, s.sh, s.dh, s.ph);
            phase_axis(Ax[2], r % s.sw, s.ow, s.kw, s.sw, s.dw, s.pw);
        } else {
            direct_axis(Ax[0], s.od, s.kd, s.sd, s.dd, s.pd);
            direct_axis(Ax[1], s.oh, s.kh, s.sh, s.dh, s.ph);
            direct_axis(Ax[2], s.ow, s.kw, s.sw, s.dw, s.pw);
        }
    }
    __syncthreads();

    const int QY = Ax[1][AX_NQ];
    const int QX = Ax[2][AX_NQ];
    const long long QS = (long long)Ax[0][AX_NQ] * QY * QX;  // outputs per image
    const long long IS = (long long)s.d * s.h * s.w;
    const long long OS = (long long)s.od * s.oh * s.ow;
    const long long M = (long long)s.n * QS;
    const int NTY = Ax[1][AX_NT];
    const int NTX = Ax[2][AX_NT];
    const int K = Ax[0][AX_NT] * NTY * NTX * s.c;
    const int KS = s.kd * s.kh * s.kw;
    const long long m0 = (long long)blockIdx.x * BM;
    const int n0 = blockIdx.y * BN;
    if (m0 >= M) {
        return;  // a phase smaller than the grid: the whole block leaves, no barrier skipped
    }

    // Rows (output positions) this thread loads: batch index and window origin.
    int a_img[M_SLOTS];  // batch index (an int saves registers; offsets are 64-bit below)
    int a_z[M_SLOTS], a_y[M_SLOTS], a_x[M_SLOTS];
    for (int j = 0; j < M_SLOTS; ++j) {
        const int mm = CL ? tid / BK + j * (NT / BK) : tid % BM;
        const long long m = m0 + mm;
        if (m < M) {
            const long long nb = m / QS;
            const int r = (int)(m - nb * QS);
            const int qz = r / (QY * QX);
            const int r2 = r - qz * (QY * QX);
            const int qy = r2 / QX;
            const int qx = r2 - qy * QX;
            a_img[j] = (int)nb;
            a_z[j] = qz * Ax[0][AX_IN_STEP] + Ax[0][AX_ORIGIN];
            a_y[j] = qy * Ax[1][AX_IN_STEP] + Ax[1][AX_ORIGIN];
            a_x[j] = qx * Ax[2][AX_IN_STEP] + Ax[2][AX_ORIGIN];
        } else {
            a_img[j] = 0;
            a_z[j] = CONV_NOWHERE;
            a_y[j] = CONV_NOWHERE;
            a_x[j] = CONV_NOWHERE;
        }
    }

    A a_reg[A_LOADS];
    A b_reg[B_LOADS];

    // The K slice's decomposition k -> (channel, input offsets, original kernel tap),
    // computed once per block by BK threads instead of once per load (integer division
    // is slow on a GPU). Double-buffered: the next slice's entries are written while the
    // current ones may still be read. Channel -1 marks k past the end of K.
    __shared__ int Kt[2][5][BK];
    auto fill_k_table = [&](int buf, int k0) {
        if (tid < BK) {
            const int k = k0 + tid;
            int c = -1, dz = 0, dy = 0, dx = 0, tap = 0;
            if (k < K) {
                c = k % s.c;
                const int kp = k / s.c;
                const int jx = kp % NTX;
                const int jy = (kp / NTX) % NTY;
                const int jz = kp / (NTX * NTY);
                dz = jz * Ax[0][AX_TAP_STEP];
                dy = jy * Ax[1][AX_TAP_STEP];
                dx = jx * Ax[2][AX_TAP_STEP];
                const int kz = Ax[0][AX_FIRST_TAP] + jz * Ax[0][AX_TAP_STRIDE];
                const int ky = Ax[1][AX_FIRST_TAP] + jy * Ax[1][AX_TAP_STRIDE];
                const int kx = Ax[2][AX_FIRST_TAP] + jx * Ax[2][AX_TAP_STRIDE];
                tap = (kz * s.kh + ky) * s.kw + kx;
            }
            Kt[buf][0][tid] = c;
            Kt[buf][1][tid] = dz;
            Kt[buf][2][tid] = dy;
            Kt[buf][3][tid] = dx;
            Kt[buf][4][tid] = tap;
        }
    };

    // Gather the im2col slice [k0, k0 + BK) and the weight slice into registers.
    auto load_slices = [&](int k0, int buf) {
        for (int j = 0; j < A_LOADS; ++j) {
            const int ms = CL ? j : 0;
            const int kk = CL ? tid % BK : tid / BM + j * (NT / BM);
            const int c = Kt[buf][0][kk];
            A v = A(0);
            if (c >= 0) {
                const int iz = a_z[ms] + Kt[buf][1][kk];
                const int iy = a_y[ms] + Kt[buf][2][kk];
                const int ix = a_x[ms] + Kt[buf][3][kk];
                if (iz >= 0 && iz < s.d && iy >= 0 && iy < s.h && ix >= 0 && ix < s.w) {
                    const long long img = (long long)a_img[ms] * IS * s.c;
                    const long long pos = ((long long)iz * s.h + iy) * s.w + ix;
                    const long long off = CL ? img + pos * s.c + c
                                             : img + (long long)c * IS + pos;
                    v = to_acc(x[off]);
                }
            }
            a_reg[j] = v;
        }
        for (int j = 0; j < B_LOADS; ++j) {
            // Direct: W is (K, F), read along f. Transposed: W is (KS, F, C), read along c.
            const int nn = TRANSPOSED ? tid / BK + j * (NT / BK) : tid % BN;
            const int kk = TRANSPOSED ? tid % BK : tid / BN + j * (NT / BN);
            const int k = k0 + kk;
            const int f = n0 + nn;
            A v = A(0);
            if (k < K && f < s.f) {
                if (TRANSPOSED) {
                    const int c = Kt[buf][0][kk];
                    const int kflip = KS - 1 - Kt[buf][4][kk];  // flipping every axis reverses it
                    v = to_acc(wt[((long long)kflip * s.f + f) * s.c + c]);
                } else {
                    v = to_acc(wt[(long long)k * s.f + f]);
                }
            }
            b_reg[j] = v;
        }
    };
    auto store_slices = [&]() {
        for (int j = 0; j < A_LOADS; ++j) {
            const int mm = CL ? tid / BK + j * (NT / BK) : tid % BM;
            const int kk = CL ? tid % BK : tid / BM + j * (NT / BM);
            As[kk][mm] = a_reg[j];
        }
        for (int j = 0; j < B_LOADS; ++j) {
            const int nn = TRANSPOSED ? tid / BK + j * (NT / BK) : tid % BN;
            const int kk = TRANSPOSED ? tid % BK : tid / BN + j * (NT / BN);
            Bs[kk][nn] = b_reg[j];
        }
    };

    // This thread's micro-tile: TM rows and TN columns in runs of VM (VN) contiguous
    // ones, so that each run is one vector load from shared memory (and one 8- or
    // 16-byte run of the output row); the runs of neighbouring threads are adjacent, so
    // a warp still stores long contiguous stretches. Rows ty*VM + (i % VM) + run offset.
    constexpr int VM = TM < 4 ? TM : 4;
    constexpr int VN = TN < 4 ? TN : 4;
    static_assert(TM % VM == 0 && TN % VN == 0, "micro-tile runs");
    const int tx = CL ? tid % (BN / TN) : tid / (BM / TM);
    const int ty = CL ? tid / (BN / TN) : tid % (BM / TM);
    auto row_of = [&](int i) { return (i / VM) * (BM / TM) * VM + ty * VM + i % VM; };
    auto col_of = [&](int j) { return (j / VN) * (BN / TN) * VN + tx * VN + j % VN; };
    A acc[TM][TN];
    for (int i = 0; i < TM; ++i) {
        for (int j = 0; j < TN; ++j) {
            acc[i][j] = A(0);
        }
    }

    fill_k_table(0, 0);
    __syncthreads();
    load_slices(0, 0);
    for (int k0 = 0, buf = 0; k0 < K; k0 += BK, buf ^= 1) {
        if (k0 + BK < K) {
            fill_k_table(buf ^ 1, k0 + BK);  // that buffer's last reader passed two barriers
        }
        store_slices();
        __syncthreads();
        if (k0 + BK < K) {
            load_slices(k0 + BK, buf ^ 1);  // in flight while the tile below is multiplied
        }
        for (int kk = 0; kk < BK; ++kk) {
            A a[TM];
            A b[TN];
            for (int i = 0; i < TM; ++i) {
                a[i] = As[kk][row_of(i)];
            }
            for (int j = 0; j < TN; ++j) {
                b[j] = Bs[kk][col_of(j)];
            }
            for (int i = 0; i < TM; ++i) {
                for (int j = 0; j < TN; ++j) {
                    acc[i][j] += a[i] * b[j];
                }
            }
        }
        __syncthreads();
    }

    // Unrolled so that acc stays in registers (a loop index into it would put it in
    // local memory).
#pragma unroll
    for (int i = 0; i < TM; ++i) {
        const long long m = m0 + row_of(i);
        if (m >= M) {
            continue;
        }
        // Output position of GEMM row m: (batch, q) -> o = q * out_step + out_offset.
        const long long nb = m / QS;
        const int r = (int)(m - nb * QS);
        const int qz = r / (QY * QX);
        const int r2 = r - qz * (QY * QX);
        const int qy = r2 / QX;
        const int qx = r2 - qy * QX;
        const int oz = qz * Ax[0][AX_OUT_STEP] + Ax[0][AX_OUT_OFFSET];
        const int oy = qy * Ax[1][AX_OUT_STEP] + Ax[1][AX_OUT_OFFSET];
        const int ox = qx * Ax[2][AX_OUT_STEP] + Ax[2][AX_OUT_OFFSET];
        const long long sp = ((long long)oz * s.oh + oy) * s.ow + ox;
#pragma unroll
        for (int j = 0; j < TN; ++j) {
            const int f = n0 + col_of(j);
            if (f >= s.f) {
                continue;
            }
            const A v = epilogue<T, A>(acc[i][j], f, bias, scale, shift, flags, act, alpha);
            const long long off = CL ? (nb * OS + sp) * s.f + f : (nb * s.f + f) * OS + sp;
            y[off] = store_as<T>::from(v);
        }
    }
}

}  // namespace cthulhu

// The kernels' parameters, in the order _launch.conv_launch() packs them: the arrays,
// the sizes, then the epilogue (CTHULHU_EPI_* flags, activation code, leaky_relu's alpha
// in the accumulation type: float, or double for T = double).
#define CTHULHU_CONV_PARAMS                                                                   \
    const T *__restrict__ x, const T *__restrict__ w, const T *__restrict__ bias,            \
        const T *__restrict__ scale, const T *__restrict__ shift, T *__restrict__ y, int n,   \
        int d, int h, int wd, int c, int od, int oh, int ow, int f, int kd, int kh, int kw,   \
        int sd, int sh, int sw, int dd, int dh, int dw, int pd, int ph, int pw, int flags,    \
        int act, typename cthulhu::acc_of<T>::type alpha
#define CTHULHU_CONV_SHAPE \
    {n, d, h, wd, c, od, oh, ow, f, kd, kh, kw, sd, sh, sw, dd, dh, dw, pd, ph, pw}

template <typename T, int BM, int BN, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
    cthulhu_conv_nd_ndhwc(CTHULHU_CONV_PARAMS) {
    const cthulhu::ConvShape s = CTHULHU_CONV_SHAPE;
    cthulhu::conv_igemm<T, CTHULHU_CHANNELS_LAST, false, BM, BN, TM, TN>(
        x, w, bias, scale, shift, y, s, flags, act, alpha);
}

template <typename T, int BM, int BN, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
    cthulhu_conv_nd_ncdhw(CTHULHU_CONV_PARAMS) {
    const cthulhu::ConvShape s = CTHULHU_CONV_SHAPE;
    cthulhu::conv_igemm<T, CTHULHU_CHANNELS_FIRST, false, BM, BN, TM, TN>(
        x, w, bias, scale, shift, y, s, flags, act, alpha);
}

template <typename T, int BM, int BN, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
    cthulhu_conv_transpose_nd_ndhwc(CTHULHU_CONV_PARAMS) {
    const cthulhu::ConvShape s = CTHULHU_CONV_SHAPE;
    cthulhu::conv_igemm<T, CTHULHU_CHANNELS_LAST, true, BM, BN, TM, TN>(
        x, w, bias, scale, shift, y, s, flags, act, alpha);
}

template <typename T, int BM, int BN, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
    cthulhu_conv_transpose_nd_ncdhw(CTHULHU_CONV_PARAMS) {
    const cthulhu::ConvShape s = CTHULHU_CONV_SHAPE;
    cthulhu::conv_igemm<T, CTHULHU_CHANNELS_FIRST, true, BM, BN, TM, TN>(
        x, w, bias, scale, shift, y, s, flags, act, alpha);
}
