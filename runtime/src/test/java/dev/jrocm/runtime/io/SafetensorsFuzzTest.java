package dev.jrocm.runtime.io;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Mutates valid safetensors files (byte flips and overwrites, mostly in the header; truncation;
 * insertions; a changed header length; edits of the JSON's digits and quotes) and checks that
 * every outcome is either a correct load — the tensors tile the data and read back exactly the
 * bytes at their offsets — or a {@link SafetensorsFormatException} naming the file. Anything else
 * (another exception, an {@link OutOfMemoryError}, a crash) fails. Seeded: each try derives its
 * own seed from {@link #SEED}, and a failure names it. More tries (60,000 pass): mvn … -Dtest=SafetensorsFuzzTest
 * -Djrocm.test.argLine="--enable-native-access=dev.jrocm.bindings,dev.jrocm.runtime -Djrocm.fuzz.tries=60000".
 */
class SafetensorsFuzzTest {
    static Backend backend;
    static Path dir;

    static final long SEED = 20240611L;
    static final int TRIES = Integer.getInteger("jrocm.fuzz.tries", 5000);

    @BeforeAll
    static void open() throws IOException {
        backend = new CpuBackend();
        dir = Files.createTempDirectory("jrocm-fuzz");
    }

    @AfterAll
    static void close() throws IOException {
        backend.close();
        try (var files = Files.list(dir)) {
            for (Path p : files.toList()) {
                Files.delete(p);
            }
        }
        Files.delete(dir);
    }

    @Test
    void everyMutationLoadsCorrectlyOrFailsCleanly() throws IOException {
        Random seeds = new Random(SEED);
        int loaded = 0;
        for (int i = 0; i < TRIES; i++) {
            long seed = seeds.nextLong();
            Random random = new Random(seed);
            byte[] valid = validFile(random);
            byte[] mutated = mutate(valid, random, 1 + random.nextInt(6));
            Path file = dir.resolve("fuzz-" + Long.toHexString(seed) + ".safetensors");
            Files.write(file, mutated);
            try {
                loaded += checkOutcome(file, mutated, "try " + i + " (seed " + seed + "L)") ? 1 : 0;
            } finally {
                Files.delete(file);
            }
        }
        // Both outcomes must actually occur, or the mutations are too tame (or too wild) to test anything.
        assertTrue(loaded > TRIES / 50 && loaded < TRIES / 2, loaded + " of " + TRIES + " mutated files loaded");
    }

    @Test
    void unmutatedFilesAlwaysLoad() throws IOException {
        Random random = new Random(SEED);
        for (int i = 0; i < 200; i++) {
            byte[] valid = validFile(random);
            Path file = Files.write(dir.resolve("valid-" + i + ".safetensors"), valid);
            try {
                assertTrue(checkOutcome(file, valid, "valid file " + i));
            } finally {
                Files.delete(file);
            }
        }
    }

    /** True for a correct load, false for a clean error; fails the test otherwise. */
    static boolean checkOutcome(Path file, byte[] bytes, String what) {
        try (SafetensorsFile st = SafetensorsFile.open(file); Scope ignored = Scope.open()) {
            long headerLength = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong();
            int dataStart = (int) (8 + headerLength);
            long covered = 0;
            for (SafetensorsFile.Entry e : st.entries().values()) {
                long elements = Arrays.stream(e.shape()).reduce(1, Math::multiplyExact);
                assertEquals(elements * e.dtype().bytes(), e.byteSize(), e.name());
                assertArrayEquals(Arrays.copyOfRange(bytes, (int) (dataStart + e.begin()), (int) (dataStart + e.end())),
                        st.bytes(e.name()), e.name());
                covered += e.byteSize();
                if (e.dtype().tensorType().isPresent() && e.shape().length <= 4) {
                    Tensor t = st.tensor(e.name(), backend);
                    assertEquals(Math.max(1, elements), Math.max(1, t.size()));
                }
            }
            assertEquals(bytes.length - dataStart, covered, what + ": the tensors must cover the data exactly");
            return true;
        } catch (SafetensorsFormatException e) {
            assertTrue(e.getMessage().startsWith(file + ": "), what + ": " + e.getMessage());
            return false;
        } catch (Throwable e) {
            fail(what + ": neither a correct load nor a clean error: " + e, e);
            return false;
        }
    }

    /** A valid file of 0–4 random tensors of assorted types and shapes, with or without metadata. */
    static byte[] validFile(Random random) throws IOException {
        List<Safetensors.Source> sources = new ArrayList<>();
        SafetensorsDType[] types = SafetensorsDType.values();
        int count = random.nextInt(5);
        for (int i = 0; i < count; i++) {
            int rank = random.nextInt(4);
            long[] shape = new long[rank];
            long elements = 1;
            for (int d = 0; d < rank; d++) {
                shape[d] = random.nextInt(4);
                elements *= shape[d];
            }
            SafetensorsDType type = types[random.nextInt(types.length)];
            byte[] data = new byte[(int) elements * type.bytes()];
            random.nextBytes(data);
            sources.add(Safetensors.Source.ofBytes("t" + i + (random.nextBoolean() ? ".weight" : ""), type, data, shape));
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        if (random.nextBoolean()) {
            metadata.put("format", "pt");
            metadata.put("note", "ünïcode ✓");
        }
        Path file = Files.createTempFile(dir, "valid", ".safetensors");
        Safetensors.write(file, sources, metadata);
        byte[] bytes = Files.readAllBytes(file);
        Files.delete(file);
        return bytes;
    }

    static byte[] mutate(byte[] valid, Random random, int mutations) {
        byte[] b = valid.clone();
        for (int m = 0; m < mutations; m++) {
            int headerEnd = (int) Math.min(b.length, 8 + Math.max(0, Math.min(b.length, headerLength(b))));
            int at = b.length == 0 ? 0 : random.nextInt(b.length);
            int region = random.nextInt(4);
            if (region < 2 && headerEnd > 8) {
                at = 8 + random.nextInt(headerEnd - 8); // mostly hit the header, where the trust is
            } else if (region == 2 && b.length > headerEnd) {
                at = headerEnd + random.nextInt(b.length - headerEnd); // the data: such files often still load
            }
            switch (random.nextInt(8)) {
                case 0 -> { if (b.length > 0) b[at] ^= (byte) (1 << random.nextInt(8)); }
                case 1 -> { if (b.length > 0) b[at] = (byte) random.nextInt(256); }
                case 2 -> b = Arrays.copyOf(b, random.nextInt(b.length + 1)); // truncate
                case 3 -> { // insert a few bytes
                    byte[] extra = new byte[1 + random.nextInt(8)];
                    random.nextBytes(extra);
                    byte[] grown = new byte[b.length + extra.length];
                    System.arraycopy(b, 0, grown, 0, at);
                    System.arraycopy(extra, 0, grown, at, extra.length);
                    System.arraycopy(b, at, grown, at + extra.length, b.length - at);
                    b = grown;
                }
                case 4 -> { // a different header length
                    if (b.length >= 8) {
                        long[] choices = {0, 1, headerLength(b) + random.nextInt(17) - 8, b.length, Long.MAX_VALUE, -1,
                                random.nextLong()};
                        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, choices[random.nextInt(choices.length)]);
                    }
                }
                case 5 -> { if (b.length > 0) b[at] = "0123456789".getBytes(StandardCharsets.US_ASCII)[random.nextInt(10)]; }
                case 6 -> { if (b.length > 0) b[at] = "\"{}[],:-.e ".getBytes(StandardCharsets.US_ASCII)[random.nextInt(11)]; }
                default -> { if (b.length > 0) b[at] = (byte) (0x80 | random.nextInt(0x80)); } // stray UTF-8 bytes
            }
        }
        return b;
    }

    private static long headerLength(byte[] b) {
        return b.length < 8 ? 0 : ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong();
    }
}
