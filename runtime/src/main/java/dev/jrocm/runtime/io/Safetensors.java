package dev.jrocm.runtime.io;

import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.tensor.DType;
import dev.jrocm.runtime.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SequencedMap;
import java.util.Set;

/**
 * The <a href="https://github.com/huggingface/safetensors">safetensors</a> format: an 8-byte
 * little-endian header length n, n bytes of UTF-8 JSON mapping each tensor name to
 * {@code {"dtype", "shape", "data_offsets": [begin, end]}} (offsets into the data that follows,
 * which the tensors cover without gaps) plus an optional {@code "__metadata__"} string map, then
 * the raw little-endian data. Used for state dicts, optimizer state, LoRA adapters and fixtures.
 *
 * <p>Writing is atomic ({@link AtomicFile}); reading ({@link SafetensorsFile#open}) validates the
 * whole header before it trusts an offset.
 */
public final class Safetensors {
    /** The file extension, with its dot. */
    public static final String EXTENSION = ".safetensors";
    /** The metadata key of the header. */
    public static final String METADATA_KEY = "__metadata__";
    /** The largest header jrocm reads (the reference implementation's limit as well). */
    public static final long MAX_HEADER_BYTES = 100_000_000L;

    /**
     * The JSON parser's limits on a header (nesting depth, name, number and string lengths), which
     * {@link SafetensorsFile} reads with and the writer checks names and metadata against.
     */
    static final StreamReadConstraints HEADER_LIMITS = StreamReadConstraints.builder()
            .maxNestingDepth(1000).maxNameLength(50_000).maxNumberLength(1000).maxStringLength(20_000_000).build();
    static final ObjectMapper JSON = new ObjectMapper();
    private static final int CHUNK_ELEMENTS = 1 << 18; // 1 MB of 4-byte elements per write

    private Safetensors() {}

    /**
     * One tensor to be written: a name, a type, a shape and a way to produce exactly
     * (elements × dtype size) little-endian bytes. Lets a writer stream a tensor it never holds whole.
     */
    public interface Source {
        String name();

        SafetensorsDType dtype();

        long[] shape();

        /** Writes the tensor's bytes, little-endian, exactly {@link #byteSize()} of them. */
        void writeTo(WritableByteChannel out) throws IOException;

        /** Elements × dtype size; an {@link IllegalArgumentException} when that does not fit a long. */
        default long byteSize() {
            return Safetensors.byteSize(name(), dtype(), shape());
        }

        /** A jrocm tensor (F32 or I32), copied from its backend now. */
        static Source of(String name, Tensor tensor) {
            long[] shape = Arrays.stream(tensor.shape()).asLongStream().toArray();
            return tensor.dtype() == DType.F32 ? ofFloats(name, tensor.toArray(), shape) : ofInts(name, tensor.toIntArray(), shape);
        }

        static Source ofFloats(String name, float[] data, long... shape) {
            checkLength(name, SafetensorsDType.F32, data.length, shape);
            return new ArraySource(name, SafetensorsDType.F32, shape, MemorySegment.ofArray(data), ValueLayout.JAVA_FLOAT);
        }

        static Source ofInts(String name, int[] data, long... shape) {
            checkLength(name, SafetensorsDType.I32, data.length, shape);
            return new ArraySource(name, SafetensorsDType.I32, shape, MemorySegment.ofArray(data), ValueLayout.JAVA_INT);
        }

        /** Raw bytes, already little-endian, of any type (e.g. F16 or I64). */
        static Source ofBytes(String name, SafetensorsDType dtype, byte[] littleEndian, long... shape) {
            if (Safetensors.byteSize(name, dtype, shape) != littleEndian.length) {
                throw new IllegalArgumentException("tensor '" + name + "': " + littleEndian.length + " bytes do not hold a "
                        + dtype + " tensor of shape " + Arrays.toString(shape));
            }
            return new ArraySource(name, dtype, shape, MemorySegment.ofArray(littleEndian), ValueLayout.JAVA_BYTE);
        }

        private static void checkLength(String name, SafetensorsDType dtype, int length, long[] shape) {
            if (Safetensors.byteSize(name, dtype, shape) != (long) length * dtype.bytes()) {
                throw new IllegalArgumentException("tensor '" + name + "': " + length + " elements do not fill shape "
                        + Arrays.toString(shape));
            }
        }
    }

