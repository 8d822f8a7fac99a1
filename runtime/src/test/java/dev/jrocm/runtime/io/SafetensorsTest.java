package dev.jrocm.runtime.io;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.tensor.DType;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SequencedMap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SafetensorsTest {
    static Backend backend;
    @TempDir
    Path dir;

    @BeforeAll
    static void open() { backend = new CpuBackend(); }

    @AfterAll
    static void close() { backend.close(); }

    /** A file of the given header text and data bytes, with a correct length prefix. */
    static Path raw(Path file, String header, byte[] data) throws IOException {
        return raw(file, header.getBytes(StandardCharsets.UTF_8), data);
    }

    static Path raw(Path file, byte[] header, byte[] data) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(header.length).put(header).put(data);
        Files.write(file, b.array());
        return file;
    }

    static String failure(Path file) {
        return assertThrows(SafetensorsFormatException.class, () -> SafetensorsFile.open(file).close()).getMessage();
    }

    @Test
    void tensorsRoundTripWithNamesShapesValuesAndMetadata() throws IOException {
        Random random = new Random(7);
        float[] w = new float[12];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) random.nextGaussian();
        }
        Path file = dir.resolve("m.safetensors");
        try (Scope ignored = Scope.open()) {
            SequencedMap<String, Tensor> state = new LinkedHashMap<>();
            state.put("fc1.weight", Tensor.of(backend, w, 3, 4));
            state.put("labels", Tensor.ofInts(backend, new int[] {-5, 0, Integer.MAX_VALUE}, 3));
            state.put("empty", Tensor.empty(backend, 0));
            Safetensors.write(file, state, Map.of("format", "pt"));
            SequencedMap<String, Tensor> back = Safetensors.read(file, backend);
            assertEquals(List.of("fc1.weight", "labels", "empty"), List.copyOf(back.keySet()));
            assertArrayEquals(w, back.get("fc1.weight").toArray());
            assertArrayEquals(new int[] {3, 4}, back.get("fc1.weight").shape());
            assertEquals(DType.I32, back.get("labels").dtype());
            assertArrayEquals(new int[] {-5, 0, Integer.MAX_VALUE}, back.get("labels").toIntArray());
            assertEquals(0, back.get("empty").size());
        }
        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            assertEquals(Map.of("format", "pt"), st.metadata());
            assertArrayEquals(w, st.floats("fc1.weight"));
            assertArrayEquals(new long[] {3, 4}, st.entry("fc1.weight").shape());
            assertEquals(SafetensorsDType.F32, st.entry("fc1.weight").dtype());
        }
    }

    @Test
    void writtenFilesHaveTheSpecifiedLayoutAndAnAlignedHeader() throws IOException {
        Path file = dir.resolve("layout.safetensors");
        Safetensors.write(file, List.of(Safetensors.Source.ofFloats("a", new float[] {1f, -2f}, 2)), Map.of());
        byte[] bytes = Files.readAllBytes(file);
        String json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        int padded = (json.length() + 7) / 8 * 8;
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(padded, b.getLong());
        assertEquals(json + " ".repeat(padded - json.length()), new String(bytes, 8, padded, StandardCharsets.UTF_8));
        b.position(8 + padded);
        assertEquals(1f, b.getFloat());
        assertEquals(-2f, b.getFloat());
        assertEquals(8 + padded + 8, bytes.length);
    }

    @Test
    void scalarsAndOtherDTypesAreReadAsBytesAndScalarsStayOfRankZero() throws IOException {
        Path file = dir.resolve("types.safetensors");
        byte[] half = {0x00, 0x3e, 0x00, (byte) 0xc0}; // F16 1.5, −2.0
        Safetensors.write(file, List.of(
                Safetensors.Source.ofBytes("half", SafetensorsDType.F16, half, 2),
                Safetensors.Source.ofFloats("scalar", new float[] {3.25f})), Map.of());
        try (SafetensorsFile st = SafetensorsFile.open(file); Scope ignored = Scope.open()) {
            assertArrayEquals(half, st.bytes("half"));
            assertArrayEquals(new long[0], st.entry("scalar").shape());
            Tensor scalar = st.tensor("scalar", backend);
            assertArrayEquals(new int[0], scalar.shape());
            assertEquals(3.25f, scalar.item());
            assertEquals(file + ": tensor 'half' is F16; jrocm tensors are F32 or I32",
                    assertThrows(SafetensorsFormatException.class, () -> st.tensor("half", backend)).getMessage());
            assertEquals(file + ": tensor 'half' is F16, not F32",
                    assertThrows(SafetensorsFormatException.class, () -> st.floats("half")).getMessage());
            assertEquals(file + ": tensor 'scalar' is F32, not I32",
                    assertThrows(SafetensorsFormatException.class, () -> st.ints("scalar")).getMessage());
            assertEquals(file + ": no tensor 'nope' (it has 2: half, scalar)",
                    assertThrows(SafetensorsFormatException.class, () -> st.entry("nope")).getMessage());
        }
    }

    @Test
    void tensorsOfRankAboveFourAreRefused() throws IOException {
        Path file = raw(dir.resolve("r5.safetensors"),
                "{\"x\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}", new byte[4]);
        try (SafetensorsFile st = SafetensorsFile.open(file); Scope ignored = Scope.open()) {
            assertEquals(file + ": tensor 'x' has rank 5 [1, 1, 1, 1, 1]; jrocm tensors have rank 0 to 4",
                    assertThrows(SafetensorsFormatException.class, () -> st.tensor("x", backend)).getMessage());
        }
    }

    @Test
    void writerRejectsBadNamesAndMismatchedData() {
        Path file = dir.resolve("bad.safetensors");
        assertEquals("two tensors are named 'a'", assertThrows(IllegalArgumentException.class, () -> Safetensors.write(file,
                List.of(Safetensors.Source.ofFloats("a", new float[1], 1), Safetensors.Source.ofFloats("a", new float[1], 1)),
                Map.of())).getMessage());
        assertEquals("'__metadata__' cannot name a tensor in a safetensors file", assertThrows(IllegalArgumentException.class,
                () -> Safetensors.write(file, List.of(Safetensors.Source.ofFloats("__metadata__", new float[1], 1)), Map.of()))
                .getMessage());
        assertEquals("tensor 'a': 3 elements do not fill shape [2, 2]", assertThrows(IllegalArgumentException.class,
                () -> Safetensors.Source.ofFloats("a", new float[3], 2, 2)).getMessage());
        assertEquals("tensor 'h': 3 bytes do not hold a F16 tensor of shape [2]", assertThrows(IllegalArgumentException.class,
                () -> Safetensors.Source.ofBytes("h", SafetensorsDType.F16, new byte[3], 2)).getMessage());
        assertTrue(Files.notExists(file));
    }

    // ---- atomic writes ------------------------------------------------------------------------

    /** A source that writes half its bytes and then fails (or, in {@link KilledWriter}, blocks). */
    record HalfThenFail(String name, long[] shape) implements Safetensors.Source {
        @Override
        public SafetensorsDType dtype() { return SafetensorsDType.F32; }

        @Override
        public void writeTo(WritableByteChannel out) throws IOException {
            Safetensors.writeFully(out, ByteBuffer.allocate((int) (byteSize() / 2)));
            throw new IOException("disk on fire");
        }
    }

    @Test
    void anExceptionMidWriteLeavesThePreviousFileIntactAndNoTemporaryFile() throws IOException {
        Path file = dir.resolve("keep.safetensors");
        Safetensors.write(file, List.of(Safetensors.Source.ofFloats("old", new float[] {42f}, 1)), Map.of());
        byte[] before = Files.readAllBytes(file);
        IOException e = assertThrows(IOException.class, () -> Safetensors.write(file, List.of(
                Safetensors.Source.ofFloats("new", new float[] {1f}, 1), new HalfThenFail("big", new long[] {1000})), Map.of()));
        assertEquals("disk on fire", e.getMessage());
        assertArrayEquals(before, Files.readAllBytes(file));
        try (var files = Files.list(dir)) {
            assertEquals(List.of(file), files.toList());
        }
    }

    @Test
    void aSourceThatWritesTheWrongNumberOfBytesFailsTheWrite() throws IOException {
        Path file = dir.resolve("count.safetensors");
        Safetensors.Source liar = new Safetensors.Source() {
            public String name() { return "liar"; }
            public SafetensorsDType dtype() { return SafetensorsDType.I32; }
            public long[] shape() { return new long[] {2}; }
            public void writeTo(WritableByteChannel out) throws IOException {
                Safetensors.writeFully(out, ByteBuffer.allocate(4));
            }
        };
        IOException e = assertThrows(IOException.class, () -> Safetensors.write(file, List.of(liar), Map.of()));
        assertEquals("writing " + file + ": tensor 'liar' produced 4 bytes but its dtype I32 and shape [2] need 8; "
                + file + " was left as it was", e.getMessage());
        assertTrue(Files.notExists(file));
    }

    @Test
    void aWriterKilledHalfwayLeavesThePreviousFileIntact() throws Exception {
        Path file = dir.resolve("crash.safetensors");
        float[] old = {1f, 2f, 3f};
        Safetensors.write(file, List.of(Safetensors.Source.ofFloats("old", old, 3)), Map.of("v", "1"));
        byte[] before = Files.readAllBytes(file);
        Process child = KilledWriter.start(file);
        try {
            String line = child.inputReader().readLine(); // the child says when it is halfway
            assertEquals(KilledWriter.HALFWAY, line, "the child writer did not get halfway");
            assertTrue(Files.list(dir).anyMatch(p -> p.getFileName().toString().endsWith(".tmp")),
                    "the child should be writing a temporary file");
        } finally {
            child.destroyForcibly(); // SIGKILL: no finally block, no shutdown hook runs in the child
            child.waitFor();
        }
        assertArrayEquals(before, Files.readAllBytes(file));
        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            assertArrayEquals(old, st.floats("old"));
            assertEquals(Map.of("v", "1"), st.metadata());
        }
    }

    // ---- the reader trusts nothing ------------------------------------------------------------

    @Test
    void aFileTooShortForTheLengthIsRefused() throws IOException {
        Path file = Files.write(dir.resolve("short.safetensors"), new byte[5]);
        assertEquals(file + ": file is 5 bytes, too short for the 8-byte header length", failure(file));
    }

    @Test
    void aHeaderLengthBeyondTheFileIsRefused() throws IOException {
        byte[] bytes = new byte[20];
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putLong(13);
        Path file = Files.write(dir.resolve("long.safetensors"), bytes);
        assertEquals(file + ": header length 13 (bytes 0..7) runs past the end of the file: the file is 20 bytes, so at most"
                + " 12 header bytes fit", failure(file));
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putLong(-1L);
        Files.write(file, bytes);
        assertEquals(file + ": header length 18446744073709551615 (bytes 0..7) runs past the end of the file: the file is"
                + " 20 bytes, so at most 12 header bytes fit", failure(file));
    }

    @Test
    void aHeaderOverTheLimitIsRefusedBeforeItIsRead() throws IOException {
        Path file = dir.resolve("huge.safetensors");
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 100_000_001L));
            ch.write(ByteBuffer.allocate(1), 8 + 100_000_001L); // sparse: no disk is used for the hole
        }
        assertEquals(file + ": header length 100000001 is over the 100000000-byte limit", failure(file));
    }

    @Test
    void aHeaderThatIsNotUtf8IsRefused() throws IOException {
        byte[] header = "{\"a\u00ff\":{}}".getBytes(StandardCharsets.ISO_8859_1);
        Path file = raw(dir.resolve("latin1.safetensors"), header, new byte[0]);
        assertEquals(file + ": header is not valid UTF-8: byte 0xff at header byte 3 (file byte 11)", failure(file));
    }

    @Test
    void aHeaderThatIsNotJsonIsRefused() throws IOException {
        Path file = raw(dir.resolve("notjson.safetensors"), "{\"a\": [1, 2", new byte[0]);
        assertTrue(failure(file).startsWith(file + ": header is not valid JSON at character 11: Unexpected end-of-input"),
                failure(file));
        raw(file, "[1]", new byte[0]);
        assertEquals(file + ": header is not a JSON object", failure(file));
        raw(file, "{} {}", new byte[0]);
        assertEquals(file + ": header has content after its JSON object", failure(file));
        raw(file, "", new byte[0]);
        assertEquals(file + ": header is not a JSON object", failure(file));
    }

    @Test
    void duplicateNamesAreRefused() throws IOException {
        String entry = "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}";
        Path file = raw(dir.resolve("dup.safetensors"), "{\"a\":" + entry + ",\"a\":" + entry + "}", new byte[4]);
        assertEquals(file + ": duplicate name 'a' in the header", failure(file));
        raw(file, "{\"__metadata__\":{},\"__metadata__\":{}}", new byte[0]);
        assertEquals(file + ": duplicate name '__metadata__' in the header", failure(file));
        raw(file, "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]);
        assertTrue(failure(file).startsWith(file + ": header is not valid JSON at character"), failure(file));
        assertTrue(failure(file).contains("Duplicate field 'dtype'"), failure(file));
    }

    @Test
    void malformedEntriesAreRefusedWithWhatIsWrong() throws IOException {
        Path file = dir.resolve("entries.safetensors");
        String[][] cases = {
                {"{\"a\":[]}", "tensor 'a': entry must be an object, not ARRAY"},
                {"{\"a\":{\"dtype\":\"Q7\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                        "tensor 'a': unknown dtype \"Q7\" (known: BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32,"
                                + " F32, I64, U64, F64)"},
                {"{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", "tensor 'a': dtype must be a string, not 7"},
                {"{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", "tensor 'a': dtype must be a string, not missing"},
                {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}",
                        "tensor 'a': shape must be an array of non-negative integers, not [-1]"},
                {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}",
                        "tensor 'a': shape must be an array of non-negative integers, not [1.5]"},
                {"{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]}}",
                        "tensor 'a': shape must be an array of non-negative integers, not [99999999999999999999]"},
                {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}",
                        "tensor 'a': data_offsets must be an array of 2 non-negative integers, not [0]"},
                {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}",
                        "tensor 'a': data_offsets [4, 0] end before they begin"},
                {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}",
                        "tensor 'a': shape [2] of F32 needs 8 bytes but data_offsets [0, 4] hold 4"},
                {"{\"a\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}",
                        "tensor 'a': shape [4294967296, 4294967296] has more elements than any file holds"},
                {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":1}}",
                        "tensor 'a': unknown field 'extra' (expected dtype, shape, data_offsets)"},
                {"{\"__metadata__\":[\"x\"]}", "__metadata__ must be an object of strings, not ARRAY"},
                {"{\"__metadata__\":{\"k\":1}}", "__metadata__ value of 'k' must be a string, not NUMBER"},
        };
        for (String[] c : cases) {
            raw(file, c[0], new byte[4]);
            assertEquals(file + ": " + c[1], failure(file), c[0]);
        }
    }

    @Test
    void offsetsOutOfRangeOverlappingOrLeavingGapsAreRefused() throws IOException {
        Path file = dir.resolve("offsets.safetensors");
        String a = "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
        raw(file, "{" + a + "}", new byte[4]);
        int start = 8 + a.length() + 2;
        assertEquals(file + ": tensor 'a': data_offsets [0, 8] run past the end of the data: it is 4 bytes (file bytes "
                + start + ".." + (start + 4) + ")", failure(file));
        raw(file, "{" + a + ",\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", new byte[8]);
        assertEquals(file + ": tensors 'a' [0, 8] and 'b' [4, 8] overlap", failure(file));
        raw(file, "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", new byte[8]);
        assertEquals(file + ": data bytes [0, 4) belong to no tensor (before 'b')", failure(file));
        raw(file, "{" + a + "}", new byte[12]);
        assertEquals(file + ": data bytes [8, 12) after the last tensor belong to no tensor", failure(file));
    }

    @Test
    void aFileTruncatedAfterItWasOpenedFailsCleanly() throws IOException {
        Path file = dir.resolve("shrinks.safetensors");
        Safetensors.write(file, List.of(Safetensors.Source.ofFloats("a", new float[256], 256)), Map.of());
        try (SafetensorsFile st = SafetensorsFile.open(file); Scope ignored = Scope.open()) {
            long size = Files.size(file);
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
                ch.truncate(size - 100);
            }
            String message = assertThrows(SafetensorsFormatException.class, () -> st.tensor("a", backend)).getMessage();
            assertEquals(file + ": file ended at byte " + (size - 100) + " while 100 more bytes were expected (was it"
                    + " truncated since it was opened?)", message);
        }
    }

    @Test
    void headersBeyondTheJsonParsersLimitsAreFormatErrors() throws IOException {
        Path file = dir.resolve("limits.safetensors");
        String entry = "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}";
        String[][] cases = {
                {"{\"a\":" + "[".repeat(2000) + "]".repeat(2000) + "}", "Document nesting depth (1001) exceeds the maximum allowed"},
                {"{\"" + "n".repeat(60_000) + "\":" + entry + "}", "Name length (60000) exceeds the maximum allowed (50000"},
                {"{\"a\":{\"dtype\":\"F32\",\"shape\":[" + "1".repeat(1500) + "],\"data_offsets\":[0,4]}}",
                        "Number value length (1500) exceeds the maximum allowed (1000"},
                {"{\"__metadata__\":{\"k\":\"" + "v".repeat(20_000_001) + "\"}}",
                        "String value length (20000001) exceeds the maximum allowed (20000000"},
        };
        for (String[] c : cases) {
            raw(file, c[0], new byte[4]);
            String message = failure(file);
            assertTrue(message.startsWith(file + ": header is not valid JSON"), message);
            assertTrue(message.contains(c[1]), message);
        }
    }

    @Test
    void aPathThatIsNotARegularFileIsRefusedWithoutOpeningIt() throws Exception {
        assertEquals(dir + ": not a regular file (a directory, a pipe or a device?)", failure(dir));
        Path fifo = dir.resolve("fifo.safetensors");
        Process mkfifo = new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start();
        org.junit.jupiter.api.Assumptions.assumeTrue(mkfifo.waitFor() == 0, "mkfifo is not available here");
        // Opening a FIFO for reading blocks until a writer comes: the guard keeps the old behaviour from hanging the build.
        String message = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(30),
                () -> failure(fifo));
        assertEquals(fifo + ": not a regular file (a directory, a pipe or a device?)", message);
        // Nor does the writer replace one.
        IOException e = assertThrows(IOException.class, () -> Safetensors.write(fifo, List.of(), Map.of()));
        assertEquals("cannot write " + fifo + ": it exists and is not a regular file", e.getMessage());
        assertTrue(Files.exists(fifo) && !Files.isRegularFile(fifo));
        try (var files = Files.list(dir)) {
            assertEquals(List.of(fifo), files.toList());
        }
    }

    @Test
    void theWriterRefusesNamesAndMetadataItsReaderWouldNot() throws IOException {
        Path file = dir.resolve("names.safetensors");
        Safetensors.Source lone = Safetensors.Source.ofFloats("x\uD800y", new float[1], 1);
        assertEquals("tensor name 'x\\uD800y' is not valid Unicode (a lone surrogate at index 1)", assertThrows(
                IllegalArgumentException.class, () -> Safetensors.write(file, List.of(lone), Map.of())).getMessage());
        assertEquals("metadata key 'k\\uDC00' is not valid Unicode (a lone surrogate at index 1)", assertThrows(
                IllegalArgumentException.class, () -> Safetensors.write(file, List.of(), Map.of("k\uDC00", "v"))).getMessage());
        assertEquals("metadata value of 'k' is not valid Unicode (a lone surrogate at index 0)", assertThrows(
                IllegalArgumentException.class, () -> Safetensors.write(file, List.of(), Map.of("k", "\uDBFF"))).getMessage());
        String longName = "n".repeat(50_001);
        assertEquals("tensor name 'nnnnnnnnnnnnnnnnnnnn...' is 50001 characters, over the 50000 a safetensors name may have",
                assertThrows(IllegalArgumentException.class, () -> Safetensors.write(file,
                        List.of(Safetensors.Source.ofFloats(longName, new float[1], 1)), Map.of())).getMessage());
        assertEquals("metadata value of 'k' is 20000001 characters, over the 20000000 a safetensors string may have",
                assertThrows(IllegalArgumentException.class, () -> Safetensors.write(file, List.of(),
                        Map.of("k", "v".repeat(20_000_001)))).getMessage());
        Map<String, String> big = new LinkedHashMap<>();
        for (int i = 0; i < 5; i++) {
            big.put("k" + i, "v".repeat(20_000_000));
        }
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Safetensors.write(file, List.of(), big)).getMessage()
                .matches("the header would be 1000000[0-9][0-9] bytes, over the 100000000-byte limit of its readers"));
        assertTrue(Files.notExists(file));

        // The control: odd names that are valid, up to the limit, are written and read back.
        List<String> names = List.of("", "\"quoted\"", "back\\slash", "tab\tnew\nline\u0000nul", "emoji \uD83D\uDE00", "n".repeat(50_000));
        List<Safetensors.Source> sources = new java.util.ArrayList<>();
        for (String name : names) {
            sources.add(Safetensors.Source.ofFloats(name, new float[] {names.indexOf(name)}, 1));
        }
        Safetensors.write(file, sources, Map.of("\uD83D\uDE00", "\u0001"));
        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            assertEquals(names, st.names());
            assertEquals(Map.of("\uD83D\uDE00", "\u0001"), st.metadata());
            for (String name : names) {
                assertArrayEquals(new float[] {names.indexOf(name)}, st.floats(name));
            }
        }
    }

    @Test
    void sizesThatOverflowALongAreRefusedNotWrapped() {
        Path file = dir.resolve("huge.safetensors");
        // 2^62 elements of 8 bytes: the byte count wraps to 0 in unchecked arithmetic.
        Safetensors.Source huge = new Safetensors.Source() {
            public String name() { return "huge"; }
            public SafetensorsDType dtype() { return SafetensorsDType.F64; }
            public long[] shape() { return new long[] {1L << 31, 1L << 31}; }
            public void writeTo(WritableByteChannel out) { throw new AssertionError("never written"); }
        };
        assertEquals("tensor 'huge': shape [2147483648, 2147483648] of F64 has more than 9223372036854775807 bytes",
                assertThrows(IllegalArgumentException.class, huge::byteSize).getMessage());
        assertEquals("tensor 'huge': shape [2147483648, 2147483648] of F64 has more than 9223372036854775807 bytes",
                assertThrows(IllegalArgumentException.class, () -> Safetensors.write(file, List.of(huge), Map.of())).getMessage());
        assertEquals("tensor 'b': shape [4611686018427387904, 4] of U8 has more than 9223372036854775807 bytes",
                assertThrows(IllegalArgumentException.class, () -> Safetensors.Source.ofBytes("b", SafetensorsDType.U8,
                        new byte[0], 1L << 62, 4)).getMessage());
        assertEquals("tensor 'f': shape [4611686018427387904, 2] of F32 has more than 9223372036854775807 bytes",
                assertThrows(IllegalArgumentException.class, () -> Safetensors.Source.ofFloats("f", new float[0], 1L << 62, 2))
                        .getMessage());
        Safetensors.Source half = new Safetensors.Source() {
            public String name() { return "half"; }
            public SafetensorsDType dtype() { return SafetensorsDType.U8; }
            public long[] shape() { return new long[] {Long.MAX_VALUE / 2 + 1}; }
            public void writeTo(WritableByteChannel out) { throw new AssertionError("never written"); }
        };
        assertEquals("tensors up to 'half2' have more than 9223372036854775807 bytes together",
                assertThrows(IllegalArgumentException.class, () -> Safetensors.write(file, List.of(half, new Safetensors.Source() {
                    public String name() { return "half2"; }
                    public SafetensorsDType dtype() { return SafetensorsDType.U8; }
                    public long[] shape() { return half.shape(); }
                    public void writeTo(WritableByteChannel out) { throw new AssertionError("never written"); }
                }), Map.of())).getMessage());
        assertEquals("tensor 'neg': shape [-2, -3] has a negative dimension", assertThrows(IllegalArgumentException.class,
                () -> Safetensors.Source.ofFloats("neg", new float[6], -2, -3)).getMessage());
        assertTrue(Files.notExists(file));
    }

    @Test
    void aMissingFileIsAnIOExceptionNamingIt() {
        Path file = dir.resolve("absent.safetensors");
        IOException e = assertThrows(IOException.class, () -> SafetensorsFile.open(file));
        assertEquals(file.toString(), e.getMessage());
    }
}
