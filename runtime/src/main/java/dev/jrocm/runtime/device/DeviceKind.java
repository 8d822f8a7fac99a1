package dev.jrocm.runtime.device;

import java.util.Locale;

/** The kinds of device jrocm runs on, in the order {@link Devices#select} prefers them. */
public enum DeviceKind {
    HIP, CUDA, CPU;

    /** {@code "hip"}, {@code "cuda"}, {@code "cpu"}: the names users type. */
    public String id() { return name().toLowerCase(Locale.ROOT); }
}
