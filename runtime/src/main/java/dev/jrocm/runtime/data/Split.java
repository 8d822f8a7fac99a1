package dev.jrocm.runtime.data;

/** Which part of a dataset: the training set or the test set. */
public enum Split {
    TRAIN, TEST;

    /** {@code "train"} or {@code "test"}. */
    public String id() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
