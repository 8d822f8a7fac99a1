package dev.jrocm.runtime.device.gpu;

import dev.jrocm.runtime.device.DeviceKind;
import dev.jrocm.runtime.device.GpuException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * A {@link GpuDriver} over host memory, for testing {@link GpuBackend}'s bookkeeping without a GPU:
 * "device" memory is native host memory (so tests can look at it), copies are real, the SGEMM is a
 * plain column-major loop, and launches are recorded — not executed, because kernels cannot be
 * faked honestly. A test may attach a hook to a kernel name to play a kernel's side effect.
 */
final class FakeDriver implements GpuDriver {
    static final int OUT_OF_MEMORY = 2;

    record Launch(String kernel, int gridX, int gridY, int blockX, int blockY, long[] args) {}

    final String target;
    long capacity = Long.MAX_VALUE;
    long used;
    int mallocs, frees, compiles, moduleLoads, syncs;
    boolean failNextMallocOtherwise;
    boolean closed;
    final List<Launch> launches = new ArrayList<>();
    final Map<String, Consumer<long[]>> hooks = new HashMap<>();
    /** What {@link #dnn()} offers; null (the default) means jrocm's kernels only. */
    GpuDnn dnn;
    private final Map<Long, Arena> blocks = new LinkedHashMap<>();
    private final Map<Long, String> functions = new HashMap<>();
    private final Map<Long, Long> sizes = new HashMap<>();

    FakeDriver(String target) {
        this.target = target;
    }

    int liveBlocks() { return blocks.size(); }

    static MemorySegment at(long address, long bytes) {
        return MemorySegment.ofAddress(address).reinterpret(bytes);
    }

    @Override public DeviceKind kind() { return DeviceKind.CUDA; }

    @Override public String describe() { return "fake GPU over host memory (" + target + ")"; }

    @Override public String target() { return target; }

    @Override
    public long malloc(long bytes) {
        if (failNextMallocOtherwise) {
            failNextMallocOtherwise = false;
            throw new GpuException("FAKE", "fakeMalloc", 999, "fakeErrorLaunchFailed", "an unrelated failure");
        }
        if (used + bytes > capacity) {
            throw new GpuException("FAKE", "fakeMalloc", OUT_OF_MEMORY, "fakeErrorOutOfMemory", "out of memory");
        }
        Arena arena = Arena.ofShared();
        long address = arena.allocate(bytes, 256).address();
        blocks.put(address, arena);
        sizes.put(address, bytes);
        used += bytes;
        mallocs++;
        return address;
    }

    @Override
    public boolean isOutOfMemory(GpuException e) {
        return e.code() == OUT_OF_MEMORY;
    }

    @Override
    public void free(long address) {
        Arena arena = blocks.remove(address);
        if (arena == null) {
            throw new GpuException("FAKE", "fakeFree", 1, "fakeErrorInvalidValue", "not an allocation: " + address);
        }
        used -= sizes.remove(address);
        arena.close();
        frees++;
    }


    @Override
    public long[] memoryInfo() {
        return new long[] {capacity - used, capacity};
    }

    @Override
    public void copyToDevice(MemorySegment source, long target, long bytes) {
        MemorySegment.copy(source, 0, at(target, bytes), 0, bytes);
    }

    @Override
    public void copyToHost(long source, MemorySegment target, long bytes) {
        syncs++;
        MemorySegment.copy(at(source, bytes), 0, target, 0, bytes);
    }

    @Override
    public void copyOnDevice(long source, long target, long bytes) {
        MemorySegment.copy(at(source, bytes), 0, at(target, bytes), 0, bytes);
    }

    @Override
    public void synchronize() {
        syncs++;
    }

    @Override
    public byte[] compile(String source, String fileName) {
        compiles++;
        return ("fake image of " + fileName).getBytes();
    }

    @Override
    public long loadModule(byte[] image) {
        moduleLoads++;
        return 1;
    }

    @Override
    public long function(long module, String name) {
        if (!GpuKernels.names().contains(name)) {
            throw new GpuException("FAKE", "fakeModuleGetFunction(" + name + ")", 500, "fakeErrorNotFound", "no such kernel");
        }
        long handle = 1000 + functions.size();
        functions.put(handle, name);
        return handle;
    }

    @Override
    public void launch(long function, int gridX, int gridY, int blockX, int blockY, int sharedBytes, MemorySegment params) {
        long[] args = new long[GpuBackend.KernelArgs.MAX];
        MemorySegment pointers = params.reinterpret(ValueLayout.ADDRESS.byteSize() * args.length);
        for (int i = 0; i < args.length; i++) {
            args[i] = pointers.getAtIndex(ValueLayout.ADDRESS, i).reinterpret(8).get(ValueLayout.JAVA_LONG, 0);
        }
        String name = functions.get(function);
        launches.add(new Launch(name, gridX, gridY, blockX, blockY, args));
        Consumer<long[]> hook = hooks.get(name);
        if (hook != null) {
            hook.accept(args);
        }
    }

    /** Column-major reference SGEMM, as BLAS defines it. */
    @Override
    public void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha, long a, int lda,
                      long b, int ldb, float beta, long c, int ldc) {
        MemorySegment A = at(a, (long) lda * (transA ? m : k) * 4), B = at(b, (long) ldb * (transB ? k : n) * 4);
        MemorySegment C = at(c, (long) ldc * n * 4);
        for (int j = 0; j < n; j++) {
            for (int i = 0; i < m; i++) {
                double s = 0;
                for (int p = 0; p < k; p++) {
                    float av = transA ? A.getAtIndex(ValueLayout.JAVA_FLOAT, p + (long) i * lda)
                            : A.getAtIndex(ValueLayout.JAVA_FLOAT, i + (long) p * lda);
                    float bv = transB ? B.getAtIndex(ValueLayout.JAVA_FLOAT, j + (long) p * ldb)
                            : B.getAtIndex(ValueLayout.JAVA_FLOAT, p + (long) j * ldb);
                    s += (double) av * bv;
                }
                long ci = i + (long) j * ldc;
                float old = beta == 0f ? 0f : C.getAtIndex(ValueLayout.JAVA_FLOAT, ci);
                C.setAtIndex(ValueLayout.JAVA_FLOAT, ci, (float) (alpha * s + beta * old));
            }
        }
    }

    @Override public GpuDnn dnn() { return dnn; }

    private long events;

    @Override public long createEvent() { return ++events; }

    @Override public void recordEvent(long event) { }

    @Override public float elapsedMillis(long start, long end) { syncs++; return 0.5f; }

    @Override public void destroyEvent(long event) { }

    @Override
    public void close() {
        closed = true;
    }
}
