package dev.jrocm.runtime.device;

import java.io.File;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Command lines for tests that run a main method of their own in a second JVM with this one's classes. */
public final class ChildJvm {
    private ChildJvm() {}

    /** {@code java [jvmOptions] -cp <this JVM's classes> main args}: on the class path, as a user's application would be. */
    public static List<String> command(List<String> jvmOptions, Class<?> main, String... args) {
        String classPath = String.join(File.pathSeparator, List.of(System.getProperty("java.class.path", ""),
                System.getProperty("jdk.module.path", "")).stream().filter(s -> !s.isEmpty()).toList());
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(jvmOptions);
        command.addAll(List.of("-cp", classPath, main.getName()));
        command.addAll(List.of(args));
        return command;
    }
}
