package dev.jrocm.runtime.io;

import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.nn.Sequential;
import dev.jrocm.runtime.optim.Adam;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The child JVM of {@link CheckpointCrashTest}: saves the "new" checkpoint
 * ({@link CheckpointCrashTest#NEW}) to the directory given as its first argument and halts the
 * JVM — no finally block, no shutdown hook — just before the file-system step whose number
 * (from 1) is its second argument, printing that step. It exits normally when the save has fewer steps.
 */
public final class KilledSaver {
    static final int HALTED = 3;

    private KilledSaver() {}

    public static void main(String[] args) throws IOException {
        Path dir = Path.of(args[0]);
        int haltAt = Integer.parseInt(args[1]);
        AtomicInteger steps = new AtomicInteger();
        AtomicFile.beforeStep = step -> {
            if (steps.incrementAndGet() == haltAt) {
                System.out.println(step);
                System.out.flush();
                Runtime.getRuntime().halt(HALTED);
            }
        };
        try (CpuBackend backend = new CpuBackend(); Sequential m = CheckpointCrashTest.model(backend, CheckpointCrashTest.NEW);
             Adam o = new Adam(m.trainableParameters(), 0.01f)) {
            CheckpointCrashTest.save(dir, m, o, CheckpointCrashTest.NEW);
        }
    }
}
