/* Register-blocked micro-kernels for one instruction set and one element type.
 *
 * Included by kernels.c once per (ISA, T) with these defined: T, VT (a vector of LANES
 * T), LANES, VLOAD/VSTORE (unaligned), VSET1 (broadcast), VFMA(a, b, c) = a*b + c,
 * VMAX, VMIN, VZERO, TARGET (a function attribute, possibly empty), PFX (the name
 * prefix), GEMM_ENTRY (the table's entry type) and MK_SHAPES(X), which calls X(MR, NV)
 * for every tile shape to build.
 *
 * gemm tile: y[i, f] for MR consecutive output positions i and NV*LANES filters f is
 *     act(mul[f] * sum_t sum_c a[xo[t] + i*ps + c] * w[wo[t] + c*NR + f] + add[f])
 * with the sums of the whole tile in MR*NV vector registers: per (tap, channel) NV
 * weight vectors are loaded and each of the MR input values is broadcast once. The
 * order of the sum (taps, then channels) is the same for every output, whatever tile
 * or thread computes it. Only the first m positions and nf filters are stored, at
 * y + i*ys + f*yf; a channels_last store (yf == 1, whole tile) stores vectors.
 *
 * dw row: the depthwise convolution (multiplier 1) of one output row segment, the
 * channels in vectors, all taps summed in registers.
 */

#define MK_CAT3_(a, b, c) a##_##b##_##c
#define MK_CAT3(a, b, c) MK_CAT3_(a, b, c)
#define MK_NAME(MR, NV) MK_CAT3(PFX, MR, NV)

/* The epilogue on one vector of filters (or channels) j: v*mul + add, then act. */
#define MK_EPILOGUE(v, mulp, addp)                                         \
    do {                                                                   \
        if ((mulp) != NULL)                                                \
            v = VFMA(v, VLOAD(mulp), VLOAD(addp));                         \
        else                                                               \
            v = v + VLOAD(addp);                                           \
        if (act == ACT_RELU)                                               \
            v = VMAX(VZERO, v);     /* VMAX(0, NaN) keeps the NaN */       \
        else if (act == ACT_RELU6)                                         \
            v = VMIN(VSET1((T)6), VMAX(VZERO, v));                         \
    } while (0)

#define MK_GEMM(MR, NV)                                                                  \
TARGET static void MK_NAME(MR, NV)(const T *restrict a, int64_t ps,                      \
        const int64_t *xo, const int64_t *wo, int64_t ntaps, int64_t C,                  \
        const T *restrict w, const T *mul, const T *add, int act,                        \
        T *restrict y, int64_t ys, int64_t yf, int64_t m, int64_t nf)                    \
{                                                                                        \
    VT acc[MR][NV];                                                                      \
    _Pragma("GCC unroll 32") for (int i = 0; i < MR; i++)                                \
        _Pragma("GCC unroll 4") for (int j = 0; j < NV; j++)                             \
            acc[i][j] = VZERO;                                                           \
    for (int64_t t = 0; t < ntaps; t++) {                                                \
        const T *restrict at = a + xo[t];                                                \
        const T *restrict wt = w + wo[t];                                                \
        for (int64_t c = 0; c < C; c++) {                                                \
            VT wv[NV];                                                                   \
            _Pragma("GCC unroll 4") for (int j = 0; j < NV; j++)                         \
                wv[j] = VLOAD(wt + c * (NV * LANES) + j * LANES);                        \
            _Pragma("GCC unroll 32") for (int i = 0; i < MR; i++) {                      \
                const VT b = VSET1(at[i * ps + c]);                                      \
                _Pragma("GCC unroll 4") for (int j = 0; j < NV; j++)                     \
                    acc[i][j] = VFMA(b, wv[j], acc[i][j]);                               \
            }                                                                            \
        }                                                                                \
    }                                                                                    \
    _Pragma("GCC unroll 4") for (int j = 0; j < NV; j++) {                               \
        const T *mj = mul == NULL ? NULL : mul + j * LANES;                              \
        _Pragma("GCC unroll 32") for (int i = 0; i < MR; i++)                            \
            MK_EPILOGUE(acc[i][j], mj, add + j * LANES);                                 \
    }                                                                                    \
    if (yf == 1 && nf == NV * LANES) {                                                   \
        _Pragma("GCC unroll 32") for (int i = 0; i < MR; i++)                            \
            if (i < m)                                                                   \
                _Pragma("GCC unroll 4") for (int j = 0; j < NV; j++)                     \
                    VSTORE(y + i * ys + j * LANES, acc[i][j]);                           \
        return;                                                                          \
    }                                                                                    \
    T tile[MR][NV * LANES];                                                              \
    _Pragma("GCC unroll 32") for (int i = 0; i < MR; i++)                                \
        _Pragma("GCC unroll 4") for (int j = 0; j < NV; j++)                             \
            VSTORE(&tile[i][j * LANES], acc[i][j]);                                      \
    for (int64_t f = 0; f < nf; f++)                                                     \
        for (int64_t i = 0; i < m; i++)                                                  \
            y[i * ys + f * yf] = tile[i][f];                                             \
}

