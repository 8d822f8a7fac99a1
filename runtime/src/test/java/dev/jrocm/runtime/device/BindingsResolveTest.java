package dev.jrocm.runtime.device;

import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Every function a generated package binds resolves in the library installed here, so a typo in
 * an args file or an ABI rename fails this test and not a user. The list of functions is read
 * from {@code scripts/jextract/<lib>.args}, so the generated code and its args file are checked
 * against each other too.
 */
class BindingsResolveTest {
    static final Path ARGS = Path.of(System.getProperty("user.dir")).resolveSibling("scripts").resolve("jextract");

    @TestFactory
    Stream<DynamicTest> everyBoundFunctionResolvesInTheInstalledLibrary() {
        return Stream.of(NativeLibrary.values()).map(lib -> DynamicTest.dynamicTest(lib.displayName(), () -> {
            String name = lib.name().toLowerCase(Locale.ROOT);
            List<String> functions = includedFunctions(ARGS.resolve(name + ".args"));
            assertFalse(functions.isEmpty(), "no --include-function in " + name + ".args");
            Class<?> header = Class.forName("dev.jrocm.bindings." + name + "." + name + "_h");
            // Checked before the library is known to be there: generating and listing must agree everywhere.
            for (String function : functions) {
                assertEquals(MemorySegment.class, header.getMethod(function + "$address").getReturnType(), function);
            }
            NativeLibrary.Probe probe = lib.probe();
            assumeTrue(probe.isLoaded(), "not installed here: " + probe.problem());
            // A test before this one may have pointed the probe at a test double, which defines only what jrocm calls.
            assumeFalse(TestDoubles.isDouble(probe.path()), "the probe found this JVM's test double " + probe.path()
                    + ", not an installed library");
            List<String> unresolved = new ArrayList<>();
            for (String function : functions) {
                Method address = header.getMethod(function + "$address");
                try {
                    MemorySegment segment = (MemorySegment) address.invoke(null);
                    assertTrue(segment.address() != 0, function);
                } catch (InvocationTargetException e) {
                    unresolved.add(function + " (" + e.getCause() + ")");
                }
            }
            if (!unresolved.isEmpty()) {
                fail(probe.path() + " lacks " + unresolved);
            }
        }));
    }

    static List<String> includedFunctions(Path args) throws IOException {
        try (Stream<String> lines = Files.lines(args)) {
            return lines.map(String::strip).filter(l -> l.startsWith("--include-function "))
                    .map(l -> l.substring("--include-function ".length()).strip()).toList();
        }
    }
}
