package dev.jrocm.runtime.device.gpu;

import dev.jrocm.runtime.device.Buffer;
import dev.jrocm.runtime.device.GpuException;
import dev.jrocm.runtime.device.TestBuffers;
import dev.jrocm.runtime.device.TestDoubles;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.device.hip.MIOpenDnn;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link MIOpenDnn} and {@link GpuBackend}'s routing of ReLU and log-softmax through it, over a C
 * test double of MIOpen's API ({@code src/test/c/fake_miopen.c}, built here with gcc) that works on
 * host memory, paired with {@link FakeDriver}. Debian 12 has no MIOpen: this checks what jrocm
 * passes (descriptors, alpha/beta, modes, addresses) and how it reads statuses, not MIOpen's own
 * arithmetic, which only an AMD GPU can show.
 */
class MIOpenRoutingTest {
    FakeDriver driver;
    GpuBackend gpu;
    MIOpenDnn dnn;

    @BeforeAll
    static void loadTheTestDouble() throws Exception {
        System.load(TestDoubles.build("fake_miopen").toString());
    }

    @BeforeEach
    void open() {
        driver = new FakeDriver("fake-" + UUID.randomUUID());
        dnn = MIOpenDnn.open(MemorySegment.NULL);
        driver.dnn = dnn;
        gpu = new GpuBackend(driver);
    }

    @AfterEach
    void close() {
        gpu.close();
        dnn.close();
    }

    Buffer upload(float[] data) {
        return TestBuffers.upload(gpu, data);
    }

    float[] download(Buffer b) {
        return TestBuffers.download(gpu, b);
    }

    static float[] onCpu(float[] in, java.util.function.BiConsumer<CpuBackend, Buffer[]> op, int outputs, int length) {
        try (CpuBackend cpu = new CpuBackend(); Arena arena = Arena.ofConfined()) {
            Buffer[] b = new Buffer[1 + outputs];
            b[0] = cpu.allocate((long) in.length * Float.BYTES);
            cpu.copyFromHost(arena.allocateFrom(ValueLayout.JAVA_FLOAT, in), b[0]);
            for (int i = 1; i <= outputs; i++) {
                b[i] = cpu.allocate((long) length * Float.BYTES);
            }
            op.accept(cpu, b);
            MemorySegment s = arena.allocate((long) length * Float.BYTES);
            cpu.copyToHost(b[outputs], s);
            return s.toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    List<String> kernels() {
        return driver.launches.stream().map(FakeDriver.Launch::kernel).toList();
    }

    @Test
    void reluGoesThroughMIOpenAndGivesTheCpusValues() {
        float[] x = TestBuffers.gaussian(1001, 1);
        Buffer in = upload(x), out = gpu.allocate(1001 * 4);
        gpu.relu(in, out);
        gpu.relu(in, in); // in place
        float[] want = onCpu(x, (cpu, b) -> cpu.relu(b[0], b[1]), 1, 1001);
        assertArrayEquals(want, download(out));
        assertArrayEquals(want, download(in));
        assertFalse(kernels().contains("jr_relu"), "ReLU went to jrocm's kernel: " + kernels());
    }

    @Test
    void reluBackwardOverwritingGoesThroughMIOpenAndAccumulatingStaysWithTheKernel() {
        float[] x = TestBuffers.gaussian(777, 2), dy = TestBuffers.gaussian(777, 3);
        Buffer y = upload(x), g = upload(dy), dx = upload(TestBuffers.gaussian(777, 4));
        gpu.relu(y, y);
        gpu.reluBackward(y, g, dx, false);
        float[] relu = onCpu(x, (cpu, b) -> cpu.relu(b[0], b[1]), 1, 777);
        float[] want = new float[777];
        for (int i = 0; i < want.length; i++) {
            want[i] = relu[i] > 0 ? dy[i] : 0f;
        }
        assertArrayEquals(want, download(dx));
        assertFalse(kernels().contains("jr_relu_backward"), kernels().toString());

        gpu.reluBackward(y, g, dx, true);
        assertEquals("jr_relu_backward", kernels().getLast(), "MIOpen's activations only overwrite (beta = 0)");
    }

    @Test
    void crossEntropyReadsMIOpensLogSoftmaxWithTheNllKernel() {
        int rows = 5, classes = 7;
        float[] logits = TestBuffers.gaussian(rows * classes, 5);
        for (int i = 0; i < logits.length; i++) {
            logits[i] *= 4;
        }
        Buffer x = upload(logits), labels = gpu.allocate(rows * 4), out = gpu.allocate(8), d = gpu.allocate(rows * classes * 4);
        gpu.crossEntropy(x, labels, rows, classes, out, d);
        assertEquals(List.of("jr_nll_rows", "jr_cross_entropy_reduce"), kernels());
        FakeDriver.Launch nll = driver.launches.getFirst();
        // its first argument: the log-probabilities MIOpen wrote, which the pool still holds
        float[] logp = FakeDriver.at(nll.args()[0], (long) rows * classes * 4).toArray(ValueLayout.JAVA_FLOAT);
        for (int r = 0; r < rows; r++) {
            double lse = TestBuffers.logSumExp(logits, r * classes, classes);
            for (int c = 0; c < classes; c++) {
                double want = logits[r * classes + c] - lse;
                assertEquals(want, logp[r * classes + c], 1e-5, "row " + r + " class " + c);
            }
        }
        assertEquals(labels.memory().address(), nll.args()[1]);
        assertEquals(rows, nll.args()[2]);
        assertEquals(classes, nll.args()[3]);
        assertEquals(d.memory().address(), nll.args()[5]);
    }

    @Test
    void withoutMIOpenTheFusedKernelReadsTheLogits() {
        driver.dnn = null;
        Buffer x = upload(new float[12]), labels = gpu.allocate(16), out = gpu.allocate(8);
        gpu.crossEntropy(x, labels, 4, 3, out, null);
        assertEquals(List.of("jr_cross_entropy_rows", "jr_cross_entropy_reduce"), kernels());
        assertEquals(x.memory().address(), driver.launches.getFirst().args()[0]);
    }

    @Test
    void aRefusedCallThrowsWithMIOpensOwnMessage() {
        GpuException e = assertThrows(GpuException.class, () -> dnn.relu(0L, 0L, 16));
        assertEquals("MIOpen", e.library());
        assertEquals(3, e.code());
        assertTrue(e.getMessage().contains("miopenActivationForward(ReLU, 16)"), e.getMessage());
        assertTrue(e.getMessage().contains("miopenStatusBadParm"), e.getMessage());
        assertTrue(e.getMessage().contains("An incorrect parameter was detected (fake MIOpen)"),
                "the library's own message, from miopenGetErrorString: " + e.getMessage());
    }

    @Test
    void sizesBeyondMIOpensIntDimensionsAreLeftToTheKernels() {
        assertFalse(dnn.relu(16L, 16L, 1L << 31), "2^31 elements do not fit MIOpen's int dimensions");
        assertFalse(dnn.reluBackward(16L, 16L, 16L, 1L << 31));
    }

    @Test
    void afterCloseItRefusesWorkAndClosingAgainDoesNothing() {
        Buffer x = upload(new float[8]);
        dnn.close();
        dnn.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> gpu.relu(x, x));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
    }
}