MK_SHAPES(MK_GEMM)

/* planar tile: the other orientation, for few filters (a filter vector would leave
 * lanes idle, or cost one broadcast per FMA): PV*LANES consecutive output positions in
 * the lanes and FB filters, each weight broadcast once per (tap, channel);
 *     y[i, f] = act(mul[f] * sum_t sum_c a[xo[t] + c*cs + i] * w[wo[t] + c*FB + f] + add[f])
 * a: positions contiguous per channel (a planar panel, stride 1 along the last axis). */
#define MKP_NAME(FB, PV) MK_CAT3(PFX, MK_CAT3(planar, FB, x), PV)
#define MK_PLANAR(FB, PV)                                                                \
TARGET static void MKP_NAME(FB, PV)(const T *restrict a, int64_t cs,                     \
        const int64_t *xo, const int64_t *wo, int64_t ntaps, int64_t C,                  \
        const T *restrict w, const T *mul, const T *add, int act,                        \
        T *restrict y, int64_t ys, int64_t yf, int64_t m, int64_t nf)                    \
{                                                                                        \
    VT acc[FB][PV];                                                                      \
    _Pragma("GCC unroll 16") for (int f = 0; f < FB; f++)                                \
        _Pragma("GCC unroll 16") for (int p = 0; p < PV; p++)                            \
            acc[f][p] = VZERO;                                                           \
    for (int64_t t = 0; t < ntaps; t++) {                                                \
        const T *restrict at = a + xo[t];                                                \
        const T *restrict wt = w + wo[t];                                                \
        for (int64_t c = 0; c < C; c++) {                                                \
            VT xv[PV];                                                                   \
            _Pragma("GCC unroll 16") for (int p = 0; p < PV; p++)                        \
                xv[p] = VLOAD(at + c * cs + p * LANES);                                  \
            _Pragma("GCC unroll 16") for (int f = 0; f < FB; f++) {                      \
                const VT b = VSET1(wt[c * FB + f]);                                      \
                _Pragma("GCC unroll 16") for (int p = 0; p < PV; p++)                    \
                    acc[f][p] = VFMA(xv[p], b, acc[f][p]);                               \
            }                                                                            \
        }                                                                                \
    }                                                                                    \
    _Pragma("GCC unroll 16") for (int f = 0; f < FB; f++) {                              \
        const VT addv = VSET1(add[f]);                                                   \
        const VT mulv = VSET1(mul == NULL ? (T)1 : mul[f]);                              \
        _Pragma("GCC unroll 16") for (int p = 0; p < PV; p++) {                          \
            if (mul == NULL)                                                             \
                acc[f][p] = acc[f][p] + addv;                                            \
            else                                                                         \
                acc[f][p] = VFMA(acc[f][p], mulv, addv);                                 \
            if (act == ACT_RELU)                                                         \
                acc[f][p] = VMAX(VZERO, acc[f][p]);                                      \
            else if (act == ACT_RELU6)                                                   \
                acc[f][p] = VMIN(VSET1((T)6), VMAX(VZERO, acc[f][p]));                   \
        }                                                                                \
    }                                                                                    \
    if (ys == 1 && m == PV * LANES) {             /* channels_first: whole vectors */   \
        _Pragma("GCC unroll 16") for (int f = 0; f < FB; f++)                            \
            if (f < nf)                                                                  \
                _Pragma("GCC unroll 16") for (int p = 0; p < PV; p++)                    \
                    VSTORE(y + f * yf + p * LANES, acc[f][p]);                           \
        return;                                                                          \
    }                                                                                    \
    T tile[FB][PV * LANES];                                                              \
    _Pragma("GCC unroll 16") for (int f = 0; f < FB; f++)                                \
        _Pragma("GCC unroll 16") for (int p = 0; p < PV; p++)                            \
            VSTORE(&tile[f][p * LANES], acc[f][p]);                                      \
    for (int64_t i = 0; i < m; i++)                                                      \
        for (int64_t f = 0; f < nf; f++)                                                 \
            y[i * ys + f * yf] = tile[f][i];                                             \
}

