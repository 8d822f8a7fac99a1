package dev.jrocm.runtime.device;

import java.lang.foreign.MemorySegment;

/**
 * A piece of one backend's memory: what the {@link Backend} ops read and write. On the CPU the
 * segment is the memory itself; on a GPU it carries the device address and is never dereferenced
 * on the host. A view ({@link #slice}) shares its allocation's memory and its lifetime.
 */
public final class Buffer {
    private final Backend backend;
    private final MemorySegment memory;
    private final Buffer root;
    private boolean released;

    /** For backends: wraps memory they allocated. */
    public Buffer(Backend backend, MemorySegment memory) {
        this(backend, memory, null);
    }

    private Buffer(Backend backend, MemorySegment memory, Buffer root) {
        this.backend = backend;
        this.memory = memory;
        this.root = root;
    }

    public Backend backend() { return backend; }

    public long byteSize() { return memory.byteSize(); }

    /** Number of 4-byte elements (floats or ints). */
    public long length() { return memory.byteSize() / Float.BYTES; }

    /** The memory, for the backend's ops; {@link IllegalStateException} once released. */
    public MemorySegment memory() {
        if ((root == null ? this : root).released) {
            throw new IllegalStateException("buffer of " + byteSize() + " bytes used after it was released");
        }
        return memory;
    }

    /** {@code length} elements from element {@code offset}: a view, released with this buffer. */
    public Buffer slice(long offset, long length) {
        return new Buffer(backend, backend.slice(memory(), offset * Float.BYTES, length * Float.BYTES),
                root == null ? this : root);
    }

    public boolean isReleased() { return (root == null ? this : root).released; }

    /** For backends: marks the allocation released (views die with it). */
    public void markReleased() {
        if (root != null) {
            throw new IllegalStateException("a view is released with the buffer it views");
        }
        released = true;
    }
}
