package dev.jrocm.runtime.device;

import dev.jrocm.runtime.autograd.MatmulGradTest;
import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@code Ops.matmul} on every backend: a broadcast batched product (one GEMM per matrix on buffer
 * slices) and its gradients, against the double reference of {@link MatmulGradTest}.
 */
class MatmulContractTest {

    @AfterAll
    static void closeBackends() {
        BackendContractTest.closeBackends();
    }

    @ParameterizedTest(autoCloseArguments = false) // the backends are shared; closed in @AfterAll
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void aBroadcastBatchedProductAndItsGradientsMatchTheReference(Backend be) {
        int[] aShape = {2, 1, 3, 4}, bShape = {3, 4, 5};
        Random r = new Random(5);
        double[] a = r.doubles(24, -1, 1).toArray(), b = r.doubles(60, -1, 1).toArray();
        double[] want = MatmulGradTest.reference(a, aShape, b, bShape);
        try (Scope scope = Scope.open()) {
            Tensor at = Tensor.of(be, toFloat(a), aShape).requiresGrad(true);
            Tensor bt = Tensor.of(be, toFloat(b), bShape).requiresGrad(true);
            Tensor y = Ops.matmul(at, bt);
            assertArrayEquals(new int[] {2, 3, 3, 5}, y.shape());
            float[] got = y.toArray();
            for (int i = 0; i < want.length; i++) {
                assertEquals(want[i], got[i], 1e-5, "y[" + i + "] on " + be.describe());
            }
            Ops.sum(y).backward(); // da = Σ_j Σ_n b[j][k][n] (3 batch entries each), db = Σ a's rows over the 2 repeats
            float[] da = at.grad().toArray(), db = bt.grad().toArray();
            for (int i = 0; i < 2; i++) {
                for (int m = 0; m < 3; m++) {
                    for (int k = 0; k < 4; k++) {
                        double s = 0;
                        for (int j = 0; j < 3; j++) {
                            for (int n = 0; n < 5; n++) {
                                s += b[j * 20 + k * 5 + n];
                            }
                        }
                        assertEquals(s, da[i * 12 + m * 4 + k], 1e-5, "da on " + be.describe());
                    }
                }
            }
            for (int j = 0; j < 3; j++) {
                for (int k = 0; k < 4; k++) {
                    double s = 0;
                    for (int i = 0; i < 2; i++) {
                        for (int m = 0; m < 3; m++) {
                            s += a[i * 12 + m * 4 + k];
                        }
                    }
                    for (int n = 0; n < 5; n++) {
                        assertEquals(s, db[j * 20 + k * 5 + n], 1e-5, "db on " + be.describe());
                    }
                }
            }
        }
    }

    private static float[] toFloat(double[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            f[i] = (float) v[i];
        }
        return f;
    }
}
