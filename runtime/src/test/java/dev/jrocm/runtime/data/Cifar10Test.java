package dev.jrocm.runtime.data;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class Cifar10Test {
    static Backend backend;
    @TempDir
    Path root;

    @BeforeAll
    static void open() { backend = new CpuBackend(); }

    @AfterAll
    static void close() { backend.close(); }

    @Test
    void theBinaryBatchesLoadAsNormalisedChannelMajorRowsWithTheirLabels() throws IOException {
        Random random = new Random(3);
        Path dir = TestData.cifarDirectory(root, random, 4);
        byte[] first = Files.readAllBytes(dir.resolve("data_batch_1.bin"));
        byte[] third = Files.readAllBytes(dir.resolve("data_batch_3.bin"));
        try (Cifar10 train = Cifar10.loadFrom(backend, dir, Split.TRAIN); Cifar10 test = Cifar10.loadFrom(backend, dir, Split.TEST)) {
            assertEquals(20, train.size());
            assertEquals(4, test.size());
            assertEquals(3072, train.features());
            assertArrayEquals(new int[] {3, 32, 32}, train.imageShape());
            assertEquals(TestData.CIFAR_CLASSES, train.classNames());
            assertEquals(10, train.classes());
            assertEquals("CIFAR-10 train (20 images of 3×32×32, 10 classes)", train.toString());
            int[] labels = train.labels().toIntArray();
            assertArrayEquals(new int[] {0, 1, 2, 3, 1, 2, 3, 4, 2, 3, 4, 5, 3, 4, 5, 6, 4, 5, 6, 7}, labels);
            assertArrayEquals(new int[] {7, 8, 9, 0}, test.labels().toIntArray());
            float[] x = train.images().toArray();
            // record 1 of batch 1 is row 1; record 2 of batch 3 is row 10; pixel j is byte 1 + j of the record
            for (int j : new int[] {0, 1, 1023, 1024, 2048, 3071}) {
                assertEquals(((first[Cifar10.RECORD_BYTES + 1 + j] & 0xff) / 255f - 0.5f) / 0.5f, x[3072 + j]);
                assertEquals(((third[2 * Cifar10.RECORD_BYTES + 1 + j] & 0xff) / 255f - 0.5f) / 0.5f, x[10 * 3072 + j]);
            }
        }
    }

    @Test
    void pixelsAreNormalisedAsToTensorThenNormalise() {
        assertEquals(-1f, Dataset.NORMALISED[0]);
        assertEquals(1f, Dataset.NORMALISED[255]);
        assertEquals(0.003921628f, Dataset.NORMALISED[128]); // torch: (128/255 − 0.5)/0.5 in float32
    }

    @Test
    void theDefaultSearchFindsTheFirstExistingDirectory() throws IOException {
        Path dir = TestData.cifarDirectory(root.resolve("b"), new Random(1), 1);
        try (Cifar10 test = Cifar10.load(backend, Split.TEST, List.of(root.resolve("a").resolve(Cifar10.DIRECTORY), dir))) {
            assertEquals(1, test.size());
        }
        assertEquals(DataPaths.roots().stream().map(r -> r.resolve(Cifar10.DIRECTORY)).toList(), Cifar10.candidates());
    }

    @Test
    void aMissingDatasetSaysWhereItLookedAndHowToGetIt() {
        List<Path> searched = List.of(root.resolve("x"), root.resolve("y"));
        DatasetNotFoundException e = assertThrows(DatasetNotFoundException.class, () -> Cifar10.load(backend, Split.TRAIN, searched));
        assertEquals("CIFAR-10 not found: none of these directories exists:\n"
                + "  " + searched.get(0) + "\n  " + searched.get(1) + "\n"
                + "Get it (163 MB, checked against its MD5) with\n"
                + "  java -p <jrocm jars> -m dev.jrocm.runtime/dev.jrocm.runtime.data.Cifar10Downloader DIR\n"
                + "or download https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz and unpack it with tar xzf into DIR;\n"
                + "then use -Djrocm.data=DIR or JROCM_DATA=DIR (DIR is searched for cifar-10-batches-bin).", e.getMessage());
    }

    @Test
    void aMissingBatchOrMetaFileIsNamed() throws IOException {
        Path dir = TestData.cifarDirectory(root, new Random(1), 1);
        Files.delete(dir.resolve("data_batch_4.bin"));
        assertEquals(dir.resolve("data_batch_4.bin") + " is missing: " + dir + " is an incomplete cifar-10-batches-bin;"
                        + " download it again (https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz)",
                assertThrows(DatasetNotFoundException.class, () -> Cifar10.loadFrom(backend, dir, Split.TRAIN)).getMessage());
        Files.delete(dir.resolve("batches.meta.txt"));
        assertEquals(dir.resolve("batches.meta.txt") + " is missing: " + dir + " is not a complete cifar-10-batches-bin;"
                        + " download it again (https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz)",
                assertThrows(DatasetNotFoundException.class, () -> Cifar10.loadFrom(backend, dir, Split.TEST)).getMessage());
    }

    @Test
    void aFileThatIsNotWholeRecordsIsRefused() throws IOException {
        Path dir = TestData.cifarDirectory(root, new Random(1), 2);
        Path test = dir.resolve("test_batch.bin");
        byte[] bytes = Files.readAllBytes(test);
        Files.write(test, Arrays.copyOf(bytes, bytes.length - 100));
        assertEquals(test + ": is 6046 bytes, not a whole number of 3073-byte records (1 label byte + 3072 pixel bytes):"
                + " 1 records and 2973 bytes left over (truncated, or not a CIFAR-10 binary batch?)", failure(dir, Split.TEST));
        Files.write(test, new byte[0]);
        assertEquals(test + ": is 0 bytes, not a whole number of 3073-byte records (1 label byte + 3072 pixel bytes):"
                + " it is empty", failure(dir, Split.TEST));
    }

    @Test
    void aLabelOutOfRangeIsRefusedWithItsRecordAndOffset() throws IOException {
        Path dir = TestData.cifarDirectory(root, new Random(1), 3);
        Path batch = dir.resolve("data_batch_2.bin");
        byte[] bytes = Files.readAllBytes(batch);
        bytes[2 * Cifar10.RECORD_BYTES] = 10;
        Files.write(batch, bytes);
        assertEquals(batch + ": record 2 (byte offset 6146) has label 10, outside 0..9", failure(dir, Split.TRAIN));
    }

    @Test
    void aMetaFileWithoutTenNamesIsRefused() throws IOException {
        Path dir = TestData.cifarDirectory(root, new Random(1), 1);
        Path meta = dir.resolve("batches.meta.txt");
        Files.writeString(meta, "cat\ndog\n");
        assertEquals(meta + ": names 2 classes, expected 10 (one per line)", failure(dir, Split.TEST));
        Files.write(meta, new byte[] {(byte) 0xff, (byte) 0xfe});
        assertEquals(meta + ": is not UTF-8 text", failure(dir, Split.TEST));
    }

    private static String failure(Path dir, Split split) {
        return assertThrows(DatasetFormatException.class, () -> Cifar10.loadFrom(backend, dir, split)).getMessage();
    }
}
