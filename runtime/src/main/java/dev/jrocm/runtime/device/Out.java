package dev.jrocm.runtime.device;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.function.Function;

/**
 * Native calls that answer through one out-parameter (a handle, a count, a size), as most of the
 * HIP, CUDA, hipRTC, NVRTC, hipBLAS, cuBLAS and MIOpen API does: the out-parameter's memory comes
 * from a confined arena, the status goes through the library's check, and the value is read back
 * once the call succeeded. One place for what every driver would otherwise repeat.
 */
public final class Out {
    private Out() {}

    /** A library's status check: {@code Cuda::check}, {@code Hip::check}, … */
    @FunctionalInterface
    public interface Check {
        void check(int status, String function);
    }

    /** The call, given the out-parameter and the arena (for its other arguments, e.g. C strings). */
    @FunctionalInterface
    public interface Call {
        int call(MemorySegment out, Arena arena);
    }

    /** A pointer or handle the call writes. */
    public static MemorySegment pointer(Check check, String function, Call call) {
        return value(ValueLayout.ADDRESS, out -> out.get(ValueLayout.ADDRESS, 0), check, function, call);
    }

    /** A 64-bit value (a size_t, a device address) the call writes. */
    public static long int64(Check check, String function, Call call) {
        return value(ValueLayout.JAVA_LONG, out -> out.get(ValueLayout.JAVA_LONG, 0), check, function, call);
    }

    /** A 32-bit int the call writes. */
    public static int int32(Check check, String function, Call call) {
        return value(ValueLayout.JAVA_INT, out -> out.get(ValueLayout.JAVA_INT, 0), check, function, call);
    }

    /** A float the call writes. */
    public static float float32(Check check, String function, Call call) {
        return value(ValueLayout.JAVA_FLOAT, out -> out.get(ValueLayout.JAVA_FLOAT, 0), check, function, call);
    }

    private static <T> T value(ValueLayout layout, Function<MemorySegment, T> read, Check check, String function, Call call) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(layout);
            check.check(call.call(out, arena), function);
            return read.apply(out);
        }
    }
}