    private record ArraySource(String name, SafetensorsDType dtype, long[] shape, MemorySegment data, ValueLayout layout)
            implements Source {
        @Override
        public void writeTo(WritableByteChannel out) throws IOException {
            long elements = data.byteSize() / layout.byteSize();
            ByteBuffer chunk = ByteBuffer.allocate((int) Math.min(elements, CHUNK_ELEMENTS) * (int) layout.byteSize())
                    .order(ByteOrder.LITTLE_ENDIAN);
            MemorySegment target = MemorySegment.ofBuffer(chunk);
            for (long i = 0; i < elements; i += CHUNK_ELEMENTS) {
                long n = Math.min(CHUNK_ELEMENTS, elements - i);
                // Copying element-wise into a little-endian layout fixes the byte order on any host.
                MemorySegment.copy(data, layout, i * layout.byteSize(), target,
                        layout.withOrder(ByteOrder.LITTLE_ENDIAN).withByteAlignment(1), 0, n);
                chunk.clear().limit((int) (n * layout.byteSize()));
                writeFully(out, chunk);
            }
        }
    }

    /** Writes {@code tensors} (F32 or I32, in map order) and {@code metadata} to {@code file}, atomically. */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        List<Source> sources = new ArrayList<>();
        tensors.forEach((name, t) -> sources.add(Source.of(name, t)));
        write(file, sources, metadata);
    }

    /**
     * Writes {@code sources} (in order) and {@code metadata} (may be empty) to {@code file},
     * atomically: if anything fails — a source throws or writes the wrong number of bytes, the
     * disk fills, the process dies — {@code file} keeps its previous contents.
     *
     * @throws IllegalArgumentException before anything is written, for what {@link SafetensorsFile}
     *                                  would refuse to read back: a name or metadata text that is
     *                                  not valid Unicode (a lone surrogate) or over the header
     *                                  parser's length limits, a repeated name, a negative
     *                                  dimension, sizes that overflow a long, a header over
     *                                  {@link #MAX_HEADER_BYTES}
     */
    public static void write(Path file, List<? extends Source> sources, Map<String, String> metadata) throws IOException {
        byte[] header = header(sources, metadata);
        AtomicFile.write(file, out -> {
            ByteBuffer prefix = ByteBuffer.allocate(8 + header.length).order(ByteOrder.LITTLE_ENDIAN);
            prefix.putLong(header.length).put(header).flip();
            writeFully(out, prefix);
            for (Source s : sources) {
                CountingChannel counted = new CountingChannel(out);
                s.writeTo(counted);
                if (counted.count != s.byteSize()) {
                    throw new IOException("writing " + file + ": tensor '" + s.name() + "' produced " + counted.count
                            + " bytes but its dtype " + s.dtype() + " and shape " + Arrays.toString(s.shape())
                            + " need " + s.byteSize() + "; " + file + " was left as it was");
                }
            }
        });
    }

    /** Reads every tensor of {@code file} onto {@code backend} (in the current scope), in file order. */
    public static SequencedMap<String, Tensor> read(Path file, Backend backend) throws IOException {
        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            SequencedMap<String, Tensor> out = new LinkedHashMap<>();
            try {
                for (String name : st.names()) {
                    out.put(name, st.tensor(name, backend));
                }
            } catch (IOException | RuntimeException e) {
                out.values().forEach(Tensor::close);
                throw e;
            }
            return out;
        }
    }

    // The JSON header, padded with spaces to a multiple of 8 bytes so the data starts aligned.
    // Everything its reader would refuse (a name that is not Unicode or too long, a size that
    // overflows, a header over the limit) is refused here, before anything is written.
    private static byte[] header(List<? extends Source> sources, Map<String, String> metadata) {
        ObjectNode root = JSON.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode meta = root.putObject(METADATA_KEY);
            metadata.forEach((k, v) -> {
                if (k == null || v == null) {
                    throw new IllegalArgumentException("safetensors metadata cannot hold null: " + k + " = " + v);
                }
                checkText("metadata key '" + printable(k) + "'", k, HEADER_LIMITS.getMaxNameLength(), "name");
                checkText("metadata value of '" + printable(k) + "'", v, HEADER_LIMITS.getMaxStringLength(), "string");
                meta.put(k, v);
            });
        }
        Set<String> names = new HashSet<>();
        long offset = 0;
        for (Source s : sources) {
            String name = s.name();
            if (name == null || name.equals(METADATA_KEY)) {
                throw new IllegalArgumentException("'" + name + "' cannot name a tensor in a safetensors file");
            }
            checkText("tensor name '" + printable(name) + "'", name, HEADER_LIMITS.getMaxNameLength(), "name");
            if (!names.add(name)) {
                throw new IllegalArgumentException("two tensors are named '" + name + "'");
            }
            ObjectNode entry = root.putObject(name);
            entry.put("dtype", s.dtype().name());
            ArrayNode shape = entry.putArray("shape");
            checkShape(name, s.shape());
            for (long d : s.shape()) {
                shape.add(d);
            }
            long end;
            try {
                end = Math.addExact(offset, s.byteSize());
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException("tensors up to '" + name + "' have more than " + Long.MAX_VALUE
                        + " bytes together");
            }
            entry.putArray("data_offsets").add(offset).add(end);
            offset = end;
        }
        byte[] json = root.toString().getBytes(StandardCharsets.UTF_8);
        long padded = (json.length + 7L) & ~7L;
        if (padded > MAX_HEADER_BYTES) {
            throw new IllegalArgumentException("the header would be " + padded + " bytes, over the " + MAX_HEADER_BYTES
                    + "-byte limit of its readers");
        }
        byte[] header = Arrays.copyOf(json, (int) padded);
        Arrays.fill(header, json.length, header.length, (byte) ' ');
        return header;
    }

    // Text the header's reader accepts: valid UTF-16 (no lone surrogate, which UTF-8 cannot
    // encode) and within the parser's length limit for a `kind` ("name" or "string").
    private static void checkText(String what, String text, int maxLength, String kind) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < text.length() && Character.isLowSurrogate(text.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                throw new IllegalArgumentException(what + " is not valid Unicode (a lone surrogate at index " + i + ")");
            }
        }
        if (text.length() > maxLength) {
            throw new IllegalArgumentException(what + " is " + text.length() + " characters, over the " + maxLength
                    + " a safetensors " + kind + " may have");
        }
    }

    // For messages: at most 20 characters, a surrogate written as its hex escape.
    private static String printable(String text) {
        StringBuilder b = new StringBuilder();
        text.substring(0, Math.min(text.length(), 20)).chars().forEach(c ->
                b.append(Character.isSurrogate((char) c) ? String.format("\\u%04X", c) : String.valueOf((char) c)));
        return text.length() > 20 ? b + "..." : b.toString();
    }

    private static void checkShape(String name, long[] shape) {
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("tensor '" + name + "': shape " + Arrays.toString(shape)
                        + " has a negative dimension");
            }
        }
    }

    /** Elements × dtype size of a tensor; an {@link IllegalArgumentException} naming it when that does not fit a long. */
    static long byteSize(String name, SafetensorsDType dtype, long[] shape) {
        checkShape(name, shape);
        try {
            return Math.multiplyExact(elementCount(shape), dtype.bytes());
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("tensor '" + name + "': shape " + Arrays.toString(shape) + " of " + dtype
                    + " has more than " + Long.MAX_VALUE + " bytes");
        }
    }

    /** The number of elements of {@code shape} (1 for a scalar); {@link ArithmeticException} on overflow. */
    static long elementCount(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    static void writeFully(WritableByteChannel out, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            out.write(buffer);
        }
    }

    private static final class CountingChannel implements WritableByteChannel {
        private final WritableByteChannel out;
        long count;

        CountingChannel(WritableByteChannel out) {
            this.out = out;
        }

        @Override
        public int write(ByteBuffer src) throws IOException {
            int n = out.write(src);
            count += n;
            return n;
        }

        @Override
        public boolean isOpen() { return out.isOpen(); }

        @Override
        public void close() {
            // the file channel belongs to the writer
        }
    }
}
