package dev.jrocm.runtime.io;

import dev.jrocm.runtime.tensor.DType;

import java.util.Arrays;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * The element types a safetensors header may name, with their sizes. jrocm's tensors are F32 or
 * I32; the others can be read as raw bytes (e.g. to report or convert them) but not as tensors.
 */
public enum SafetensorsDType {
    BOOL(1), U8(1), I8(1), F8_E5M2(1), F8_E4M3(1),
    I16(2), U16(2), F16(2), BF16(2),
    I32(4), U32(4), F32(4),
    I64(8), U64(8), F64(8);

    private final int bytes;

    SafetensorsDType(int bytes) {
        this.bytes = bytes;
    }

    /** Bytes per element. */
    public int bytes() { return bytes; }

    /** The type named exactly {@code name} in a header, if there is one. */
    public static Optional<SafetensorsDType> byName(String name) {
        for (SafetensorsDType t : values()) {
            if (t.name().equals(name)) {
                return Optional.of(t);
            }
        }
        return Optional.empty();
    }

    /** The names a header may use, for error messages. */
    static String known() {
        return Arrays.stream(values()).map(Enum::name).collect(Collectors.joining(", "));
    }

    /** The safetensors type of a jrocm tensor type. */
    public static SafetensorsDType of(DType dtype) {
        return switch (dtype) {
            case F32 -> F32;
            case I32 -> I32;
        };
    }

    /** The jrocm tensor type, or empty for the types jrocm's tensors do not hold. */
    public Optional<DType> tensorType() {
        return switch (this) {
            case F32 -> Optional.of(DType.F32);
            case I32 -> Optional.of(DType.I32);
            default -> Optional.empty();
        };
    }
}
