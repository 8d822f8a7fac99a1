package dev.jrocm.runtime.io;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.tensor.DType;
import dev.jrocm.runtime.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SequencedMap;
import java.util.Set;

/**
 * An open safetensors file whose header has been read and checked: every offset is inside the
 * file, the tensors tile the data section exactly (no overlap, no gap, nothing after), every
 * shape agrees with its byte length, every dtype is known, no name repeats, and the header is
 * UTF-8 JSON of the right form, within the JSON parser's limits ({@code Safetensors.HEADER_LIMITS}:
 * nesting depth, name, number and string lengths). Anything else is a
 * {@link SafetensorsFormatException} naming the file, the tensor and the byte offset, as is a path
 * that is not a regular file; nothing in the file decides how much memory is allocated
 * beyond the file's own size. Tensor data is read on request. Closing closes the file.
 */
public final class SafetensorsFile implements AutoCloseable {

    /** One tensor's header entry; {@code begin}/{@code end} are offsets into the data section. */
    public record Entry(String name, SafetensorsDType dtype, long[] shape, long begin, long end) {
        public Entry {
            shape = shape.clone();
        }

        @Override
        public long[] shape() { return shape.clone(); }

        public long byteSize() { return end - begin; }

        public long elements() { return byteSize() / dtype.bytes(); }
    }

    private static final ObjectMapper STRICT = new ObjectMapper(JsonFactory.builder()
            .streamReadConstraints(Safetensors.HEADER_LIMITS).build())
            .enable(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY);
    private static final Set<String> ENTRY_FIELDS = Set.of("dtype", "shape", "data_offsets");

