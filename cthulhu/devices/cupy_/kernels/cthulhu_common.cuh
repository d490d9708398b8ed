// Shared helpers for cthulhu's CUDA kernels: element types, accumulation types,
// and the fused epilogue (bias + activation).
//
// The same source compiles three ways:
//   * NVRTC at run time (cupy.RawModule; __CUDACC_RTC__ is defined),
//   * nvcc (the test suite checks every kernel for sm_80 and sm_90),
//   * the host C++ compiler with tests/kernels/emulation/cuda_shim.h force-included
//     (CTHULHU_EMULATION is defined), which runs each CUDA thread as a host thread.
// So: no host headers, no CuPy headers, no warp intrinsics, and no cuda_fp16.h
// (it is not always on NVRTC's include path); float16 is our own 2-byte type.
#ifndef CTHULHU_COMMON_CUH
#define CTHULHU_COMMON_CUH

// Activation codes shared with cthulhu/devices/cupy_/_launch.py (ACTIVATIONS).
#define CTHULHU_ACT_LINEAR 0
#define CTHULHU_ACT_RELU 1

// Data layouts: the template argument behind each kernel's _ndhwc/_ncdhw (or _nhwc/_nchw)
// entry point; _launch.py picks the entry point by name (_LAYOUT_SUFFIX).
#define CTHULHU_CHANNELS_LAST 0
#define CTHULHU_CHANNELS_FIRST 1

#ifdef CTHULHU_EMULATION
// The shim provides struct cthulhu_half and the two conversions on the host.
#else
// IEEE binary16 storage; arithmetic always happens in float (see acc_of below).
struct __align__(2) cthulhu_half {
    unsigned short bits;
};

__device__ __forceinline__ float cthulhu_half_to_float(cthulhu_half h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h.bits));
    return f;
}

__device__ __forceinline__ cthulhu_half cthulhu_float_to_half(float f) {
    cthulhu_half h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h.bits) : "f"(f));
    return h;
}
#endif

namespace cthulhu {

// Accumulation type: float16 and float32 accumulate in float32, float64 in float64.
template <typename T> struct acc_of { typedef float type; };
template <> struct acc_of<double> { typedef double type; };

__device__ __forceinline__ float to_acc(float v) { return v; }
__device__ __forceinline__ double to_acc(double v) { return v; }
__device__ __forceinline__ float to_acc(cthulhu_half v) { return cthulhu_half_to_float(v); }

template <typename T> struct store_as;
template <> struct store_as<float> {
    __device__ __forceinline__ static float from(float v) { return v; }
};
template <> struct store_as<double> {
    __device__ __forceinline__ static double from(double v) { return v; }
};
template <> struct store_as<cthulhu_half> {
    __device__ __forceinline__ static cthulhu_half from(float v) { return cthulhu_float_to_half(v); }
};

// Bias + activation, applied once per output element in the accumulation type.
template <typename A>
__device__ __forceinline__ A epilogue(A v, int act) {
    if (act == CTHULHU_ACT_RELU) {
        v = v < A(0) ? A(0) : v;  // NaN passes through, as in numpy.maximum
    }
    return v;
}

}  // namespace cthulhu

#endif  // CTHULHU_COMMON_CUH