MK_PLANAR_SHAPES(MK_PLANAR)

#ifdef MK_PAIR_SHAPES
/* pair tile (AVX-512 float32): 16 filters would fill one vector, one broadcast per FMA.
 * Here a vector holds 8 filters x 2 neighbouring positions (lane 2f + p), so one 64-bit
 * broadcast of a position pair's channel values feeds NV vectors (8*NV filters), as in
 * the 32-filter tiles: MR pairs = 2*MR positions. a: a planar panel (positions
 * contiguous per channel, channels ps apart), where any two neighbouring positions
 * are one 64-bit load; w: each filter's weight in two neighbouring lanes. */
#define MKQ_NAME(MR, NV) MK_CAT3(PFX, MK_CAT3(pair, MR, x), NV)
#define MK_PAIR(MR, NV)                                                                  \
TARGET static void MKQ_NAME(MR, NV)(const T *restrict a, int64_t ps,                     \
        const int64_t *xo, const int64_t *wo, int64_t ntaps, int64_t C,                  \
        const T *restrict w, const T *mul, const T *add, int act,                        \
        T *restrict y, int64_t ys, int64_t yf, int64_t m, int64_t nf)                    \
{                                                                                        \
    VT acc[MR][NV];                                                                      \
    _Pragma("GCC unroll 32") for (int i = 0; i < MR; i++)                                \
        _Pragma("GCC unroll 4") for (int j = 0; j < NV; j++)                             \
            acc[i][j] = VZERO;                                                           \
    for (int64_t t = 0; t < ntaps; t++) {                                                \
        const T *restrict at = a + xo[t];                                                \
        const T *restrict wt = w + wo[t];                                                \
        for (int64_t c = 0; c < C; c++) {                                                \
            VT wv[NV];                                                                   \
            _Pragma("GCC unroll 4") for (int j = 0; j < NV; j++)                         \
                wv[j] = VLOAD(wt + c * (NV * LANES) + j * LANES);                        \
            _Pragma("GCC unroll 32") for (int i = 0; i < MR; i++) {                      \
                const VT b = VSET1_PAIR(at + 2 * i + c * ps);                            \
                _Pragma("GCC unroll 4") for (int j = 0; j < NV; j++)                     \
                    acc[i][j] = VFMA(b, wv[j], acc[i][j]);                               \
            }                                                                            \
        }                                                                                \
    }                                                                                    \
    T tile[MR][NV * LANES];                                                              \
    _Pragma("GCC unroll 4") for (int j = 0; j < NV; j++) {                               \
        const T *mj = mul == NULL ? NULL : mul + j * LANES;                              \
        _Pragma("GCC unroll 32") for (int i = 0; i < MR; i++)                            \
            MK_EPILOGUE(acc[i][j], mj, add + j * LANES);                                 \
    }                                                                                    \
    if (yf == 1 && nf == NV * LANES / 2 && m == 2 * MR) {  /* channels_last, whole */   \
        _Pragma("GCC unroll 32") for (int i = 0; i < MR; i++)                            \
            _Pragma("GCC unroll 4") for (int j = 0; j < NV; j++)                         \
                PAIR_STORE(y + 2 * i * ys + j * (LANES / 2), y + (2 * i + 1) * ys        \
                           + j * (LANES / 2), acc[i][j]);                                \
        return;                                                                          \
    }                                                                                    \
    _Pragma("GCC unroll 4") for (int j = 0; j < NV; j++)                                 \
        _Pragma("GCC unroll 32") for (int i = 0; i < MR; i++)                            \
            VSTORE(&tile[i][j * LANES], acc[i][j]);                                      \
    for (int64_t i = 0; i < MR; i++)          /* lanes (f, p) -> position 2i+p, f */     \
        for (int64_t p = 0; p < 2; p++) {                                                \
            if (2 * i + p >= m)                                                          \
                break;                                                                   \
            T *yo = y + (2 * i + p) * ys;                                                \
            for (int64_t f = 0; f < nf; f++)                                             \
                yo[f * yf] = tile[i][(f / (LANES / 2)) * LANES + 2 * (f % (LANES / 2)) + p]; \
        }                                                                                \
}
MK_PAIR_SHAPES(MK_PAIR)
#define MKQ_ENTRY(MR, NV) {2 * MR, NV, LANES, MKQ_NAME(MR, NV), 2, NV * LANES / 2},
#else
#define MK_PAIR_SHAPES(X)
#define MKQ_ENTRY(MR, NV)
#endif

