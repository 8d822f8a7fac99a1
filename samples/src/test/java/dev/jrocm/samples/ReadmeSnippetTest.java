package dev.jrocm.samples;

import dev.jrocm.runtime.data.Cifar10;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.spi.ToolProvider;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The README's library snippet, compiled and run as written, on the CPU with a tiny CIFAR-10. */
class ReadmeSnippetTest {
    static final String MARKER = "<!-- snippet: training-loop";

    /** What a program using the snippet imports: the public packages it draws its classes from. */
    static final String IMPORTS = """
            import dev.jrocm.lora.*;
            import dev.jrocm.runtime.autograd.*;
            import dev.jrocm.runtime.data.*;
            import dev.jrocm.runtime.device.*;
            import dev.jrocm.runtime.nn.*;
            import dev.jrocm.runtime.optim.*;
            import dev.jrocm.runtime.tensor.*;
            import java.io.*;
            import java.nio.file.*;
            """;

    @TempDir
    Path dir;

    @Test
    void theReadmeTrainingLoopCompilesAndRuns() throws Exception {
        Path source = Files.createDirectories(dir.resolve("src")).resolve("ReadmeSnippet.java");
        Files.writeString(source, IMPORTS + "\npublic final class ReadmeSnippet {\n" + snippet(readme()) + "\n}\n");
        Path classes = Files.createDirectories(dir.resolve("classes"));
        compile(source, classes);

        writeTinyCifar(dir.resolve("data"), 4); // 20 training images: batches of 8, 8 and 4
        Path adapter = dir.resolve("adapter");
        LoraWorkflowTest.withProperty("jrocm.data", dir.resolve("data").toString(),
                () -> LoraWorkflowTest.withProperty("jrocm.device", "cpu",
                        () -> runSnippet(classes, 2, 7, adapter)));
        assertTrue(Files.size(adapter.resolve("adapter_model.safetensors")) > 0);
        assertTrue(Files.readString(adapter.resolve("adapter_config.json")).contains("\"r\""));
    }

    static String readme() throws IOException {
        Path readme = Path.of("..", "README.md"); // the tests run in the module's directory
        return Files.readString(readme);
    }

    /** The java block after the marker comment. */
    static String snippet(String readme) {
        int marker = readme.indexOf(MARKER);
        assertTrue(marker >= 0, "README.md has no '" + MARKER + "' comment");
        String open = "```java\n";
        int start = readme.indexOf(open, marker);
        assertTrue(start >= 0, "no ```java block after the snippet marker");
        start += open.length();
        int end = readme.indexOf("\n```", start);
        assertTrue(end >= 0, "the snippet's ```java block is not closed");
        return readme.substring(start, end);
    }

    /** javac in this JVM against this test's class and module path; fails with javac's messages. */
    static void compile(Path source, Path classes) {
        List<String> path = new ArrayList<>();
        for (String property : List.of("jdk.module.path", "java.class.path")) {
            String value = System.getProperty(property);
            if (value != null && !value.isBlank()) {
                path.add(value);
            }
        }
        ToolProvider javac = ToolProvider.findFirst("javac").orElseThrow(() -> new AssertionError("no javac in this JDK"));
        ByteArrayOutputStream messages = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(messages, true, StandardCharsets.UTF_8);
        int status = javac.run(out, out, "-d", classes.toString(), "-cp", String.join(File.pathSeparator, path),
                "-proc:none", source.toString());
        assertEquals(0, status, "the README snippet does not compile:\n" + messages.toString(StandardCharsets.UTF_8));
    }

    static void runSnippet(Path classes, int epochs, long seed, Path out) throws Throwable {
        try (URLClassLoader loader = new URLClassLoader(new URL[] {classes.toUri().toURL()}, ReadmeSnippetTest.class.getClassLoader())) {
            Method train = loader.loadClass("ReadmeSnippet").getDeclaredMethod("trainThenAdapt", int.class, long.class, Path.class);
            train.setAccessible(true);
            try {
                train.invoke(null, epochs, seed, out);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
        }
    }

    /** A cifar-10-batches-bin with {@code perFile} random images in each of its six files. */
    static void writeTinyCifar(Path root, int perFile) throws IOException {
        Path cifar = Files.createDirectories(root.resolve(Cifar10.DIRECTORY));
        Files.writeString(cifar.resolve(Cifar10.META_FILE),
                "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n");
        Random random = new Random(5);
        List<String> files = new ArrayList<>(Cifar10.TRAIN_FILES);
        files.addAll(Cifar10.TEST_FILES);
        for (String name : files) {
            byte[] records = new byte[perFile * Cifar10.RECORD_BYTES];
            random.nextBytes(records);
            for (int r = 0; r < perFile; r++) {
                records[r * Cifar10.RECORD_BYTES] = (byte) random.nextInt(Cifar10.CLASSES);
            }
            Files.write(cifar.resolve(name), records);
        }
    }
}
