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
import dev.jrocm.runtime.nn.Linear;
import dev.jrocm.runtime.nn.ReLU;
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
 * and compare — printing what the blog prints, and writing pictures and a report.
 */
@Command(name = "demo.sh", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Reproduces the ROCm blog's LoRA workflow: train an MLP (input → 4096 → 2048 → 10),",
                "apply rank-1 LoRA, freeze the base, fine-tune, compare. Writes report.json, samples.png,",
                "loss.png, model.safetensors and adapter/ (PEFT layout) into --out."},
        versionProvider = LoraWorkflow.Version.class)
public final class LoraWorkflow implements Callable<Integer> {

    enum DatasetChoice { auto, cifar10, fashion_mnist }

    enum Preset { auto, quick, blog }

    @Option(names = "--dataset", paramLabel = "NAME", description = "auto, cifar10 or fashion-mnist (default: ${DEFAULT-VALUE}: "
            + "CIFAR-10 if it is in --data-dir, else Fashion-MNIST if installed, else download CIFAR-10)",
            defaultValue = "auto", converter = DatasetConverter.class)
    DatasetChoice dataset;

    @Option(names = "--data-dir", paramLabel = "DIR", description = "where datasets are looked for first (default: ${DEFAULT-VALUE})",
            defaultValue = "data")
    Path dataDir;

    @Option(names = "--device", paramLabel = "DEVICE", description = "auto, cpu, hip[:N] or cuda[:N] (default: ${DEFAULT-VALUE})",
            defaultValue = "auto")
    String device;

    @Option(names = "--preset", paramLabel = "PRESET", description = "blog: batch 8, 2 + 2 epochs (the blog's recipe); quick: batch 64, "
            + "1 + 1 epochs; auto: blog on a GPU, quick on the CPU (default: ${DEFAULT-VALUE})", defaultValue = "auto")
    Preset preset;

    @Option(names = "--batch-size", paramLabel = "N", description = "batch size (default: from the preset)")
    Integer batchSize;

    @Option(names = "--epochs", paramLabel = "N", description = "full-training epochs (default: from the preset)")
    Integer epochs;

    @Option(names = "--lora-epochs", paramLabel = "N", description = "LoRA fine-tuning epochs (default: from the preset)")
    Integer loraEpochs;

    @Option(names = "--lr", paramLabel = "RATE", description = "Adam's learning rate (default: ${DEFAULT-VALUE})", defaultValue = "0.001")
    float lr;

    @Option(names = "--rank", paramLabel = "R", description = "LoRA rank (default: ${DEFAULT-VALUE})", defaultValue = "1")
    int rank;

    @Option(names = "--alpha", paramLabel = "A", description = "LoRA alpha; the scale is alpha/rank (default: ${DEFAULT-VALUE})",
            defaultValue = "1")
    float alpha;

    @Option(names = "--seed", paramLabel = "S", description = "seed of the weights and the shuffles (default: ${DEFAULT-VALUE})",
            defaultValue = "0")
    long seed;

    @Option(names = "--limit-train", paramLabel = "N", description = "use only the first N training images")
    Integer limitTrain;

    @Option(names = "--limit-test", paramLabel = "N", description = "use only the first N test images")
    Integer limitTest;

    @Option(names = "--log-every", paramLabel = "N", description = "print the mean loss every N batches (default: the blog's 2000 "
            + "at batch 8, scaled to the batch size)")
    Integer logEvery;

    @Option(names = "--out", paramLabel = "DIR", description = "output folder (default: out/<timestamp>)")
    Path out;

    @Option(names = "--no-progress", description = "no progress bar even on a terminal")
    boolean noProgress;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    private final PrintStream log = System.out;
    private final ObjectMapper json = new ObjectMapper();

