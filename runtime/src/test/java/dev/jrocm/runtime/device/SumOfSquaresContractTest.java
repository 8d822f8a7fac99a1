package dev.jrocm.runtime.device;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import static dev.jrocm.runtime.device.TestBuffers.download;
import static dev.jrocm.runtime.device.TestBuffers.gaussian;
import static dev.jrocm.runtime.device.TestBuffers.upload;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link Backend#sumOfSquares} on every backend of {@link BackendContractTest#backends()}, against a sum in double. */
class SumOfSquaresContractTest {

    @AfterAll
    static void closeBackends() {
        BackendContractTest.closeBackends();
    }

    private static float sumOfSquares(Backend be, float[] data) {
        Buffer x = upload(be, data), out = upload(be, new float[] {-1f});
        try {
            be.sumOfSquares(x, out);
            return download(be, out)[0];
        } finally {
            be.release(x);
            be.release(out);
        }
    }

    /** Sizes below a chunk, across the CPU's chunks of 65536 and past 256 GPU blocks of 2048. */
    @ParameterizedTest(autoCloseArguments = false) // the backends are shared; closed in @AfterAll
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void sumsTheSquaresOfEveryElementAsADoubleSumWould(Backend be) {
        for (int n : new int[] {1, 7, 256, 2049, 65536 * 2 + 3, 600_001}) {
            long seed = BackendContractTest.SEED + n;
            float[] x = gaussian(n, seed);
            double want = 0;
            for (float v : x) {
                want += (double) v * v;
            }
            float got = sumOfSquares(be, x);
            assertEquals(want, got, 2e-7 * want, be.describe() + " n=" + n + " seed=" + seed);
            assertEquals(got, sumOfSquares(be, x), be.describe() + ": the same input gives the same bits");
        }
    }

    @ParameterizedTest(autoCloseArguments = false) // the backends are shared; closed in @AfterAll
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void anEmptyBufferSumsToZero(Backend be) {
        Buffer x = be.allocate(0), out = upload(be, new float[] {5f});
        be.sumOfSquares(x, out);
        assertEquals(0f, download(be, out)[0], be.describe());
        be.release(x);
        be.release(out);
    }

    @ParameterizedTest(autoCloseArguments = false) // the backends are shared; closed in @AfterAll
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void writesOnlyTheFirstElementOfOut(Backend be) {
        Buffer x = upload(be, new float[] {3f, -4f}), all = upload(be, new float[] {9f, 9f, 9f});
        be.sumOfSquares(x, all.slice(1, 1));
        float[] got = download(be, all);
        assertEquals(9f, got[0], be.describe());
        assertEquals(25f, got[1], be.describe());
        assertEquals(9f, got[2], be.describe());
        be.release(x);
        be.release(all);
    }

    @ParameterizedTest(autoCloseArguments = false) // the backends are shared; closed in @AfterAll
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void nonFiniteElementsAndOverflowGiveANonFiniteSum(Backend be) {
        assertTrue(Float.isNaN(sumOfSquares(be, new float[] {1f, Float.NaN, 2f})), be.describe());
        assertEquals(Float.POSITIVE_INFINITY, sumOfSquares(be, new float[] {1f, Float.NEGATIVE_INFINITY}), be.describe());
        assertEquals(Float.POSITIVE_INFINITY, sumOfSquares(be, new float[] {3e19f, 3e19f}), be.describe()); // 1.8e39 > float's max
    }

    @ParameterizedTest(autoCloseArguments = false) // the backends are shared; closed in @AfterAll
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void badOperandsAreRefusedWithTheOpAndOperandNamed(Backend be) {
        Buffer x = upload(be, new float[] {1f}), none = be.allocate(0);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> be.sumOfSquares(x, none));
        assertEquals("sumOfSquares: operand out holds 0 elements, the op needs 1", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> be.sumOfSquares(null, x));
        assertEquals("sumOfSquares: operand x is null", e.getMessage());
        be.release(x);
        be.release(none);
    }
}
