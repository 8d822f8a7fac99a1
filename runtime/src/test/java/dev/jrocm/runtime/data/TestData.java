package dev.jrocm.runtime.data;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.zip.GZIPOutputStream;

/** Small, seeded CIFAR-10 and IDX files for the tests. */
final class TestData {
    static final List<String> CIFAR_CLASSES = List.of(
            "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck");

    private TestData() {}

    /** {@code records} CIFAR records: label r % 10 (shifted by {@code labelShift}), random pixels. */
    static byte[] cifarBatch(Random random, int records, int labelShift) {
        byte[] b = new byte[records * Cifar10.RECORD_BYTES];
        random.nextBytes(b);
        for (int r = 0; r < records; r++) {
            b[r * Cifar10.RECORD_BYTES] = (byte) ((r + labelShift) % 10);
        }
        return b;
    }

    /** A complete small cifar-10-batches-bin: {@code perBatch} records in each of the six files. */
    static Path cifarDirectory(Path root, Random random, int perBatch) throws IOException {
        Path dir = Files.createDirectories(root.resolve(Cifar10.DIRECTORY));
        Files.writeString(dir.resolve(Cifar10.META_FILE), String.join("\n", CIFAR_CLASSES) + "\n\n");
        for (int i = 0; i < Cifar10.TRAIN_FILES.size(); i++) {
            Files.write(dir.resolve(Cifar10.TRAIN_FILES.get(i)), cifarBatch(random, perBatch, i));
        }
        Files.write(dir.resolve(Cifar10.TEST_FILES.getFirst()), cifarBatch(random, perBatch, 7));
        return dir;
    }

    /** An IDX file of unsigned bytes: magic 0x0000 08 nd, the dimensions, the data. */
    static byte[] idx(int[] dims, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(4 + 4 * dims.length + data.length); // big-endian, as IDX is
        b.putInt(0x0800 | dims.length);
        for (int d : dims) {
            b.putInt(d);
        }
        return b.put(data).array();
    }

    static byte[] gzip(byte[] data) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
            gz.write(data);
        }
        return out.toByteArray();
    }

    /** Fashion-MNIST-format images (count×28×28) and labels (i % 10) for {@code split}, gzipped or not. */
    static Path fashionDirectory(Path dir, Random random, Split split, int count, boolean gzipped) throws IOException {
        Files.createDirectories(dir);
        byte[] pixels = new byte[count * 28 * 28];
        random.nextBytes(pixels);
        byte[] labels = new byte[count];
        for (int i = 0; i < count; i++) {
            labels[i] = (byte) (i % 10);
        }
        byte[] images = idx(new int[] {count, 28, 28}, pixels);
        byte[] labelFile = idx(new int[] {count}, labels);
        String suffix = gzipped ? ".gz" : "";
        Files.write(dir.resolve(FashionMnist.imagesFile(split) + suffix), gzipped ? gzip(images) : images);
        Files.write(dir.resolve(FashionMnist.labelsFile(split) + suffix), gzipped ? gzip(labelFile) : labelFile);
        return dir;
    }
}
