package dev.jrocm.runtime.data;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.tensor.Tensor;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * CIFAR-10 from its official binary distribution ({@code cifar-10-batches-bin}: five training
 * batches {@code data_batch_1..5.bin}, {@code test_batch.bin}, class names in
 * {@code batches.meta.txt}). A record is one label byte and 3072 pixel bytes, channel-major
 * (1024 red, 1024 green, 1024 blue, each row-major 32×32); pixels are normalised as
 * {@link Dataset#NORMALISED} says. {@link Cifar10Downloader} fetches it.
 */
public final class Cifar10 extends Dataset {
    /** The directory the official archive unpacks to. */
    public static final String DIRECTORY = "cifar-10-batches-bin";
    public static final String META_FILE = "batches.meta.txt";
    public static final List<String> TRAIN_FILES = List.of(
            "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin");
    public static final List<String> TEST_FILES = List.of("test_batch.bin");
    public static final int CLASSES = 10, CHANNELS = 3, SIDE = 32;
    /** Bytes per image, and per record (label first). */
    public static final int IMAGE_BYTES = CHANNELS * SIDE * SIDE, RECORD_BYTES = 1 + IMAGE_BYTES;

    private Cifar10(Split split, Tensor images, Tensor labels, List<String> classNames) {
        super("CIFAR-10 " + split.id(), images, labels, classNames, CHANNELS, SIDE, SIDE);
    }

    /** The directories searched by {@link #load(Backend, Split)}: {@code cifar-10-batches-bin} in each {@link DataPaths#roots()}. */
    public static List<Path> candidates() {
        return DataPaths.roots().stream().map(r -> r.resolve(DIRECTORY)).toList();
    }

    /** Loads {@code split} from the first of {@link #candidates()} that exists. */
    public static Cifar10 load(Backend backend, Split split) throws IOException {
        return load(backend, split, candidates());
    }

    /** Loads {@code split} from the first of {@code directories} that exists, or says where it looked and how to get it. */
    public static Cifar10 load(Backend backend, Split split, List<Path> directories) throws IOException {
        for (Path dir : directories) {
            if (Files.isDirectory(dir)) {
                return loadFrom(backend, dir, split);
            }
        }
        throw new DatasetNotFoundException("CIFAR-10 not found: none of these directories exists:\n"
                + directories.stream().map(d -> "  " + d).collect(Collectors.joining("\n"))
                + "\nGet it (163 MB, checked against its MD5) with\n"
                + "  java -p <jrocm jars> -m dev.jrocm.runtime/dev.jrocm.runtime.data.Cifar10Downloader DIR\n"
                + "or download " + Cifar10Downloader.OFFICIAL_URL + " and unpack it with tar xzf into DIR;\n"
                + "then use -D" + DataPaths.PROPERTY + "=DIR or " + DataPaths.ENVIRONMENT + "=DIR (DIR is searched for "
                + DIRECTORY + ").");
    }

    /** Loads {@code split} from {@code directory} (a {@code cifar-10-batches-bin}). */
    public static Cifar10 loadFrom(Backend backend, Path directory, Split split) throws IOException {
        List<String> classNames = classNames(directory.resolve(META_FILE));
        List<Dataset.Pixels> parts = new ArrayList<>();
        List<int[]> labelParts = new ArrayList<>();
        for (String name : split == Split.TRAIN ? TRAIN_FILES : TEST_FILES) {
            Path file = directory.resolve(name);
            byte[] bytes = readBatch(directory, file);
            int records = bytes.length / RECORD_BYTES;
            int[] labels = new int[records];
            for (int r = 0; r < records; r++) {
                int label = bytes[r * RECORD_BYTES] & 0xff;
                if (label >= CLASSES) {
                    throw new DatasetFormatException(file, "record " + r + " (byte offset " + (long) r * RECORD_BYTES
                            + ") has label " + label + ", outside 0.." + (CLASSES - 1));
                }
                labels[r] = label;
            }
            parts.add(new Dataset.Pixels(bytes, 1, RECORD_BYTES, records));
            labelParts.add(labels);
        }
        int[] labels = labelParts.stream().flatMapToInt(java.util.Arrays::stream).toArray();
        Tensor images = normalise(backend, parts, IMAGE_BYTES);
        try {
            return new Cifar10(split, images, labelTensor(backend, labels), classNames);
        } catch (RuntimeException e) {
            images.close();
            throw e;
        }
    }

    private static byte[] readBatch(Path directory, Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new DatasetNotFoundException(file + " is missing: " + directory + " is an incomplete " + DIRECTORY
                    + "; download it again (" + Cifar10Downloader.OFFICIAL_URL + ")");
        }
        long size = Files.size(file);
        if (size == 0 || size % RECORD_BYTES != 0 || size > Integer.MAX_VALUE) {
            throw new DatasetFormatException(file, "is " + size + " bytes, not a whole number of " + RECORD_BYTES
                    + "-byte records (1 label byte + " + IMAGE_BYTES + " pixel bytes): "
                    + (size == 0 ? "it is empty" : (size / RECORD_BYTES) + " records and " + (size % RECORD_BYTES)
                    + " bytes left over (truncated, or not a CIFAR-10 binary batch?)"));
        }
        return Files.readAllBytes(file);
    }

    private static List<String> classNames(Path meta) throws IOException {
        if (!Files.isRegularFile(meta)) {
            throw new DatasetNotFoundException(meta + " is missing: " + meta.getParent() + " is not a complete " + DIRECTORY
                    + "; download it again (" + Cifar10Downloader.OFFICIAL_URL + ")");
        }
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(Files.readAllBytes(meta))).toString();
        } catch (CharacterCodingException e) {
            throw new DatasetFormatException(meta, "is not UTF-8 text", e);
        }
        List<String> names = text.lines().map(String::strip).filter(s -> !s.isEmpty()).toList();
        if (names.size() != CLASSES) {
            throw new DatasetFormatException(meta, "names " + names.size() + " classes, expected " + CLASSES
                    + " (one per line)");
        }
        return names;
    }
}
