package dev.jrocm.runtime.io;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Consumer;

/**
 * Writes a file so that readers see either the previous version or the new one, whole, even if
 * the process dies mid-write: the bytes go to a temporary file in the same directory (so the
 * rename cannot cross file systems), which is fsynced, renamed over the target, and the directory
 * is fsynced so the rename itself survives a power cut. An exception from the body deletes the
 * temporary file and leaves the target as it was; a killed process can leave a
 * {@code .NAME.*.tmp} file behind, never a damaged target.
 */
public final class AtomicFile {

    /** Writes the file's new contents to {@code out}. */
    @FunctionalInterface
    public interface Body {
        void write(FileChannel out) throws IOException;
    }

    // Called before each step that changes the file system, with what it is about to do; a crash
    // test replaces it to halt the JVM at a chosen step (CheckpointCrashTest).
    static volatile Consumer<String> beforeStep = step -> {};

    private AtomicFile() {}

    /**
     * Replaces {@code target} with what {@code body} writes, atomically. A {@code target} that
     * exists but is not a regular file (a directory, a FIFO, a device) is refused, untouched.
     */
    public static void write(Path target, Body body) throws IOException {
        Path absolute = target.toAbsolutePath();
        if (Files.exists(absolute) && !Files.isRegularFile(absolute)) {
            throw new IOException("cannot write " + target + ": it exists and is not a regular file");
        }
        Path dir = absolute.getParent();
        Files.createDirectories(dir);
        Path temp = dir.resolve("." + absolute.getFileName() + "." + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
        boolean moved = false;
        try {
            beforeStep.accept("create " + temp);
            try (FileChannel out = FileChannel.open(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                body.write(out);
                beforeStep.accept("fsync " + temp);
                out.force(true);
            }
            try {
                beforeStep.accept("rename " + temp + " to " + absolute);
                Files.move(temp, absolute, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                throw new IOException("cannot replace " + absolute + " atomically: the file system of " + dir
                        + " does not support an atomic rename", e);
            }
            moved = true;
            beforeStep.accept("fsync " + dir);
            syncDirectory(dir);
        } finally {
            if (!moved) {
                Files.deleteIfExists(temp);
            }
        }
    }

    /** Writes {@code bytes} to {@code target} atomically. */
    public static void write(Path target, byte[] bytes) throws IOException {
        write(target, out -> {
            var buffer = java.nio.ByteBuffer.wrap(bytes);
            while (buffer.hasRemaining()) {
                out.write(buffer);
            }
        });
    }

    /** Deletes {@code file} if it is there and makes the deletion durable. */
    public static void delete(Path file) throws IOException {
        beforeStep.accept("delete " + file);
        if (Files.deleteIfExists(file)) {
            syncDirectory(file.toAbsolutePath().getParent());
        }
    }

    // Linux (and most Unixes) let a directory be opened and fsynced; some platforms do not, and
    // there the rename is as durable as the platform makes it.
    static void syncDirectory(Path dir) {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException | UnsupportedOperationException ignored) {
            // not supported here (e.g. Windows): nothing more can be done
        }
    }
}
