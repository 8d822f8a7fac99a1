package dev.jrocm.runtime.device;

/**
 * Convolution as GEMM (implicit in nothing: the columns are formed), written once for every backend
 * that has no convolution library: a group of g images is unfolded into columns (c·kh·kw, g·L), L =
 * outH·outW, so the forward is one GEMM (k, c·kh·kw)·(c·kh·kw, g·L), the weight gradient one GEMM
 * dy·columnsᵀ and the data gradient one GEMM weightᵀ·dy folded back ({@link Kernels#col2im}).
 * Images go in groups whose columns hold at most {@link #MAX_COLUMNS} floats, a number fixed by the
 * shape alone (so results do not depend on the machine); a group of one image needs no transpose.
 * Temporaries come from the backend's pool.
 */
public final class Im2col {
    /** Most floats of columns one group unfolds (32 MiB): a CIFAR-sized batch of 64 is one group. */
    public static final long MAX_COLUMNS = 1L << 23;

    private Im2col() {}

    /** What a backend provides for the lowering; shapes are those of {@link Im2col}'s class comment. */
    public interface Kernels {
        /** columns (c·kh·kw, count·L) of images [first, first + count) of x, 0 where the window leaves x. */
        void im2col(Buffer x, Conv2dShape shape, int first, int count, Buffer columns);

        /** Folds columns (c·kh·kw, count·L) back: dx of images [first, first + count) (+)= the sum of every column entry read from it. */
        void col2im(Buffer columns, Conv2dShape shape, int first, int count, Buffer dx, boolean accumulate);

        /** out (b, a, inner) = in (a, b, inner): the two leading dimensions swapped. */
        void swapLeading(Buffer in, int a, int b, int inner, Buffer out);
    }

    /** Images per group for {@code shape}: as many as {@link #MAX_COLUMNS} allow, at least one. */
    public static int groupSize(Conv2dShape shape) {
        long perImage = (long) shape.c() * shape.kh() * shape.kw() * shape.outH() * shape.outW();
        return (int) Math.max(1, Math.min(shape.n(), MAX_COLUMNS / perImage));
    }

    /** {@link Backend#conv2dForward} (operands already checked). */
    public static void forward(Backend be, Kernels kernels, Buffer x, Buffer weight, Conv2dShape s, Buffer y) {
        int rows = s.c() * s.kh() * s.kw(), positions = s.outH() * s.outW(), group = groupSize(s);
        if (s.n() == 0) {
            return;
        }
        long outPerImage = (long) s.k() * positions;
        Buffer columns = be.allocate((long) rows * group * positions * Float.BYTES);
        Buffer product = group > 1 ? be.allocate(outPerImage * group * Float.BYTES) : null;
        try {
            for (int first = 0; first < s.n(); first += group) {
                int g = Math.min(group, s.n() - first);
                kernels.im2col(x, s, first, g, columns);
                Buffer yg = y.slice(first * outPerImage, g * outPerImage);
                if (g == 1) { // (k, L) is image first's block of y already
                    be.gemm(false, false, s.k(), positions, rows, 1f, weight, columns, 0f, yg);
                } else {
                    be.gemm(false, false, s.k(), g * positions, rows, 1f, weight, columns, 0f, product);
                    kernels.swapLeading(product, s.k(), g, positions, yg);
                }
            }
        } finally {
            be.release(columns);
            if (product != null) {
                be.release(product);
            }
        }
    }

    /** {@link Backend#conv2dBackwardWeight} (operands already checked). */
    public static void backwardWeight(Backend be, Kernels kernels, Buffer dy, Buffer x, Conv2dShape s, Buffer dw,
                                      boolean accumulate) {
        int rows = s.c() * s.kh() * s.kw(), positions = s.outH() * s.outW(), group = groupSize(s);
        if (s.n() == 0) {
            if (!accumulate) {
                be.fill(dw.slice(0, s.weightSize()), 0f); // a sum over no images
            }
            return;
        }
        long outPerImage = (long) s.k() * positions;
        Buffer columns = be.allocate((long) rows * group * positions * Float.BYTES);
        Buffer swapped = group > 1 ? be.allocate(outPerImage * group * Float.BYTES) : null;
        try {
            for (int first = 0; first < s.n(); first += group) {
                int g = Math.min(group, s.n() - first);
                kernels.im2col(x, s, first, g, columns);
                Buffer dyg = leading(kernels, dy, s, first, g, swapped);
                be.gemm(false, true, s.k(), rows, g * positions, 1f, dyg, columns,
                        accumulate || first > 0 ? 1f : 0f, dw);
            }
        } finally {
            be.release(columns);
            if (swapped != null) {
                be.release(swapped);
            }
        }
    }

    /** {@link Backend#conv2dBackwardData} (operands already checked). */
    public static void backwardData(Backend be, Kernels kernels, Buffer dy, Buffer weight, Conv2dShape s, Buffer dx,
                                    boolean accumulate) {
        int rows = s.c() * s.kh() * s.kw(), positions = s.outH() * s.outW(), group = groupSize(s);
        if (s.n() == 0) {
            return;
        }
        long outPerImage = (long) s.k() * positions;
        Buffer columns = be.allocate((long) rows * group * positions * Float.BYTES);
        Buffer swapped = group > 1 ? be.allocate(outPerImage * group * Float.BYTES) : null;
        try {
            for (int first = 0; first < s.n(); first += group) {
                int g = Math.min(group, s.n() - first);
                Buffer dyg = leading(kernels, dy, s, first, g, swapped);
                be.gemm(true, false, rows, g * positions, s.k(), 1f, weight, dyg, 0f, columns);
                kernels.col2im(columns, s, first, g, dx, accumulate);
            }
        } finally {
            be.release(columns);
            if (swapped != null) {
                be.release(swapped);
            }
        }
    }

    /** dy of images [first, first + g) as (k, g·L): image first's block itself when g = 1, else swapped into {@code into}. */
    private static Buffer leading(Kernels kernels, Buffer dy, Conv2dShape s, int first, int g, Buffer into) {
        long outPerImage = (long) s.k() * s.outH() * s.outW();
        Buffer dyg = dy.slice(first * outPerImage, g * outPerImage);
        if (g == 1) {
            return dyg;
        }
        kernels.swapLeading(dyg, g, s.k(), s.outH() * s.outW(), into);
        return into;
    }
}
