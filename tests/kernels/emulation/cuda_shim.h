// Host stand-ins for the CUDA language, so that cthulhu's kernel sources compile with
// a plain C++20 compiler and run on the CPU (tests/kernels/test_kernels_emulation.py).
//
// Model: a launch runs the blocks of the grid one after another. Each CUDA thread of a
// block is a fiber (its own stack, ucontext) on ONE host thread, and a deterministic
// scheduler decides who runs: a fiber runs until it reaches a synchronisation point
// (__syncthreads, a warp-collective instruction, its end), then the next one runs.
// The order in which fibers are resumed is the "schedule" (forward, reverse or a seeded
// shuffle, cthulhu_emu_set_schedule): a kernel that reads shared memory another thread
// writes without a barrier in between reads stale or poisoned data under one schedule
// or the other, every time, instead of racing now and then.
//
// Modelled as the PTX ISA specifies them (the kernels reach them through
// cthulhu_warp.cuh, which has the inline PTX on a GPU):
//   * __syncthreads(): all threads of the block; reached after some thread exited is an
//     error (the kernels must leave barriers uniformly);
//   * warp collectives (mma.sync m16n8k8 tf32, m16n8k16 f16/bf16 with f32 accumulation;
//     ldmatrix.m8n8.x4.trans.b16): all 32 lanes of the warp must arrive at the same
//     instruction; mma fragments are gathered with the ISA's fragment layouts, the
//     product computed with exact products and a float64 sum rounded once to float32,
//     and scattered back; ldmatrix reads each lane's 16-byte row of shared memory and
//     hands out the transposed matrices' elements as the ISA lays them out;
//   * cp.async (16-byte, zero-filling src-size) with commit/wait groups: the destination
//     is POISONED (all bits set: NaN in every float type) when the copy is issued and
//     filled only when a cp.async.wait_group retires its group, so a read before the
//     wait, or a copy issued into a buffer that others still read, yields NaN;
//   * dynamic shared memory (CTHULHU_DYNAMIC_SHARED): poisoned at every block start;
//   * global memory: checked loads/stores and cp.async sources must fall inside one of
//     the launch's arrays (cthulhu_emu_set_ranges) and be aligned to their size.
// Every violation is recorded (cthulhu_emu_error) and the launch reports failure.
#ifndef CTHULHU_CUDA_SHIM_H
#define CTHULHU_CUDA_SHIM_H

#include <ucontext.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#define CTHULHU_EMULATION 1
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __restrict__ __restrict
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))

struct uint3 {
    unsigned x, y, z;
};

struct alignas(16) float4 {
    float x, y, z, w;
};
struct alignas(8) float2 {
    float x, y;
};
struct alignas(16) uint4 {
    unsigned x, y, z, w;
};
struct alignas(8) uint2 {
    unsigned x, y;
};

inline uint3 gridDim;
inline uint3 blockDim;
inline uint3 blockIdx;
inline uint3 threadIdx;

using std::ceil;
using std::floor;

// float16 on the host: GCC's _Float16 rounds to nearest even, like cvt.rn.f16.f32.
struct cthulhu_half {
    _Float16 v;
};
inline float cthulhu_half_to_float(cthulhu_half h) { return static_cast<float>(h.v); }
inline cthulhu_half cthulhu_float_to_half(float f) { return {static_cast<_Float16>(f)}; }

