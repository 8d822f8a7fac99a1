package dev.jrocm.runtime.optim;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

class OptimizerTest {
    static Backend backend;

    @BeforeAll
    static void open() { backend = new CpuBackend(); }

    @AfterAll
    static void close() { backend.close(); }

    @Test
    void frozenParametersAreNeverTouchedAndGetNoState() {
        try (Tensor trained = Tensor.of(backend, new float[] {1, 2}, 2).requiresGrad(true);
             Tensor frozen = Tensor.of(backend, new float[] {3, 4}, 2).requiresGrad(true);
             Adam adam = new Adam(List.of(trained, frozen), 0.1f)) {
            trained.setGrad(Tensor.of(backend, new float[] {1, 1}, 2));
            frozen.setGrad(Tensor.of(backend, new float[] {1, 1}, 2));
            frozen.requiresGrad(false); // frozen after the optimizer was made: still never stepped
            adam.step();
            assertArrayEquals(new float[] {3, 4}, frozen.toArray());
            assertEquals(0.9f, trained.toArray()[0], 1e-6f); // Adam's first step moves by lr
            assertEquals(1, adam.stateCount());
            assertNull(adam.stateOf(frozen));
        }
    }

    @Test
    void hyperParametersAreValidated() {
        try (Tensor p = Tensor.zeros(backend, 2).requiresGrad(true)) {
            List<Tensor> ps = List.of(p);
            assertEquals("lr must be in [0.0, Infinity), got -0.001",
                    assertThrows(IllegalArgumentException.class, () -> new Adam(ps, -1e-3f)).getMessage());
            assertEquals("beta1 must be in [0.0, 1.0), got 1.0",
                    assertThrows(IllegalArgumentException.class, () -> new Adam(ps, 1e-3f, 1f, 0.999f, 1e-8f, 0f, false)).getMessage());
            assertEquals("beta2 must be in [0.0, 1.0), got -0.5",
                    assertThrows(IllegalArgumentException.class, () -> new Adam(ps, 1e-3f, 0.9f, -0.5f, 1e-8f, 0f, false)).getMessage());
            assertEquals("lr must be in [0.0, Infinity), got NaN",
                    assertThrows(IllegalArgumentException.class, () -> new SGD(ps, Float.NaN)).getMessage());
            assertEquals("Adam got no parameters to optimise",
                    assertThrows(IllegalArgumentException.class, () -> new Adam(List.of(), 1e-3f)).getMessage());
        }
    }

    @Test
    void sgdWithMomentumAndDecayFollowsPyTorch() {
        // PyTorch: d = g + λp; buf = d (first step), then μ·buf + d; p ← p − lr·buf.
        float lr = 0.1f, mu = 0.9f, wd = 0.01f;
        float[] p = {1f, -2f}, g1 = {0.5f, 0.25f}, g2 = {-1f, 2f};
        try (Tensor t = Tensor.of(backend, p, 2).requiresGrad(true); SGD sgd = new SGD(List.of(t), lr, mu, wd)) {
            double[] ref = {p[0], p[1]}, buf = new double[2];
            for (float[] g : List.of(g1, g2)) {
                t.setGrad(Tensor.of(backend, g, 2));
                sgd.step();
                for (int i = 0; i < 2; i++) {
                    double d = g[i] + wd * ref[i];
                    buf[i] = g == g1 ? d : mu * buf[i] + d;
                    ref[i] -= lr * buf[i];
                }
                t.zeroGrad();
            }
            float[] got = t.toArray();
            assertEquals(ref[0], got[0], 1e-6);
            assertEquals(ref[1], got[1], 1e-6);
        }
    }

    /** A step begun while another thread's step runs is refused, not interleaved with it. */
    @Test
    void steppingFromTwoThreadsAtOnceThrows() throws Exception {
        java.util.concurrent.CountDownLatch inside = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        try (Tensor p = Tensor.zeros(backend, 2).requiresGrad(true);
             Optimizer blocking = new Optimizer(List.of(p)) {
                 @Override
                 protected void update() {
                     inside.countDown();
                     try {
                         release.await();
                     } catch (InterruptedException e) {
                         Thread.currentThread().interrupt();
                     }
                 }
             }) {
            Thread first = new Thread(blocking::step, "first-stepper");
            first.start();
            inside.await();
            IllegalStateException e = assertThrows(IllegalStateException.class, blocking::step);
            assertEquals("step() called on thread '" + Thread.currentThread().getName()
                    + "' while thread 'first-stepper' is stepping it: a model and its optimizer are used by one"
                    + " thread at a time", e.getMessage().substring(e.getMessage().indexOf("step()")));
            release.countDown();
            first.join();
            blocking.step(); // once the other step is over, this thread may step
        }
    }
}
