// Host stand-ins for the CUDA language, so that cthulhu's kernel sources compile with
// a plain C++20 compiler and run on the CPU (tests/kernels/test_kernels_emulation.py).
//
// Model: a launch runs the blocks of the grid one after another. Each CUDA thread of a
// block is one host std::thread (created once per launch and reused for every block);
// __shared__ variables become function-local statics, which is correct because only one
// block is alive at a time; __syncthreads() is a std::barrier over the block's threads;
// threadIdx and blockIdx are thread_local. A barrier after every block keeps a fast
// thread from entering the next block while others still read shared memory.
// Warp intrinsics are not modelled: the kernels do not use them.
#ifndef CTHULHU_CUDA_SHIM_H
#define CTHULHU_CUDA_SHIM_H

#include <barrier>
#include <cmath>
#include <cstddef>
#include <thread>
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

inline uint3 gridDim;
inline uint3 blockDim;
inline thread_local uint3 blockIdx;
inline thread_local uint3 threadIdx;
inline std::barrier<>* cthulhu_emu_barrier = nullptr;

inline void __syncthreads() { cthulhu_emu_barrier->arrive_and_wait(); }

using std::ceil;
using std::floor;

// float16 on the host: GCC's _Float16 rounds to nearest even, like cvt.rn.f16.f32.
struct cthulhu_half {
    _Float16 v;
};
inline float cthulhu_half_to_float(cthulhu_half h) { return static_cast<float>(h.v); }
inline cthulhu_half cthulhu_float_to_half(float f) { return {static_cast<_Float16>(f)}; }

// params[i] points at the value of the kernel's i-th parameter (cuLaunchKernel's kernelParams).
template <typename... P, std::size_t... I>
void cthulhu_emu_call(void (*fn)(P...), void** params, std::index_sequence<I...>) {
    fn(*static_cast<std::remove_cv_t<std::remove_reference_t<P>>*>(params[I])...);
}

template <typename... P>
void cthulhu_emu_launch(void (*fn)(P...), const unsigned* grid, const unsigned* block,
                        void** params) {
    gridDim = {grid[0], grid[1], grid[2]};
    blockDim = {block[0], block[1], block[2]};
    const unsigned nthreads = block[0] * block[1] * block[2];
    std::barrier<> barrier(nthreads);
    cthulhu_emu_barrier = &barrier;
    std::vector<std::thread> threads;
    threads.reserve(nthreads);
    for (unsigned t = 0; t < nthreads; ++t) {
        threads.emplace_back([=, &barrier] {
            threadIdx = {t % block[0], (t / block[0]) % block[1], t / (block[0] * block[1])};
            for (unsigned bz = 0; bz < grid[2]; ++bz) {
                for (unsigned by = 0; by < grid[1]; ++by) {
                    for (unsigned bx = 0; bx < grid[0]; ++bx) {
                        blockIdx = {bx, by, bz};
                        cthulhu_emu_call(fn, params, std::index_sequence_for<P...>{});
                        barrier.arrive_and_wait();
                    }
                }
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    cthulhu_emu_barrier = nullptr;
}

#endif  // CTHULHU_CUDA_SHIM_H