    private final Path path;
    private final FileChannel channel;
    private final long dataStart; // file offset of data byte 0
    private final SequencedMap<String, Entry> entries;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path path, FileChannel channel, long dataStart, SequencedMap<String, Entry> entries,
                            Map<String, String> metadata) {
        this.path = path;
        this.channel = channel;
        this.dataStart = dataStart;
        this.entries = entries;
        this.metadata = metadata;
    }

    /**
     * Opens {@code file} and validates its header. A path that exists but is not a regular file
     * (a directory, a FIFO, a device) is refused before it is opened, since opening a FIFO would
     * block until something writes to it.
     */
    public static SafetensorsFile open(Path file) throws IOException {
        if (Files.exists(file) && !Files.isRegularFile(file)) {
            throw new SafetensorsFormatException(file, "not a regular file (a directory, a pipe or a device?)");
        }
        FileChannel channel = FileChannel.open(file, StandardOpenOption.READ);
        try {
            return read(file, channel);
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    private static SafetensorsFile read(Path file, FileChannel channel) throws IOException {
        long size = channel.size();
        if (size < 8) {
            throw new SafetensorsFormatException(file, "file is " + size + " bytes, too short for the 8-byte header length");
        }
        ByteBuffer lengthBytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(file, channel, lengthBytes, 0);
        long n = lengthBytes.getLong(0);
        if (n < 0 || n > size - 8) {
            throw new SafetensorsFormatException(file, "header length " + Long.toUnsignedString(n)
                    + " (bytes 0..7) runs past the end of the file: the file is " + size + " bytes, so at most "
                    + (size - 8) + " header bytes fit");
        }
        if (n > Safetensors.MAX_HEADER_BYTES) {
            throw new SafetensorsFormatException(file, "header length " + n + " is over the "
                    + Safetensors.MAX_HEADER_BYTES + "-byte limit");
        }
        ByteBuffer headerBytes = ByteBuffer.allocate((int) n);
        readFully(file, channel, headerBytes, 8);
        String json = decodeUtf8(file, headerBytes.flip());
        long dataLength = size - 8 - n;

        SequencedMap<String, Entry> entries = new LinkedHashMap<>();
        Map<String, String> metadata = Map.of();
        boolean sawMetadata = false;
        try (JsonParser p = STRICT.getFactory().createParser(json)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new SafetensorsFormatException(file, "header is not a JSON object");
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                p.nextToken();
                JsonNode value = p.readValueAsTree();
                if (entries.containsKey(name) || (sawMetadata && name.equals(Safetensors.METADATA_KEY))) {
                    throw new SafetensorsFormatException(file, "duplicate name '" + name + "' in the header");
                }
                if (name.equals(Safetensors.METADATA_KEY)) {
                    sawMetadata = true;
                    metadata = metadata(file, value);
                } else {
                    entries.put(name, entry(file, name, value));
                }
            }
            if (p.currentToken() != JsonToken.END_OBJECT || p.nextToken() != null) {
                throw new SafetensorsFormatException(file, "header has content after its JSON object");
            }
        } catch (JsonProcessingException e) {
            // A parser limit (nesting, name or number length) is reported without a location.
            JsonLocation at = e.getLocation();
            throw new SafetensorsFormatException(file, "header is not valid JSON"
                    + (at != null && at.getCharOffset() >= 0 ? " at character " + at.getCharOffset() : "") + ": "
                    + e.getOriginalMessage(), e);
        }
        checkLayout(file, entries, dataLength, 8 + n);
        return new SafetensorsFile(file, channel, 8 + n, entries, metadata);
    }

    private static String decodeUtf8(Path file, ByteBuffer bytes) throws SafetensorsFormatException {
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        CharBuffer chars = CharBuffer.allocate(bytes.remaining());
        CoderResult result = decoder.decode(bytes, chars, true);
        if (result.isError()) {
            int at = bytes.position();
            throw new SafetensorsFormatException(file, "header is not valid UTF-8: byte 0x"
                    + String.format("%02x", bytes.get(at) & 0xff) + " at header byte " + at + " (file byte " + (8 + at) + ")");
        }
        decoder.flush(chars);
        return chars.flip().toString();
    }

    private static Map<String, String> metadata(Path file, JsonNode value) throws SafetensorsFormatException {
        if (!value.isObject()) {
            throw new SafetensorsFormatException(file, "__metadata__ must be an object of strings, not " + value.getNodeType());
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : value.properties()) {
            if (!e.getValue().isTextual()) {
                throw new SafetensorsFormatException(file, "__metadata__ value of '" + e.getKey() + "' must be a string, not "
                        + e.getValue().getNodeType());
            }
            out.put(e.getKey(), e.getValue().textValue());
        }
        return Collections.unmodifiableMap(out);
    }

    private static Entry entry(Path file, String name, JsonNode value) throws SafetensorsFormatException {
        String where = "tensor '" + name + "': ";
        if (!value.isObject()) {
            throw new SafetensorsFormatException(file, where + "entry must be an object, not " + value.getNodeType());
        }
        for (Iterator<String> it = value.fieldNames(); it.hasNext(); ) {
            String field = it.next();
            if (!ENTRY_FIELDS.contains(field)) {
                throw new SafetensorsFormatException(file, where + "unknown field '" + field + "' (expected dtype, shape, data_offsets)");
            }
        }
        JsonNode dtypeNode = value.get("dtype");
        if (dtypeNode == null || !dtypeNode.isTextual()) {
            throw new SafetensorsFormatException(file, where + "dtype must be a string, not " + describe(dtypeNode));
        }
        SafetensorsDType dtype = SafetensorsDType.byName(dtypeNode.textValue()).orElseThrow(() ->
                new SafetensorsFormatException(file, where + "unknown dtype \"" + dtypeNode.textValue()
                        + "\" (known: " + SafetensorsDType.known() + ")"));
        long[] shape = naturals(file, where + "shape", value.get("shape"), -1);
        long[] offsets = naturals(file, where + "data_offsets", value.get("data_offsets"), 2);
        long begin = offsets[0], end = offsets[1];
        if (begin > end) {
            throw new SafetensorsFormatException(file, where + "data_offsets [" + begin + ", " + end + "] end before they begin");
        }
        long bytes;
        try {
            bytes = Math.multiplyExact(Safetensors.elementCount(shape), dtype.bytes());
        } catch (ArithmeticException e) {
            throw new SafetensorsFormatException(file, where + "shape " + Arrays.toString(shape) + " has more elements than any file holds");
        }
        if (bytes != end - begin) {
            throw new SafetensorsFormatException(file, where + "shape " + Arrays.toString(shape) + " of " + dtype + " needs "
                    + bytes + " bytes but data_offsets [" + begin + ", " + end + "] hold " + (end - begin));
        }
        return new Entry(name, dtype, shape, begin, end);
    }

    // An array of non-negative integers (of the given length, or any when -1).
    private static long[] naturals(Path file, String what, JsonNode node, int length) throws SafetensorsFormatException {
        if (node == null || !node.isArray() || (length >= 0 && node.size() != length)) {
            throw new SafetensorsFormatException(file, what + " must be an array of "
                    + (length >= 0 ? length + " " : "") + "non-negative integers, not " + describe(node));
        }
        long[] out = new long[node.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode v = node.get(i);
            if (!v.isIntegralNumber() || !v.canConvertToLong() || v.longValue() < 0) {
                throw new SafetensorsFormatException(file, what + " must be an array of non-negative integers, not " + node);
            }
            out[i] = v.longValue();
        }
        return out;
    }

    private static String describe(JsonNode node) {
        if (node == null) {
            return "missing";
        }
        String text = node.toString();
        return text.length() > 80 ? text.substring(0, 77) + "..." : text;
    }

    // The tensors must tile [0, dataLength) exactly, as the format requires.
    private static void checkLayout(Path file, Map<String, Entry> entries, long dataLength, long dataStart)
            throws SafetensorsFormatException {
        for (Entry e : entries.values()) {
            if (e.end() > dataLength) {
                throw new SafetensorsFormatException(file, "tensor '" + e.name() + "': data_offsets [" + e.begin() + ", "
                        + e.end() + "] run past the end of the data: it is " + dataLength + " bytes (file bytes "
                        + dataStart + ".." + (dataStart + dataLength) + ")");
            }
        }
        List<Entry> sorted = new ArrayList<>(entries.values());
        sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long covered = 0;
        Entry previous = null;
        for (Entry e : sorted) {
            if (e.begin() < covered) {
                throw new SafetensorsFormatException(file, "tensors '" + previous.name() + "' [" + previous.begin() + ", "
                        + previous.end() + "] and '" + e.name() + "' [" + e.begin() + ", " + e.end() + "] overlap");
            }
            if (e.begin() > covered) {
                throw new SafetensorsFormatException(file, "data bytes [" + covered + ", " + e.begin()
                        + ") belong to no tensor (before '" + e.name() + "')");
            }
            covered = e.end();
            previous = e;
        }
        if (covered != dataLength) {
            throw new SafetensorsFormatException(file, "data bytes [" + covered + ", " + dataLength
                    + ") after the last tensor belong to no tensor");
        }
    }

    // ---- reading ------------------------------------------------------------------------------

    public Path path() { return path; }

    /** The {@code __metadata__} map (empty if the file has none). */
    public Map<String, String> metadata() { return metadata; }

    /** Tensor names in header order. */
    public List<String> names() { return List.copyOf(entries.keySet()); }

    /** All entries, in header order. */
    public SequencedMap<String, Entry> entries() { return Collections.unmodifiableSequencedMap(entries); }

    /** The entry of {@code name}; a {@link SafetensorsFormatException} when the file has no such tensor. */
    public Entry entry(String name) throws SafetensorsFormatException {
        Entry e = entries.get(name);
        if (e == null) {
            throw new SafetensorsFormatException(path, "no tensor '" + name + "' (it has " + entries.size() + ": "
                    + String.join(", ", entries.keySet().stream().limit(20).toList())
                    + (entries.size() > 20 ? ", ..." : "") + ")");
        }
        return e;
    }

    /** The raw little-endian bytes of tensor {@code name}. */
    public byte[] bytes(String name) throws IOException {
        Entry e = entry(name);
        if (e.byteSize() > Integer.MAX_VALUE - 8) {
            throw new SafetensorsFormatException(path, "tensor '" + name + "' is " + e.byteSize() + " bytes, too big for a Java array");
        }
        ByteBuffer buffer = ByteBuffer.allocate((int) e.byteSize());
        readFully(path, channel, buffer, dataStart + e.begin());
        return buffer.array();
    }

    /** The values of F32 tensor {@code name}, row-major. */
    public float[] floats(String name) throws IOException {
        requireDType(entry(name), SafetensorsDType.F32);
        return MemorySegment.ofArray(bytes(name)).toArray(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN));
    }

    /** The values of I32 tensor {@code name}, row-major. */
    public int[] ints(String name) throws IOException {
        requireDType(entry(name), SafetensorsDType.I32);
        return MemorySegment.ofArray(bytes(name)).toArray(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN));
    }

    private void requireDType(Entry e, SafetensorsDType expected) throws SafetensorsFormatException {
        if (e.dtype() != expected) {
            throw new SafetensorsFormatException(path, "tensor '" + e.name() + "' is " + e.dtype() + ", not " + expected);
        }
    }

    /**
     * Tensor {@code name} on {@code backend} (in the current scope). jrocm's tensors are F32 or
     * I32 of rank 0 to 4; a rank-0 scalar (shape []) stays of rank 0.
     */
    public Tensor tensor(String name, Backend backend) throws IOException {
        Entry e = entry(name);
        DType dtype = e.dtype().tensorType().orElseThrow(() -> new SafetensorsFormatException(path, "tensor '" + name
                + "' is " + e.dtype() + "; jrocm tensors are F32 or I32"));
        long[] shape = e.shape();
        if (shape.length > 4) {
            throw new SafetensorsFormatException(path, "tensor '" + name + "' has rank " + shape.length
                    + " " + Arrays.toString(shape) + "; jrocm tensors have rank 0 to 4");
        }
        int[] dims = new int[shape.length];
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] > Integer.MAX_VALUE) {
                throw new SafetensorsFormatException(path, "tensor '" + name + "' dimension " + i + " is " + shape[i]
                        + ", over jrocm's limit of " + Integer.MAX_VALUE);
            }
            dims[i] = (int) shape[i];
        }
        Tensor t = Tensor.empty(backend, dtype, dims);
        try (Arena arena = Arena.ofConfined()) {
            if (e.byteSize() > 0) {
                MemorySegment staging = arena.allocate(e.byteSize(), 16);
                for (long done = 0; done < e.byteSize(); ) {
                    int n = (int) Math.min(1L << 30, e.byteSize() - done);
                    readFully(path, channel, staging.asSlice(done, n).asByteBuffer(), dataStart + e.begin() + done);
                    done += n;
                }
                if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
                    MemorySegment.copy(staging, ValueLayout.JAVA_INT.withOrder(ByteOrder.LITTLE_ENDIAN), 0,
                            staging, ValueLayout.JAVA_INT, 0, e.elements());
                }
                backend.copyFromHost(staging, t.buffer());
            }
        } catch (IOException | RuntimeException ex) {
            t.close();
            throw ex;
        }
        return t;
    }

    private static void readFully(Path file, FileChannel channel, ByteBuffer into, long position) throws IOException {
        long at = position;
        while (into.hasRemaining()) {
            int n = channel.read(into, at);
            if (n < 0) {
                throw new SafetensorsFormatException(file, "file ended at byte " + at + " while " + into.remaining()
                        + " more bytes were expected (was it truncated since it was opened?)");
            }
            at += n;
        }
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
