// The fast convolution: an implicit GEMM over a channels_last input, on tensor cores
// (TC = true: mma.sync tf32 for float storage, f16 / bf16 for 16-bit storage, float32
// accumulators) or on the FMA units in strict float32 (TC = false), with a multi-stage
// cp.async pipeline and the fused epilogue of GEOMETRY.md.
//
//     y[m, f] = epilogue(sum_k A[m, k] * B[k, f]),  m = (batch, output position),
//     k = (kernel tap, channel), A gathered from x on the fly, B = the weights.
//
// What the host prepares (_igemm.py): the weights as a zero-padded (taps, Cp, Fp) matrix
// (Cp a multiple of BK, Fp of BN; a transposed convolution's kernel flipped and its last
// axes swapped), so every B tile is whole and aligned; the input channels_last with C a
// multiple of the 16-byte vector (4 floats, 8 halves). The kernel then has no bounds
// test on B and one precomputed predicate per A row and tap.
//
// Data movement. A block computes a BM x BN tile of y. The K loop runs over (tap,
// BK-channel chunk) tiles; each is copied by cp.async in 16-byte chunks into one of
// STAGES shared-memory stages (STAGES - 1 tiles in flight while one is multiplied):
//   A stage [BM][BK + VEC]  (k contiguous: the channels of one input position),
//   B stage [BK][BN + 8]    (n contiguous: one row of the weight matrix).
// The pads keep 16-byte row alignment and make the fragment reads conflict-free.
// Each thread owns fixed A rows; their window origin (a pointer) and a 30-bit mask of
// in-bounds taps (10 bits per axis; the host declines kernels with > 10 taps per axis)
// are computed once per block, so a tile load is a pointer add and a bit test per row:
// no division, no bounds arithmetic in the K loop. Zero padding and channels past C
// are zero-filled by cp.async (src-size 0).
//
// Compute. Warps own WM x WN sub-tiles. TC: per mma k-step, A fragments (16 x k) and
// B fragments (k x 8) are read from shared memory in the PTX ISA fragment layouts
// (float: cvt.rna.tf32 on the way) and fed to mma.sync. SIMT: lanes form a 4 x 8 grid,
// each thread accumulates (WM/4) x (WN/8) outputs from (WM/4) A values (broadcast
// among the 8 lanes of a row group) and B in float4 runs along n (conflict-free).
//
// Epilogue. Each accumulator goes once through + bias, * scale, + shift, activation
// and is stored as To, channels_last or channels_first (out_layout), so a channels_first
// caller needs only its input transposed.
//
// Symbols: cthulhu_igemm_ndhwc<Ti, To, BM, BN, BK, WM, WN, STAGES, TC>; grid
// (ceil(M / BM), ceil(F / BN), phases), (BM / WM) * (BN / WN) * 32 threads, dynamic
// shared memory STAGES * (BM * (BK + VEC) + BK * (BN + 8)) * sizeof(Ti) bytes. The
// launch bounds ask for two resident blocks, so that the loads of one overlap the
// arithmetic of the other.
#include "cthulhu_common.cuh"
#include "cthulhu_conv.cuh"
#include "cthulhu_warp.cuh"

