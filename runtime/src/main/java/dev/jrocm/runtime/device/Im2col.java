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
        int rows = s.c() * s.kh() * s.kw(), positions = s.outH() * s.outW();
        groups(be, s, (first, g, columns, scratch) -> {
            kernels.im2col(x, s, first, g, columns);
            Buffer yg = y.slice(first * (long) s.k() * positions, (long) g * s.k() * positions);
            if (g == 1) { // (k, L) is image first's block of y already
                be.gemm(false, false, s.k(), positions, rows, 1f, weight, columns, 0f, yg);
            } else {
                be.gemm(false, false, s.k(), g * positions, rows, 1f, weight, columns, 0f, scratch);
                kernels.swapLeading(scratch, s.k(), g, positions, yg);
            }
        });
    }

    /** {@link Backend#conv2dBackwardWeight} (operands already checked). */
    public static void backwardWeight(Backend be, Kernels kernels, Buffer dy, Buffer x, Conv2dShape s, Buffer dw,
                                      boolean accumulate) {
        if (s.n() == 0 && !accumulate) {
            be.fill(dw.slice(0, s.weightSize()), 0f); // a sum over no images
        }
        int rows = s.c() * s.kh() * s.kw(), positions = s.outH() * s.outW();
        groups(be, s, (first, g, columns, scratch) -> {
            kernels.im2col(x, s, first, g, columns);
            Buffer dyg = leading(kernels, dy, s, first, g, scratch);
            be.gemm(false, true, s.k(), rows, g * positions, 1f, dyg, columns, accumulate || first > 0 ? 1f : 0f, dw);
        });
    }

    /** {@link Backend#conv2dBackwardData} (operands already checked). */
    public static void backwardData(Backend be, Kernels kernels, Buffer dy, Buffer weight, Conv2dShape s, Buffer dx,
                                    boolean accumulate) {
        int rows = s.c() * s.kh() * s.kw(), positions = s.outH() * s.outW();
        groups(be, s, (first, g, columns, scratch) -> {
            Buffer dyg = leading(kernels, dy, s, first, g, scratch);
            be.gemm(true, false, rows, g * positions, s.k(), 1f, weight, dyg, 0f, columns);
            kernels.col2im(columns, s, first, g, dx, accumulate);
        });
    }

    /** One group of images: [first, first + count), with the group's columns and a (k, count·L) scratch (null for one image). */
    private interface Group {
        void run(int first, int count, Buffer columns, Buffer scratch);
    }

    /** Runs {@code group} over the batch in groups of {@link #groupSize}, with temporaries from the pool. */
    private static void groups(Backend be, Conv2dShape s, Group group) {
        if (s.n() == 0) {
            return;
        }
        int size = groupSize(s);
        long positions = (long) s.outH() * s.outW();
        Buffer columns = be.allocate((long) s.c() * s.kh() * s.kw() * size * positions * Float.BYTES);
        Buffer scratch = size > 1 ? be.allocate(s.k() * positions * size * Float.BYTES) : null;
        try {
            for (int first = 0; first < s.n(); first += size) {
                group.run(first, Math.min(size, s.n() - first), columns, scratch);
            }
        } finally {
            be.release(columns);
            if (scratch != null) {
                be.release(scratch);
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
