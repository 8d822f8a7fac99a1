package dev.jrocm.runtime.optim;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.util.List;
import java.util.function.IntToDoubleFunction;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The learning-rate schedulers against PyTorch 2.13's own sequences
 * ({@code runtime/src/test/python/lr_schedulers.py} → {@code fixtures/lr_schedulers.json}), against
 * closed forms written out here, and against the lr the optimizer's next step really uses.
 */
class SchedulerTest {
    static Backend backend;
    static JsonNode fixture;

    Tensor p;
    SGD sgd;

    @BeforeAll
    static void open() throws IOException {
        backend = new CpuBackend();
        fixture = PyTorchAgreementTest.fixture("lr_schedulers.json");
    }

    @AfterAll
    static void close() { backend.close(); }

    @BeforeEach
    void optimizer() {
        p = Tensor.zeros(backend, 1).requiresGrad(true);
        sgd = new SGD(List.of(p), (float) fixture.get("base_lr").asDouble());
    }

    @AfterEach
    void closeOptimizer() {
        sgd.close();
        p.close();
    }

    /** The noam factor of the fixture, {@code min((t + 1) / 10, sqrt(10 / (t + 1)))}. */
    static double noam(int t) {
        return Math.min((t + 1) / 10.0, Math.sqrt(10.0 / (t + 1)));
    }

    /** The scheduler of a fixture case, built as the Python script builds it. */
    static LrScheduler scheduler(String name, Optimizer opt) {
        return switch (name) {
            case "step_lr" -> new StepLR(opt, 30, 0.5);
            case "cosine", "cosine_long" -> new CosineAnnealingLR(opt, 100, 1e-5);
            case "linear" -> new LinearLR(opt, 0.1, 1.0, 20);
            case "lambda" -> new LambdaLR(opt, SchedulerTest::noam);
            case "warmup_cosine" -> new LinearWarmup(opt, 10, new CosineAnnealingLR(opt, 90, 0.0));
            case "sequential3" -> new SequentialLR(opt, List.of(new LinearLR(opt, 0.25, 1.0, 20), new StepLR(opt, 25, 0.5),
                    new CosineAnnealingLR(opt, 80, 1e-4)), new int[] {15, 110});
            default -> throw new IllegalArgumentException(name);
        };
    }

    static double[] doubles(JsonNode array) {
        double[] out = new double[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asDouble();
        }
        return out;
    }

    /** lastLr() after construction and after each of the steps, as the fixture records them. */
    static double[] sequence(LrScheduler s, int steps) {
        double[] out = new double[steps + 1];
        out[0] = s.lastLr();
        for (int t = 1; t <= steps; t++) {
            s.step();
            out[t] = s.lastLr();
        }
        return out;
    }

