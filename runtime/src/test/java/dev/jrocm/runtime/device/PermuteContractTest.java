package dev.jrocm.runtime.device;

import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * {@code permute}/{@code transpose} on every backend (the CPU's and the emulated GPU's strided
 * reads through {@link Backend#binary}) against index loops.
 */
public class PermuteContractTest {

    @AfterAll
    static void closeBackends() {
        BackendContractTest.closeBackends();
    }

    @ParameterizedTest(autoCloseArguments = false) // the backends are shared; closed in @AfterAll
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void permuteOfRankFourAndTransposeMatchIndexLoops(Backend be) {
        int[] shape = {2, 3, 4, 5};
        double[] x = new Random(11).doubles(120).toArray();
        try (Scope scope = Scope.open()) {
            Tensor t = Tensor.of(be, toFloat(x), shape);
            Tensor p = t.permute(2, 0, 3, 1);
            assertArrayEquals(new int[] {4, 2, 5, 3}, p.shape());
            assertArrayEquals(toFloat(permuted(x, shape, new int[] {2, 0, 3, 1})), p.toArray());
            Tensor tr = t.transpose(-1, 1);
            assertArrayEquals(new int[] {2, 5, 4, 3}, tr.shape());
            assertArrayEquals(toFloat(permuted(x, shape, new int[] {0, 3, 2, 1})), tr.toArray());
            assertArrayEquals(t.toArray(), t.permute(0, 1, 2, 3).toArray());
        }
    }

    private static float[] toFloat(double[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            f[i] = (float) v[i];
        }
        return f;
    }

    /** x (dense, {@code shape}) permuted: out[i] = x[j] with j_perm[d] = i_d. */
    public static double[] permuted(double[] x, int[] shape, int[] perm) {
        int rank = shape.length;
        int[] outShape = new int[rank];
        for (int d = 0; d < rank; d++) {
            outShape[d] = shape[perm[d]];
        }
        long[] xs = Strides.dense(shape);
        double[] out = new double[x.length];
        int[] idx = new int[rank];
        for (int i = 0; i < out.length; i++) {
            long src = 0;
            for (int d = 0; d < rank; d++) {
                src += idx[d] * xs[perm[d]];
            }
            out[i] = x[(int) src];
            for (int d = rank - 1; d >= 0 && ++idx[d] == outShape[d]; d--) {
                idx[d] = 0;
            }
        }
        return out;
    }
}
