package dev.jrocm.runtime.data;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Fashion-MNIST (Zalando's 28×28 grayscale clothing images, 60,000 train and 10,000 test) from
 * its IDX files, gzip-compressed or not, as Zalando ships them and as Debian's
 * {@code dataset-fashion-mnist} package installs them in {@value #DEBIAN_DIRECTORY}. Pixels are
 * normalised as {@link Dataset#NORMALISED} says.
 */
public final class FashionMnist extends Dataset {
    /** The subdirectory looked for in each {@link DataPaths#roots() data directory}. */
    public static final String DIRECTORY = "fashion-mnist";
    /** Where Debian's {@code dataset-fashion-mnist} package puts the files. */
    public static final String DEBIAN_DIRECTORY = "/usr/share/datasets/fashion-mnist";
    public static final int SIDE = 28;
    public static final List<String> CLASS_NAMES = List.of(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot");

    private FashionMnist(Split split, Tensor images, Tensor labels) {
        super("Fashion-MNIST " + split.id(), images, labels, CLASS_NAMES, 1, SIDE, SIDE);
    }

    /** The directories searched by {@link #load(Backend, Split)}: {@code fashion-mnist} in each data root, then Debian's. */
    public static List<Path> candidates() {
        List<Path> out = new ArrayList<>(DataPaths.roots().stream().map(r -> r.resolve(DIRECTORY)).toList());
        out.add(Path.of(DEBIAN_DIRECTORY));
        return out;
    }

    /** Loads {@code split} from the first of {@link #candidates()} that holds its images. */
    public static FashionMnist load(Backend backend, Split split) throws IOException {
        return load(backend, split, candidates());
    }

    /** Loads {@code split} from the first of {@code directories} that holds its images, or says where it looked and how to get it. */
    public static FashionMnist load(Backend backend, Split split, List<Path> directories) throws IOException {
        for (Path dir : directories) {
            if (find(dir, imagesFile(split)) != null) {
                return loadFrom(backend, dir, split);
            }
        }
        throw new DatasetNotFoundException("Fashion-MNIST not found: no " + imagesFile(split) + "[.gz] in any of\n"
                + directories.stream().map(d -> "  " + d).collect(Collectors.joining("\n"))
                + "\nGet it with: apt-get install dataset-fashion-mnist (Debian/Ubuntu; installs " + DEBIAN_DIRECTORY + "),\n"
                + "or download the four *-ubyte.gz files from https://github.com/zalandoresearch/fashion-mnist into DIR/"
                + DIRECTORY + " and use -D" + DataPaths.PROPERTY + "=DIR or " + DataPaths.ENVIRONMENT + "=DIR.");
    }

    /** Loads {@code split} from the IDX files in {@code directory}. */
    public static FashionMnist loadFrom(Backend backend, Path directory, Split split) throws IOException {
        Path imagesPath = require(directory, imagesFile(split));
        Path labelsPath = require(directory, labelsFile(split));
        Idx.Contents images = Idx.read(imagesPath, 3, "images");
        int[] d = images.dims();
        if (d[1] != SIDE || d[2] != SIDE) {
            throw new DatasetFormatException(imagesPath, "images are " + d[1] + "×" + d[2] + "; Fashion-MNIST's are "
                    + SIDE + "×" + SIDE);
        }
        Idx.Contents labelBytes = Idx.read(labelsPath, 1, "labels");
        int count = d[0];
        if (labelBytes.dims()[0] != count) {
            throw new DatasetFormatException(labelsPath, "holds " + labelBytes.dims()[0] + " labels but " + imagesPath
                    + " holds " + count + " images");
        }
        int[] labels = new int[count];
        byte[] raw = labelBytes.data();
        for (int i = 0; i < count; i++) {
            labels[i] = raw[i] & 0xff;
            if (labels[i] >= CLASS_NAMES.size()) {
                throw new DatasetFormatException(labelsPath, "label " + labels[i] + " of record " + i + " (byte offset "
                        + (8 + i) + (labelBytes.gzipped() ? " of the uncompressed data" : "") + ") is outside 0.."
                        + (CLASS_NAMES.size() - 1));
            }
        }
        Tensor x = normalise(backend, List.of(new Dataset.Pixels(images.data(), 0, SIDE * SIDE, count)), SIDE * SIDE);
        try {
            return new FashionMnist(split, x, labelTensor(backend, labels));
        } catch (RuntimeException e) {
            x.close();
            throw e;
        }
    }

    static String imagesFile(Split split) {
        return (split == Split.TRAIN ? "train" : "t10k") + "-images-idx3-ubyte";
    }

    static String labelsFile(Split split) {
        return (split == Split.TRAIN ? "train" : "t10k") + "-labels-idx1-ubyte";
    }

    // The file as shipped, compressed (name.gz) or not (name); null when neither is there.
    private static Path find(Path directory, String name) {
        for (String candidate : List.of(name + ".gz", name)) {
            Path p = directory.resolve(candidate);
            if (Files.isRegularFile(p)) {
                return p;
            }
        }
        return null;
    }

    private static Path require(Path directory, String name) throws DatasetNotFoundException {
        Path p = find(directory, name);
        if (p == null) {
            throw new DatasetNotFoundException(directory + " has neither " + name + ".gz nor " + name
                    + ": the Fashion-MNIST copy there is incomplete (apt-get install --reinstall dataset-fashion-mnist, "
                    + "or download it again from https://github.com/zalandoresearch/fashion-mnist)");
        }
        return p;
    }
}