namespace cthulhu {

struct IgemmShape {
    int n, d, h, w, c, cp;  // input; cp: channels of the padded weight matrix
    int od, oh, ow, f, fp;  // output; fp: filters of the padded weight matrix
    int kd, kh, kw, sd, sh, sw, dd, dh, dw, pd, ph, pw;
};

// Bits j < taps (at most 10) of the taps whose input o + j * step lies in [0, size).
__device__ __forceinline__ unsigned tap_mask(int o, int taps, int step, int size) {
    unsigned mask = 0;
#pragma unroll
    for (int j = 0; j < 10; ++j) {
        const int i = o + j * step;
        mask |= (j < taps && i >= 0 && i < size) ? (1u << j) : 0u;
    }
    return mask;
}

template <typename T>
struct __align__(2 * sizeof(T)) pair_of {
    T a, b;
};

template <typename Ti, typename To, int BM, int BN, int BK, int WM, int WN, int STAGES, bool TC>
struct Igemm {
    static constexpr int WARPS_N = BN / WN;
    static constexpr int THREADS = (BM / WM) * WARPS_N * 32;
    static constexpr int VEC = 16 / (int)sizeof(Ti);  // elements of one 16-byte chunk
    static constexpr int LDA = BK + VEC;
    static constexpr int LDB = BN + 8;
    static constexpr int A_CHUNKS = BK / VEC;  // chunks per A row
    static constexpr int A_RPP = THREADS / A_CHUNKS;
    static constexpr int A_ITERS = (BM + A_RPP - 1) / A_RPP;
    static constexpr int B_CHUNKS = BN / VEC;
    static constexpr int B_TOTAL = BK * B_CHUNKS;
    static constexpr int B_ITERS = (B_TOTAL + THREADS - 1) / THREADS;
    static constexpr int A_STAGE = BM * LDA;
    static constexpr int B_STAGE = BK * LDB;
    static_assert(BM % WM == 0 && BN % WN == 0 && BK % VEC == 0 && BN % VEC == 0, "tiles");
    static_assert(THREADS % A_CHUNKS == 0 && STAGES >= 2, "A chunk column fixed per thread");
    static_assert(!TC || (WM % 16 == 0 && WN % 16 == 0 && BK % tensor_op<Ti>::K == 0), "mma");
    static_assert(TC || (sizeof(Ti) == 4 && WM % 4 == 0 && WN % 8 == 0 && BK % 2 == 0), "simt");
};

template <typename Ti, typename To, int BM, int BN, int BK, int WM, int WN, int STAGES, bool TC>
__device__ __forceinline__ void igemm(const Ti* __restrict__ x, const Ti* __restrict__ wt,
                                      const To* __restrict__ bias, const To* __restrict__ scale,
                                      const To* __restrict__ shift, To* __restrict__ y,
                                      const IgemmShape& s, int transposed, int out_cl,
                                      int flags, int act, float alpha) {
    typedef Igemm<Ti, To, BM, BN, BK, WM, WN, STAGES, TC> G;
    CTHULHU_DYNAMIC_SHARED(smem);
    Ti* As = reinterpret_cast<Ti*>(smem);
    Ti* Bs = As + STAGES * G::A_STAGE;
    __shared__ int Ax[3][AX_FIELDS];

    const int tid = threadIdx.x;
    if (tid == 0) {
        const int r = (int)blockIdx.z;  // the output phase (0 for a direct convolution)
        if (transposed) {
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

    const int QY = Ax[1][AX_NQ], QX = Ax[2][AX_NQ];
    const int QS = Ax[0][AX_NQ] * QY * QX;  // GEMM rows per image (< 2^31: host-checked)
    const long long M = (long long)s.n * QS;
    const int NTZ = Ax[0][AX_NT], NTY = Ax[1][AX_NT], NTX = Ax[2][AX_NT];
    const int KT = NTZ * NTY * NTX * (s.cp / BK);
    const long long m0 = (long long)blockIdx.x * BM;
    const int n0 = blockIdx.y * BN;
    if (m0 >= M) {
        return;  // the whole block (a phase smaller than the grid); no barrier follows
    }

    // Per owned A row: the window origin and the in-bounds taps (see the header).
    const int a_ch = tid % G::A_CHUNKS;
    const Ti* a_ptr[G::A_ITERS];
    unsigned a_mask[G::A_ITERS];
#pragma unroll
    for (int it = 0; it < G::A_ITERS; ++it) {
        const int row = tid / G::A_CHUNKS + it * G::A_RPP;
        const long long m = m0 + row;
        a_ptr[it] = x;
        a_mask[it] = 0;
        if (row < BM && m < M) {
            const long long nb = m / QS;
            const int r = (int)(m - nb * QS);
            const int qz = r / (QY * QX);
            const int r2 = r - qz * (QY * QX);
            const int qy = r2 / QX;
            const int qx = r2 - qy * QX;
            const int iz = qz * Ax[0][AX_IN_STEP] + Ax[0][AX_ORIGIN];
            const int iy = qy * Ax[1][AX_IN_STEP] + Ax[1][AX_ORIGIN];
            const int ix = qx * Ax[2][AX_IN_STEP] + Ax[2][AX_ORIGIN];
            a_mask[it] = tap_mask(iz, NTZ, Ax[0][AX_TAP_STEP], s.d) << 20 |
                         tap_mask(iy, NTY, Ax[1][AX_TAP_STEP], s.h) << 10 |
                         tap_mask(ix, NTX, Ax[2][AX_TAP_STEP], s.w);
            a_ptr[it] = x + (((nb * s.d + iz) * s.h + iy) * (long long)s.w + ix) * s.c +
                        a_ch * G::VEC;
        }
    }

    // The next tile to load: tap (lz, ly, lx) of the phase, channel chunk lc.
    int lz = 0, ly = 0, lx = 0, lc = 0;
    auto load_tile = [&](int stage) {
        const long long toff = ((long long)(lz * Ax[0][AX_TAP_STEP]) * s.h +
                                ly * Ax[1][AX_TAP_STEP]) * s.w * s.c +
                               (long long)lx * Ax[2][AX_TAP_STEP] * s.c + lc;
        const bool c_ok = lc + a_ch * G::VEC < s.c;
        Ti* as = As + stage * G::A_STAGE;
#pragma unroll
        for (int it = 0; it < G::A_ITERS; ++it) {
            const int row = tid / G::A_CHUNKS + it * G::A_RPP;
            if (row < BM) {
                const unsigned mk = a_mask[it];
                const bool ok = c_ok && ((mk >> lx) & (mk >> (10 + ly)) & (mk >> (20 + lz)) & 1u);
                cp_async16(as + row * G::LDA + a_ch * G::VEC,
                           ok ? (const void*)(a_ptr[it] + toff) : (const void*)x, ok ? 16 : 0);
            }
        }
        const int tap = ((Ax[0][AX_FIRST_TAP] + lz * Ax[0][AX_TAP_STRIDE]) * s.kh +
                         Ax[1][AX_FIRST_TAP] + ly * Ax[1][AX_TAP_STRIDE]) * s.kw +
                        Ax[2][AX_FIRST_TAP] + lx * Ax[2][AX_TAP_STRIDE];
        const Ti* brow = wt + ((long long)tap * s.cp + lc) * s.fp + n0;
        Ti* bs = Bs + stage * G::B_STAGE;
#pragma unroll
        for (int it = 0; it < G::B_ITERS; ++it) {
            const int id = tid + it * G::THREADS;
            if (id < G::B_TOTAL) {
                const int k = id / G::B_CHUNKS;
                const int col = (id % G::B_CHUNKS) * G::VEC;
                cp_async16(bs + k * G::LDB + col, brow + (long long)k * s.fp + col, 16);
            }
        }
        lc += BK;  // advance to the next (tap, chunk): x fastest, as the weights' taps
        if (lc == s.cp) {
            lc = 0;
            if (++lx == NTX) {
                lx = 0;
                if (++ly == NTY) {
                    ly = 0;
                    ++lz;
                }
            }
        }
    };

    const int warp = tid / 32, lane = tid % 32;
    const int wm0 = (warp / G::WARPS_N) * WM;
    const int wn0 = (warp % G::WARPS_N) * WN;

    // TC: MT x NT mma tiles of 16 x 8; SIMT: TM x TN outputs per thread.
    constexpr int MT = TC ? WM / 16 : 1, NT = TC ? WN / 8 : 1;
    constexpr int TM = TC ? 1 : WM / 4, TN = TC ? 1 : WN / 8;
    constexpr int VN = TN < 4 ? TN : 4;
    [[maybe_unused]] const int g = lane >> 2, t = lane & 3;  // mma fragment coordinates
    [[maybe_unused]] const int lm = lane / 8, ln = lane % 8;  // SIMT lane grid (4 x 8)
    float acc[TC ? MT * NT * 4 : TM * TN];
#pragma unroll
    for (int i = 0; i < (TC ? MT * NT * 4 : TM * TN); ++i) {
        acc[i] = 0.0f;
    }

    auto compute = [&](int stage) {
        const Ti* as = As + stage * G::A_STAGE;
        const Ti* bs = Bs + stage * G::B_STAGE;
        if constexpr (TC) {
            constexpr int KS = tensor_op<Ti>::K;
            const unsigned short* bs16 = reinterpret_cast<const unsigned short*>(bs);
#pragma unroll
            for (int kk = 0; kk < BK; kk += KS) {
                unsigned a[MT][4], b[NT][2];
#pragma unroll
                for (int mt = 0; mt < MT; ++mt) {
                    const int r = wm0 + mt * 16 + g;
                    if constexpr (KS == 8) {  // tf32: a0 (g, t) a1 (g+8, t) a2 (g, t+4) a3 (g+8, t+4)
                        const float* af = reinterpret_cast<const float*>(as);
                        a[mt][0] = to_tf32(af[r * G::LDA + kk + t]);
                        a[mt][1] = to_tf32(af[(r + 8) * G::LDA + kk + t]);
                        a[mt][2] = to_tf32(af[r * G::LDA + kk + t + 4]);
                        a[mt][3] = to_tf32(af[(r + 8) * G::LDA + kk + t + 4]);
                    } else {  // 16-bit: register = 2 consecutive k; (g, 2t) (g+8, 2t) (g, 2t+8) (g+8, 2t+8)
                        a[mt][0] = *reinterpret_cast<const unsigned*>(as + r * G::LDA + kk + 2 * t);
                        a[mt][1] = *reinterpret_cast<const unsigned*>(as + (r + 8) * G::LDA + kk + 2 * t);
                        a[mt][2] = *reinterpret_cast<const unsigned*>(as + r * G::LDA + kk + 2 * t + 8);
                        a[mt][3] = *reinterpret_cast<const unsigned*>(as + (r + 8) * G::LDA + kk + 2 * t + 8);
                    }
                }
                if constexpr (KS == 8) {  // b0 (k = t, n = g), b1 (k = t + 4)
                    const float* bf = reinterpret_cast<const float*>(bs);
#pragma unroll
                    for (int nt = 0; nt < NT; ++nt) {
                        const int n = wn0 + nt * 8 + g;
                        b[nt][0] = to_tf32(bf[(kk + t) * G::LDB + n]);
                        b[nt][1] = to_tf32(bf[(kk + t + 4) * G::LDB + n]);
                    }
                } else {
                    // b0 = (k 2t, 2t+1), b1 = (k 2t+8, 2t+9) of column g: the transposed
                    // 8x8 blocks of the k-major tile, two n-tiles per ldmatrix.x4.trans
                    // (lane 8i + r gives row k = kk + (i & 1) * 8 + r of n-tile nt + i / 2).
                    const int i = lane >> 3, r = lane & 7;
#pragma unroll
                    for (int nt = 0; nt < NT; nt += 2) {
                        unsigned d[4];
                        ldmatrix_x4_trans(d, bs16 + (kk + (i & 1) * 8 + r) * G::LDB + wn0 +
                                                 (nt + (i >> 1)) * 8);
                        b[nt][0] = d[0];
                        b[nt][1] = d[1];
                        b[nt + 1][0] = d[2];
                        b[nt + 1][1] = d[3];
                    }
                }
#pragma unroll
                for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
                    for (int nt = 0; nt < NT; ++nt) {
                        tensor_op<Ti>::mma(&acc[(mt * NT + nt) * 4], a[mt], b[nt]);
                    }
                }
            }
        } else {
            const float* af = reinterpret_cast<const float*>(as);
            const float* bf = reinterpret_cast<const float*>(bs);
#pragma unroll
            for (int kk = 0; kk < BK; ++kk) {
                float av[TM], bv[TN];
#pragma unroll
                for (int i = 0; i < TM; ++i) {
                    av[i] = af[(wm0 + lm + 4 * i) * G::LDA + kk];
                }
#pragma unroll
                for (int jr = 0; jr < TN / VN; ++jr) {
                    const float* src = bf + kk * G::LDB + wn0 + jr * 8 * VN + ln * VN;
                    if constexpr (VN == 4) {
                        const float4 v = *reinterpret_cast<const float4*>(src);
                        bv[jr * 4] = v.x;
                        bv[jr * 4 + 1] = v.y;
                        bv[jr * 4 + 2] = v.z;
                        bv[jr * 4 + 3] = v.w;
                    } else {
#pragma unroll
                        for (int e = 0; e < VN; ++e) {
                            bv[jr * VN + e] = src[e];
                        }
                    }
                }
#pragma unroll
                for (int i = 0; i < TM; ++i) {
#pragma unroll
                    for (int j = 0; j < TN; ++j) {
                        acc[i * TN + j] = fmaf(av[i], bv[j], acc[i * TN + j]);
                    }
                }
            }
        }
    };

    // The pipeline: STAGES - 1 tiles in flight; one barrier per K tile (it also frees
    // the stage the next load overwrites: everybody finished multiplying it).
#pragma unroll
    for (int st = 0; st < STAGES - 1; ++st) {
        if (st < KT) {
            load_tile(st);
        }
        cp_async_commit();
    }
    for (int kt = 0; kt < KT; ++kt) {
        cp_async_wait<STAGES - 2>();
        __syncthreads();
        if (kt + STAGES - 1 < KT) {
            load_tile((kt + STAGES - 1) % STAGES);
        }
        cp_async_commit();
        compute(kt % STAGES);
    }

    // Epilogue: GEMM row -> output position (once per owned row), then each value once.
    const long long OS = (long long)s.od * s.oh * s.ow;
    auto row_base = [&](int r, long long& base, long long& fstride) {
        const long long m = m0 + r;
        if (m >= M) {
            return false;
        }
        const long long nb = m / QS;
        const int rr = (int)(m - nb * QS);
        const int qz = rr / (QY * QX);
        const int r2 = rr - qz * (QY * QX);
        const int qy = r2 / QX;
        const int qx = r2 - qy * QX;
        const int oz = qz * Ax[0][AX_OUT_STEP] + Ax[0][AX_OUT_OFFSET];
        const int oy = qy * Ax[1][AX_OUT_STEP] + Ax[1][AX_OUT_OFFSET];
        const int ox = qx * Ax[2][AX_OUT_STEP] + Ax[2][AX_OUT_OFFSET];
        const long long sp = ((long long)oz * s.oh + oy) * s.ow + ox;
        base = out_cl ? (nb * OS + sp) * s.f : nb * s.f * OS + sp;
        fstride = out_cl ? 1 : OS;
        return true;
    };
    auto put = [&](long long base, long long fstride, int f, float v) {
        if (f < s.f) {
            v = epilogue<To, float>(v, f, bias, scale, shift, flags, act, alpha);
            gstore(y + base + f * fstride, store_as<To>::from(v));
        }
    };
    if constexpr (TC) {
        // Pairs of neighbouring filters go out as one 8-byte (float) / 4-byte (half) store.
        const bool pairs = out_cl && (s.f % 2 == 0);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                long long base, fstride;
                if (!row_base(wm0 + mt * 16 + g + h * 8, base, fstride)) {
                    continue;
                }
#pragma unroll
                for (int nt = 0; nt < NT; ++nt) {
                    const int f = n0 + wn0 + nt * 8 + 2 * t;
                    const float v0 = acc[(mt * NT + nt) * 4 + 2 * h];
                    const float v1 = acc[(mt * NT + nt) * 4 + 2 * h + 1];
                    if (pairs && f < s.f) {
                        pair_of<To> p;
                        p.a = store_as<To>::from(
                            epilogue<To, float>(v0, f, bias, scale, shift, flags, act, alpha));
                        p.b = store_as<To>::from(
                            epilogue<To, float>(v1, f + 1, bias, scale, shift, flags, act, alpha));
                        gstore(reinterpret_cast<pair_of<To>*>(y + base + f), p);
                    } else {
                        put(base, fstride, f, v0);
                        put(base, fstride, f + 1, v1);
                    }
                }
            }
        }
    } else {
#pragma unroll
        for (int i = 0; i < TM; ++i) {
            long long base, fstride;
            if (!row_base(wm0 + lm + 4 * i, base, fstride)) {
                continue;
            }
#pragma unroll
            for (int jr = 0; jr < TN / VN; ++jr) {
                const int f0 = n0 + wn0 + jr * 8 * VN + ln * VN;
                if (VN == 4 && out_cl && s.f % 4 == 0 && f0 < s.f) {  // one 16-byte store
                    vec_of<To, 4> v;
#pragma unroll
                    for (int e = 0; e < 4; ++e) {
                        v.v[e] = store_as<To>::from(epilogue<To, float>(
                            acc[i * TN + jr * VN + e], f0 + e, bias, scale, shift, flags, act, alpha));
                    }
                    gstore(reinterpret_cast<vec_of<To, 4>*>(y + base + f0), v);
                    continue;
                }
#pragma unroll
                for (int e = 0; e < VN; ++e) {
                    put(base, fstride, f0 + e, acc[i * TN + jr * VN + e]);
                }
            }
        }
    }
}

}  // namespace cthulhu

