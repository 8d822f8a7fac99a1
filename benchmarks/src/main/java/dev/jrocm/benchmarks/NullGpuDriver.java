package dev.jrocm.benchmarks;

import dev.jrocm.runtime.device.DeviceKind;
import dev.jrocm.runtime.device.GpuException;
import dev.jrocm.runtime.device.gpu.GpuDriver;

import java.lang.foreign.MemorySegment;

/**
 * A {@link GpuDriver} that does nothing and costs nothing: addresses are numbers never touched,
 * launches and GEMMs are counted and dropped, read-backs give all-ones bytes (NaN floats, and
 * "nothing recorded" in the device-error words). Over it, a
 * {@link dev.jrocm.runtime.device.gpu.GpuBackend} training step costs exactly jrocm's own host
 * work (autograd, tensors, the pool, argument packing) — the part of a GPU step that no driver or
 * device makes faster. See {@link GpuStepHostBenchmark}.
 */
final class NullGpuDriver implements GpuDriver {
    private long next = 1L << 40;
    long launches;
    long gemms;

    @Override public DeviceKind kind() { return DeviceKind.CUDA; }

    @Override public String describe() { return "null driver (no device, no work)"; }

    @Override public String target() { return "none"; }

    @Override
    public long malloc(long bytes) {
        long address = next;
        next += (bytes + 4095) & ~4095L;
        return address;
    }

    @Override public boolean isOutOfMemory(GpuException e) { return false; }

    @Override public void free(long address) { }

    @Override public long[] memoryInfo() { return new long[] {Long.MAX_VALUE, Long.MAX_VALUE}; }

    @Override public void copyToDevice(MemorySegment source, long target, long bytes) { }

    @Override public void copyToHost(long source, MemorySegment target, long bytes) { target.fill((byte) 0xff); }

    @Override public void copyOnDevice(long source, long target, long bytes) { }

    @Override public void synchronize() { }

    @Override public byte[] compile(String source, String fileName) { return new byte[0]; }

    @Override public long loadModule(byte[] image) { return 1; }

    @Override public long function(long module, String name) { return name.hashCode(); }

    @Override
    public void launch(long function, int gridX, int gridY, int blockX, int blockY, int sharedBytes, MemorySegment params) {
        launches++;
    }

    @Override
    public void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha, long a, int lda,
                      long b, int ldb, float beta, long c, int ldc) {
        gemms++;
    }

    @Override public long createEvent() { return 1; }

    @Override public void recordEvent(long event) { }

    @Override public float elapsedMillis(long start, long end) { return 0f; }

    @Override public void destroyEvent(long event) { }

    @Override public void close() { }
}
