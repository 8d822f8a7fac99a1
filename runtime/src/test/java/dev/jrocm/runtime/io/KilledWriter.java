package dev.jrocm.runtime.io;

import dev.jrocm.runtime.device.ChildJvm;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The child JVM of {@code SafetensorsTest.aWriterKilledHalfwayLeavesThePreviousFileIntact}: it
 * starts replacing the file given as its argument, writes half of a large tensor, prints
 * {@link #HALFWAY} and waits to be killed.
 */
public final class KilledWriter {
    static final String HALFWAY = "halfway";

    private KilledWriter() {}

    static Process start(Path file) throws IOException {
        return new ProcessBuilder(javaCommand(KilledWriter.class, file.toString()))
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
    }

    /** The command line that runs {@code main}'s main method with {@code args} in a JVM with this one's classes. */
    static List<String> javaCommand(Class<?> main, String... args) {
        return ChildJvm.command(List.of(), main, args);
    }

    public static void main(String[] args) throws IOException {
        Safetensors.Source blocking = new Safetensors.Source() {
            public String name() { return "new"; }
            public SafetensorsDType dtype() { return SafetensorsDType.F32; }
            public long[] shape() { return new long[] {1 << 20}; }
            public void writeTo(WritableByteChannel out) throws IOException {
                Safetensors.writeFully(out, ByteBuffer.allocate((int) (byteSize() / 2)));
                System.out.println(HALFWAY);
                System.out.flush();
                try {
                    Thread.sleep(60_000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                throw new IOException("not killed within a minute");
            }
        };
        Safetensors.write(Path.of(args[0]), List.of(blocking), Map.of("v", "2"));
    }
}