// bfloat16: the upper 16 bits of a float32; cvt.rn.bf16.f32 rounds to nearest even.
struct cthulhu_bf16 {
    unsigned short bits;
};
inline unsigned cthulhu_emu_bits(float f) {
    unsigned u;
    std::memcpy(&u, &f, 4);
    return u;
}
inline float cthulhu_emu_float(unsigned u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
inline float cthulhu_bf16_to_float(cthulhu_bf16 h) { return cthulhu_emu_float(unsigned(h.bits) << 16); }
inline unsigned short cthulhu_emu_bf16_bits(float f) {
    unsigned u = cthulhu_emu_bits(f);
    if (std::isnan(f)) {
        return (unsigned short)((u >> 16) | 0x40);  // quiet NaN, sign kept
    }
    u += 0x7FFF + ((u >> 16) & 1);  // round to nearest, ties to even
    return (unsigned short)(u >> 16);
}
inline cthulhu_bf16 cthulhu_float_to_bf16(float f) { return {cthulhu_emu_bf16_bits(f)}; }
inline unsigned short cthulhu_emu_half_bits(float f) {
    _Float16 h = static_cast<_Float16>(f);
    unsigned short b;
    std::memcpy(&b, &h, 2);
    return b;
}
inline float cthulhu_emu_half_value(unsigned short b) {
    _Float16 h;
    std::memcpy(&h, &b, 2);
    return static_cast<float>(h);
}
// cvt.rna.tf32.f32: round to 10 mantissa bits, ties away from zero (low 13 bits zero).
inline unsigned cthulhu_emu_tf32(float f) {
    unsigned u = cthulhu_emu_bits(f);
    if (!std::isfinite(f)) {
        return u;
    }
    return (u + 0x1000u) & 0xFFFFE000u;
}

namespace cthulhu_emu {

enum State { RUNNABLE, AT_BARRIER, AT_WARP, DONE };
enum Collective { NONE = 0, MMA_TF32 = 1, MMA_F16 = 2, MMA_BF16 = 3, LDMATRIX_X4_TRANS = 4 };

struct Copy {
    unsigned char* dst;
    const unsigned char* src;
    int size;
    int src_size;
};

struct MmaOperands {
    float* d;           // 4 accumulators, read and written
    const unsigned* a;  // 4 registers
    const unsigned* b;  // 2 registers
};

struct Fiber {
    ucontext_t ctx;
    uint3 tid;
    State state = DONE;
    int collective = NONE;
    MmaOperands mma{};
    const unsigned char* row = nullptr;  // ldmatrix: this lane's row address
    unsigned* out = nullptr;             // ldmatrix: 4 destination registers
    std::vector<Copy> pending;
    std::vector<std::vector<Copy>> groups;
};

struct Emu {
    std::mutex lock;
    std::vector<Fiber> fibers;
    std::vector<char*> stacks;
    ucontext_t scheduler;
    Fiber* current = nullptr;
    std::function<void()> body;
    std::string error;
    int schedule = 0;  // 0 forward, 1 reverse, 2 seeded shuffle
    unsigned seed = 0;
    std::vector<std::pair<std::uintptr_t, std::uintptr_t>> ranges;
    unsigned char* smem = nullptr;
    std::size_t smem_bytes = 0;
};

inline Emu emu;
constexpr std::size_t STACK_BYTES = 256 * 1024;

inline void fail(const std::string& what) {
    if (emu.error.empty()) {
        char where[96];
        std::snprintf(where, sizeof where, " (block %u,%u,%u thread %u)", blockIdx.x, blockIdx.y,
                      blockIdx.z, threadIdx.x);
        emu.error = what + where;
    }
}

inline void yield(State state) {
    Fiber* f = emu.current;
    f->state = state;
    swapcontext(&f->ctx, &emu.scheduler);
}

inline bool in_global(const void* p, std::size_t n) {
    auto a = reinterpret_cast<std::uintptr_t>(p);
    for (auto [lo, hi] : emu.ranges) {
        if (a >= lo && a + n <= hi) {
            return true;
        }
    }
    return false;
}

inline bool in_dynamic_shared(const void* p, std::size_t n) {
    auto a = reinterpret_cast<std::uintptr_t>(p);
    auto lo = reinterpret_cast<std::uintptr_t>(emu.smem);
    return emu.smem != nullptr && a >= lo && a + n <= lo + emu.smem_bytes;
}

inline bool check_global(const void* p, std::size_t n, const char* what) {
    if (reinterpret_cast<std::uintptr_t>(p) % n != 0) {
        fail(std::string(what) + ": misaligned global address");
        return false;
    }
    if (!in_global(p, n)) {
        fail(std::string(what) + ": global address outside every array of the launch");
        return false;
    }
    return true;
}

// -- the warp collectives, computed once all 32 lanes have arrived ---------------------

inline float operand(int kind, unsigned reg, int half) {
    if (kind == MMA_TF32) {
        return cthulhu_emu_float(reg & 0xFFFFE000u);  // the tensor core reads 19 bits
    }
    unsigned short bits = (unsigned short)(half ? reg >> 16 : reg & 0xFFFF);
    return kind == MMA_F16 ? cthulhu_emu_half_value(bits) : cthulhu_emu_float(unsigned(bits) << 16);
}

inline void run_mma(Fiber* lanes, int kind) {
    const int K = kind == MMA_TF32 ? 8 : 16;
    double A[16][16], B[16][8], C[16][8];
    for (int lane = 0; lane < 32; ++lane) {
        const int g = lane >> 2, t = lane & 3;
        const MmaOperands& op = lanes[lane].mma;
        if (kind == MMA_TF32) {  // PTX ISA: m16n8k8 .tf32 fragments
            for (int i = 0; i < 4; ++i) {
                const int row = g + ((i & 1) ? 8 : 0);
                const int col = t + ((i & 2) ? 4 : 0);
                A[row][col] = operand(kind, op.a[i], 0);
            }
            for (int i = 0; i < 2; ++i) {
                B[t + 4 * i][g] = operand(kind, op.b[i], 0);
            }
        } else {  // m16n8k16 .f16/.bf16: element i is half i % 2 of register i / 2
            for (int i = 0; i < 8; ++i) {
                const int row = g + ((i == 2 || i == 3 || i == 6 || i == 7) ? 8 : 0);
                const int col = t * 2 + (i & 1) + (i >= 4 ? 8 : 0);
                A[row][col] = operand(kind, op.a[i / 2], i % 2);
            }
            for (int i = 0; i < 4; ++i) {
                const int row = t * 2 + (i & 1) + (i >= 2 ? 8 : 0);
                B[row][g] = operand(kind, op.b[i / 2], i % 2);
            }
        }
        for (int i = 0; i < 4; ++i) {
            C[g + (i >= 2 ? 8 : 0)][t * 2 + (i & 1)] = op.d[i];
        }
    }
    for (int lane = 0; lane < 32; ++lane) {
        const int g = lane >> 2, t = lane & 3;
        for (int i = 0; i < 4; ++i) {
            const int row = g + (i >= 2 ? 8 : 0), col = t * 2 + (i & 1);
            double acc = C[row][col];
            for (int k = 0; k < K; ++k) {
                acc += A[row][k] * B[k][col];
            }
            lanes[lane].mma.d[i] = (float)acc;
        }
    }
}

// ldmatrix.m8n8.x4.trans.b16: matrix i's rows come from lanes 8i..8i+7; lane l gets
// (stored[2t][g], stored[2t+1][g]) of matrix i in register i (t = l % 4, g = l / 4).
inline void run_ldmatrix_trans(Fiber* lanes) {
    unsigned short m[4][8][8];
    for (int i = 0; i < 4; ++i) {
        for (int r = 0; r < 8; ++r) {
            const unsigned char* row = lanes[i * 8 + r].row;
            if (!in_dynamic_shared(row, 16) || reinterpret_cast<std::uintptr_t>(row) % 16) {
                fail("ldmatrix: row address outside the dynamic shared memory or not 16-byte aligned");
                std::memset(m[i][r], 0xFF, 16);
                continue;
            }
            std::memcpy(m[i][r], row, 16);
        }
    }
    for (int lane = 0; lane < 32; ++lane) {
        const int g = lane >> 2, t = lane & 3;
        for (int i = 0; i < 4; ++i) {
            lanes[lane].out[i] = unsigned(m[i][2 * t][g]) | (unsigned(m[i][2 * t + 1][g]) << 16);
        }
    }
}

inline void ldmatrix_trans(unsigned* d, const void* row) {
    Fiber* f = emu.current;
    f->collective = LDMATRIX_X4_TRANS;
    f->row = static_cast<const unsigned char*>(row);
    f->out = d;
    yield(AT_WARP);
}

inline void mma(int kind, float* d, const unsigned* a, const unsigned* b) {
    Fiber* f = emu.current;
    f->collective = kind;
    f->mma = {d, a, b};
    yield(AT_WARP);
}

// -- cp.async --------------------------------------------------------------------------

inline void cp_async(void* dst, const void* src, int size, int src_size) {
    if (!in_dynamic_shared(dst, size) || reinterpret_cast<std::uintptr_t>(dst) % size != 0) {
        fail("cp.async: destination outside the dynamic shared memory or misaligned");
        return;
    }
    if (src_size < 0 || src_size > size) {
        fail("cp.async: src-size out of range");
        return;
    }
    if (src_size > 0) {
        check_global(src, size, "cp.async source");
    }
    std::memset(dst, 0xFF, size);  // poison: what the destination holds before the wait
    emu.current->pending.push_back({static_cast<unsigned char*>(dst),
                                    static_cast<const unsigned char*>(src), size, src_size});
}

inline void cp_async_commit() {
    Fiber* f = emu.current;
    f->groups.push_back(std::move(f->pending));
    f->pending.clear();
}

inline void cp_async_wait(int newest_pending) {
    Fiber* f = emu.current;
    while ((int)f->groups.size() > newest_pending) {
        for (const Copy& c : f->groups.front()) {
            if (c.src_size > 0 && in_global(c.src, c.src_size)) {
                std::memcpy(c.dst, c.src, c.src_size);
            }
            std::memset(c.dst + c.src_size, 0, c.size - c.src_size);
        }
        f->groups.erase(f->groups.begin());
    }
}

// -- the scheduler ---------------------------------------------------------------------

inline void trampoline() {
    emu.body();
    emu.current->state = DONE;
}  // returns to uc_link, the scheduler

inline std::vector<unsigned> order(unsigned n, unsigned round) {
    std::vector<unsigned> o(n);
    for (unsigned i = 0; i < n; ++i) {
        o[i] = emu.schedule == 1 ? n - 1 - i : i;
    }
    if (emu.schedule == 2) {
        std::mt19937 rng(emu.seed * 7919u + round);
        std::shuffle(o.begin(), o.end(), rng);
    }
    return o;
}

// Runs one block; false on a deadlock (error recorded).
inline bool run_block(unsigned nthreads) {
    if (emu.smem != nullptr) {
        std::memset(emu.smem, 0xFF, emu.smem_bytes);
    }
    for (unsigned t = 0; t < nthreads; ++t) {
        Fiber& f = emu.fibers[t];
        f.state = RUNNABLE;
        f.collective = NONE;
        f.pending.clear();
        f.groups.clear();
        getcontext(&f.ctx);
        f.ctx.uc_stack.ss_sp = emu.stacks[t];
        f.ctx.uc_stack.ss_size = STACK_BYTES;
        f.ctx.uc_link = &emu.scheduler;
        makecontext(&f.ctx, trampoline, 0);
    }
    for (unsigned round = 0;; ++round) {
        for (unsigned t : order(nthreads, round)) {
            Fiber& f = emu.fibers[t];
            if (f.state == RUNNABLE) {
                emu.current = &f;
                threadIdx = f.tid;
                swapcontext(&emu.scheduler, &f.ctx);
            }
        }
        unsigned done = 0, barrier = 0, runnable = 0;
        for (unsigned t = 0; t < nthreads; ++t) {
            State s = emu.fibers[t].state;
            done += s == DONE;
            barrier += s == AT_BARRIER;
            runnable += s == RUNNABLE;
        }
        if (done == nthreads) {
            return true;
        }
        if (runnable > 0) {
            continue;
        }
        bool progressed = false;
        for (unsigned w = 0; w * 32 < nthreads; ++w) {
            Fiber* lanes = &emu.fibers[w * 32];
            if (nthreads < w * 32 + 32) {
                break;  // a partial warp cannot run warp collectives (checked below)
            }
            bool all = true;
            for (int l = 0; l < 32; ++l) {
                all = all && lanes[l].state == AT_WARP && lanes[l].collective == lanes[0].collective;
            }
            if (all) {
                if (lanes[0].collective == LDMATRIX_X4_TRANS) {
                    run_ldmatrix_trans(lanes);
                } else {
                    run_mma(lanes, lanes[0].collective);
                }
                for (int l = 0; l < 32; ++l) {
                    lanes[l].state = RUNNABLE;
                }
                progressed = true;
            }
        }
        if (progressed) {
            continue;
        }
        if (barrier + done == nthreads) {
            if (done > 0) {
                fail("__syncthreads() reached after some threads of the block exited");
                return false;
            }
            for (unsigned t = 0; t < nthreads; ++t) {
                emu.fibers[t].state = RUNNABLE;
            }
            continue;
        }
        fail("deadlock: a warp collective not reached by all 32 lanes of its warp, or "
             "different collectives (or a barrier) at once");
        return false;
    }
}

}  // namespace cthulhu_emu

inline void __syncthreads() { cthulhu_emu::yield(cthulhu_emu::AT_BARRIER); }

// Hooks used by kernels/cthulhu_warp.cuh under CTHULHU_EMULATION.
inline void cthulhu_emu_cp_async(void* dst, const void* src, int size, int src_size) {
    cthulhu_emu::cp_async(dst, src, size, src_size);
}
inline void cthulhu_emu_cp_async_commit() { cthulhu_emu::cp_async_commit(); }
inline void cthulhu_emu_cp_async_wait(int n) { cthulhu_emu::cp_async_wait(n); }
inline void cthulhu_emu_mma_tf32(float* d, const unsigned* a, const unsigned* b) {
    cthulhu_emu::mma(cthulhu_emu::MMA_TF32, d, a, b);
}
inline void cthulhu_emu_mma_f16(float* d, const unsigned* a, const unsigned* b) {
    cthulhu_emu::mma(cthulhu_emu::MMA_F16, d, a, b);
}
inline void cthulhu_emu_ldmatrix_x4_trans(unsigned* d, const void* row) {
    cthulhu_emu::ldmatrix_trans(d, row);
}
inline void cthulhu_emu_mma_bf16(float* d, const unsigned* a, const unsigned* b) {
    cthulhu_emu::mma(cthulhu_emu::MMA_BF16, d, a, b);
}
inline bool cthulhu_emu_check_global(const void* p, std::size_t n, const char* what) {
    return cthulhu_emu::check_global(p, n, what);
}
inline unsigned char* cthulhu_emu_dynamic_smem() { return cthulhu_emu::emu.smem; }

// params[i] points at the value of the kernel's i-th parameter (cuLaunchKernel's kernelParams).
template <typename... P, std::size_t... I>
void cthulhu_emu_call(void (*fn)(P...), void** params, std::index_sequence<I...>) {
    fn(*static_cast<std::remove_cv_t<std::remove_reference_t<P>>*>(params[I])...);
}

// Returns 0 on success, 1 when an error was recorded (cthulhu_emu_last_error).
template <typename... P>
int cthulhu_emu_launch(void (*fn)(P...), const unsigned* grid, const unsigned* block,
                       void** params, unsigned shared_bytes) {
    using namespace cthulhu_emu;
    std::lock_guard<std::mutex> guard(emu.lock);
    emu.error.clear();
    gridDim = {grid[0], grid[1], grid[2]};
    blockDim = {block[0], block[1], block[2]};
    const unsigned nthreads = block[0] * block[1] * block[2];
    if (emu.fibers.size() < nthreads) {
        emu.fibers.resize(nthreads);
    }
    while (emu.stacks.size() < nthreads) {
        emu.stacks.push_back(static_cast<char*>(std::aligned_alloc(64, STACK_BYTES)));
    }
    for (unsigned t = 0; t < nthreads; ++t) {
        emu.fibers[t].tid = {t % block[0], (t / block[0]) % block[1], t / (block[0] * block[1])};
    }
    std::free(emu.smem);
    emu.smem = shared_bytes ? static_cast<unsigned char*>(std::aligned_alloc(128, (shared_bytes + 127) / 128 * 128)) : nullptr;
    emu.smem_bytes = shared_bytes;
    emu.body = [&] { cthulhu_emu_call(fn, params, std::index_sequence_for<P...>{}); };
    for (unsigned bz = 0; bz < grid[2]; ++bz) {
        for (unsigned by = 0; by < grid[1]; ++by) {
            for (unsigned bx = 0; bx < grid[0]; ++bx) {
                blockIdx = {bx, by, bz};
                if (!run_block(nthreads)) {
                    return 1;
                }
            }
        }
    }
    return emu.error.empty() ? 0 : 1;
}

// The library's C entry points, defined in one translation unit only (CTHULHU_EMU_EXPORTS).
#ifdef CTHULHU_EMU_EXPORTS
extern "C" const char* cthulhu_emu_last_error() { return cthulhu_emu::emu.error.c_str(); }
extern "C" void cthulhu_emu_set_schedule(int mode, unsigned seed) {
    cthulhu_emu::emu.schedule = mode;
    cthulhu_emu::emu.seed = seed;
}
extern "C" void cthulhu_emu_set_ranges(const std::uintptr_t* lo, const std::uintptr_t* hi, int n) {
    cthulhu_emu::emu.ranges.clear();
    for (int i = 0; i < n; ++i) {
        cthulhu_emu::emu.ranges.emplace_back(lo[i], hi[i]);
    }
}
#endif

#endif  // CTHULHU_CUDA_SHIM_H
