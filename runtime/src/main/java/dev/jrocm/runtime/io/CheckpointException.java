package dev.jrocm.runtime.io;

import java.io.IOException;

/**
 * A checkpoint directory that cannot be resumed from: {@code checkpoint.json} missing (a save
 * that did not finish, or not a checkpoint), a file it names absent, a model or optimizer that
 * does not match. The message names the directory and the file.
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
