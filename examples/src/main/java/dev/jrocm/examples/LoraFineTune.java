package dev.jrocm.examples;

import dev.jrocm.lora.Lora;
import dev.jrocm.lora.LoraConfig;
import dev.jrocm.lora.LoraModel;
import dev.jrocm.runtime.data.Dataset;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.Devices;
import dev.jrocm.runtime.io.Safetensors;
import dev.jrocm.runtime.nn.Sequential;
import dev.jrocm.runtime.optim.Adam;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * LoRA fine-tuning from start to end: trains a base model on the four clusters, saves its
 * weights, then adapts it to a shifted task (every centre turned by 60°, where the base model is
 * mostly wrong) by training only a rank-2 adapter on every layer while the base stays frozen,
 * saves the adapter in Hugging Face PEFT's layout, and merges it into the base weights.
 *
 * <p>Writes into {@code <out-dir>}: {@value #BASE_FILE} (the base model, keyed as PyTorch's
 * state dict: {@code fc1.weight}, …) and {@value #ADAPTER_DIR}/ ({@code adapter_config.json},
 * {@code adapter_model.safetensors}), which {@link LoadPeftAdapter} and PEFT's
 * {@code PeftModel.from_pretrained} load.
 *
 * <pre>{@code java … -m dev.jrocm.examples/dev.jrocm.examples.LoraFineTune <out-dir> [epochs]}</pre>
 */
public final class LoraFineTune {
    static final String USAGE = "LoraFineTune <out-dir> [epochs of each phase, default 10]";
    static final String BASE_FILE = "base.safetensors";
    static final String ADAPTER_DIR = "adapter";

    /**
     * What a run did: the accuracies (on the original test points, then on the shifted ones: of
     * the base model, with the adapter, with the adapter merged) and the files it wrote.
     */
    record Result(double baseAccuracy, double shiftedBaseAccuracy, double adaptedAccuracy, double mergedAccuracy,
                  Path baseFile, Path adapterDir) {}

    private LoraFineTune() {}

    public static void main(String[] args) throws IOException {
        run(args, System.out);
    }

    /** Trains, adapts, saves and merges as {@link #main} does, printing to {@code out}. */
    static Result run(String[] args, PrintStream out) throws IOException {
        if (args.length < 1 || args.length > 2) {
            throw new IllegalArgumentException("usage: " + USAGE);
        }
        Path dir = Path.of(args[0]);
        int epochs = Clusters.epochs(args, 1, 10, USAGE);
        try (Backend backend = Devices.best();
             Dataset train = Clusters.trainingSet(backend, 0);
             Dataset test = Clusters.testSet(backend, 0);
             Dataset shiftedTrain = Clusters.trainingSet(backend, Clusters.SHIFTED_DEGREES);
             Dataset shiftedTest = Clusters.testSet(backend, Clusters.SHIFTED_DEGREES);
             Sequential model = Clusters.mlp(backend, 10)) {
            out.println(Devices.explain(Devices.requested()));

            // 1. The base model: every parameter trains. Its weights are saved before LoRA touches it.
            out.println("training the base model");
            try (Adam adam = new Adam(model.trainableParameters(), 2e-3f)) {
                Clusters.train(model, adam, train, epochs, 3, out);
            }
            double base = Clusters.accuracy(model, test);
            double shiftedBase = Clusters.accuracy(model, shiftedTest);
            out.println("base model: " + Clusters.percent(base) + " on its task, "
                    + Clusters.percent(shiftedBase) + " on the shifted one");
            Path baseFile = Files.createDirectories(dir).resolve(BASE_FILE);
            Safetensors.write(baseFile, model.stateDict(), Map.of("format", "pt"));

            // 2. LoRA: rank-2 adapters on fc1, fc2 and fc3; everything else frozen, so the
            //    optimizer gets the adapter's factors only.
            LoraModel lora = Lora.apply(model, LoraConfig.of(2, 4f, "fc1", "fc2", "fc3"));
            lora.freezeBase();
            out.println(lora.report().peftLine());
            out.println("fine-tuning the adapter on the shifted task");
            try (Adam adam = new Adam(lora.adapterParameters(), 5e-3f)) {
                Clusters.train(model, adam, shiftedTrain, epochs, 4, out);
            }
            double adapted = Clusters.accuracy(model, shiftedTest);
            out.println("with the adapter: " + Clusters.percent(adapted) + " on the shifted task");

            // 3. The adapter alone, in PEFT's layout.
            Path adapterDir = dir.resolve(ADAPTER_DIR);
            lora.save(adapterDir);
            out.println("wrote " + baseFile + " and " + adapterDir + "/");

            // 4. Merged: s·B·A folded into each base weight, so a forward costs what the base model's does.
            lora.merge();
            double merged = Clusters.accuracy(model, shiftedTest);
            out.println("merged: " + Clusters.percent(merged) + " on the shifted task");
            return new Result(base, shiftedBase, adapted, merged, baseFile, adapterDir);
        }
    }
}