    static void assertRelative(double[] want, double[] got, double rel, String what) {
        assertEquals(want.length, got.length, what + ": length");
        for (int t = 0; t < want.length; t++) {
            if (!(Math.abs(got[t] - want[t]) <= rel * Math.abs(want[t]))) {
                fail(what + " at t = " + t + ": jrocm " + got[t] + ", want " + want[t] + " (relative "
                        + Math.abs(got[t] - want[t]) / Math.abs(want[t]) + " > " + rel + ")");
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"step_lr", "cosine", "cosine_long", "linear", "lambda", "warmup_cosine", "sequential3"})
    void eachSequenceIsPyTorchs(String name) {
        JsonNode c = fixture.get(name);
        double[] want = doubles(c.get("lr"));
        // The cosine's closed form drifts from PyTorch's recursion by rounding: 1e-15 within one
        // period, 2.3e-13 after ten (the bound CosineAnnealingLR's javadoc states).
        double rel = name.equals("cosine_long") ? 3e-13 : 1e-12;
        assertRelative(want, sequence(scheduler(name, sgd), c.get("steps").asInt()), rel, name);
    }

    @ParameterizedTest
    @ValueSource(strings = {"cosine", "cosine_long"})
    void theCosineIsPyTorchsClosedForm(String name) {
        JsonNode c = fixture.get(name);
        assertRelative(doubles(c.get("closed_form")), sequence(scheduler(name, sgd), c.get("steps").asInt()), 1e-14, name);
    }

    /** Each schedule against its formula written out here, from a base lr that is not the fixture's. */
    @Test
    void eachScheduleIsItsClosedForm() {
        try (Tensor w = Tensor.zeros(backend, 3).requiresGrad(true); Adam adam = new Adam(List.of(w), 3e-3f)) {
            double b = 3e-3f;
            int n = 400;
            check(n, new StepLR(adam, 7), t -> b * Math.pow(0.1, Math.floor(t / 7.0)), "StepLR(7)");
            check(n, new StepLR(adam, 50, 0.8), t -> b * Math.pow(0.8, Math.floor(t / 50.0)), "StepLR(50, 0.8)");
            check(n, new CosineAnnealingLR(adam, 120, 1e-4),
                    t -> 1e-4 + (b - 1e-4) * (1 + Math.cos(Math.PI * t / 120)) / 2, "CosineAnnealingLR(120, 1e-4)");
            check(n, new LinearLR(adam, 0.5, 0.0, 30), t -> b * (t >= 30 ? 0.0 : 0.5 - 0.5 * t / 30), "LinearLR(0.5, 0, 30)");
            check(n, new LinearLR(adam, 1.0, 0.25, 1), t -> b * (t == 0 ? 1.0 : 0.25), "LinearLR(1, 0.25, 1)");
            check(n, new LambdaLR(adam, t -> 1.0 / (1 + t)), t -> b / (1 + t), "LambdaLR(1/(1+t))");
            check(n, new LinearWarmup(adam, 100, new CosineAnnealingLR(adam, 250, 0.0)),
                    t -> t < 100 ? b * (0.01 + 0.99 * t / 100) : b * (1 + Math.cos(Math.PI * (t - 100) / 250)) / 2,
                    "LinearWarmup(100, cosine 250)");
            check(n, new SequentialLR(adam, List.of(new StepLR(adam, 10, 0.5), new LambdaLR(adam, t -> 2.0 + t),
                            new LinearLR(adam, 0.2, 0.6, 40)), new int[] {25, 26}),
                    t -> t < 25 ? b * Math.pow(0.5, t / 10) : t == 25 ? 2 * b : b * (0.2 + 0.4 * Math.min(t - 26, 40) / 40),
                    "SequentialLR(StepLR, LambdaLR for one step, LinearLR)");
        }
    }

    private static void check(int steps, LrScheduler s, IntToDoubleFunction want, String what) {
        for (int t = 0; t <= steps; t++) {
            if (t > 0) {
                s.step();
            }
            assertEquals(t, s.lastEpoch(), what + ": lastEpoch");
            assertEquals(want.applyAsDouble(t), s.lastLr(), 1e-14 * want.applyAsDouble(0) + 1e-12 * Math.abs(want.applyAsDouble(t)),
                    what + " at t = " + t);
            assertEquals((float) s.lastLr(), (float) s.optimizer().lr(), what + ": the optimizer's lr at t = " + t);
        }
    }

    /**
     * The lr of the step after scheduler.step() is the scheduled one: with gradient 1 an SGD step
     * moves the weight by exactly the float lr (w ← w − lr·1, one rounding, as here).
     */
    @Test
    void theOptimizersNextStepUsesTheScheduledLr() {
        JsonNode c = fixture.get("warmup_cosine");
        double[] pytorch = doubles(c.get("lr"));
        LrScheduler s = scheduler("warmup_cosine", sgd);
        float w = 0f;
        for (int t = 0; t < pytorch.length; t++) {
            if (t > 0) {
                s.step();
            }
            p.setGrad(Tensor.of(backend, new float[] {1f}, 1));
            sgd.step();
            sgd.zeroGrad();
            w -= (float) s.lastLr();
            assertEquals(w, p.toArray()[0], "the weight after the step at t = " + t);
            assertEquals(pytorch[t], s.lastLr(), 1e-12 * pytorch[t], "PyTorch's lr at t = " + t);
        }
    }

    @Test
    void theGpt2RecipeWarmsUpThenAnneals() {
        double b = sgd.lr();
        LrScheduler s = new LinearWarmup(sgd, 100, new CosineAnnealingLR(sgd, 900, 0.0));
        double[] lr = sequence(s, 1000);
        assertEquals(b / 100, lr[0], 1e-18);
        assertEquals(b * (0.01 + 0.99 * 99 / 100), lr[99], 1e-16); // the warm-up never reaches the base itself
        assertEquals(b, lr[100], 0.0); // cos(0) = 1: the cosine restarted at its t = 0
        assertEquals(b / 2, lr[550], 1e-16);
        assertEquals(0.0, lr[1000], 1e-18);
        for (int t = 101; t <= 1000; t++) {
            if (!(lr[t] < lr[t - 1])) {
                fail("the cosine rises at t = " + t + ": " + lr[t - 1] + " → " + lr[t]);
            }
        }
        assertEquals(1000, s.lastEpoch());
    }

    /** Every scheduler starts from the lr the first one found (PyTorch's initial_lr), so factors never compound. */
    @Test
    void aLaterSchedulerStartsFromTheInitialLrNotTheCurrentOne() {
        double b = sgd.lr();
        LinearLR warm = new LinearLR(sgd, 0.1, 1.0, 10);
        assertEquals((float) (0.1 * b), (float) sgd.lr());
        StepLR step = new StepLR(sgd, 2, 0.5); // PyTorch's recursive StepLR would start at 0.1·b here
        assertEquals(b, step.lastLr());
        sgd.setLr(0.5); // an lr set by hand is not a new base either
        step.step();
        step.step();
        assertEquals(b / 2, step.lastLr());
        assertEquals((float) (b / 2), (float) sgd.lr());
        warm.step();
        assertEquals(b * 0.19, warm.lastLr(), 1e-15); // the one stepped last sets the lr
        assertEquals((float) (b * 0.19), (float) sgd.lr());
    }

    @Test
    void aSequentialLrRestartsEachLaterSchedulerAtItsMilestone() {
        double b = sgd.lr();
        StepLR first = new StepLR(sgd, 3, 0.5);
        CosineAnnealingLR second = new CosineAnnealingLR(sgd, 4, 0.0);
        for (int i = 0; i < 5; i++) {
            second.step(); // stepped before it joins: the milestone's restart forgets this
        }
        SequentialLR seq = new SequentialLR(sgd, List.of(first, second), new int[] {6});
        assertEquals(b, seq.lastLr());
        for (int t = 1; t <= 9; t++) {
            seq.step();
            assertEquals(t, seq.lastEpoch());
            LrScheduler active = t < 6 ? first : second;
            assertEquals(t < 6 ? t : t - 6, active.lastEpoch(), "the active scheduler's own t at t = " + t);
            assertEquals(active.lastLr(), seq.lastLr());
        }
        assertEquals(b * 0.5, first.lastLr()); // stopped at its t = 5
        assertEquals(b * (1 + Math.cos(Math.PI * 3 / 4)) / 2, seq.lastLr(), 1e-17);
        assertSame(second, seq.schedulers().get(1));
    }

    /** A SequentialLR as a later phase restarts with its first scheduler at each restart (PyTorch raises there). */
    @Test
    void aNestedSequentialLrRestartsAsAWhole() {
        double b = sgd.lr();
        SequentialLR inner = new SequentialLR(sgd, List.of(new LambdaLR(sgd, t -> 1.0 / (t + 1)), new StepLR(sgd, 1, 0.5)),
                new int[] {2});
        LinearWarmup outer = new LinearWarmup(sgd, 4, inner);
        double[] want = {b / 4, b * 7 / 16, b * 10 / 16, b * 13 / 16, b, b / 2, b, b / 2, b / 4};
        assertRelative(want, sequence(outer, 8), 1e-15, "LinearWarmup(4, [1/(t+1), StepLR(1, 0.5)] at 2)");
        assertEquals(4, inner.lastEpoch());
    }

    @Test
    void aRefusedFactorThrowsAndChangesNothing() {
        LambdaLR s = new LambdaLR(sgd, t -> t < 2 ? 1.0 - 0.25 * t : t == 2 ? Double.NaN : -1.0);
        s.step();
        double before = sgd.lr();
        assertEquals("LambdaLR: factor(2) must be >= 0 and finite, got NaN",
                assertThrows(IllegalArgumentException.class, s::step).getMessage());
        assertEquals(1, s.lastEpoch());
        assertEquals(before, sgd.lr());
        assertEquals(0.75 * sgd.initialLr(), s.lastLr());
        assertEquals("LambdaLR: factor(0) must be >= 0 and finite, got -1.0",
                assertThrows(IllegalArgumentException.class, () -> new LambdaLR(sgd, t -> -1.0)).getMessage());
    }

    @Test
    void anLrThatOutgrowsAFloatThrows() {
        StepLR s = new StepLR(sgd, 1, 1e30);
        s.step();
        String message = assertThrows(IllegalStateException.class, s::step).getMessage();
        if (!message.matches("StepLR: the lr at t = 2 is 1\\.0[0-9]*E59, which is not a learning rate \\(>= 0 and finite as a float\\)")) {
            fail(message);
        }
        assertEquals(1, s.lastEpoch());
    }

    @Test
    void badArgumentsAreRefusedByName() {
        try (Tensor q = Tensor.zeros(backend, 1).requiresGrad(true); SGD other = new SGD(List.of(q), 0.1f)) {
            refused("StepLR: stepSize must be > 0, got 0", () -> new StepLR(sgd, 0));
            refused("StepLR: gamma must be > 0.0 and finite, got 0.0", () -> new StepLR(sgd, 3, 0.0));
            refused("StepLR: gamma must be > 0.0 and finite, got Infinity", () -> new StepLR(sgd, 3, Double.POSITIVE_INFINITY));
            refused("StepLR: optimizer is null", () -> new StepLR(null, 3));
            refused("CosineAnnealingLR: tMax must be > 0, got -5", () -> new CosineAnnealingLR(sgd, -5, 0.0));
            refused("CosineAnnealingLR: etaMin must be >= 0.0 and finite, got NaN", () -> new CosineAnnealingLR(sgd, 5, Double.NaN));
            refused("CosineAnnealingLR: etaMin must be >= 0.0 and finite, got -1.0E-5", () -> new CosineAnnealingLR(sgd, 5, -1e-5));
            refused("LinearLR: startFactor must be in (0.0, 1.0], got 0.0", () -> new LinearLR(sgd, 0.0, 1.0, 5));
            refused("LinearLR: startFactor must be in (0.0, 1.0], got 1.5", () -> new LinearLR(sgd, 1.5, 1.0, 5));
            refused("LinearLR: endFactor must be in [0.0, 1.0], got 1.01", () -> new LinearLR(sgd, 0.5, 1.01, 5));
            refused("LinearLR: endFactor must be in [0.0, 1.0], got -0.1", () -> new LinearLR(sgd, 0.5, -0.1, 5));
            refused("LinearLR: totalIters must be > 0, got 0", () -> new LinearLR(sgd, 0.5, 1.0, 0));
            refused("LambdaLR: factor is null", () -> new LambdaLR(sgd, null));
            refused("LinearWarmup: warmupSteps must be > 0, got 0", () -> new LinearWarmup(sgd, 0, new StepLR(sgd, 1)));
            refused("LinearWarmup: then is null", () -> new LinearWarmup(sgd, 3, null));

            StepLR a = new StepLR(sgd, 2), b = new StepLR(sgd, 3);
            StepLR elsewhere = new StepLR(other, 2);
            refused("SequentialLR: needs at least one scheduler, got none", () -> new SequentialLR(sgd, List.of(), new int[0]));
            refused("SequentialLR: 2 schedulers need 1 milestones, got 2: [3, 5]",
                    () -> new SequentialLR(sgd, List.of(a, b), new int[] {3, 5}));
            refused("SequentialLR: milestones must be > 0 and strictly increasing, got [4, 4]",
                    () -> new SequentialLR(sgd, List.of(a, b, a), new int[] {4, 4}));
            refused("SequentialLR: milestones must be > 0 and strictly increasing, got [0]",
                    () -> new SequentialLR(sgd, List.of(a, b), new int[] {0}));
            refused("SequentialLR: scheduler 1 (StepLR) sets the lr of another optimizer (a SGD) than the SequentialLR's (a SGD)",
                    () -> new SequentialLR(sgd, List.of(a, elsewhere), new int[] {3}));
            refused("LinearWarmup: scheduler 1 (StepLR) sets the lr of another optimizer (a SGD) than the LinearWarmup's (a SGD)",
                    () -> new LinearWarmup(sgd, 3, elsewhere));
            refused("SequentialLR: scheduler 0 is null", () -> new SequentialLR(sgd, java.util.Arrays.asList(null, a), new int[] {3}));
            refused("SequentialLR: milestones is null", () -> new SequentialLR(sgd, List.of(a), null));
        }
    }

    private static void refused(String message, Executable constructor) {
        assertEquals(message, assertThrows(IllegalArgumentException.class, constructor).getMessage());
    }

    @Test
    void theConstructorSetsTheLrForTZero() {
        double b = sgd.lr();
        LrScheduler s = new LinearLR(sgd, 0.5, 1.0, 4);
        assertEquals(0, s.lastEpoch());
        assertEquals(b / 2, s.lastLr());
        assertEquals((float) (b / 2), (float) sgd.lr());
        assertSame(sgd, s.optimizer());
    }
}
