package dev.jrocm.runtime.io;

import java.io.IOException;

/**
 * A checkpoint directory that cannot be resumed from: {@code checkpoint.json} missing (not a
 * checkpoint), not exactly of the form a save writes (a key missing or unknown, a value of the
 * wrong type), a file it names absent, a model or optimizer that does not match; or a directory
 * that a save refuses to replace because it is not a checkpoint. The message names the directory
 * or the file, and the key and value where one is wrong.
 */
public final class CheckpointException extends IOException {
    @java.io.Serial
    private static final long serialVersionUID = 1L;

    public CheckpointException(String message) {
        super(message);
    }

    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}
