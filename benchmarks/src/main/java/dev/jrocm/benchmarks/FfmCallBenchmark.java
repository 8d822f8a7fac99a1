package dev.jrocm.benchmarks;

import dev.jrocm.runtime.device.cpu.Cblas;
import dev.jrocm.runtime.device.cpu.CpuGemm;
import dev.jrocm.runtime.device.cpu.Matrix;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.CompilerControl;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;

/**
 * What a downcall costs: {@code openblas_get_num_threads()} through the generated bindings (FFM),
 * a plain Java call that returns a field, and a 1×1×1 {@code cblas_sgemm} (the fixed cost of
 * every GEMM jrocm hands to BLAS, argument checks included). Pitfall avoided: the Java call is
 * kept out of line ({@code DONT_INLINE}), or it would be folded to a constant and time nothing;
 * every result is returned.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class FfmCallBenchmark {
    private Cblas cblas;
    private Arena arena;
    private Matrix one, out;
    private int javaValue = 1;

    @Setup
    public void setUp() {
        cblas = CpuGemm.cblas().orElseThrow(() -> new IllegalStateException("no CBLAS library here"));
        arena = Arena.ofShared();
        one = new Matrix(arena.allocate(ValueLayout.JAVA_FLOAT, 1), 1, 1);
        one.set(0, 0, 0.5f);
        out = new Matrix(arena.allocate(ValueLayout.JAVA_FLOAT, 1), 1, 1);
    }

    @TearDown
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public int nativeCall() {
        return cblas.nativeThreads();
    }

    @Benchmark
    public int javaCall() {
        return javaValue();
    }

    @CompilerControl(CompilerControl.Mode.DONT_INLINE)
    private int javaValue() {
        return javaValue;
    }

    @Benchmark
    public MemorySegment sgemm1x1x1() {
        CpuGemm.gemm(cblas, 1f, one, false, one, false, 0f, out);
        return out.data();
    }
}
