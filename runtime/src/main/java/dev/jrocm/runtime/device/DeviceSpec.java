package dev.jrocm.runtime.device;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * What a user asked for: {@code auto}, {@code cpu}, {@code hip}, {@code hip:1}, {@code cuda},
 * {@code cuda:0}. {@code kind == null} means auto.
 */
public record DeviceSpec(DeviceKind kind, int index) {
    public static final DeviceSpec AUTO = new DeviceSpec(null, 0);

    /** Parses a spec; a bad one throws {@link IllegalArgumentException} naming it and the choices. */
    public static DeviceSpec parse(String text) {
        String s = text == null ? "" : text.strip().toLowerCase(Locale.ROOT);
        if (s.isEmpty() || s.equals("auto")) {
            return AUTO;
        }
        String[] parts = s.split(":", -1);
        DeviceKind kind = Arrays.stream(DeviceKind.values()).filter(k -> k.id().equals(parts[0])).findFirst()
                .orElseThrow(() -> bad(text));
        if (parts.length == 1) {
            return new DeviceSpec(kind, 0);
        }
        if (parts.length > 2 || kind == DeviceKind.CPU) {
            throw bad(text);
        }
        try {
            int index = Integer.parseInt(parts[1]);
            if (index < 0) {
                throw bad(text);
            }
            return new DeviceSpec(kind, index);
        } catch (NumberFormatException e) {
            throw bad(text);
        }
    }

    private static IllegalArgumentException bad(String text) {
        return new IllegalArgumentException("device '" + text + "' is not one of auto, "
                + Arrays.stream(DeviceKind.values()).map(k -> k == DeviceKind.CPU ? "cpu" : k.id() + "[:N]")
                        .collect(Collectors.joining(", ")));
    }

    @Override
    public String toString() {
        return kind == null ? "auto" : kind == DeviceKind.CPU ? "cpu" : kind.id() + ":" + index;
    }
}
