package dev.jrocm.samples;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jrocm.lora.Lora;
import dev.jrocm.lora.LoraConfig;
import dev.jrocm.lora.LoraModel;
import dev.jrocm.lora.ParameterReport;
import dev.jrocm.runtime.data.Cifar10;
import dev.jrocm.runtime.data.Cifar10Downloader;
import dev.jrocm.runtime.data.DataLoader;
import dev.jrocm.runtime.data.Dataset;
import dev.jrocm.runtime.data.FashionMnist;
import dev.jrocm.runtime.data.Split;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.BackendStatus;
import dev.jrocm.runtime.device.DeviceKind;
import dev.jrocm.runtime.device.DeviceSpec;
import dev.jrocm.runtime.device.Devices;
import dev.jrocm.runtime.io.AtomicFile;
import dev.jrocm.runtime.io.Safetensors;
import dev.jrocm.runtime.nn.Sequential;
import dev.jrocm.runtime.optim.Adam;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.IntStream;
import java.util.stream.Stream;

/**
 * The blog's LoRA workflow as one program ({@code scripts/demo.sh}): train a 3-layer MLP, apply
 * rank-1 LoRA, show that a fresh adapter changes nothing, freeze the base, fine-tune the adapter,
 * and compare — printing what the blog prints, and writing pictures and a report. With
 * {@code --model cnn} the same steps run issue #15's small CNN and its recipe ({@link Model}).
 */
@Command(name = "demo.sh", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Reproduces the ROCm blog's LoRA workflow: train an MLP (input → 4096 → 2048 → 10),",
                "apply rank-1 LoRA, freeze the base, fine-tune, compare. Writes report.json, samples.png,",
                "loss.png, model.safetensors and adapter/ (PEFT layout) into --out. --model cnn runs a small CNN",
                "instead (two 3×3 convolutions, two Linear layers; batch 64, 1 + 1 epochs, rank-4 LoRA on all four)."},
        versionProvider = LoraWorkflow.Version.class)
public final class LoraWorkflow implements Callable<Integer> {

    enum DatasetChoice { auto, cifar10, fashion_mnist }

    enum Preset { auto, quick, blog }

    @Option(names = "--model", paramLabel = "MODEL", description = "mlp (the blog's, input → 4096 → 2048 → 10) or cnn (conv 32, "
            + "conv 64, Linear 128, Linear 10; its own recipe: batch 64, 1 + 1 epochs, rank 4, alpha 4) (default: ${DEFAULT-VALUE})",
            defaultValue = "mlp", converter = ModelConverter.class)
    Model model;

    @Option(names = "--dataset", paramLabel = "NAME", description = "auto, cifar10 or fashion-mnist (default: ${DEFAULT-VALUE}: "
            + "CIFAR-10 if it is in --data-dir, else Fashion-MNIST if installed, else download CIFAR-10)",
            defaultValue = "auto", converter = DatasetConverter.class)
    DatasetChoice dataset;

    @Option(names = "--data-dir", paramLabel = "DIR", description = "the folder holding the dataset (its cifar-10-batches-bin or "
            + "fashion-mnist, or the files themselves); only it is used (default: search -Djrocm.data, JROCM_DATA, ./data, "
            + "~/.jrocm/data, Debian's)")
    String dataDir;

    @Option(names = "--device", paramLabel = "DEVICE", description = "auto, cpu, hip[:N] or cuda[:N] (default: -Djrocm.device or "
            + "JROCM_DEVICE, else auto)")
    String device;

    @Option(names = "--preset", paramLabel = "PRESET", description = "blog: batch 8, 2 + 2 epochs (the blog's recipe); quick: batch 64, "
            + "1 + 1 epochs; auto: blog on a GPU, quick on the CPU; the MLP's only (default: ${DEFAULT-VALUE})", defaultValue = "auto")
    Preset preset;

    @Option(names = "--batch-size", paramLabel = "N", description = "batch size (default: from the preset)")
    Integer batchSize;

