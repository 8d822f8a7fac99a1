package dev.jrocm.runtime.io;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A safetensors file that is not what it claims to be: a header length past the end of the file,
 * offsets out of range or overlapping, a shape that disagrees with its bytes, an unknown dtype, a
 * duplicate name, a header that is not UTF-8 JSON. The message names the file and what is wrong.
 */
public final class SafetensorsFormatException extends IOException {
    @java.io.Serial
    private static final long serialVersionUID = 1L;
    private final transient Path file;

    public SafetensorsFormatException(Path file, String problem) {
        super(file + ": " + problem);
        this.file = file;
    }

    public SafetensorsFormatException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
        this.file = file;
    }

    /** The file that is wrong. */
    public Path file() { return file; }
}
