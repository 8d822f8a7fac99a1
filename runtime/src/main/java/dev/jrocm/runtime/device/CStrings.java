package dev.jrocm.runtime.device;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/** Reading the NUL-terminated strings native libraries return (error names, versions). */
public final class CStrings {
    private CStrings() {}

    /**
     * The string at {@code pointer}, or {@code ""} for NULL. The pointer comes back from a
     * downcall as a zero-length segment; the library promises a terminator, so the segment is
     * widened to let the reader find it.
     */
    public static String read(MemorySegment pointer) {
        return pointer.equals(MemorySegment.NULL) ? "" : pointer.reinterpret(Long.MAX_VALUE).getString(0);
    }

    /** A C {@code const char*[]} of {@code strings} in {@code arena}: compiler options, for instance. */
    public static MemorySegment array(Arena arena, List<String> strings) {
        MemorySegment argv = arena.allocate(ValueLayout.ADDRESS, Math.max(1, strings.size()));
        for (int i = 0; i < strings.size(); i++) {
            argv.setAtIndex(ValueLayout.ADDRESS, i, arena.allocateFrom(strings.get(i)));
        }
        return argv;
    }
}