    @Option(names = "--epochs", paramLabel = "N", description = "full-training epochs (default: from the preset)")
    Integer epochs;

    @Option(names = "--lora-epochs", paramLabel = "N", description = "LoRA fine-tuning epochs (default: from the preset)")
    Integer loraEpochs;

    @Option(names = "--lr", paramLabel = "RATE", description = "Adam's learning rate (default: ${DEFAULT-VALUE})", defaultValue = "0.001")
    float lr;

    @Option(names = "--rank", paramLabel = "R", description = "LoRA rank (default: 1 for the MLP, 4 for the CNN)")
    Integer rank;

    @Option(names = "--alpha", paramLabel = "A", description = "LoRA alpha; the scale is alpha/rank (default: 1 for the MLP, 4 for "
            + "the CNN)")
    Float alpha;

    @Option(names = "--seed", paramLabel = "S", description = "seed of the weights and the shuffles (default: ${DEFAULT-VALUE})",
            defaultValue = "0")
    long seed;

    @Option(names = "--limit-train", paramLabel = "N", description = "use only the first N training images")
    Integer limitTrain;

    @Option(names = "--limit-test", paramLabel = "N", description = "use only the first N test images")
    Integer limitTest;

    @Option(names = "--log-every", paramLabel = "N", description = "print the mean loss every N batches (default: the blog's 2000 "
            + "at batch 8, scaled to the batch size; in an epoch too short for three of those, a round number giving at least three)")
    Integer logEvery;

    @Option(names = "--out", paramLabel = "DIR", description = "output folder; its files are replaced as one set when the run "
            + "succeeds (default: out/<timestamp>)")
    String out;

    @Option(names = "--debug", description = "show the Java stack trace of an error (or set JROCM_DEBUG=1)")
    boolean debug;

    @Option(names = "--no-progress", description = "no progress bar even on a terminal")
    boolean noProgress;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    private final PrintStream log;
    private final Map<String, String> environment;
    /** Tests make writing the outputs fail here; a run never does. */
    OutputSet.Fault fault = step -> { };
    private final ObjectMapper json = new ObjectMapper();

    public LoraWorkflow() {
        this(System.out, System.getenv());
    }

    LoraWorkflow(PrintStream log, Map<String, String> environment) {
        this.log = log;
        this.environment = environment;
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the workflow on {@code args} and returns the exit code: 0 done, 1 failed, 2 a usage error. */
    public static int run(String... args) {
        System.setProperty("java.awt.headless", "true");
        return commandLine(new LoraWorkflow()).execute(args);
    }

    /** The command line of {@code app}, with the one error handler that turns exceptions into exit codes. */
    static CommandLine commandLine(LoraWorkflow app) {
        CommandLine cli = new CommandLine(app).setCaseInsensitiveEnumValuesAllowed(true);
        return Cli.handleErrors(cli, () -> app.debug || Cli.debugVariable(app.environment));
    }

    /** picocli accepts {@code fashion-mnist} for the enum constant {@code fashion_mnist}. */
    static final class DatasetConverter implements CommandLine.ITypeConverter<DatasetChoice> {
        @Override
        public DatasetChoice convert(String value) {
            try {
                return DatasetChoice.valueOf(value.strip().toLowerCase(Locale.ROOT).replace('-', '_'));
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException("'" + value + "' is not one of auto, cifar10, fashion-mnist");
            }
        }
    }

    /** A bad {@code --model} is one line naming the allowed values. */
    static final class ModelConverter implements CommandLine.ITypeConverter<Model> {
        @Override
        public Model convert(String value) {
            try {
                return Model.valueOf(value.strip().toLowerCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException("'" + value + "' is not one of mlp, cnn");
            }
        }
    }

    /** {@code --rank}, else the model's default. */
    int rank() {
        return rank != null ? rank : model.defaultRank();
    }

    /** {@code --alpha}, else the model's default. */
    float alpha() {
        return alpha != null ? alpha : model.defaultAlpha();
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"jrocm " + java.util.Objects.requireNonNullElse(
                    LoraWorkflow.class.getModule().getDescriptor().rawVersion().orElse(null), "(development build)")};
        }
    }