    public static void main(String[] args) {
        System.setProperty("java.awt.headless", "true");
        CommandLine cli = new CommandLine(new LoraWorkflow()).setCaseInsensitiveEnumValuesAllowed(true);
        System.exit(cli.execute(args));
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
        DeviceSpec spec = DeviceSpec.parse(device);
        BackendStatus chosen = Devices.select(spec);
        log.println(Devices.explain(spec));
        try (Backend backend = Devices.open(spec)) {
            Recipe recipe = recipe(chosen.kind());
            log.println(recipe.describe());
            Path outDir = out != null ? out : Path.of("out", LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
            Files.createDirectories(outDir);
            cleanTemporariesOnInterrupt(outDir);
            try (Dataset train = limit(loadDataset(backend, Split.TRAIN), limitTrain, backend);
                 Dataset test = limit(loadDataset(backend, Split.TEST), limitTest, backend)) {
                log.printf(Locale.ROOT, "dataset: %s, %,d training and %,d test images of %s, %d classes%n",
                        datasetName(train), train.size(), test.size(), shape(train), train.classes());
                run(backend, chosen, recipe, train, test, outDir);
            }
            log.println("wrote " + outDir.toAbsolutePath().normalize() + ": report.json, samples.png, loss.png, model.safetensors, adapter/");
        }
        return 0;
    }

    private void run(Backend backend, BackendStatus chosen, Recipe recipe, Dataset train, Dataset test, Path outDir)
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
        ObjectNode report = json.createObjectNode();
        String datasetName = datasetName(train);
        report.put("dataset", datasetName);
        report.put("device", chosen.kind().id());
        report.put("deviceDescription", backend.describe());
        report.put("batchSize", recipe.batchSize());
        report.put("trainSamples", train.size());
        report.put("testSamples", test.size());
        // The blog prints every 2000 batches of 8: the same number of samples at other batch sizes.
        int logEveryBatches = logEvery != null ? logEvery : Math.max(1, 2000 * 8 / recipe.batchSize());
        try (Sequential model = mlp(backend, features, train.classes(), seed)) {
            ObjectNode modelNode = report.putObject("model");
            modelNode.putArray("layers").add(features).add(4096).add(2048).add(train.classes());
            modelNode.put("parameters", model.parameterCount());
            DataLoader loader = new DataLoader(train, recipe.batchSize(), true, false, seed);
            List<Training.Epoch> fullEpochs = new ArrayList<>();
            try (Adam adam = new Adam(model.trainableParameters(), lr)) {
                for (int e = 0; e < recipe.epochs(); e++) {
                    Training.Epoch epoch = Training.epoch(model, adam, loader, e, e, logEveryBatches, log, progressBar());
                    fullEpochs.add(epoch);
                    log.printf(Locale.ROOT, "One epoch takes %.3f seconds (%,.0f samples/s)%n", epoch.seconds(), epoch.samplesPerSecond());
                }
            }

            // 4. save, reload, predict, test
            Path modelFile = outDir.resolve("model.safetensors");
            Safetensors.write(modelFile, model.stateDict(), Map.of("format", "pt", "dataset", train.name()));
            int[] before;
            double fullAccuracy;
            try (Sequential reloaded = mlp(backend, features, train.classes(), seed + 1000);
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
            LoraModel lora = Lora.apply(model, LoraConfig.of(rank, alpha, "fc1", "fc2", "fc3"), seed + 7);
            lora.disable();
            double disabledBefore = Training.accuracy(model, test, evalBatch(recipe));
            log.printf("Accuracy of the network on the %d test images: %s   (LoRA disabled)%n", test.size(), Training.percent(disabledBefore));
            lora.enable();
            double enabledBefore = Training.accuracy(model, test, evalBatch(recipe));
            log.printf("Accuracy of the network on the %d test images: %s   (LoRA enabled)%n", test.size(), Training.percent(enabledBefore));
            ParameterReport counts = lora.report();
            log.println(counts.blogLines());

            // 6. freeze and fine-tune
            lora.freezeBase();
            List<Training.Epoch> loraEpochList = new ArrayList<>();
            try (Adam adam = new Adam(lora.adapterParameters(), lr)) {
                for (int e = 0; e < recipe.loraEpochs(); e++) {
                    int label = recipe.epochs() + e;
                    Training.Epoch epoch = Training.epoch(model, adam, loader, label, label, logEveryBatches, log, progressBar());
                    loraEpochList.add(epoch);
                    log.printf(Locale.ROOT, "One epoch takes %.3f seconds (%,.0f samples/s)%n", epoch.seconds(), epoch.samplesPerSecond());
                }
            }
            double ratio = loraEpochList.getLast().seconds() / fullEpochs.getLast().seconds();
            log.printf(Locale.ROOT, "LoRA epoch / full epoch time: %.2f (%.3f s / %.3f s; the blog measured 0.53)%n",
                    ratio, loraEpochList.getLast().seconds(), fullEpochs.getLast().seconds());

            // 7. compare
            double enabledAfter = Training.accuracy(model, test, evalBatch(recipe));
            lora.disable();
            double disabledAfter = Training.accuracy(model, test, evalBatch(recipe));
            lora.enable();
            log.printf("Accuracy of the given model on the %d test images is %s   (LoRA enabled)%n", test.size(), Training.percent(enabledAfter));
            log.printf("Accuracy of the given model on the %d test images is %s   (LoRA disabled)%n", test.size(), Training.percent(disabledAfter));
            int[] after = Training.predict(model, shownX);
            log.println("Ground truth labels:  " + names(classes, shownLabels));
            log.println("Predicted:  " + names(classes, after));
            lora.save(outDir.resolve("adapter"));

            ObjectNode loraNode = report.putObject("lora");
            loraNode.put("rank", rank);
            loraNode.put("alpha", alpha);
            loraNode.put("totalParameters", counts.total());
            loraNode.put("loraParameters", counts.lora());
            loraNode.put("incrementPercent", counts.incrementPercent());
            ObjectNode acc = loraNode.putObject("accuracyBeforeTraining");
            acc.put("enabled", enabledBefore);
            acc.put("disabled", disabledBefore);
            loraNode.set("epochs", epochsJson(loraEpochList));
            loraNode.put("testAccuracyEnabled", enabledAfter);
            loraNode.put("testAccuracyDisabled", disabledAfter);
            report.put("loraToFullEpochTimeRatio", ratio);

            // 8. pictures and the report
            Pictures.writePng(Pictures.samples(shownPixels, test.channels(), test.height(), test.width(),
                    labels(classes, shownLabels), labels(classes, before), labels(classes, after),
                    datasetName + ": first test images, true label and predictions before and after LoRA"),
                    outDir.resolve("samples.png"));
            Pictures.writePng(Pictures.lossCurves(curve(fullEpochs, loader.size(), 0),
                    curve(loraEpochList, loader.size(), fullEpochs.size()),
                    String.format(Locale.ROOT, "%s, batch %d: full training, then rank-%d LoRA", datasetName, recipe.batchSize(), rank)),
                    outDir.resolve("loss.png"));
            AtomicFile.write(outDir.resolve("report.json"), json.writerWithDefaultPrettyPrinter().writeValueAsBytes(report));
        } finally {
            shownX.close();
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
        if (!(lr > 0) || !Float.isFinite(lr)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--lr must be a positive number, got " + lr);
        }
        if (!(alpha > 0) || !Float.isFinite(alpha)) {
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

    static Sequential mlp(Backend backend, int features, int classes, long seed) {
        return new Sequential("fc1", new Linear(backend, features, 4096, seed * 31 + 1), "relu1", new ReLU(),
                "fc2", new Linear(backend, 4096, 2048, seed * 31 + 2), "relu2", new ReLU(),
                "fc3", new Linear(backend, 2048, classes, seed * 31 + 3));
    }

    private Dataset loadDataset(Backend backend, Split split) throws IOException {
        List<Path> cifarDirs = Stream.concat(Stream.of(dataDir.resolve(Cifar10.DIRECTORY)), Cifar10.candidates().stream()).toList();
        List<Path> fashionDirs = Stream.concat(Stream.of(dataDir.resolve(FashionMnist.DIRECTORY)),
                FashionMnist.candidates().stream()).toList();
        return switch (dataset) {
            case cifar10 -> Cifar10.load(backend, split, cifarDirs);
            case fashion_mnist -> FashionMnist.load(backend, split, fashionDirs);
            case auto -> {
                if (cifarDirs.stream().anyMatch(Files::isDirectory)) {
                    yield Cifar10.load(backend, split, cifarDirs);
                }
                if (fashionDirs.stream().anyMatch(Files::isDirectory)) {
                    yield FashionMnist.load(backend, split, fashionDirs);
                }
                if (split == Split.TRAIN) {
                    log.println("no dataset found: downloading CIFAR-10 into " + dataDir.toAbsolutePath().normalize());
                    try {
                        new Cifar10Downloader().download(dataDir);
                    } catch (IOException e) {
                        throw new IOException("no dataset here and the CIFAR-10 download failed (" + e.getMessage() + ").\n"
                                + "Do one of:\n"
                                + "  apt-get install dataset-fashion-mnist          (Debian/Ubuntu, offline mirrors too)\n"
                                + "  download " + Cifar10Downloader.OFFICIAL_URL + " and run\n"
                                + "    tar xzf cifar-10-binary.tar.gz -C " + dataDir + "\n"
                                + "then run again (or pass --dataset and --data-dir).", e);
                    }
                }
                yield Cifar10.load(backend, split, cifarDirs);
            }
        };
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

    /** Ctrl-C must not leave AtomicFile's temporaries in the output folder. */
    private static void cleanTemporariesOnInterrupt(Path outDir) {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> removeTemporaries(outDir), "jrocm-clean-temporaries"));
    }

    /** Deletes the {@code .NAME.*.tmp} files an interrupted {@link AtomicFile} write leaves under {@code dir}. */
    static void removeTemporaries(Path dir) {
        try (Stream<Path> files = Files.walk(dir)) {
            files.filter(f -> f.getFileName().toString().startsWith(".") && f.getFileName().toString().endsWith(".tmp"))
                    .forEach(f -> f.toFile().delete());
        } catch (IOException | RuntimeException e) {
            // nothing more can be done while the JVM exits
        }
    }
}