/* The tile shapes of this ISA, for the driver's table: {positions per tile, vectors,
 * lanes, kernel, kind (0 filter vectors, 1 planar, 2 pairs), filters per block}. */
#define MK_ENTRY(MR, NV) {MR, NV, LANES, MK_NAME(MR, NV), 0, NV * LANES},
#define MKP_ENTRY(FB, PV) {PV * LANES, PV, LANES, MKP_NAME(FB, PV), 1, FB},
static const GEMM_ENTRY MK_CAT3(PFX, table, all)[] = {MK_SHAPES(MK_ENTRY)
                                                      MK_PLANAR_SHAPES(MKP_ENTRY)
                                                      MK_PAIR_SHAPES(MKQ_ENTRY)};
#undef MK_ENTRY
#undef MKP_ENTRY
#undef MKQ_ENTRY
#undef MK_PAIR_SHAPES
#undef MK_PAIR
#undef MKQ_NAME

/* Depthwise (multiplier 1), one output row segment [o_lo, o_hi) of a channels_last
 * row: y[o, c] = act(mul[c] * sum_k sum_t2 xrow[k][(o*s2 + t2*d2 - p2)*C + c] *
 * wrow[k][t2*C + c] + add[c]), taps outside [0, S2) left out. Every output sums its taps
 * in that order (k, then t2) from zero, one FMA each, whichever of the loops below
 * computes it: the result does not depend on the segment's bounds (nor on threads). */

/* One output position o, channels [c, C): two vectors, one, then a padded tail. */
TARGET static inline void MK_CAT3(PFX, dw, point)(const T *const *xrow, const T *const *wrow,
        int64_t nk, int64_t K2, int64_t s2, int64_t d2, int64_t p2, int64_t S2, int64_t C,
        int64_t o, int64_t c, const T *mul, const T *add, int act, T *restrict yo)
{
    const int64_t first = o * s2 - p2;
    const int inside = first >= 0 && first + d2 * (K2 - 1) < S2;
    for (; c + 2 * LANES <= C; c += 2 * LANES) {
        VT a0 = VZERO, a1 = VZERO;
        for (int64_t k = 0; k < nk; k++) {
            const T *xk = xrow[k] + c, *wk = wrow[k] + c;
            for (int64_t t2 = 0; t2 < K2; t2++) {
                const int64_t i2 = first + t2 * d2;
                if (!inside && (i2 < 0 || i2 >= S2))
                    continue;
                a0 = VFMA(VLOAD(xk + i2 * C), VLOAD(wk + t2 * C), a0);
                a1 = VFMA(VLOAD(xk + i2 * C + LANES), VLOAD(wk + t2 * C + LANES), a1);
            }
        }
        MK_EPILOGUE(a0, mul == NULL ? NULL : mul + c, add + c);
        MK_EPILOGUE(a1, mul == NULL ? NULL : mul + c + LANES, add + c + LANES);
        VSTORE(yo + c, a0);
        VSTORE(yo + c + LANES, a1);
    }
    for (; c + LANES <= C; c += LANES) {
        VT a0 = VZERO;
        for (int64_t k = 0; k < nk; k++) {
            const T *xk = xrow[k] + c, *wk = wrow[k] + c;
            for (int64_t t2 = 0; t2 < K2; t2++) {
                const int64_t i2 = first + t2 * d2;
                if (!inside && (i2 < 0 || i2 >= S2))
                    continue;
                a0 = VFMA(VLOAD(xk + i2 * C), VLOAD(wk + t2 * C), a0);
            }
        }
        MK_EPILOGUE(a0, mul == NULL ? NULL : mul + c, add + c);
        VSTORE(yo + c, a0);
    }
    for (; c < C; c += LANES) {               /* a tail vector, through a padded copy */
        T xs[LANES], ws[LANES], ms[LANES], as[LANES], out[LANES];
        const int64_t n = C - c < LANES ? C - c : LANES;
        VT a0 = VZERO;
        for (int64_t k = 0; k < nk; k++)
            for (int64_t t2 = 0; t2 < K2; t2++) {
                const int64_t i2 = first + t2 * d2;
                if (!inside && (i2 < 0 || i2 >= S2))
                    continue;
                for (int64_t q = 0; q < LANES; q++) {
                    xs[q] = q < n ? xrow[k][i2 * C + c + q] : (T)0;
                    ws[q] = q < n ? wrow[k][t2 * C + c + q] : (T)0;
                }
                a0 = VFMA(VLOAD(xs), VLOAD(ws), a0);
            }
        for (int64_t q = 0; q < LANES; q++) {
            ms[q] = q < n && mul != NULL ? mul[c + q] : (T)1;
            as[q] = q < n ? add[c + q] : (T)0;
        }
        MK_EPILOGUE(a0, mul == NULL ? NULL : ms, as);
        VSTORE(out, a0);
        for (int64_t q = 0; q < n; q++)
            yo[c + q] = out[q];
    }
}

