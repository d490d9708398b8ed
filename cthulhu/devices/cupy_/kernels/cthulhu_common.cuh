// Shared helpers for cthulhu's CUDA kernels: element types, accumulation types,
// and the fused epilogue (bias, a folded batch norm's scale and shift, activation).
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
#define CTHULHU_ACT_RELU6 2
#define CTHULHU_ACT_LEAKY_RELU 3
#define CTHULHU_ACT_SIGMOID 4
#define CTHULHU_ACT_TANH 5

// Epilogue flags (which per-channel arrays are applied), _launch.py EPI_*.
#define CTHULHU_EPI_BIAS 1
#define CTHULHU_EPI_SCALE 2
#define CTHULHU_EPI_SHIFT 4

// Data layouts: the template argument behind each kernel's _ndhwc/_ncdhw (or _nhwc/_nchw)
// entry point; _launch.py picks the entry point by name (_LAYOUT_SUFFIX).
#define CTHULHU_CHANNELS_LAST 0
#define CTHULHU_CHANNELS_FIRST 1

#ifdef CTHULHU_EMULATION
// The shim provides cthulhu_half / cthulhu_bf16, their conversions and the hooks below.
#define CTHULHU_DYNAMIC_SHARED(name) unsigned char* name = cthulhu_emu_dynamic_smem()
#else
// Dynamic shared memory (sized at launch; the emulator poisons it at each block start).
#define CTHULHU_DYNAMIC_SHARED(name) extern __shared__ __align__(128) unsigned char name[]

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

// bfloat16 storage: the upper half of a float32 (sm_80+ converts with rounding to even).
struct __align__(2) cthulhu_bf16 {
    unsigned short bits;
};

__device__ __forceinline__ float cthulhu_bf16_to_float(cthulhu_bf16 h) {
    return __uint_as_float(((unsigned)h.bits) << 16);
}

__device__ __forceinline__ cthulhu_bf16 cthulhu_float_to_bf16(float f) {
    cthulhu_bf16 h;
    asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h.bits) : "f"(f));
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
__device__ __forceinline__ float to_acc(cthulhu_bf16 v) { return cthulhu_bf16_to_float(v); }

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
template <> struct store_as<cthulhu_bf16> {
    __device__ __forceinline__ static cthulhu_bf16 from(float v) { return cthulhu_float_to_bf16(v); }
};

// Global memory through these is bounds- and alignment-checked in the emulation (a
// read past an array is a fault or garbage on a GPU, silent on the host otherwise).
template <typename V>
__device__ __forceinline__ V gload(const V* p) {
#ifdef CTHULHU_EMULATION
    if (!cthulhu_emu_check_global(p, sizeof(V), "load")) {
        return V();  // the error is recorded; do not touch foreign memory
    }
#endif
    return *p;
}
template <typename V>
__device__ __forceinline__ void gstore(V* p, V v) {
#ifdef CTHULHU_EMULATION
    if (!cthulhu_emu_check_global(p, sizeof(V), "store")) {
        return;
    }
#endif
    *p = v;
}

__device__ __forceinline__ float exp_of(float v) { return expf(v); }
__device__ __forceinline__ double exp_of(double v) { return exp(v); }
__device__ __forceinline__ float tanh_of(float v) { return tanhf(v); }
__device__ __forceinline__ double tanh_of(double v) { return tanh(v); }

// VEC elements moved as one access (16 bytes for 4 floats): the memory-bound kernels'
// unit. Loads and stores go through gload / gstore (checked in the emulation).
template <typename T, int N>
struct __align__(N * sizeof(T)) vec_of {
    T v[N];
};

// The activation, applied once per output element in the accumulation type. NaN passes
// through relu/relu6/leaky_relu, as in numpy.maximum / numpy.minimum.
template <typename A>
__device__ __forceinline__ A activate(A v, int act, A alpha) {
    switch (act) {
        case CTHULHU_ACT_RELU:
            return v < A(0) ? A(0) : v;
        case CTHULHU_ACT_RELU6:
            return v < A(0) ? A(0) : (v > A(6) ? A(6) : v);
        case CTHULHU_ACT_LEAKY_RELU:
            return v < A(0) ? alpha * v : v;
        case CTHULHU_ACT_SIGMOID:
            return A(1) / (A(1) + exp_of(-v));
        case CTHULHU_ACT_TANH:
            return tanh_of(v);
        default:
            return v;
    }
}

// The fused epilogue of GEOMETRY.md, in this order: + bias[f], * scale[f], + shift[f],
// activation (``alpha``: leaky_relu's slope, in the accumulation type so that a float64
// kernel multiplies by the double the caller gave). ``flags`` says which arrays are
// there (CTHULHU_EPI_*); an absent one is never read.
template <typename T, typename A>
__device__ __forceinline__ A epilogue(A v, int f, const T* __restrict__ bias,
                                      const T* __restrict__ scale, const T* __restrict__ shift,
                                      int flags, int act, A alpha) {
    if (flags & CTHULHU_EPI_BIAS) {
        v += to_acc(gload(bias + f));
    }
    if (flags & CTHULHU_EPI_SCALE) {
        v *= to_acc(gload(scale + f));
    }
    if (flags & CTHULHU_EPI_SHIFT) {
        v += to_acc(gload(shift + f));
    }
    return activate(v, act, alpha);
}

}  // namespace cthulhu

#endif  // CTHULHU_COMMON_CUH
