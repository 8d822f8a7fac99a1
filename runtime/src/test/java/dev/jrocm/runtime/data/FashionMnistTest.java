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
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class FashionMnistTest {
    static Backend backend;
    @TempDir
    Path dir;

    @BeforeAll
    static void open() { backend = new CpuBackend(); }

    @AfterAll
    static void close() { backend.close(); }

    @Test
    void gzippedAndPlainIdxFilesLoadTheSame() throws IOException {
        TestData.fashionDirectory(dir.resolve("gz"), new Random(5), Split.TRAIN, 12, true);
        TestData.fashionDirectory(dir.resolve("raw"), new Random(5), Split.TRAIN, 12, false);
        try (FashionMnist gz = FashionMnist.loadFrom(backend, dir.resolve("gz"), Split.TRAIN);
             FashionMnist raw = FashionMnist.loadFrom(backend, dir.resolve("raw"), Split.TRAIN)) {
            assertEquals(12, gz.size());
            assertEquals(784, gz.features());
            assertArrayEquals(new int[] {1, 28, 28}, gz.imageShape());
            assertEquals(FashionMnist.CLASS_NAMES, gz.classNames());
            assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1}, gz.labels().toIntArray());
            assertArrayEquals(raw.images().toArray(), gz.images().toArray());
            byte[] file = Files.readAllBytes(dir.resolve("raw/train-images-idx3-ubyte"));
            float[] x = raw.images().toArray();
            for (int i : new int[] {0, 783, 784, 12 * 784 - 1}) {
                assertEquals(Dataset.NORMALISED[file[16 + i] & 0xff], x[i]);
            }
        }
    }

    @Test
    void theSearchTakesTheFirstDirectoryWithTheSplitAndListsThemAllWhenNoneHasIt() throws IOException {
        TestData.fashionDirectory(dir.resolve("b"), new Random(1), Split.TEST, 3, true);
        try (FashionMnist test = FashionMnist.load(backend, Split.TEST, List.of(dir.resolve("a"), dir.resolve("b")))) {
            assertEquals(3, test.size());
            assertEquals("Fashion-MNIST test", test.name());
        }
        List<Path> searched = List.of(dir.resolve("a"), dir.resolve("b"));
        DatasetNotFoundException e = assertThrows(DatasetNotFoundException.class,
                () -> FashionMnist.load(backend, Split.TRAIN, searched));
        assertEquals("Fashion-MNIST not found: no train-images-idx3-ubyte[.gz] in any of\n"
                + "  " + searched.get(0) + "\n  " + searched.get(1) + "\n"
                + "Get it with: apt-get install dataset-fashion-mnist (Debian/Ubuntu; installs /usr/share/datasets/fashion-mnist),\n"
                + "or download the four *-ubyte.gz files from https://github.com/zalandoresearch/fashion-mnist into DIR/fashion-mnist"
                + " and use -Djrocm.data=DIR or JROCM_DATA=DIR.", e.getMessage());
        assertEquals(Path.of(FashionMnist.DEBIAN_DIRECTORY), FashionMnist.candidates().getLast());
    }

    @Test
    void aMissingLabelFileIsNamed() throws IOException {
        Path d = TestData.fashionDirectory(dir, new Random(1), Split.TEST, 2, true);
        Files.delete(d.resolve("t10k-labels-idx1-ubyte.gz"));
        assertEquals(d + " has neither t10k-labels-idx1-ubyte.gz nor t10k-labels-idx1-ubyte: the Fashion-MNIST copy there is"
                        + " incomplete (apt-get install --reinstall dataset-fashion-mnist, or download it again from"
                        + " https://github.com/zalandoresearch/fashion-mnist)",
                assertThrows(DatasetNotFoundException.class, () -> FashionMnist.loadFrom(backend, d, Split.TEST)).getMessage());
    }

    private Path images() { return dir.resolve("t10k-images-idx3-ubyte"); }

    private Path labels() { return dir.resolve("t10k-labels-idx1-ubyte"); }

    private String failure() {
        return assertThrows(DatasetFormatException.class, () -> FashionMnist.loadFrom(backend, dir, Split.TEST)).getMessage();
    }

    @Test
    void aWrongMagicNumberIsRefused() throws IOException {
        TestData.fashionDirectory(dir, new Random(1), Split.TEST, 2, false);
        Files.write(images(), TestData.idx(new int[] {2}, new byte[2])); // a label file where images belong
        assertEquals(images() + ": wrong magic number 0x00000801 at byte 0, expected 0x00000803 (IDX unsigned bytes with 3"
                + " dimensions: images)", failure());
        Files.write(images(), TestData.gzip(TestData.idx(new int[] {2}, new byte[2])));
        Files.move(images(), dir.resolve("t10k-images-idx3-ubyte.gz"));
        assertEquals(dir.resolve("t10k-images-idx3-ubyte.gz") + ": wrong magic number 0x00000801 at byte 0 of the"
                + " uncompressed data, expected 0x00000803 (IDX unsigned bytes with 3 dimensions: images)", failure());
    }

    @Test
    void truncatedFilesAreRefused() throws IOException {
        TestData.fashionDirectory(dir, new Random(1), Split.TEST, 2, false);
        byte[] full = Files.readAllBytes(images());
        Files.write(images(), Arrays.copyOf(full, 1000));
        assertEquals(images() + ": is truncated: its header promises 2×28×28 = 1568 bytes after the 16-byte header, but only"
                + " 984 follow", failure());
        Files.write(images(), Arrays.copyOf(full, 10));
        assertEquals(images() + ": ends after 10 bytes, inside the 16-byte IDX header", failure());
        Files.write(images(), Arrays.copyOf(full, 3));
        assertEquals(images() + ": ends after 3 bytes, inside the 4-byte IDX magic number", failure());
        byte[] gz = TestData.gzip(full);
        Files.delete(images());
        Path gzFile = dir.resolve("t10k-images-idx3-ubyte.gz");
        Files.write(gzFile, Arrays.copyOf(gz, gz.length / 2));
        assertEquals(gzFile + ": gzip data ends early (truncated file?)", failure());
    }

    @Test
    void extraBytesAfterTheRecordsAreRefused() throws IOException {
        TestData.fashionDirectory(dir, new Random(1), Split.TEST, 2, false);
        byte[] full = Files.readAllBytes(images());
        Files.write(images(), Arrays.copyOf(full, full.length + 5));
        assertEquals(images() + ": has more bytes than the 2×28×28 = 1568 its header promises (byte 1584 onwards): wrong"
                + " record size?", failure());
    }

    @Test
    void imagesOfTheWrongSizeOrCountAreRefused() throws IOException {
        TestData.fashionDirectory(dir, new Random(1), Split.TEST, 2, false);
        Files.write(images(), TestData.idx(new int[] {2, 32, 32}, new byte[2 * 32 * 32]));
        assertEquals(images() + ": images are 32×32; Fashion-MNIST's are 28×28", failure());
        Files.write(images(), TestData.idx(new int[] {3, 28, 28}, new byte[3 * 784]));
        assertEquals(labels() + ": holds 2 labels but " + images() + " holds 3 images", failure());
        Files.write(images(), TestData.idx(new int[] {-2, 28, 28}, new byte[0]));
        assertEquals(images() + ": dimension 0 is -2 (byte 4)", failure());
    }

    @Test
    void aLabelOutOfRangeIsRefusedWithItsRecordAndOffset() throws IOException {
        TestData.fashionDirectory(dir, new Random(1), Split.TEST, 3, false);
        Files.write(labels(), TestData.idx(new int[] {3}, new byte[] {1, 2, 10}));
        assertEquals(labels() + ": label 10 of record 2 (byte offset 10) is outside 0..9", failure());
    }

    @Test
    void aFileThatIsNotGzipDespiteItsMagicIsRefused() throws IOException {
        TestData.fashionDirectory(dir, new Random(1), Split.TEST, 2, false);
        Files.write(images(), new byte[] {0x1f, (byte) 0x8b, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
        assertEquals(images() + ": is not valid gzip data: Unsupported compression method", failure());
    }

    /** Debian's dataset-fashion-mnist (CI installs it): the real 60,000 + 10,000 images. */
    @Test
    void theRealDebianCopyLoadsWithSixThousandImagesPerClass() throws IOException {
        Path debian = Path.of(FashionMnist.DEBIAN_DIRECTORY);
        assumeTrue(Files.isRegularFile(debian.resolve("train-images-idx3-ubyte.gz")),
                "skipped: Fashion-MNIST is not installed in " + debian + " (apt-get install dataset-fashion-mnist)");
        long start = System.nanoTime();
        try (FashionMnist train = FashionMnist.loadFrom(backend, debian, Split.TRAIN);
             FashionMnist test = FashionMnist.loadFrom(backend, debian, Split.TEST)) {
            System.out.printf("Fashion-MNIST train + test loaded in %.2f s%n", (System.nanoTime() - start) / 1e9);
            assertEquals(60_000, train.size());
            assertEquals(10_000, test.size());
            int[] counts = new int[10];
            for (int label : train.labels().toIntArray()) {
                counts[label]++;
            }
            int[] expected = new int[10];
            Arrays.fill(expected, 6000);
            assertArrayEquals(expected, counts);
            // The first training image is an ankle boot, the first test image too (Zalando's README).
            assertEquals(9, train.labels().toIntArray()[0]);
            assertEquals(9, test.labels().toIntArray()[0]);
            float[] x = test.images().toArray();
            assertEquals(-1f, Arrays.stream(new int[] {0, 1, 2}).mapToDouble(i -> x[i]).max().orElseThrow()); // a black corner
        }
    }
}