    @Override
    public Integer call() throws Exception {
        checkOptions();
        DeviceSpec spec = requestedDevice();
        Path outDir = (out != null ? Path.of(out) : Path.of("out", LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"))))
                .toAbsolutePath().normalize();
        try (OutputSet outputs = OutputSet.open(outDir, fault)) {
            BackendStatus chosen = chooseDevice(spec);
            log.println(deviceLine(spec));
            if (debug || Cli.debugVariable(environment)) {
                Devices.describe().forEach(s -> log.println("  " + s.summary()));
            }
            try (Backend backend = Devices.open(spec)) {
                Recipe recipe = recipe(chosen.kind());
                log.println(recipe.describe());
                DataFolder folder = dataFolder();
                try (Dataset train = limit(folder.load(backend, Split.TRAIN), limitTrain, backend);
                     Dataset test = limit(folder.load(backend, Split.TEST), limitTest, backend)) {
                    log.printf(Locale.ROOT, "dataset: %s from %s, %,d training and %,d test images of %s, %d classes%n",
                            datasetName(train), folder.dir(), train.size(), test.size(), shape(train), train.classes());
                    checkLoraFits(train);
                    run(backend, chosen, recipe, train, test, outputs);
                }
            }
            List<String> landed = outputs.land();
            log.println("wrote " + outDir + ": " + String.join(", ", landed));
        }
        return 0;
    }

    /** {@code --device}, else {@code -Djrocm.device}, else {@code JROCM_DEVICE}, else auto; a bad value is a usage error. */
    private DeviceSpec requestedDevice() {
        String property = System.getProperty(Devices.PROPERTY);
        String[][] sources = {{"--device", device}, {"-D" + Devices.PROPERTY, property}, {Devices.VARIABLE, environment.get(Devices.VARIABLE)}};
        for (String[] source : sources) {
            if (source[1] != null) {
                try {
                    return DeviceSpec.parse(source[1]);
                } catch (IllegalArgumentException e) {
                    throw new CommandLine.ParameterException(spec.commandLine(), source[0] + ": " + e.getMessage());
                }
            }
        }
        return DeviceSpec.AUTO;
    }

    /** The backend for {@code wanted}; one asked for that cannot run here is an error saying why. */
    private static BackendStatus chooseDevice(DeviceSpec wanted) {
        if (wanted.kind() == null) {
            return Devices.select(wanted);
        }
        BackendStatus status = Devices.status(wanted.kind());
        if (!status.available()) {
            throw new IllegalStateException("device " + wanted + " was asked for but cannot be used here: " + status.reason()
                    + ".\nscripts/jrocm-info.sh lists the devices; --device cpu or auto runs without it.");
        }
        return status;
    }

    /** The widest device line printed: the rest is in report.json, and scripts/jrocm-info.sh says everything. */
    static final int DEVICE_LINE_WIDTH = 100;

    /** {@link Devices#explain}, cut at a word to {@link #DEVICE_LINE_WIDTH} characters. */
    static String deviceLine(DeviceSpec spec) {
        return fit(Devices.explain(spec), DEVICE_LINE_WIDTH);
    }

    /** {@code text} if it has at most {@code width} characters, else cut at the last space that leaves room for " …". */
    static String fit(String text, int width) {
        if (text.length() <= width) {
            return text;
        }
        int cut = text.lastIndexOf(' ', width - 2);
        return text.substring(0, cut > 0 ? cut : width - 2) + " …";
    }

    /**
     * The rank must fit every targeted layer of the model (LoRA's A is rank × in, B out × rank, and a
     * rank above min(in, out) adds nothing a full update would not): checked before any training.
     */
    void checkLoraFits(Dataset train) {
        for (Model.Adapted layer : model.adapted(train.channels(), train.height(), train.width(), train.classes())) {
            if (rank() > layer.mostRank()) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--rank " + rank() + " is too large for layer "
                        + layer.name() + " (" + layer.widths() + "): at most " + layer.mostRank());
            }
        }
    }

