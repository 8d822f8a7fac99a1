package dev.jrocm.samples;

import dev.jrocm.lora.LoraConfig;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.nn.Conv2d;
import dev.jrocm.runtime.nn.Flatten;
import dev.jrocm.runtime.nn.Linear;
import dev.jrocm.runtime.nn.MaxPool2d;
import dev.jrocm.runtime.nn.ReLU;
import dev.jrocm.runtime.nn.Sequential;

import java.util.List;
import java.util.Locale;

/**
 * The main job's two models ({@code --model}), each with its recipe and LoRA defaults: the blog's
 * MLP, and issue #15's small CNN. Layer names are PyTorch's attribute names in
 * {@code samples/pytorch/lora_workflow.py} and {@code cnn_workflow.py}, so state dicts line up.
 */
enum Model {
    /** input → 4096 → 2048 → 10, ReLU between; rank-1 LoRA (α = 1, Gaussian A) on fc1, fc2, fc3, as the blog. */
    mlp("MLP", 1, 1f, LoraConfig.Init.GAUSSIAN),
    /**
     * conv c→32 3×3 pad 1, ReLU, max-pool 2, conv 32→64 3×3 pad 1, ReLU, max-pool 2, flatten,
     * Linear → 128, ReLU, Linear → 10; Adam 1e-3, batch 64, 1 + 1 epochs; rank-4 LoRA (α = 4,
     * A kaiming-uniform as PEFT) on both convolutions and both Linear layers.
     */
    cnn("CNN", 4, 4f, LoraConfig.Init.KAIMING_UNIFORM);

    /** The CNN's recipe on every device (the MLP's comes from {@code --preset}). */
    static final int CNN_BATCH = 64, CNN_EPOCHS = 1, CNN_LORA_EPOCHS = 1;

    private final String label;
    private final int defaultRank;
    private final float defaultAlpha;
    private final LoraConfig.Init init;

    Model(String label, int defaultRank, float defaultAlpha, LoraConfig.Init init) {
        this.label = label;
        this.defaultRank = defaultRank;
        this.defaultAlpha = defaultAlpha;
        this.init = init;
    }

    /** {@code "MLP"} or {@code "CNN"}, as the report, the log and the pictures name it. */
    String label() { return label; }

    int defaultRank() { return defaultRank; }

    float defaultAlpha() { return defaultAlpha; }

    /** How LoRA's A starts: the blog's N(0, 1) for the MLP, PEFT's default for the CNN. */
    LoraConfig.Init loraInit() { return init; }

    /**
     * A layer LoRA adapts: its name, the width of A's input (in features; for a convolution
     * in·kh·kw) and its output width, and how to say them; a rank above the smaller one adds
     * nothing a full update would not.
     */
    record Adapted(String name, int in, int out, String widths) {
        Adapted(String name, int in, int out) {
            this(name, in, out, in + " → " + out + " features");
        }

        /** A 3×3 convolution: A sees in·3·3 values per output pixel. */
        static Adapted conv3x3(String name, int in, int out) {
            return new Adapted(name, in * 9, out, in + "·3·3 = " + in * 9 + " → " + out + " channels");
        }

        int mostRank() { return Math.min(in, out); }
    }

    /** The layers LoRA adapts in a model for images of {@code channels × height × width} and {@code classes} classes. */
    List<Adapted> adapted(int channels, int height, int width, int classes) {
        return switch (this) {
            case mlp -> {
                int features = channels * height * width;
                yield List.of(new Adapted("fc1", features, 4096), new Adapted("fc2", 4096, 2048), new Adapted("fc3", 2048, classes));
            }
            case cnn -> List.of(Adapted.conv3x3("conv1", channels, 32), Adapted.conv3x3("conv2", 32, 64),
                    new Adapted("fc1", flatFeatures(height, width), 128), new Adapted("fc2", 128, classes));
        };
    }

    /** The names LoRA targets (PEFT's {@code target_modules}). */
    List<String> loraTargets(int channels, int height, int width, int classes) {
        return adapted(channels, height, width, classes).stream().map(Adapted::name).toList();
    }

    /** The CNN's features after the second pooling: 64 channels of (h/4) × (w/4). */
    static int flatFeatures(int height, int width) {
        return 64 * (height / 2 / 2) * (width / 2 / 2);
    }

    /**
     * The model, initialised from {@code seed} as PyTorch initialises each layer. The CNN takes the
     * dataset's flat rows and views them as images first ({@link Unflatten}), as the PyTorch twin's
     * {@code nn.Unflatten} does.
     *
     * @throws IllegalArgumentException for images too small for the CNN's two poolings (under 4 × 4)
     */
    Sequential build(Backend backend, int channels, int height, int width, int classes, long seed) {
        return switch (this) {
            case mlp -> new Sequential("fc1", new Linear(backend, channels * height * width, 4096, seed * 31 + 1),
                    "relu1", new ReLU(), "fc2", new Linear(backend, 4096, 2048, seed * 31 + 2), "relu2", new ReLU(),
                    "fc3", new Linear(backend, 2048, classes, seed * 31 + 3));
            case cnn -> {
                if (height < 4 || width < 4) {
                    throw new IllegalArgumentException("the CNN needs images of at least 4×4 (two 2×2 poolings), got "
                            + height + "×" + width);
                }
                yield new Sequential("unflatten", new Unflatten(channels, height, width),
                        "conv1", new Conv2d(backend, channels, 32, 3, 1, 1, 1, true, seed * 31 + 1), "relu1", new ReLU(),
                        "pool1", new MaxPool2d(2),
                        "conv2", new Conv2d(backend, 32, 64, 3, 1, 1, 1, true, seed * 31 + 2), "relu2", new ReLU(),
                        "pool2", new MaxPool2d(2),
                        "flatten", new Flatten(),
                        "fc1", new Linear(backend, flatFeatures(height, width), 128, seed * 31 + 3), "relu3", new ReLU(),
                        "fc2", new Linear(backend, 128, classes, seed * 31 + 4));
            }
        };
    }

    /** One line: the layers with their widths. */
    String architecture(int channels, int height, int width, int classes) {
        return switch (this) {
            case mlp -> String.format(Locale.ROOT, "MLP %d → 4096 → 2048 → %d", channels * height * width, classes);
            case cnn -> String.format(Locale.ROOT, "CNN conv %d→32 3×3 pad 1, ReLU, max-pool 2, conv 32→64 3×3 pad 1, ReLU, "
                    + "max-pool 2, flatten (%d), Linear → 128, ReLU, Linear → %d", channels, flatFeatures(height, width), classes);
        };
    }
}
