package dev.jrocm.runtime.data;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A dataset file that is not what it should be: a wrong magic number, a size that is not a whole
 * number of records, a truncated file, a label out of range. The message names the file, the
 * record or byte offset, what was expected and what was found.
 */
public class DatasetFormatException extends IOException {
    @java.io.Serial
    private static final long serialVersionUID = 1L;

    public DatasetFormatException(Path file, String problem) {
        super(file + ": " + problem);
    }

    public DatasetFormatException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
    }

    /** A problem that is not about one file (e.g. a download whose checksum is wrong). */
    public DatasetFormatException(String message) {
        super(message);
    }
}
