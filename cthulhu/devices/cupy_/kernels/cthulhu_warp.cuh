// Asynchronous copies, ldmatrix and warp-level tensor-core instructions, as inline PTX
// (sm_80+).
//
// Each primitive has one GPU body (inline PTX) and one emulation body that calls the
// CPU emulator's model of the instruction (tests/kernels/emulation/cuda_shim.h), which
// follows the PTX ISA: fragment layouts of mma.m16n8k8 (.tf32) and mma.m16n8k16
// (.f16/.bf16, f32 accumulators), cp.async groups, cvt rounding modes. Kernels use
// only these wrappers, never raw PTX or warp intrinsics, so the emulator sees it all.
#ifndef CTHULHU_WARP_CUH
#define CTHULHU_WARP_CUH

#include "cthulhu_common.cuh"

namespace cthulhu {

#ifdef CTHULHU_EMULATION

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, int src_bytes) {
    cthulhu_emu_cp_async(smem, gmem, 16, src_bytes);
}
__device__ __forceinline__ void cp_async_commit() { cthulhu_emu_cp_async_commit(); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
    cthulhu_emu_cp_async_wait(N);
}
__device__ __forceinline__ unsigned to_tf32(float f) { return cthulhu_emu_tf32(f); }
__device__ __forceinline__ unsigned pack_bf16(float lo, float hi) {
    return unsigned(cthulhu_emu_bf16_bits(lo)) | (unsigned(cthulhu_emu_bf16_bits(hi)) << 16);
}
__device__ __forceinline__ void mma_tf32(float* d, const unsigned* a, const unsigned* b) {
    cthulhu_emu_mma_tf32(d, a, b);
}
__device__ __forceinline__ void ldmatrix_x4_trans(unsigned* d, const void* smem_row) {
    cthulhu_emu_ldmatrix_x4_trans(d, smem_row);
}
__device__ __forceinline__ void mma_f16(float* d, const unsigned* a, const unsigned* b) {
    cthulhu_emu_mma_f16(d, a, b);
}
__device__ __forceinline__ void mma_bf16(float* d, const unsigned* a, const unsigned* b) {
    cthulhu_emu_mma_bf16(d, a, b);
}

#else

__device__ __forceinline__ unsigned smem_address(const void* p) {
    unsigned a;
    asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(p));
    return a;
}

// 16 bytes global -> shared, bypassing L1; src_bytes < 16 zero-fills the rest (0: no read).
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_address(smem)),
                 "l"(gmem), "r"(src_bytes)
                 : "memory");
}
__device__ __forceinline__ void cp_async_commit() {
    asm volatile("cp.async.commit_group;\n" ::: "memory");
}
// Wait until at most N of this thread's committed groups are still in flight.
template <int N>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// float32 -> tf32 operand: round to 10 mantissa bits, ties away from zero.
__device__ __forceinline__ unsigned to_tf32(float f) {
    unsigned r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(f));
    return r;
}
// Two float32 -> one bf16x2 register, ``lo`` in the low half (cvt puts its first source high).
__device__ __forceinline__ unsigned pack_bf16(float lo, float hi) {
    unsigned r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}

// Four 8x8 b16 matrices from shared memory, transposed: lanes 8i..8i+7 give the 16-byte
// rows of matrix i; lane l receives in d[i] elements (2 (l % 4), l / 4) and
// (2 (l % 4) + 1, l / 4) of matrix i (low half first).
__device__ __forceinline__ void ldmatrix_x4_trans(unsigned* d, const void* smem_row) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3])
                 : "r"(smem_address(smem_row)));
}

// d (16x8, f32) += a (16x8, tf32, row) * b (8x8, tf32, col); a: 4 regs, b: 2 regs.
__device__ __forceinline__ void mma_tf32(float* d, const unsigned* a, const unsigned* b) {
    asm volatile(
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
// d (16x8, f32) += a (16x16, f16x2 regs) * b (16x8, f16x2 regs).
__device__ __forceinline__ void mma_f16(float* d, const unsigned* a, const unsigned* b) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
__device__ __forceinline__ void mma_bf16(float* d, const unsigned* a, const unsigned* b) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

#endif

// The tensor-core operation each storage type uses (float: tf32; 16-bit: its own type).
template <typename T> struct tensor_op;
template <> struct tensor_op<float> {
    static constexpr int K = 8;  // mma k of one instruction
    __device__ __forceinline__ static void mma(float* d, const unsigned* a, const unsigned* b) {
        mma_tf32(d, a, b);
    }
};
template <> struct tensor_op<cthulhu_half> {
    static constexpr int K = 16;
    __device__ __forceinline__ static void mma(float* d, const unsigned* a, const unsigned* b) {
        mma_f16(d, a, b);
    }
};
template <> struct tensor_op<cthulhu_bf16> {
    static constexpr int K = 16;
    __device__ __forceinline__ static void mma(float* d, const unsigned* a, const unsigned* b) {
        mma_bf16(d, a, b);
    }
};

}  // namespace cthulhu

#endif  // CTHULHU_WARP_CUH
