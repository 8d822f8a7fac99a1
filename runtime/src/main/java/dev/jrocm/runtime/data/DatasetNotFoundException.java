package dev.jrocm.runtime.data;

import java.io.IOException;

/**
 * A dataset, or one of its files, is not where it was looked for. The message lists the paths
 * searched and says how to get the data.
 */
public final class DatasetNotFoundException extends IOException {
    @java.io.Serial
    private static final long serialVersionUID = 1L;

    public DatasetNotFoundException(String message) {
        super(message);
    }
}