    private void run(Backend backend, BackendStatus chosen, Recipe recipe, Dataset train, Dataset test, OutputSet outputs)
            throws IOException {
        List<String> classes = train.classNames();
        // 2. the batch we look at: the first test images, as the blog does
        int shown = Math.min(8, test.size());
        int[] shownLabels;
        List<float[]> shownPixels = new ArrayList<>();
        Tensor shownX = Scope.detached(() -> test.images().narrow(0, shown));
        try (Tensor labels = test.labels().narrow(0, shown)) {
            shownLabels = labels.toIntArray();
        }
        float[] flat = shownX.toArray();
        for (int i = 0; i < shown; i++) {
            float[] one = new float[test.features()];
            System.arraycopy(flat, i * test.features(), one, 0, test.features());
            shownPixels.add(one);
        }
        log.println("Ground truth labels:  " + names(classes, shownLabels));

        // 3. the model and full training
        int features = train.features();
        int channels = train.channels(), height = train.height(), width = train.width();
        ObjectNode report = json.createObjectNode();
        String datasetName = datasetName(train);
        report.put("dataset", datasetName);
        report.put("device", chosen.kind().id());
        report.put("deviceDescription", backend.describe());
        report.put("batchSize", recipe.batchSize());
        report.put("seed", seed);
        report.put("trainSamples", train.size());
        report.put("testSamples", test.size());
        String modelLabel = model.label();
        try (Sequential net = model.build(backend, channels, height, width, train.classes(), seed);
             DataLoader loader = new DataLoader(train, recipe.batchSize(), true, false, seed)) {
            log.println("model: " + model.architecture(channels, height, width, train.classes()));
            ObjectNode modelNode = report.putObject("model");
            modelNode.put("name", model.name());
            modelNode.put("architecture", model.architecture(channels, height, width, train.classes()));
            if (model == Model.mlp) {
                modelNode.putArray("layers").add(features).add(4096).add(2048).add(train.classes());
            } else {
                ArrayNode layers = modelNode.putArray("layers");
                net.children().forEach((name, layer) -> layers.add(name + ": " + layer));
            }
            modelNode.put("parameters", net.parameterCount());
            int logEveryBatches = logEvery != null ? logEvery : Training.logEvery(loader.size(), recipe.batchSize());
            List<Training.Epoch> fullEpochs = phase("full training", net, net.trainableParameters(), loader, 0, recipe.epochs(),
                    logEveryBatches);

            // 4. save, reload, predict, test
            Path modelFile = outputs.path("model.safetensors");
            Safetensors.write(modelFile, net.stateDict(), Map.of("format", "pt", "dataset", train.name(), "model", model.name()));
            outputs.staged("model.safetensors");
            int[] before;
            double fullAccuracy;
            try (Sequential reloaded = model.build(backend, channels, height, width, train.classes(), seed + 1000);
                 Scope s = Scope.open()) {
                reloaded.loadStateDict(Safetensors.read(modelFile, backend));
                log.println("Ground truth labels:  " + names(classes, shownLabels));
                before = Training.predict(reloaded, shownX);
                log.println("Predicted:  " + names(classes, before));
                fullAccuracy = Training.accuracy(reloaded, test, evalBatch(recipe));
            }
            log.printf("Accuracy of the given model on the %d test images is %s%n", test.size(), Training.percent(fullAccuracy));
            ObjectNode full = report.putObject("full");
            full.set("epochs", epochsJson(fullEpochs));
            full.put("testAccuracy", fullAccuracy);

            // 5. LoRA, identical before training
            List<String> targets = model.loraTargets(channels, height, width, train.classes());
            LoraModel lora = Lora.apply(net, LoraConfig.of(rank(), alpha(), targets.toArray(String[]::new)).withInit(model.loraInit()),
                    seed + 7);
            lora.disable();
            double disabledBefore = Training.accuracy(net, test, evalBatch(recipe));
            log.printf("Accuracy of the network on the %d test images: %s   (LoRA disabled)%n", test.size(), Training.percent(disabledBefore));
            lora.enable();
            double enabledBefore = Training.accuracy(net, test, evalBatch(recipe));
            log.printf("Accuracy of the network on the %d test images: %s   (LoRA enabled)%n", test.size(), Training.percent(enabledBefore));
            ParameterReport counts = lora.report();
            log.println(counts.blogLines());

            // 6. freeze and fine-tune
            lora.freezeBase();
            List<Training.Epoch> loraEpochList = phase("LoRA fine-tuning", net, lora.adapterParameters(), loader, recipe.epochs(),
                    recipe.loraEpochs(), logEveryBatches);
            EpochTimes times = new EpochTimes(fullEpochs.getLast(), loraEpochList.getLast(), fullEpochs.size() == 1);
            log.println(times.line());

            // 7. compare
            double enabledAfter = Training.accuracy(net, test, evalBatch(recipe));
            lora.disable();
            double disabledAfter = Training.accuracy(net, test, evalBatch(recipe));
            lora.enable();
            log.printf("Accuracy of the given model on the %d test images is %s   (LoRA enabled)%n", test.size(), Training.percent(enabledAfter));
            log.printf("Accuracy of the given model on the %d test images is %s   (LoRA disabled)%n", test.size(), Training.percent(disabledAfter));
            int[] after = Training.predict(net, shownX);
            log.println("Ground truth labels:  " + names(classes, shownLabels));
            log.println("Predicted:  " + names(classes, after));
            lora.save(outputs.path("adapter"));
            outputs.staged("adapter");

            ObjectNode loraNode = report.putObject("lora");
            loraNode.put("rank", rank());
            loraNode.put("alpha", alpha());
            loraNode.put("init", model.loraInit().id());
            ArrayNode targetsNode = loraNode.putArray("targets");
            targets.forEach(targetsNode::add);
            loraNode.put("totalParameters", counts.total());
            loraNode.put("loraParameters", counts.lora());
            loraNode.put("incrementPercent", counts.incrementPercent());
            ObjectNode acc = loraNode.putObject("accuracyBeforeTraining");
            acc.put("enabled", enabledBefore);
            acc.put("disabled", disabledBefore);
            loraNode.set("epochs", epochsJson(loraEpochList));
            loraNode.put("testAccuracyEnabled", enabledAfter);
            loraNode.put("testAccuracyDisabled", disabledAfter);
            report.put("loraToFullEpochTimeRatio", times.ratio());
            report.put("loraToFullSteadyTimeRatio", times.steadyRatio());

            // 8. pictures and the report
            Pictures.writePng(Pictures.samples(shownPixels, test.channels(), test.height(), test.width(),
                    labels(classes, shownLabels), labels(classes, before), labels(classes, after),
                    datasetName + ", " + modelLabel + ": first test images, true label and predictions before and after LoRA"),
                    outputs.path("samples.png"));
            outputs.staged("samples.png");
            Pictures.writePng(Pictures.lossCurves(curve(fullEpochs, loader.size(), 0),
                    curve(loraEpochList, loader.size(), fullEpochs.size()),
                    String.format(Locale.ROOT, "%s, %s, batch %d: full training, then rank-%d LoRA", datasetName, modelLabel,
                            recipe.batchSize(), rank())),
                    outputs.path("loss.png"));
            outputs.staged("loss.png");
            ObjectNode files = report.putObject("outputs");
            outputs.digests().forEach((name, d) -> files.putObject(name).put("bytes", d.bytes()).put("sha256", d.sha256()));
            AtomicFile.write(outputs.path(OutputSet.REPORT), json.writerWithDefaultPrettyPrinter().writeValueAsBytes(report));
            outputs.staged(OutputSet.REPORT);
        } finally {
            shownX.close();
        }
    }

