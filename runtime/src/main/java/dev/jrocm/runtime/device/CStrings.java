package dev.jrocm.runtime.device;

import java.lang.foreign.MemorySegment;

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
}
