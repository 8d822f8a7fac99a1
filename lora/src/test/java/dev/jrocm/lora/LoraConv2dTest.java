package dev.jrocm.lora;

import dev.jrocm.runtime.autograd.Autograd;
import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.io.Safetensors;
import dev.jrocm.runtime.io.SafetensorsFile;
import dev.jrocm.runtime.nn.Conv2d;
import dev.jrocm.runtime.nn.CrossEntropyLoss;
import dev.jrocm.runtime.nn.Flatten;
import dev.jrocm.runtime.nn.Linear;
import dev.jrocm.runtime.nn.MaxPool2d;
import dev.jrocm.runtime.nn.Module;
import dev.jrocm.runtime.nn.ReLU;
import dev.jrocm.runtime.nn.Sequential;
import dev.jrocm.runtime.optim.Adam;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@link LoraConv2d} against an independent double-precision convolution: the forward, its
 * gradients by central differences, merge (PEFT's delta weight), enable/disable, dropout, and a
 * small CNN adapted on both convolutions and both Linear layers: a frozen-base step, the
 * parameter counts, mergeAndUnload, saving and loading in PEFT's layout, and the errors.
 */
class LoraConv2dTest {
    static Backend backend;

    @BeforeAll
    static void open() { backend = new CpuBackend(); }

    @AfterAll
    static void close() { backend.close(); }

    /** A convolution's geometry, pairs {h, w}. */
    record Geometry(int[] kernel, int[] stride, int[] padding, int[] dilation) {
        int outH(int h) { return (h + 2 * padding[0] - dilation[0] * (kernel[0] - 1) - 1) / stride[0] + 1; }

        int outW(int w) { return (w + 2 * padding[1] - dilation[1] * (kernel[1] - 1) - 1) / stride[1] + 1; }
    }

    /** Rectangular kernel, unequal strides, padding and dilation: every index of the geometry matters. */
    static final Geometry ODD = new Geometry(new int[] {3, 2}, new int[] {2, 1}, new int[] {1, 0}, new int[] {1, 2});
    static final Geometry POINTWISE = new Geometry(new int[] {1, 1}, new int[] {1, 1}, new int[] {0, 0}, new int[] {1, 1});
    static final int N = 2, C = 3, H = 6, W = 7, OUT = 4, R = 2;

    static Conv2d conv(int in, int out, Geometry g, long seed) {
        return new Conv2d(backend, in, out, g.kernel(), g.stride(), g.padding(), g.dilation(), true, seed);
    }

    /**
     * The 2-d cross-correlation in double: x (n, c, h, w), weight (k, c, kh, kw), bias (k) or null
     * → (n, k, outH, outW), zero padding.
     */
    static double[] convolve(double[] x, int n, int c, int h, int w, double[] weight, int k, double[] bias, Geometry g) {
        int kh = g.kernel()[0], kw = g.kernel()[1], oh = g.outH(h), ow = g.outW(w);
        double[] y = new double[n * k * oh * ow];
        for (int b = 0; b < n; b++) {
            for (int o = 0; o < k; o++) {
                for (int i = 0; i < oh; i++) {
                    for (int j = 0; j < ow; j++) {
                        double sum = bias == null ? 0 : bias[o];
                        for (int ci = 0; ci < c; ci++) {
                            for (int u = 0; u < kh; u++) {
                                int yy = i * g.stride()[0] - g.padding()[0] + u * g.dilation()[0];
                                for (int v = 0; v < kw; v++) {
                                    int xx = j * g.stride()[1] - g.padding()[1] + v * g.dilation()[1];
                                    if (yy >= 0 && yy < h && xx >= 0 && xx < w) {
                                        sum += x[((b * c + ci) * h + yy) * w + xx] * weight[((o * c + ci) * kh + u) * kw + v];
                                    }
                                }
                            }
                        }
                        y[((b * k + o) * oh + i) * ow + j] = sum;
                    }
                }
            }
        }
        return y;
    }

    /** conv(x, W, b) + s·B(A(x)) in double, A with the base's geometry, B 1×1. */
    static double[] loraConvolve(double[] x, double[] w, double[] bias, double[] a, double[] b, double s, Geometry g) {
        int oh = g.outH(H), ow = g.outW(W);
        double[] y = convolve(x, N, C, H, W, w, OUT, bias, g);
        double[] low = convolve(convolve(x, N, C, H, W, a, R, null, g), N, R, oh, ow, b, OUT, null, POINTWISE);
        for (int i = 0; i < y.length; i++) {
            y[i] += s * low[i];
        }
        return y;
    }

    static double[] doubles(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    static double[] doubles(Tensor t) { return doubles(t.toArray()); }

    static void assertClose(double[] want, float[] got, double tolerance, String what) {
        assertEquals(want.length, got.length, what + ": lengths");
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], tolerance * Math.max(1, Math.abs(want[i])), what + " [" + i + "]");
        }
    }

    /** One adapted convolution of geometry {@code g} in a Sequential, its B made non-zero. */
    static LoraModel adaptedConv(Sequential model, LoraConfig config) {
        LoraModel lora = Lora.apply(model, config, 7);
        backend.normal(lora.layers().get("conv").loraB().buffer(), 0f, 0.5f, 8);
        return lora;
    }

    @ParameterizedTest(name = "rsLoRA {0}")
    @ValueSource(booleans = {false, true})
    void forwardIsTheBaseConvolutionPlusScaledBOfAOfX(boolean rsLora) {
        try (Sequential model = new Sequential("conv", conv(C, OUT, ODD, 3)); Scope s = Scope.open()) {
            LoraModel lora = adaptedConv(model, LoraConfig.of(R, 3, "conv").withRsLora(rsLora));
            LoraConv2d layer = assertInstanceOf(LoraConv2d.class, lora.layers().get("conv"));
            assertArrayEquals(new int[] {R, C, 3, 2}, layer.loraA().shape());
            assertArrayEquals(new int[] {OUT, R, 1, 1}, layer.loraB().shape());
            assertEquals(rsLora ? 3 / Math.sqrt(R) : 3.0 / R, layer.scale(), 1e-6);
            float[] x = LoraTest.randomInput(N * C, H * W, 11);
            float[] got;
            try (Autograd.NoGrad ng = Autograd.noGrad()) {
                got = model.forward(Tensor.of(backend, x, N, C, H, W)).toArray();
            }
            Conv2d base = layer.base();
            double[] want = loraConvolve(doubles(x), doubles(base.weight()), doubles(base.bias()), doubles(layer.loraA()),
                    doubles(layer.loraB()), layer.scale(), ODD);
            assertClose(want, got, 1e-5, "LoRA conv forward");
            double[] plain = convolve(doubles(x), N, C, H, W, doubles(base.weight()), OUT, doubles(base.bias()), ODD);
            assertTrue(Math.abs(plain[0] - want[0]) + Math.abs(plain[5] - want[5]) > 1e-2, "the adapter changes nothing");
        }
    }

    @Test
    void anUnbatchedImageGivesTheBatchsFirstImage() {
        try (Sequential model = new Sequential("conv", conv(C, OUT, ODD, 3)); Scope s = Scope.open();
             Autograd.NoGrad ng = Autograd.noGrad()) {
            adaptedConv(model, LoraConfig.of(R, 2, "conv"));
            float[] x = LoraTest.randomInput(N * C, H * W, 12);
            float[] batch = model.forward(Tensor.of(backend, x, N, C, H, W)).toArray();
            Tensor one = model.forward(Tensor.of(backend, Arrays.copyOf(x, C * H * W), C, H, W));
            assertArrayEquals(new int[] {OUT, ODD.outH(H), ODD.outW(W)}, one.shape());
            assertArrayEquals(Arrays.copyOf(batch, one.toArray().length), one.toArray(), 1e-6f);
        }
    }

    /**
     * L = Σ R⊙y⊙y; the gradients of x, A and B that backward() gives against central differences
     * of the double forward; none for the frozen kernel and bias, or theirs too when they are made
     * trainable again.
     */
    @ParameterizedTest(name = "trainable base {0}")
    @ValueSource(booleans = {false, true})
    void gradientsMatchCentralDifferencesOfTheDoubleForward(boolean trainableBase) {
        try (Sequential model = new Sequential("conv", conv(C, OUT, ODD, 3)); Scope s = Scope.open()) {
            LoraModel lora = adaptedConv(model, LoraConfig.of(R, 3, "conv"));
            LoraLayer layer = lora.layers().get("conv");
            Conv2d base = (Conv2d) layer.base();
            base.weight().requiresGrad(trainableBase);
            base.bias().requiresGrad(trainableBase);
            float[] xv = LoraTest.randomInput(N * C, H * W, 13);
            float[] rv = LoraTest.randomInput(N * OUT, ODD.outH(H) * ODD.outW(W), 14);
            Tensor x = Tensor.of(backend, xv, N, C, H, W).requiresGrad(true);
            Tensor weights = Tensor.of(backend, rv, N, OUT, ODD.outH(H), ODD.outW(W));
            Tensor y = model.forward(x);
            Ops.sum(Ops.mul(Ops.mul(y, y), weights)).backward();
            assertEquals(trainableBase, base.weight().hasGrad(), "the kernel's gradient");
            assertEquals(trainableBase, base.bias().hasGrad(), "the bias's gradient");

            double[] xd = doubles(xv), w = doubles(base.weight()), bias = doubles(base.bias()), a = doubles(layer.loraA()),
                    b = doubles(layer.loraB()), rd = doubles(rv);
            double scale = layer.scale();
            java.util.function.Supplier<Double> loss = () -> {
                double[] yd = loraConvolve(xd, w, bias, a, b, scale, ODD);
                double sum = 0;
                for (int i = 0; i < yd.length; i++) {
                    sum += rd[i] * yd[i] * yd[i];
                }
                return sum;
            };
            assertClose(centralDifferences(xd, loss), x.grad().toArray(), 1e-4, "dL/dx");
            assertClose(centralDifferences(a, loss), layer.loraA().grad().toArray(), 1e-4, "dL/dA");
            assertClose(centralDifferences(b, loss), layer.loraB().grad().toArray(), 1e-4, "dL/dB");
            if (trainableBase) {
                assertClose(centralDifferences(w, loss), base.weight().grad().toArray(), 1e-4, "dL/dW");
                assertClose(centralDifferences(bias, loss), base.bias().grad().toArray(), 1e-4, "dL/db");
            }
        }
    }

    /** (L(v + h) − L(v − h)) / 2h for each element of {@code v}, which {@code loss} reads. */
    static double[] centralDifferences(double[] v, java.util.function.Supplier<Double> loss) {
        double h = 1e-4;
        double[] g = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            double keep = v[i];
            v[i] = keep + h;
            double up = loss.get();
            v[i] = keep - h;
            double down = loss.get();
            v[i] = keep;
            g[i] = (up - down) / (2 * h);
        }
        return g;
    }

    /** ΔW as PEFT's get_delta_weight computes it: conv2d(Aᵀ, B)ᵀ·s, i.e. ΔW[o, i, u, v] = s·Σ_r B[o, r]·A[r, i, u, v]. */
    static double[] peftDeltaWeight(double[] a, double[] b, int out, int r, double s) {
        int perRow = a.length / r;
        double[] delta = new double[out * perRow];
        for (int o = 0; o < out; o++) {
            for (int k = 0; k < r; k++) {
                for (int e = 0; e < perRow; e++) {
                    delta[o * perRow + e] += s * b[o * r + k] * a[k * perRow + e];
                }
            }
        }
        return delta;
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"odd", "pointwise"})
    void mergeFoldsPeftsDeltaWeightIntoTheKernelAndUnmergeTakesItOut(String which) {
        Geometry g = which.equals("odd") ? ODD : POINTWISE;
        try (Sequential model = new Sequential("conv", conv(C, OUT, g, 3)); Scope s = Scope.open();
             Autograd.NoGrad ng = Autograd.noGrad()) {
            LoraModel lora = adaptedConv(model, LoraConfig.of(R, 5, "conv"));
            LoraLayer layer = lora.layers().get("conv");
            Tensor kernel = ((Conv2d) layer.base()).weight();
            float[] w0 = kernel.toArray();
            Tensor x = Tensor.of(backend, LoraTest.randomInput(N * C, H * W, 15), N, C, H, W);
            float[] unmerged = model.forward(x).toArray();
            lora.merge();
            assertTrue(layer.isMerged());
            double[] want = peftDeltaWeight(doubles(layer.loraA()), doubles(layer.loraB()), OUT, R, layer.scale());
            for (int i = 0; i < want.length; i++) {
                want[i] += w0[i];
            }
            assertClose(want, kernel.toArray(), 1e-6, "merged kernel");
            assertClose(doubles(unmerged), model.forward(x).toArray(), 1e-5, "merged forward");
            lora.unmerge();
            assertClose(doubles(w0), kernel.toArray(), 1e-6, "unmerged kernel");
            assertClose(doubles(unmerged), model.forward(x).toArray(), 1e-5, "unmerged forward");
        }
    }

    @Test
    void aDisabledAdapterGivesTheBaseConvolutionAndEnablingBringsItBack() {
        try (Sequential model = new Sequential("conv", conv(C, OUT, ODD, 3)); Scope s = Scope.open();
             Autograd.NoGrad ng = Autograd.noGrad()) {
            LoraModel lora = adaptedConv(model, LoraConfig.of(R, 2, "conv"));
            Conv2d base = (Conv2d) lora.layers().get("conv").base();
            float[] xv = LoraTest.randomInput(N * C, H * W, 16);
            Tensor x = Tensor.of(backend, xv, N, C, H, W);
            float[] adapted = model.forward(x).toArray();
            lora.disable();
            assertClose(convolve(doubles(xv), N, C, H, W, doubles(base.weight()), OUT, doubles(base.bias()), ODD),
                    model.forward(x).toArray(), 1e-5, "disabled");
            lora.enable();
            assertArrayEquals(adapted, model.forward(x).toArray());
            lora.merge();
            assertEquals("a merged LoRA layer cannot be disabled: unmerge() first",
                    assertThrows(IllegalStateException.class, lora::disable).getMessage());
        }
    }

    @Test
    void loraDropoutActsInTrainingOnly() {
        try (Sequential model = new Sequential("conv", conv(C, OUT, ODD, 3)); Scope s = Scope.open();
             Autograd.NoGrad ng = Autograd.noGrad()) {
            LoraModel lora = adaptedConv(model, LoraConfig.of(R, 2, "conv").withDropout(0.5f));
            LoraLayer layer = lora.layers().get("conv");
            Conv2d base = (Conv2d) layer.base();
            float[] xv = LoraTest.randomInput(N * C, H * W, 17);
            Tensor x = Tensor.of(backend, xv, N, C, H, W);
            double[] noDropout = loraConvolve(doubles(xv), doubles(base.weight()), doubles(base.bias()),
                    doubles(layer.loraA()), doubles(layer.loraB()), layer.scale(), ODD);
            float[] training = model.forward(x).toArray();
            double worst = 0;
            for (int i = 0; i < training.length; i++) {
                worst = Math.max(worst, Math.abs(training[i] - noDropout[i]));
            }
            assertTrue(worst > 1e-3, "dropout 0.5 in training changed nothing");
            model.eval();
            assertClose(noDropout, model.forward(x).toArray(), 1e-5, "evaluation (no dropout)");
        }
    }

    // ---- a small CNN: the main job's recipe, shrunk --------------------------------------------

    /** conv 1→4 3×3 pad 1, ReLU, pool 2, conv 4→8 3×3 pad 1, ReLU, pool 2, flatten, Linear 32→16, ReLU, Linear 16→10. */
    static Sequential cnn(long seed) {
        return cnn(seed, 3);
    }

    static Sequential cnn(long seed, int kernel2) {
        return new Sequential("conv1", new Conv2d(backend, 1, 4, 3, 1, 1, 1, true, seed),
                "relu1", new ReLU(), "pool1", new MaxPool2d(2),
                "conv2", new Conv2d(backend, 4, 8, kernel2, 1, kernel2 / 2, 1, true, seed + 2),
                "relu2", new ReLU(), "pool2", new MaxPool2d(2), "flatten", new Flatten(),
                "fc1", new Linear(backend, 32, 16, seed + 4), "relu3", new ReLU(), "fc2", new Linear(backend, 16, 10, seed + 6));
    }

    static final LoraConfig ALL_FOUR = LoraConfig.of(4, 4, "conv1", "conv2", "fc1", "fc2");
    static final int BATCH = 8;

    static Tensor images(long seed) {
        return Tensor.of(backend, LoraTest.randomInput(BATCH, 64, seed), BATCH, 1, 8, 8);
    }

    static float[] outputs(Module model, long seed) {
        try (Scope s = Scope.open(); Autograd.NoGrad ng = Autograd.noGrad()) {
            return model.forward(images(seed)).toArray();
        }
    }

    /** Adam on the adapter for {@code steps} steps on one batch; the losses. */
    static float[] train(Module model, LoraModel lora, int steps) {
        lora.freezeBase();
        int[] labels = new Random(3).ints(BATCH, 0, 10).toArray();
        float[] losses = new float[steps];
        CrossEntropyLoss lossFn = new CrossEntropyLoss();
        try (Adam adam = new Adam(lora.adapterParameters(), 1e-2f)) {
            for (int step = 0; step < steps; step++) {
                try (Scope s = Scope.open()) {
                    adam.zeroGrad();
                    Tensor loss = lossFn.forward(model.forward(images(21)), Tensor.ofInts(backend, labels, BATCH));
                    losses[step] = loss.toArray()[0];
                    loss.backward();
                    model.namedParameters().forEach((name, p) -> assertEquals(name.contains("lora_"), p.hasGrad(),
                            name + (p.hasGrad() ? " got a gradient" : " got no gradient")));
                    adam.step();
                }
            }
        }
        return losses;
    }

    @Test
    void aFrozenBaseCnnTrainsOnlyItsFactorsAndItsBaseGetsNoGradient() {
        try (Sequential model = cnn(1)) {
            java.util.Map<String, float[]> base = new java.util.LinkedHashMap<>();
            model.stateDict().forEach((k, v) -> base.put(k, v.toArray()));
            LoraModel lora = Lora.apply(model, ALL_FOUR, 5);
            assertEquals(List.of("conv1", "conv2", "fc1", "fc2"), List.copyOf(lora.layers().keySet()));
            assertInstanceOf(LoraConv2d.class, lora.layers().get("conv2"));
            assertInstanceOf(LoraLinear.class, lora.layers().get("fc1"));
            // conv1: A 4·1·3·3 + B 4·4; conv2: A 4·4·3·3 + B 8·4; fc1: 4·32 + 16·4; fc2: 4·16 + 10·4
            long loraCount = 36 + 16 + 144 + 32 + 128 + 64 + 64 + 40;
            long baseCount = (36 + 4) + (288 + 8) + (512 + 16) + (160 + 10);
            assertEquals(new ParameterReport(baseCount + loraCount, loraCount, loraCount), lora.report());
            float[] losses = train(model, lora, 20);
            assertTrue(losses[19] < 0.8 * losses[0], "the adapter did not learn: " + Arrays.toString(losses));
            base.forEach((k, v) -> assertArrayEquals(v, model.stateDict().get(k).toArray(), k + " changed"));
            assertEquals(lora.adapterParameters().stream().mapToLong(Tensor::size).sum(), model.trainableParameterCount());
        }
    }

    /**
     * The backward of one step on the CNN, counted on a backend that records its convolution calls:
     * LoRA on both convolutions computes a kernel gradient for each factor (conv1's and conv2's A
     * and B) and none for the frozen base kernels; without LoRA each base kernel gets one.
     */
    @Test
    void aFrozenConvolutionCostsNoKernelGradient() {
        java.util.Map<String, Integer> calls = new java.util.TreeMap<>();
        Backend saved = backend;
        Backend counting = (Backend) java.lang.reflect.Proxy.newProxyInstance(Backend.class.getClassLoader(),
                new Class<?>[] {Backend.class}, (proxy, method, args) -> {
                    if (method.getName().startsWith("conv2dBackward")) {
                        calls.merge(method.getName(), 1, Integer::sum);
                    }
                    try {
                        return method.invoke(saved, args);
                    } catch (java.lang.reflect.InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
        backend = counting;
        try (Sequential model = cnn(1)) {
            step(model, model.trainableParameters());
            assertEquals(java.util.Map.of("conv2dBackwardData", 1, "conv2dBackwardWeight", 2), calls, "full training");
            calls.clear();
            LoraModel lora = Lora.apply(model, LoraConfig.of(2, 2, "conv1", "conv2"), 5);
            lora.freezeBase();
            step(model, lora.adapterParameters());
            // data: conv2's base and A (to conv1's output), conv2's and conv1's B (to A's output); weight: the four factors
            assertEquals(java.util.Map.of("conv2dBackwardData", 4, "conv2dBackwardWeight", 4), calls, "LoRA training");
        } finally {
            backend = saved;
        }
    }

    /** One Adam step of {@code params} on a batch of images. */
    static void step(Module model, List<Tensor> params) {
        try (Adam adam = new Adam(params, 1e-2f); Scope s = Scope.open()) {
            new CrossEntropyLoss().forward(model.forward(images(30)), Tensor.ofInts(backend, new int[BATCH], BATCH)).backward();
            adam.step();
        }
    }

    @Test
    void mergeAndUnloadGivesAPlainCnnWhoseStateDictLoadsIntoTheBaseArchitecture() {
        try (Sequential model = cnn(1); Sequential fresh = cnn(40)) {
            LoraModel lora = Lora.apply(model, ALL_FOUR, 5);
            train(model, lora, 5);
            float[] adapted = outputs(model, 22);
            Module merged = lora.mergeAndUnload();
            assertSame(model, merged);
            assertInstanceOf(Conv2d.class, model.children().get("conv1"));
            assertInstanceOf(Conv2d.class, model.children().get("conv2"));
            assertEquals(MergeAndUnloadTest.shapes(fresh), MergeAndUnloadTest.shapes(merged));
            fresh.loadStateDict(merged.stateDict());
            assertClose(doubles(adapted), outputs(fresh, 22), 1e-5, "the merged CNN's outputs");
            assertEquals("this LoraModel was merged and unloaded by mergeAndUnload(): its layers are plain Linear and Conv2d"
                    + " layers of the model again", assertThrows(IllegalStateException.class, lora::layers).getMessage());
        }
    }

    @Test
    void unloadWithoutMergePutsTheBaseConvolutionsBack() {
        try (Sequential model = cnn(1)) {
            float[] before = outputs(model, 23);
            LoraModel lora = Lora.apply(model, LoraConfig.of(2, 4, "conv1", "conv2"), 5);
            train(model, lora, 3);
            lora.merge();
            Module plain = lora.unloadWithoutMerge();
            assertInstanceOf(Conv2d.class, plain.children().get("conv2"));
            assertClose(doubles(before), outputs(plain, 23), 1e-5, "the unloaded CNN's outputs");
        }
    }

    // ---- errors ---------------------------------------------------------------------------------

    @Test
    void aTargetThatNamesAPoolingLayerIsRefusedByNameAndChangesNothing() {
        try (Sequential model = cnn(1)) {
            ModelState before = ModelState.of(model);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Lora.apply(model, LoraConfig.of(2, 2, "conv1", "pool2")));
            assertEquals("LoRA target pool2 names pool2 (MaxPool2d): LoRA adapts only Linear and Conv2d layers", e.getMessage());
            before.assertUnchanged(model, "a refused apply");
        }
    }

    @Test
    void aTargetThatNamesNothingListsTheConvolutionsToo() {
        try (Sequential model = cnn(1)) {
            assertEquals(List.of("LoRA target [conv3] name no Linear or Conv2d layer of Sequential (its Linear and Conv2d"
                    + " layers: [conv1, conv2, fc1, fc2])"), Lora.validate(model, LoraConfig.of(2, 2, "conv3")));
        }
    }

    @Test
    void aRankAboveTheKernelsFanInOrOutChannelsIsRefused() {
        try (Sequential model = cnn(1)) {
            assertEquals(List.of("LoRA rank 5 exceeds min(in·kh·kw, out) = 4 of layer conv1, Conv2d(1, 4, kernel_size=(3, 3),"
                    + " stride=(1, 1), padding=(1, 1))"), Lora.validate(model, LoraConfig.of(5, 2, "conv1", "conv2")));
            // conv 1→32 3×3 takes rank 4 (min(1·3·3, 32) = 9), as the main job's first convolution needs
            try (Sequential wide = new Sequential("conv", new Conv2d(backend, 1, 32, 3, 1, 1, 1, true, 2))) {
                assertEquals(List.of(), Lora.validate(wide, LoraConfig.of(4, 4, "conv")));
                assertEquals(List.of("LoRA rank 10 exceeds min(in·kh·kw, out) = 9 of layer conv, Conv2d(1, 32,"
                        + " kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"), Lora.validate(wide, LoraConfig.of(10, 4, "conv")));
            }
        }
    }

    @Test
    void noTargetsAdaptsEveryLinearAndConv2d() {
        try (Sequential model = cnn(1)) {
            LoraModel lora = Lora.apply(model, new LoraConfig(2, 2, 0f, List.of(), LoraConfig.Init.KAIMING_UNIFORM, false), 3);
            assertEquals(List.of("conv1", "conv2", "fc1", "fc2"), List.copyOf(lora.layers().keySet()));
            // Kaiming-uniform with a = √5 on conv2's A: U(±1/√(in·kh·kw)) = U(±1/6)
            float[] a = lora.layers().get("conv2").loraA().toArray();
            double bound = 1 / Math.sqrt(4 * 3 * 3), largest = 0;
            for (float v : a) {
                largest = Math.max(largest, Math.abs(v));
            }
            assertTrue(largest <= bound && largest > 0.8 * bound, "A's largest |value| " + largest + " for bound " + bound);
        }
    }

    @Test
    void aConvolutionAlreadyAdaptedIsRefused() {
        try (Sequential model = cnn(1)) {
            Lora.apply(model, LoraConfig.of(2, 2, "conv2"));
            assertEquals(List.of("layer conv2 already has a LoRA adapter"), Lora.validate(model, LoraConfig.of(2, 2, "conv1")));
        }
    }

    @Test
    void lorasCnnFactorsCanBeGivenToTheOptimizerAlone() {
        try (Sequential model = cnn(1)) {
            LoraModel lora = Lora.apply(model, LoraConfig.of(2, 2, "conv1"));
            List<Tensor> params = lora.adapterParameters();
            assertEquals(2, params.size());
            assertSame(lora.layers().get("conv1").loraA(), params.get(0));
            assertTrue(model.stateDict().containsKey("conv1.lora_A.weight"), model.stateDict().keySet().toString());
            assertTrue(model.stateDict().containsKey("conv1.weight"));
        }
    }

    // ---- adapter files ------------------------------------------------------------------------

    @Test
    void aSavedCnnAdapterHasPeftsKernelShapesAndLoadsIntoTheSameBaseModel(@TempDir Path dir) throws IOException {
        float[] adapted;
        java.util.Map<String, Tensor> base;
        try (Sequential model = cnn(1); Scope s = Scope.open()) {
            LoraModel lora = Lora.apply(model, ALL_FOUR, 5);
            train(model, lora, 5);
            lora.save(dir);
            adapted = outputs(model, 24);
            base = new java.util.LinkedHashMap<>();
            lora.unloadWithoutMerge().stateDict().forEach((k, v) -> base.put(k, Scope.detached(() -> Tensor.of(backend,
                    v.toArray(), v.shape()))));
        }
        try (SafetensorsFile file = SafetensorsFile.open(dir.resolve(PeftAdapter.WEIGHTS))) {
            java.util.Map<String, List<Long>> shapes = new java.util.TreeMap<>();
            for (String name : file.names()) {
                shapes.put(name, Arrays.stream(file.entry(name).shape()).boxed().toList());
            }
            assertEquals(java.util.Map.of(
                    "base_model.model.conv1.lora_A.weight", List.of(4L, 1L, 3L, 3L),
                    "base_model.model.conv1.lora_B.weight", List.of(4L, 4L, 1L, 1L),
                    "base_model.model.conv2.lora_A.weight", List.of(4L, 4L, 3L, 3L),
                    "base_model.model.conv2.lora_B.weight", List.of(8L, 4L, 1L, 1L),
                    "base_model.model.fc1.lora_A.weight", List.of(4L, 32L),
                    "base_model.model.fc1.lora_B.weight", List.of(16L, 4L),
                    "base_model.model.fc2.lora_A.weight", List.of(4L, 16L),
                    "base_model.model.fc2.lora_B.weight", List.of(10L, 4L)), shapes);
        }
        String config = Files.readString(dir.resolve(PeftAdapter.CONFIG)).replace(" ", "");
        assertTrue(config.contains("\"target_modules\":[\"conv1\",\"conv2\",\"fc1\",\"fc2\"]"), config);
        assertTrue(config.contains("\"peft_type\":\"LORA\"") && config.contains("\"r\":4"), config);
        try (Sequential fresh = cnn(40)) {
            fresh.loadStateDict(base);
            base.values().forEach(Tensor::close);
            LoraModel loaded = PeftAdapter.load(fresh, dir);
            assertInstanceOf(LoraConv2d.class, loaded.layers().get("conv1"));
            assertInstanceOf(LoraLinear.class, loaded.layers().get("fc2"));
            assertArrayEquals(adapted, outputs(fresh, 24));
            // and into an adapter already there: loadWeights
            backend.normal(loaded.layers().get("conv2").loraB().buffer(), 0f, 1f, 99);
            PeftAdapter.loadWeights(loaded, dir);
            assertArrayEquals(adapted, outputs(fresh, 24));
        }
    }

    @Test
    void anAdapterForAnotherKernelSizeNamesTheKeyAndChangesNothing(@TempDir Path dir) throws IOException {
        try (Sequential model = cnn(1)) {
            Lora.apply(model, ALL_FOUR, 5).save(dir);
        }
        try (Sequential other = cnn(1, 5)) {
            ModelState before = ModelState.of(other);
            IOException e = assertThrows(IOException.class, () -> PeftAdapter.load(other, dir));
            assertTrue(e.getMessage().contains("layer conv2: base_model.model.conv2.lora_A.weight is [4, 4, 3, 3] but the"
                    + " model needs [4, 4, 5, 5]"), e.getMessage());
            before.assertUnchanged(other, "a failed load");
        }
    }

    @Test
    void aLinearsAdapterDoesNotLoadOntoAConvolutionOfTheSameName(@TempDir Path dir) throws IOException {
        try (Sequential linear = new Sequential("conv1", new Linear(backend, 9, 4, 1))) {
            Lora.apply(linear, LoraConfig.of(2, 2, "conv1"), 3).save(dir);
        }
        try (Sequential conv = new Sequential("conv1", new Conv2d(backend, 1, 4, 3, 1))) {
            ModelState before = ModelState.of(conv);
            IOException e = assertThrows(IOException.class, () -> PeftAdapter.load(conv, dir));
            assertTrue(e.getMessage().contains("layer conv1: base_model.model.conv1.lora_A.weight is [2, 9] but the model"
                    + " needs [2, 1, 3, 3]; layer conv1: base_model.model.conv1.lora_B.weight is [4, 2] but the model needs"
                    + " [4, 2, 1, 1]"), e.getMessage());
            before.assertUnchanged(conv, "a failed load");
        }
    }

    @Test
    void anAdapterTargetingAPoolingLayerDoesNotLoad(@TempDir Path dir) throws IOException {
        try (Sequential model = cnn(1)) {
            Lora.apply(model, LoraConfig.of(2, 2, "conv1"), 3).save(dir);
            String config = Files.readString(dir.resolve(PeftAdapter.CONFIG)).replace("\"conv1\"", "\"conv1\", \"pool1\"");
            Files.writeString(dir.resolve(PeftAdapter.CONFIG), config);
        }
        try (Sequential model = cnn(1)) {
            ModelState before = ModelState.of(model);
            IOException e = assertThrows(IOException.class, () -> PeftAdapter.load(model, dir));
            assertTrue(e.getMessage().contains("LoRA target pool1 names pool1 (MaxPool2d): LoRA adapts only Linear and Conv2d"
                    + " layers"), e.getMessage());
            before.assertUnchanged(model, "a failed load");
        }
    }

    // ---- Hugging Face PEFT ----------------------------------------------------------------------

    /**
     * peft_nested_merge.py's Cnn: conv1 1→4 3×3 pad 1, ReLU, pool 2, conv2 4→6 kernel (3, 2)
     * stride (2, 1) padding (1, 0), ReLU, flatten (6·2·3), Linear 36→16, ReLU, Linear 16→10.
     */
    static Sequential peftCnn(long seed) {
        return new Sequential("conv1", new Conv2d(backend, 1, 4, 3, 1, 1, 1, true, seed),
                "relu1", new ReLU(), "pool1", new MaxPool2d(2),
                "conv2", new Conv2d(backend, 4, 6, new int[] {3, 2}, new int[] {2, 1}, new int[] {1, 0}, new int[] {1, 1}, true,
                        seed + 2),
                "relu2", new ReLU(), "flatten", new Flatten(),
                "fc1", new Linear(backend, 36, 16, seed + 4), "relu3", new ReLU(), "fc2", new Linear(backend, 16, 10, seed + 6));
    }

    /**
     * PEFT loads jrocm's CNN adapter (LoRA on both convolutions and both Linear layers) into the same
     * CNN built in PyTorch, reproduces jrocm's outputs, and its merge_and_unload() gives jrocm's
     * merged kernels ({@code src/test/python/peft_nested_merge.py DIR cnn}). Runs where
     * {@link PeftNestedMergeTest} does.
     */
    @ParameterizedTest(name = "rsLoRA {0}")
    @ValueSource(booleans = {false, true})
    void peftLoadsTheCnnAdapterGivesItsOutputsAndMergesToJrocmsKernels(boolean rsLora, @TempDir Path dir) throws Exception {
        String python = PeftNestedMergeTest.python();
        assumeTrue(PeftNestedMergeTest.hasPeft(python), "needs a Python with torch, peft and safetensors (tried '" + python
                + "'; set -Djrocm.peft.python= or JROCM_PEFT_PYTHON, e.g. to a venv's bin/python)");
        try (Sequential net = peftCnn(1); Scope s = Scope.open()) {
            Safetensors.write(dir.resolve("base.safetensors"), net.stateDict(), java.util.Map.of());
            LoraModel lora = Lora.apply(net, ALL_FOUR.withRsLora(rsLora).withInit(LoraConfig.Init.KAIMING_UNIFORM), 21);
            train(net, lora, 5);
            lora.save(dir.resolve("adapter"));
            java.util.Map<String, Tensor> outputs = new java.util.LinkedHashMap<>();
            outputs.put("lora", Tensor.of(backend, outputs(net, 25), BATCH, 10));
            Module merged = lora.mergeAndUnload();
            outputs.put("merged", Tensor.of(backend, outputs(merged, 25), BATCH, 10));
            Safetensors.write(dir.resolve("inputs.safetensors"), java.util.Map.of("x", images(25)), java.util.Map.of());
            Safetensors.write(dir.resolve("outputs.safetensors"), outputs, java.util.Map.of());
            Safetensors.write(dir.resolve("merged.safetensors"), merged.stateDict(), java.util.Map.of());
        }
        String out = PeftNestedMergeTest.runCheck(python, dir, "cnn");
        System.out.println("PEFT CNN check (rsLoRA " + rsLora + "): " + out.strip());
        assertTrue(out.strip().lines().reduce((a, b) -> b).orElse("").startsWith("ok: PEFT "), out);
    }

    @Test
    void numpyRecomputesTheCnnAdapterOutputsFromTheFilesAlone(@TempDir Path dir) throws Exception {
        Path script = Path.of(System.getProperty("user.dir"), "src", "test", "python", "peft_forward_numpy.py");
        assumeTrue(new ProcessBuilder("/usr/bin/python3", "-c", "import numpy").start().waitFor() == 0,
                "needs /usr/bin/python3 with numpy (Debian: python3-numpy)");
        try (Sequential net = peftCnn(1); Scope s = Scope.open()) {
            Safetensors.write(dir.resolve("base.safetensors"), net.stateDict(), java.util.Map.of());
            LoraModel lora = Lora.apply(net, LoraConfig.of(3, 6, "conv1", "conv2", "fc2").withRsLora(true), 21);
            train(net, lora, 5);
            lora.save(dir.resolve("adapter"));
            Safetensors.write(dir.resolve("x.safetensors"), java.util.Map.of("x", images(26)), java.util.Map.of());
            Safetensors.write(dir.resolve("y.safetensors"), java.util.Map.of("y", Tensor.of(backend, outputs(net, 26), BATCH, 10)),
                    java.util.Map.of());
        }
        Process p = new ProcessBuilder("/usr/bin/python3", script.toString(), dir.resolve("base.safetensors").toString(),
                dir.resolve("adapter").toString(), dir.resolve("x.safetensors").toString(), dir.resolve("y.safetensors").toString(),
                "cnn").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), out);
        assertTrue(out.startsWith("ok: 8x10 outputs agree"), out);
    }
}