    /**
     * Trains {@code epochs} epochs labelled from {@code firstLabel}; a loss that stops being finite
     * ends the run with the phase, the step and what to try.
     */
    private List<Training.Epoch> phase(String name, Sequential model, List<Tensor> parameters, DataLoader loader, int firstLabel,
                                       int epochs, int logEveryBatches) {
        List<Training.Epoch> done = new ArrayList<>();
        try (Adam adam = new Adam(parameters, lr)) {
            for (int e = 0; e < epochs; e++) {
                int label = firstLabel + e;
                Training.Epoch epoch = Training.epoch(model, adam, loader, label, label, logEveryBatches, log, progressBar());
                done.add(epoch);
                log.printf(Locale.ROOT, "One epoch takes %.3f seconds (%,.0f samples/s), mean loss %.3f%n", epoch.seconds(),
                        epoch.samplesPerSecond(), epoch.meanLoss());
            }
        } catch (Training.Diverged d) {
            throw new IllegalStateException("training stopped: " + d.getMessage() + " (" + name + ", --lr " + lr
                    + "); no outputs were written.\nTry a lower --lr (the default is 0.001).", d);
        }
        return done;
    }

    /**
     * The time of the last LoRA epoch against the last full epoch. A first epoch also compiles
     * the code (JIT) and allocates the pools, which the LoRA epoch after it no longer does: the
     * ratio of whole epochs then flatters LoRA, so the headline compares the steady rates, after
     * each epoch's warm-up batches ({@link Training#warmUpBatches}), and the whole-epoch ratio
     * follows with that said.
     *
     * @param fullIsFirst the full epoch is the run's first (it holds the warm-up)
     */
    record EpochTimes(Training.Epoch full, Training.Epoch lora, boolean fullIsFirst) {
        /** The whole LoRA epoch's seconds over the whole full epoch's (as the blog measures). */
        double ratio() {
            return lora.seconds() / full.seconds();
        }

