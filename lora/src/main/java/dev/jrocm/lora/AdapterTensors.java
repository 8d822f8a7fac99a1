package dev.jrocm.lora;

import dev.jrocm.runtime.io.SafetensorsDType;
import dev.jrocm.runtime.io.SafetensorsFile;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Set;

/**
 * LoRA factors read from a safetensors file as f32, whatever float type they were saved in:
 * PEFT usually saves F16 or BF16, NumPy F64. The other types hold no LoRA factor and are refused.
 */
final class AdapterTensors {
    /** The float types a factor may be saved in. */
    static final Set<SafetensorsDType> READABLE = Set.of(SafetensorsDType.F32, SafetensorsDType.F16,
            SafetensorsDType.BF16, SafetensorsDType.F64);

    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble DOUBLE = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private AdapterTensors() {}

    /** Why {@code entry} cannot hold a LoRA factor, or null when its type can. */
    static String unreadable(SafetensorsFile.Entry entry) {
        return READABLE.contains(entry.dtype()) ? null
                : "tensor " + entry.name() + " is " + entry.dtype() + "; a LoRA factor must be F32, F16, BF16 or F64";
    }

    /** The values of tensor {@code name}, row-major, converted to f32 with round-to-nearest-even. */
    static float[] floats(SafetensorsFile file, String name) throws IOException {
        SafetensorsFile.Entry entry = file.entry(name);
        String why = unreadable(entry);
        if (why != null) {
            throw new IOException(file.path() + ": " + why);
        }
        MemorySegment bytes = MemorySegment.ofArray(file.bytes(name));
        return switch (entry.dtype()) {
            case F32 -> bytes.toArray(FLOAT);
            case F16 -> fromF16(bytes);
            case BF16 -> fromBf16(bytes);
            case F64 -> fromF64(file, name, bytes);
            default -> throw new AssertionError(entry.dtype()); // excluded by unreadable()
        };
    }

    // Float.float16ToFloat is exact: every F16 value, subnormals, infinities and NaN payloads included, is an f32.
    private static float[] fromF16(MemorySegment bytes) {
        short[] halves = bytes.toArray(SHORT);
        float[] out = new float[halves.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = Float.float16ToFloat(halves[i]);
        }
        return out;
    }

    // A BF16 value is the top 16 bits of the f32 with the same value.
    private static float[] fromBf16(MemorySegment bytes) {
        short[] halves = bytes.toArray(SHORT);
        float[] out = new float[halves.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = Float.intBitsToFloat((halves[i] & 0xffff) << 16);
        }
        return out;
    }

    // The cast rounds to nearest even; a finite value it would turn into an infinity is refused instead.
    private static float[] fromF64(SafetensorsFile file, String name, MemorySegment bytes) throws IOException {
        double[] doubles = bytes.toArray(DOUBLE);
        float[] out = new float[doubles.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) doubles[i];
            if (Float.isInfinite(out[i]) && !Double.isInfinite(doubles[i])) {
                throw new IOException(file.path() + ": tensor " + name + " element " + i + " is the F64 value "
                        + doubles[i] + ", beyond the range of f32");
            }
        }
        return out;
    }
}