/* MR outputs o, o+1, ... whose windows are inside the row, channels [c, c + LANES):
 * one weight vector per tap, loaded once for the MR outputs (about one load per FMA,
 * where one output at a time needs two). */
#define MK_DW_BLOCK(MR)                                                                  \
TARGET static inline void MK_CAT3(PFX, dw_block, MR)(const T *const *xrow,               \
        const T *const *wrow, int64_t nk, int64_t K2, int64_t s2, int64_t d2, int64_t C, \
        int64_t first, int64_t c, const T *mul, const T *add, int act, T *restrict yo)   \
{                                                                                        \
    VT acc[MR];                                                                          \
    _Pragma("GCC unroll 8") for (int i = 0; i < MR; i++)                                 \
        acc[i] = VZERO;                                                                  \
    const int64_t step = s2 * C;                                                         \
    for (int64_t k = 0; k < nk; k++) {                                                   \
        const T *xk = xrow[k] + first * C + c, *wk = wrow[k] + c;                        \
        for (int64_t t2 = 0; t2 < K2; t2++) {                                            \
            const VT wv = VLOAD(wk + t2 * C);                                            \
            const T *xt = xk + t2 * d2 * C;                                              \
            _Pragma("GCC unroll 8") for (int i = 0; i < MR; i++)                         \
                acc[i] = VFMA(VLOAD(xt + i * step), wv, acc[i]);                         \
        }                                                                                \
    }                                                                                    \
    _Pragma("GCC unroll 8") for (int i = 0; i < MR; i++) {                               \
        MK_EPILOGUE(acc[i], mul == NULL ? NULL : mul + c, add + c);                      \
        VSTORE(yo + i * C + c, acc[i]);                                                  \
    }                                                                                    \
}
MK_DW_BLOCK(8)
MK_DW_BLOCK(4)
#undef MK_DW_BLOCK

/* Outputs [o, o + MR) inside the row: whole channel vectors in blocks, a tail per point. */
#define MK_DW_RUN(MR)                                                                    \
    for (; o + MR <= in_hi; o += MR) {                                                   \
        for (int64_t c = 0; c < cv; c += LANES)                                          \
            MK_CAT3(PFX, dw_block, MR)(xrow, wrow, nk, K2, s2, d2, C, o * s2 - p2, c,    \
                                       mul, add, act, y + (o - o_lo) * C);               \
        for (int64_t i = 0; i < MR && cv < C; i++)                                       \
            MK_CAT3(PFX, dw, point)(xrow, wrow, nk, K2, s2, d2, p2, S2, C, o + i, cv,    \
                                    mul, add, act, y + (o + i - o_lo) * C);              \
    }

TARGET static void MK_CAT3(PFX, dw, row)(const T *const *xrow, const T *const *wrow,
        int64_t nk, int64_t K2, int64_t s2, int64_t d2, int64_t p2, int64_t S2, int64_t C,
        int64_t o_lo, int64_t o_hi, const T *mul, const T *add, int act, T *restrict y)
{
    /* outputs whose whole window is inside [0, S2): [in_lo, in_hi) */
    const int64_t in_lo = p2 <= 0 ? 0 : (p2 + s2 - 1) / s2;
    int64_t in_hi = S2 - 1 - d2 * (K2 - 1) + p2;
    in_hi = in_hi < 0 ? 0 : in_hi / s2 + 1;
    in_hi = in_hi < o_hi ? in_hi : o_hi;
    const int64_t cv = C / LANES * LANES;     /* channels in whole vectors */
    int64_t o = o_lo;
    for (; o < in_lo && o < o_hi; o++)        /* the left edge */
        MK_CAT3(PFX, dw, point)(xrow, wrow, nk, K2, s2, d2, p2, S2, C, o, 0, mul, add, act,
                                y + (o - o_lo) * C);
    MK_DW_RUN(8)
    MK_DW_RUN(4)
    for (; o < o_hi; o++)                     /* the right edge and what is left */
        MK_CAT3(PFX, dw, point)(xrow, wrow, nk, K2, s2, d2, p2, S2, C, o, 0, mul, add, act,
                                y + (o - o_lo) * C);
}
#undef MK_DW_RUN

#undef MK_GEMM
#undef MK_PLANAR
#undef MKP_NAME
#undef MK_NAME
#undef MK_EPILOGUE