        /** The same ratio from the steady rates: the time per sample after the warm-up batches. */
        double steadyRatio() {
            return full.steadySamplesPerSecond() / lora.steadySamplesPerSecond();
        }

        String line() {
            return String.format(Locale.ROOT, "LoRA epoch / full epoch time: %.2f after warm-up (%,.0f vs %,.0f samples/s past batch %,d; "
                    + "the blog measured 0.53)%n  whole epochs: %.2f (%.3f s / %.3f s%s)", steadyRatio(),
                    lora.steadySamplesPerSecond(), full.steadySamplesPerSecond(), lora.warmUpBatches(), ratio(), lora.seconds(),
                    full.seconds(), fullIsFirst ? "; the full epoch includes the JIT warm-up" : "");
        }
    }

    /** The recipe: the blog's on a GPU or when asked, a quicker one on the CPU; options override. */
    record Recipe(String name, int batchSize, int epochs, int loraEpochs, float lr) {
        String describe() {
            return String.format(Locale.ROOT, "recipe: %s (batch %d, %d + %d epochs, lr %s)%s", name, batchSize, epochs, loraEpochs,
                    lr, name.startsWith("quick") ? "; --preset blog runs the blog's (batch 8, 2 + 2 epochs)" : "");
        }
    }

    Recipe recipe(DeviceKind kind) {
        if (model == Model.cnn) {
            return new Recipe("the CNN recipe" + (batchSize != null || epochs != null || loraEpochs != null ? ", adjusted by options" : ""),
                    batchSize != null ? batchSize : Model.CNN_BATCH, epochs != null ? epochs : Model.CNN_EPOCHS,
                    loraEpochs != null ? loraEpochs : Model.CNN_LORA_EPOCHS, lr);
        }
        boolean blog = preset == Preset.blog || (preset == Preset.auto && kind != DeviceKind.CPU);
        String name = blog ? "the blog's recipe" : "quick CPU recipe";
        if (batchSize != null || epochs != null || loraEpochs != null) {
            name += ", adjusted by options";
        }
        return new Recipe(name, batchSize != null ? batchSize : blog ? 8 : 64, epochs != null ? epochs : blog ? 2 : 1,
                loraEpochs != null ? loraEpochs : blog ? 2 : 1, lr);
    }

