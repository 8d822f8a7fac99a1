package dev.jrocm.runtime.tensor;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.MemoryStats;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.nn.CrossEntropyLoss;
import dev.jrocm.runtime.nn.Linear;
import dev.jrocm.runtime.nn.ReLU;
import dev.jrocm.runtime.nn.Sequential;
import dev.jrocm.runtime.optim.Adam;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TrainingMemoryTest {

    @Test
    void aThousandTrainingStepsAskForNoNewMemoryAfterTheFirst() {
        try (Backend backend = new CpuBackend();
             Sequential model = new Sequential("fc1", new Linear(backend, 64, 32, 1), "relu", new ReLU(),
                     "fc2", new Linear(backend, 32, 10, 2));
             Adam adam = new Adam(model.trainableParameters(), 1e-3f)) {
            CrossEntropyLoss lossFn = new CrossEntropyLoss();
            Random random = new Random(3);
            float[] x = new float[16 * 64];
            int[] y = new int[16];
            MemoryStats afterFirst = null;
            for (int step = 0; step < 1000; step++) {
                for (int i = 0; i < x.length; i++) {
                    x[i] = (float) random.nextGaussian();
                }
                for (int i = 0; i < y.length; i++) {
                    y[i] = random.nextInt(10);
                }
                try (Scope s = Scope.open()) {
                    adam.zeroGrad();
                    Tensor loss = lossFn.forward(model.forward(Tensor.of(backend, x, 16, 64)), Tensor.ofInts(backend, y, 16));
                    loss.backward();
                    adam.step();
                    assertTrue(Float.isFinite(loss.item()));
                }
                if (step == 1) {
                    afterFirst = backend.memoryStats();
                }
            }
            MemoryStats end = backend.memoryStats();
            assertEquals(afterFirst.systemAllocations(), end.systemAllocations(), "steady-state steps allocated memory");
            assertEquals(afterFirst.bytesReserved(), end.bytesReserved());
            assertEquals(afterFirst.bytesInUse(), end.bytesInUse(), "memory in use grew over the steps");
        }
    }

    @Test
    void aClosedBackendRefusesNewTensors() {
        Backend backend = new CpuBackend();
        Tensor t = Tensor.zeros(backend, 3);
        backend.close();
        assertThrows(IllegalStateException.class, t::toArray);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Tensor.zeros(backend, 3));
        assertEquals("the cpu backend is closed", e.getMessage());
    }
}
