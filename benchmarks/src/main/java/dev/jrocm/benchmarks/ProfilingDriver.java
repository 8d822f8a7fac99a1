package dev.jrocm.benchmarks;

import dev.jrocm.runtime.device.DeviceKind;
import dev.jrocm.runtime.device.GpuException;
import dev.jrocm.runtime.device.gpu.GpuDriver;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A {@link GpuDriver} that, while {@link #recording}, brackets every kernel launch, SGEMM and copy
 * with a pair of events on the stream, so that {@link #collect} can say how long the device spent
 * on each kind of work. The events cost the device little but the host a few microseconds each:
 * use it to see where device time goes, and time whole steps without it.
 */
final class ProfilingDriver implements GpuDriver {
    /** Device time of one label over the recorded work. */
    record Entry(String label, int calls, double millis) {}

    private final GpuDriver driver;
    private final Map<Long, String> names = new HashMap<>();
    private final List<long[]> pairs = new ArrayList<>();   // {start, end} in recording order
    private final List<String> labels = new ArrayList<>();
    private final List<long[]> spare = new ArrayList<>();
    private boolean recording;

    ProfilingDriver(GpuDriver driver) {
        this.driver = driver;
    }

    /** Starts or stops bracketing work with events. */
    void recording(boolean on) {
        recording = on;
    }

    /** Waits for the recorded work and sums its device time per label, largest first; then forgets it. */
    List<Entry> collect() {
        driver.synchronize();
        Map<String, double[]> sums = new LinkedHashMap<>();
        for (int i = 0; i < pairs.size(); i++) {
            long[] pair = pairs.get(i);
            double[] s = sums.computeIfAbsent(labels.get(i), k -> new double[2]);
            s[0]++;
            s[1] += driver.elapsedMillis(pair[0], pair[1]);
            spare.add(pair);
        }
        pairs.clear();
        labels.clear();
        List<Entry> entries = new ArrayList<>();
        sums.forEach((label, s) -> entries.add(new Entry(label, (int) s[0], s[1])));
        entries.sort((a, b) -> Double.compare(b.millis(), a.millis()));
        return entries;
    }

    private long[] begin() {
        long[] pair = spare.isEmpty() ? new long[] {driver.createEvent(), driver.createEvent()} : spare.removeLast();
        driver.recordEvent(pair[0]);
        return pair;
    }

    private void end(long[] pair, String label) {
        driver.recordEvent(pair[1]);
        pairs.add(pair);
        labels.add(label);
    }

    @Override public DeviceKind kind() { return driver.kind(); }

    @Override public String describe() { return driver.describe() + " (profiled)"; }

    @Override public String target() { return driver.target(); }

    @Override public long malloc(long bytes) { return driver.malloc(bytes); }

    @Override public boolean isOutOfMemory(GpuException e) { return driver.isOutOfMemory(e); }

    @Override public void free(long address) { driver.free(address); }

    @Override public long[] memoryInfo() { return driver.memoryInfo(); }

    @Override
    public void copyToDevice(MemorySegment source, long target, long bytes) {
        long[] pair = recording ? begin() : null;
        driver.copyToDevice(source, target, bytes);
        if (pair != null) {
            end(pair, "copy host→device");
        }
    }

    @Override
    public void copyToHost(long source, MemorySegment target, long bytes) {
        long[] pair = recording ? begin() : null;
        driver.copyToHost(source, target, bytes);
        if (pair != null) {
            end(pair, "copy device→host");
        }
    }

    @Override
    public void copyOnDevice(long source, long target, long bytes) {
        long[] pair = recording ? begin() : null;
        driver.copyOnDevice(source, target, bytes);
        if (pair != null) {
            end(pair, "copy device→device");
        }
    }

    @Override public void synchronize() { driver.synchronize(); }

    @Override public byte[] compile(String source, String fileName) { return driver.compile(source, fileName); }

    @Override public long loadModule(byte[] image) { return driver.loadModule(image); }

    @Override
    public long function(long module, String name) {
        long f = driver.function(module, name);
        names.put(f, name);
        return f;
    }

    @Override
    public void launch(long function, int gridX, int gridY, int blockX, int blockY, int sharedBytes, MemorySegment params) {
        long[] pair = recording ? begin() : null;
        driver.launch(function, gridX, gridY, blockX, blockY, sharedBytes, params);
        if (pair != null) {
            end(pair, names.getOrDefault(function, "kernel " + function));
        }
    }

    @Override
    public void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha, long a, int lda,
                      long b, int ldb, float beta, long c, int ldc) {
        long[] pair = recording ? begin() : null;
        driver.sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        if (pair != null) { // BLAS's own (column-major) view: m×n = op(A) m×k · op(B) k×n
            end(pair, "sgemm " + (transA ? "T" : "N") + (transB ? "T" : "N") + " m=" + m + " n=" + n + " k=" + k);
        }
    }

    @Override public long createEvent() { return driver.createEvent(); }

    @Override public void recordEvent(long event) { driver.recordEvent(event); }

    @Override public float elapsedMillis(long start, long end) { return driver.elapsedMillis(start, end); }

    @Override public void destroyEvent(long event) { driver.destroyEvent(event); }

    @Override
    public void close() {
        try {
            driver.synchronize();
            for (long[] pair : pairs) {
                spare.add(pair);
            }
            for (long[] pair : spare) {
                driver.destroyEvent(pair[0]);
                driver.destroyEvent(pair[1]);
            }
        } finally {
            driver.close();
        }
    }
}
