package dev.jrocm.runtime.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SequencedMap;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * safetensors between jrocm and Python: files jrocm writes are read back by
 * {@code runtime/src/test/python/safetensors_numpy.py} (standard library + numpy, Debian's
 * python3-numpy) and compared bit for bit, and files that script writes are read by jrocm. The
 * PyTorch fixtures round-trip through the format too.
 */
class SafetensorsInteropTest {
    static final Path PYTHON = Path.of("/usr/bin/python3");
    static final Path SCRIPT = Path.of("src/test/python/safetensors_numpy.py");
    static Backend backend;
    @TempDir
    Path dir;

    @BeforeAll
    static void open() { backend = new CpuBackend(); }

    @AfterAll
    static void close() { backend.close(); }

    static void assumeNumpy() throws Exception {
        assumeTrue(Files.isExecutable(PYTHON), "skipped: no " + PYTHON + " (apt-get install python3 python3-numpy)");
        assumeTrue(run(List.of(PYTHON.toString(), "-c", "import numpy")).exit == 0,
                "skipped: numpy is not importable by " + PYTHON + " (apt-get install python3-numpy)");
    }

    record Result(int exit, String output) {}

    static Result run(List<String> command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException(command + " did not finish within a minute");
        }
        return new Result(p.exitValue(), output);
    }

    @Test
    void aFileWrittenByJrocmReadsBackInPythonBitForBit() throws Exception {
        assumeNumpy();
        Random random = new Random(11);
        float[] w = new float[6 * 5];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) random.nextGaussian();
        }
        w[0] = Float.MIN_VALUE;
        w[1] = -0f;
        w[2] = Float.MAX_VALUE;
        int[] labels = {0, -1, Integer.MIN_VALUE, Integer.MAX_VALUE};
        Path file = dir.resolve("jrocm.safetensors");
        ObjectMapper json = new ObjectMapper();
        ObjectNode expected = json.createObjectNode();
        expected.putObject("metadata").put("format", "pt").put("note", "grüße ✓");
        ObjectNode tensors = expected.putObject("tensors");
        try (Scope ignored = Scope.open()) {
            SequencedMap<String, Tensor> state = new LinkedHashMap<>();
            state.put("fc1.weight", Tensor.of(backend, w, 6, 5));
            state.put("labels", Tensor.ofInts(backend, labels, 4));
            Safetensors.write(file, state, Map.of("format", "pt", "note", "grüße ✓"));
        }
        describe(tensors.putObject("fc1.weight"), "F32", new int[] {6, 5}, bits(w));
        describe(tensors.putObject("labels"), "I32", new int[] {4}, labels);
        Path expectedFile = dir.resolve("expected.json");
        json.writeValue(expectedFile.toFile(), expected);
        Result r = run(List.of(PYTHON.toString(), SCRIPT.toString(), "check", file.toString(), expectedFile.toString()));
        assertEquals(new Result(0, "ok 2 tensors\n"), r);
    }

    @Test
    void aFileWrittenByPythonReadsInJrocm() throws Exception {
        assumeNumpy();
        Path file = dir.resolve("numpy.safetensors");
        Result r = run(List.of(PYTHON.toString(), SCRIPT.toString(), "write", file.toString()));
        assertEquals(0, r.exit(), r.output());
        try (SafetensorsFile st = SafetensorsFile.open(file); Scope ignored = Scope.open()) {
            assertEquals(Map.of("writer", "numpy", "format", "pt"), st.metadata());
            assertEquals(List.of("weight", "labels", "scalar", "half"), st.names());
            Tensor weight = st.tensor("weight", backend);
            assertArrayEquals(new int[] {2, 3}, weight.shape());
            assertArrayEquals(new float[] {-1f, -0.5f, 0f, 0.5f, 1f, 1.5f}, weight.toArray());
            assertArrayEquals(new int[] {-1, 7, Integer.MAX_VALUE}, st.tensor("labels", backend).toIntArray());
            assertArrayEquals(new long[0], st.entry("scalar").shape());
            assertEquals(3.25f, st.tensor("scalar", backend).item());
            assertEquals(SafetensorsDType.F16, st.entry("half").dtype());
            assertArrayEquals(new byte[] {0x00, 0x3e, 0x00, (byte) 0xc0}, st.bytes("half"));
        }
    }

    @Test
    void thePyTorchFixturesSurviveTheFormat() throws IOException {
        JsonNode adam;
        try (InputStream in = getClass().getResourceAsStream("/fixtures/adam.json")) {
            adam = new ObjectMapper().readTree(in);
        }
        List<Safetensors.Source> sources = new ArrayList<>();
        Map<String, float[]> expected = new LinkedHashMap<>();
        for (JsonNode c : adam.get("cases")) {
            String name = c.get("name").asText();
            float[] initial = floats(c.get("initial"));
            float[] steps = floats(c.get("after_each_step"));
            sources.add(Safetensors.Source.ofFloats(name + ".initial", initial, 3, 5));
            sources.add(Safetensors.Source.ofFloats(name + ".after_each_step", steps, steps.length / 15, 3, 5));
            expected.put(name + ".initial", initial);
            expected.put(name + ".after_each_step", steps);
        }
        assertEquals(6, sources.size());
        Path file = dir.resolve("adam.safetensors");
        Safetensors.write(file, sources, Map.of("source", "make_fixtures.py"));
        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            for (var e : expected.entrySet()) {
                assertArrayEquals(e.getValue(), st.floats(e.getKey()), e.getKey());
            }
        }
    }

    static float[] floats(JsonNode node) {
        List<Float> out = new ArrayList<>();
        flatten(node, out);
        float[] f = new float[out.size()];
        for (int i = 0; i < f.length; i++) {
            f[i] = out.get(i);
        }
        return f;
    }

    private static void flatten(JsonNode node, List<Float> out) {
        if (node.isArray()) {
            node.forEach(n -> flatten(n, out));
        } else {
            out.add((float) node.asDouble());
        }
    }

    static int[] bits(float[] values) {
        int[] out = new int[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = Float.floatToRawIntBits(values[i]);
        }
        return out;
    }

    static void describe(ObjectNode node, String dtype, int[] shape, int[] bits) {
        node.put("dtype", dtype);
        ArrayNode s = node.putArray("shape");
        for (int d : shape) {
            s.add(d);
        }
        ArrayNode b = node.putArray("bits");
        for (int v : bits) {
            b.add(v);
        }
    }
}
