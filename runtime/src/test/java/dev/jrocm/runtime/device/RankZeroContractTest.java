package dev.jrocm.runtime.device;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import static dev.jrocm.runtime.device.TestBuffers.download;
import static dev.jrocm.runtime.device.TestBuffers.upload;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Backend.binary and Backend.sumTo with rank-0 shapes (one element), on every backend, against double. */
class RankZeroContractTest {

    @ParameterizedTest(autoCloseArguments = false) // the backends are shared; BackendContractTest closes them
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void binaryOfRankZeroOperandsGivesOneElement(Backend be) {
        Buffer a = upload(be, new float[] {1.5f}), b = upload(be, new float[] {-0.25f}), out = be.allocate(4);
        double[] want = {1.5 + -0.25, 1.5 - -0.25, 1.5 * -0.25, 1.5 / -0.25};
        for (Backend.BinaryOp op : Backend.BinaryOp.values()) {
            be.binary(op, a, new long[0], b, new long[0], out, new int[0]);
            assertEquals(want[op.ordinal()], download(be, out)[0], 1e-6, op.toString());
        }
        for (Buffer x : new Buffer[] {a, b, out}) {
            be.release(x);
        }
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void sumToOfRankZeroIsAScaledCopyOrAccumulation(Backend be) {
        Buffer x = upload(be, new float[] {3f}), out = upload(be, new float[] {10f});
        be.sumTo(-0.5f, x, new int[0], 1f, out, new int[0]);
        assertEquals(10.0 - 0.5 * 3.0, download(be, out)[0], 1e-6);
        be.sumTo(2f, x, new int[0], 0f, out, new int[0]);
        assertEquals(6.0, download(be, out)[0], 1e-6);
        be.release(x);
        be.release(out);
    }
}