    private void checkOptions() {
        requirePositive("--batch-size", batchSize, spec);
        requirePositive("--epochs", epochs, spec);
        requirePositive("--lora-epochs", loraEpochs, spec);
        requirePositive("--limit-train", limitTrain, spec);
        requirePositive("--limit-test", limitTest, spec);
        requirePositive("--log-every", logEvery, spec);
        requirePositive("--rank", rank, spec);
        if (model == Model.cnn && preset != Preset.auto) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--preset " + preset + " is the MLP's; --model cnn has one "
                    + "recipe (batch 64, 1 + 1 epochs): --batch-size, --epochs and --lora-epochs change it");
        }
        if (out != null && out.isBlank()) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--out must name a folder, got an empty value");
        }
        if (!(lr > 0) || !Float.isFinite(lr)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--lr must be a positive number, got " + lr);
        }
        if (alpha != null && (!(alpha > 0) || !Float.isFinite(alpha))) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--alpha must be a positive number, got " + alpha);
        }
    }

    private static void requirePositive(String option, Integer value, CommandLine.Model.CommandSpec spec) {
        if (value != null && value < 1) {
            throw new CommandLine.ParameterException(spec.commandLine(), option + " must be at least 1, got " + value);
        }
    }

    private boolean progressBar() {
        return !noProgress && System.console() != null;
    }

    private static int evalBatch(Recipe recipe) {
        return Math.max(recipe.batchSize(), 256);
    }

    /** The folder a dataset is read from, both splits from the same one. */
    record DataFolder(DatasetChoice kind, Path dir) {
        Dataset load(Backend backend, Split split) throws IOException {
            return kind == DatasetChoice.cifar10 ? Cifar10.loadFrom(backend, dir, split) : FashionMnist.loadFrom(backend, dir, split);
        }
    }

    /**
     * With {@code --data-dir} only that folder is used (its {@code cifar-10-batches-bin} or
     * {@code fashion-mnist}, or the dataset's files in it); without, the first existing folder of
     * the usual search. A folder found but broken is an error naming it, never a reason to read
     * another copy.
     */
    private DataFolder dataFolder() throws IOException {
        if (dataDir != null && dataDir.isBlank()) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--data-dir must name a folder, got an empty value");
        }
        Path root = dataDir != null ? Path.of(dataDir).toAbsolutePath().normalize() : null;
        List<Path> cifarDirs = root != null ? List.of(root.resolve(Cifar10.DIRECTORY), root) : Cifar10.candidates();
        List<Path> fashionDirs = root != null ? List.of(root.resolve(FashionMnist.DIRECTORY), root) : FashionMnist.candidates();
        if (dataset != DatasetChoice.fashion_mnist) {
            for (Path d : cifarDirs) {
                if (d.getFileName() != null && d.getFileName().toString().equals(Cifar10.DIRECTORY) ? Files.isDirectory(d)
                        : Files.exists(d.resolve(Cifar10.TRAIN_FILES.getFirst()))) {
                    return new DataFolder(DatasetChoice.cifar10, d);
                }
            }
        }
        if (dataset != DatasetChoice.cifar10) {
            for (Path d : fashionDirs) {
                if (d.getFileName() != null && d.getFileName().toString().equals(FashionMnist.DIRECTORY) ? Files.isDirectory(d)
                        : Files.exists(d.resolve("train-images-idx3-ubyte.gz")) || Files.exists(d.resolve("train-images-idx3-ubyte"))) {
                    return new DataFolder(DatasetChoice.fashion_mnist, d);
                }
            }
        }
        return switch (dataset) {
            // neither loader finds anything there: its exception lists where it looked and how to get the data
            case cifar10 -> throw notFound(() -> Cifar10.load(null, Split.TRAIN, cifarDirs.subList(0, root != null ? 1 : cifarDirs.size())));
            case fashion_mnist -> throw notFound(() -> FashionMnist.load(null, Split.TRAIN, fashionDirs));
            case auto -> {
                Path into = root != null ? root : Path.of("data").toAbsolutePath().normalize();
                log.println("no dataset found: downloading CIFAR-10 into " + into);
                try {
                    new Cifar10Downloader().download(into);
                } catch (IOException e) {
                    throw new IOException("no dataset in " + (root != null ? root : "any data folder")
                            + " and the CIFAR-10 download failed (" + e.getMessage() + ").\n"
                            + "Do one of:\n"
                            + "  apt-get install dataset-fashion-mnist          (Debian/Ubuntu, offline mirrors too)\n"
                            + "  download " + Cifar10Downloader.OFFICIAL_URL + " and run\n"
                            + "    tar xzf cifar-10-binary.tar.gz -C " + into + "\n"
                            + "then run again (or pass --dataset and --data-dir).", e);
                }
                yield new DataFolder(DatasetChoice.cifar10, into.resolve(Cifar10.DIRECTORY));
            }
        };
    }

    private interface Lookup {
        Dataset run() throws IOException;
    }

    private static IOException notFound(Lookup lookup) {
        try {
            lookup.run().close();
            return new IOException("the dataset appeared while it was being looked for: run again");
        } catch (IOException e) {
            return e;
        }
    }

    private static Dataset limit(Dataset full, Integer limit, Backend backend) {
        if (limit == null || limit >= full.size()) {
            return full;
        }
        try (full; Tensor x = full.images().narrow(0, limit); Tensor y = full.labels().narrow(0, limit)) {
            return Dataset.of(backend, full.name(), x.toArray(), y.toIntArray(), full.classNames(),
                    full.channels(), full.height(), full.width());
        }
    }

    /** The dataset without its split: datasets are named {@code "CIFAR-10 train"}, {@code "Fashion-MNIST test"}. */
    private static String datasetName(Dataset d) {
        String name = d.name();
        int split = name.lastIndexOf(' ');
        return split < 0 ? name : name.substring(0, split);
    }

    private static String shape(Dataset d) {
        return d.channels() + "×" + d.height() + "×" + d.width();
    }

    static String names(List<String> classes, int[] labels) {
        return String.join(" ", labels(classes, labels));
    }

    static List<String> labels(List<String> classes, int[] labels) {
        return IntStream.of(labels).mapToObj(classes::get).toList();
    }

    private ArrayNode epochsJson(List<Training.Epoch> epochs) {
        ArrayNode a = json.createArrayNode();
        for (Training.Epoch e : epochs) {
            ObjectNode n = a.addObject();
            n.put("seconds", e.seconds());
            n.put("meanLoss", e.meanLoss());
            n.put("samplesPerSecond", e.samplesPerSecond());
            n.put("warmUpBatches", e.warmUpBatches());
            n.put("steadySamplesPerSecond", e.steadySamplesPerSecond());
        }
        return a;
    }

    /** The logged losses of consecutive epochs on one axis of batches trained, starting after {@code epochsBefore} epochs. */
    private static List<double[]> curve(List<Training.Epoch> epochs, int batchesPerEpoch, int epochsBefore) {
        List<double[]> points = new ArrayList<>();
        for (int e = 0; e < epochs.size(); e++) {
            for (double[] p : epochs.get(e).curve()) {
                points.add(new double[] {(long) (epochsBefore + e) * batchesPerEpoch + p[0], p[1]});
            }
        }
        return points;
    }

}
