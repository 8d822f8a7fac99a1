package dev.jrocm.benchmarks;

import dev.jrocm.lora.Lora;
import dev.jrocm.lora.LoraConfig;
import dev.jrocm.lora.LoraLayer;
import dev.jrocm.lora.LoraModel;
import dev.jrocm.lora.PeftAdapter;
import dev.jrocm.runtime.autograd.Autograd;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.io.Safetensors;
import dev.jrocm.runtime.io.SafetensorsFile;
import dev.jrocm.runtime.nn.Linear;
import dev.jrocm.runtime.nn.ReLU;
import dev.jrocm.runtime.nn.Sequential;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * The two jrocm halves of the PEFT round trip that scripts/device/peft.sh runs where Hugging Face
 * PEFT is installed (lora/src/test/python/peft_interop.py is the PEFT half). The model is an MLP
 * 20 → 16 → 12 → 5 (fc1, fc2, fc3, ReLU between) with a rank-2, alpha-4 adapter on all three.
 *
 * <pre>
 * java -cp benchmarks.jar dev.jrocm.benchmarks.PeftInterop write DIR
 *     DIR/base.safetensors (the base state dict as PyTorch names it), DIR/jrocm_adapter/ (PEFT's
 *     layout, lora_B non-zero), DIR/inputs.safetensors ("x", (7, 20)) and
 *     DIR/jrocm_expected.safetensors ("y", (7, 5): jrocm's adapted outputs).
 * java -cp benchmarks.jar dev.jrocm.benchmarks.PeftInterop read DIR
 *     loads DIR/base.safetensors and the adapter PEFT saved in DIR/peft_adapter/, runs
 *     DIR/inputs.safetensors and compares with PEFT's DIR/peft_expected.safetensors ("y").
 * </pre>
 *
 * Prints one line, {@code ok: …} or {@code mismatch: …}; exit status 0, 1 on a mismatch, 2 on an
 * error (a file missing or refused: the message says which).
 */
public final class PeftInterop {
    static final int IN = 20, H1 = 16, H2 = 12, OUT = 5, BATCH = 7;
    static final LoraConfig CONFIG = new LoraConfig(2, 4f, 0f, List.of("fc1", "fc2", "fc3"),
            LoraConfig.Init.KAIMING_UNIFORM, false);
    /** Largest |jrocm − reference| / max(1, |reference|) accepted. */
    static final double TOLERANCE = 1e-4;
    /** The adapter must move the outputs by more than this, or the comparison proves nothing. */
    static final double MIN_EFFECT = 1e-2;

    private PeftInterop() {}

    public static void main(String[] args) {
        if (args.length != 2 || !List.of("write", "read").contains(args[0])) {
            System.out.println("usage: PeftInterop write|read DIR");
            System.exit(2);
        }
        Path dir = Path.of(args[1]);
        int status;
        try {
            status = args[0].equals("write") ? write(dir) : read(dir);
        } catch (Exception e) {
            System.out.println("error: " + e.getClass().getSimpleName() + ": " + e.getMessage());
            status = 2;
        }
        System.exit(status);
    }

    static int write(Path dir) throws IOException {
        Files.createDirectories(dir);
        try (Backend backend = new CpuBackend(); Sequential model = mlp(backend)) {
            // the base state dict (fc1.weight, fc1.bias, …), written before LoRA wraps the layers
            Safetensors.write(dir.resolve("base.safetensors"), model.stateDict(), Map.of("format", "pt"));
            LoraModel lora = Lora.apply(model, CONFIG, 9);
            long seed = 33;
            for (LoraLayer layer : lora.layers().values()) {
                // a fresh adapter has B = 0 and changes nothing; this one must change the outputs
                backend.normal(layer.loraB().buffer(), 0f, 0.2f, seed++);
            }
            PeftAdapter.save(lora, dir.resolve("jrocm_adapter"));
            model.eval();
            float[] x = input();
            float[] y = outputs(backend, model, x);
            lora.disable();
            float[] base = outputs(backend, model, x);
            lora.enable();
            double effect = worst(base, y);
            if (!(effect > MIN_EFFECT)) {
                System.out.println("mismatch: jrocm's adapter moves the outputs by only " + fmt(effect));
                return 1;
            }
            try (Scope s = Scope.open()) {
                Safetensors.write(dir.resolve("inputs.safetensors"), Map.of("x", Tensor.of(backend, x, BATCH, IN)),
                        Map.of("format", "pt"));
                Safetensors.write(dir.resolve("jrocm_expected.safetensors"),
                        Map.of("y", Tensor.of(backend, y, BATCH, OUT)), Map.of("format", "pt"));
            }
            System.out.println("ok: wrote base.safetensors, jrocm_adapter/ (" + describe(lora)
                    + "), inputs.safetensors " + BATCH + "x" + IN + ", jrocm_expected.safetensors " + BATCH + "x" + OUT
                    + " (the adapter moves the outputs by " + fmt(effect) + ") to " + dir);
            return 0;
        }
    }

    static int read(Path dir) throws IOException {
        try (Backend backend = new CpuBackend(); Sequential model = mlp(backend)) {
            try (Scope s = Scope.open()) {
                model.loadStateDict(Safetensors.read(dir.resolve("base.safetensors"), backend));
            }
            model.eval(); // no LoRA dropout, as in PEFT's eval(): the LoRA layers take the mode of the layers they replace
            LoraModel lora = PeftAdapter.load(model, dir.resolve("peft_adapter"));
            if (lora.layers().size() != 3 || lora.config().rank() != 2 || lora.config().alpha() != 4f) {
                System.out.println("mismatch: PEFT's adapter loaded as " + describe(lora)
                        + ", but peft_interop.py write-peft saves rank 2, alpha 4 on fc1, fc2, fc3");
                return 1;
            }
            for (Map.Entry<String, LoraLayer> e : lora.layers().entrySet()) {
                if (allZero(e.getValue().loraB().toArray())) {
                    System.out.println("mismatch: lora_B of " + e.getKey() + " loaded as all zeros");
                    return 1;
                }
            }
            float[] x = floats(dir.resolve("inputs.safetensors"), "x", BATCH, IN);
            float[] want = floats(dir.resolve("peft_expected.safetensors"), "y", BATCH, OUT);
            float[] got = outputs(backend, model, x);
            lora.disable();
            float[] base = outputs(backend, model, x);
            lora.enable();
            double effect = worst(base, want);
            if (!(effect > MIN_EFFECT)) {
                System.out.println("mismatch: PEFT's outputs differ from the base model's by only " + fmt(effect)
                        + ": its adapter was not applied, or changes nothing");
                return 1;
            }
            double worst = worst(got, want);
            if (!(worst <= TOLERANCE)) {
                System.out.println("mismatch: jrocm with PEFT's adapter differs from PEFT's outputs by " + fmt(worst)
                        + " (relative, tolerance " + fmt(TOLERANCE) + ")");
                return 1;
            }
            System.out.println("ok: jrocm loads PEFT's adapter (" + describe(lora) + ") and reproduces PEFT's "
                    + BATCH + "x" + OUT + " outputs (worst relative difference " + fmt(worst)
                    + "; the adapter moves them by " + fmt(effect) + ")");
            return 0;
        }
    }

    static Sequential mlp(Backend backend) {
        return new Sequential("fc1", new Linear(backend, IN, H1, 1), "relu1", new ReLU(),
                "fc2", new Linear(backend, H1, H2, 2), "relu2", new ReLU(), "fc3", new Linear(backend, H2, OUT, 3));
    }

    /** x (BATCH, IN), standard normal, seeded. */
    static float[] input() {
        Random random = new Random(4);
        float[] x = new float[BATCH * IN];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) random.nextGaussian();
        }
        return x;
    }

    static float[] outputs(Backend backend, Sequential model, float[] x) {
        try (Scope s = Scope.open(); Autograd.NoGrad ng = Autograd.noGrad()) {
            return model.forward(Tensor.of(backend, x, x.length / IN, IN)).toArray();
        }
    }

    /** F32 tensor {@code name} of {@code file}, which must have the shape given. */
    static float[] floats(Path file, String name, int... shape) throws IOException {
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            long[] got = f.entry(name).shape();
            if (!Arrays.equals(got, Arrays.stream(shape).asLongStream().toArray())) {
                throw new IOException(file + ": '" + name + "' is " + Arrays.toString(got) + ", expected "
                        + Arrays.toString(shape));
            }
            return f.floats(name);
        }
    }

    /** max |got − want| / max(1, |want|); NaN if either holds a NaN. */
    static double worst(float[] got, float[] want) {
        double worst = 0;
        for (int i = 0; i < want.length; i++) {
            // Math.max keeps a NaN, so a NaN anywhere fails every comparison with the tolerance
            worst = Math.max(worst, Math.abs((double) got[i] - want[i]) / Math.max(1, Math.abs((double) want[i])));
        }
        return worst;
    }

    private static boolean allZero(float[] v) {
        for (float f : v) {
            if (f != 0f) {
                return false;
            }
        }
        return true;
    }

    private static String describe(LoraModel lora) {
        return "rank " + lora.config().rank() + ", alpha " + lora.config().alpha() + ", layers "
                + String.join(", ", lora.layers().keySet());
    }

    private static String fmt(double v) {
        return String.format(Locale.ROOT, "%.3g", v);
    }
}
