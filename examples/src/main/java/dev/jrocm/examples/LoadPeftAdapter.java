package dev.jrocm.examples;

import dev.jrocm.lora.LoraConfig;
import dev.jrocm.lora.PeftAdapter;
import dev.jrocm.runtime.data.Dataset;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.Devices;
import dev.jrocm.runtime.io.Safetensors;
import dev.jrocm.runtime.nn.Sequential;
import dev.jrocm.runtime.tensor.Scope;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;

/**
 * Loads a base model's weights and a LoRA adapter in Hugging Face PEFT's layout (a folder with
 * {@code adapter_config.json} and {@code adapter_model.safetensors}, as {@link LoraFineTune} or
 * PEFT's {@code save_pretrained} writes it) and evaluates the model on the shifted task, without
 * and with the adapter. The adapter must target layers of this model ({@code fc1}, {@code fc2},
 * {@code fc3}); anything else is an error naming the file and the layer or tensor, and leaves the
 * model as it was. The base weights may come from PyTorch as well: {@code safetensors.torch.save_file}
 * of the state dict of an {@code nn.Sequential} with the same layer names and sizes.
 *
 * <pre>{@code java … -m dev.jrocm.examples/dev.jrocm.examples.LoadPeftAdapter <base.safetensors> <adapter-dir>}</pre>
 */
public final class LoadPeftAdapter {
    static final String USAGE = "LoadPeftAdapter <base.safetensors> <adapter-dir>";

    /** The accuracies on the shifted test points of the base model alone and with the adapter. */
    record Result(double baseAccuracy, double adaptedAccuracy, LoraConfig config) {}

    private LoadPeftAdapter() {}

    public static void main(String[] args) throws IOException {
        run(args, System.out);
    }

    /** Loads and evaluates as {@link #main} does, printing to {@code out}. */
    @SuppressWarnings("try") // the scope is opened for its effect: it frees the tensors read from the file
    static Result run(String[] args, PrintStream out) throws IOException {
        if (args.length != 2) {
            throw new IllegalArgumentException("usage: " + USAGE);
        }
        Path baseFile = Path.of(args[0]);
        Path adapterDir = Path.of(args[1]);
        try (Backend backend = Devices.best();
             Dataset shiftedTest = Clusters.testSet(backend, Clusters.SHIFTED_DEGREES);
             Sequential model = Clusters.mlp(backend, 0)) {
            out.println(Devices.explain(Devices.requested()));
            try (Scope read = Scope.open()) {
                model.loadStateDict(Safetensors.read(baseFile, backend)); // copies: the read tensors go with the scope
            }
            double base = Clusters.accuracy(model, shiftedTest);
            out.println("base model from " + baseFile + ": " + Clusters.percent(base) + " on the shifted task");

            LoraConfig config = PeftAdapter.load(model, adapterDir).config();
            out.println("adapter from " + adapterDir + ": rank " + config.rank() + ", alpha " + config.alpha()
                    + ", on " + config.targets());
            double adapted = Clusters.accuracy(model, shiftedTest);
            out.println("with the adapter: " + Clusters.percent(adapted) + " on the shifted task");
            return new Result(base, adapted, config);
        }
    }
}