// Two resident blocks a multiprocessor (at most 128 registers a thread for 8-warp
// tiles), except the 8-warp FMA tile, whose 8 x 8 accumulators and 16-byte epilogue
// spill at 128: one block of 8 warps there.
#define CTHULHU_IGEMM_MIN_BLOCKS(warps, tc) ((warps) >= 8 && !(tc) ? 1 : 2)

template <typename Ti, typename To, int BM, int BN, int BK, int WM, int WN, int STAGES, bool TC>
__global__ void __launch_bounds__((BM / WM) * (BN / WN) * 32,
                                  CTHULHU_IGEMM_MIN_BLOCKS((BM / WM) * (BN / WN), TC))
    cthulhu_igemm_ndhwc(const Ti* __restrict__ x, const Ti* __restrict__ w,
                        const To* __restrict__ bias, const To* __restrict__ scale,
                        const To* __restrict__ shift, To* __restrict__ y, int n, int d, int h,
                        int wd, int c, int cp, int od, int oh, int ow, int f, int fp, int kd,
                        int kh, int kw, int sd, int sh, int sw, int dd, int dh, int dw, int pd,
                        int ph, int pw, int transposed, int out_cl, int flags, int act,
                        float alpha) {
    const cthulhu::IgemmShape s = {n,  d,  h,  wd, c,  cp, od, oh, ow, f,  fp, kd,
                                   kh, kw, sd, sh, sw, dd, dh, dw, pd, ph, pw};
    cthulhu::igemm<Ti, To, BM, BN, BK, WM, WN, STAGES, TC>(x, w, bias, scale, shift, y, s,
                                                             transposed, out_cl, flags, act,
                                                             alpha);
}
