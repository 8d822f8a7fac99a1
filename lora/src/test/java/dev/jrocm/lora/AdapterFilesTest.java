package dev.jrocm.lora;

import dev.jrocm.runtime.io.Safetensors;
import dev.jrocm.runtime.io.SafetensorsDType;
import dev.jrocm.runtime.io.SafetensorsFile;
import dev.jrocm.runtime.nn.Sequential;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.jrocm.lora.PeftAdapterTest.mlp;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Adapter files as PEFT and NumPy write them (F16, BF16, F64), wrong dtypes, and strictly typed configs. */
class AdapterFilesTest {
    static final String FC1_A = PeftAdapter.key("fc1", "lora_A"), FC3_B = PeftAdapter.key("fc3", "lora_B");

    @BeforeAll
    static void open() { PeftAdapterTest.open(); }

    @AfterAll
    static void close() { PeftAdapterTest.close(); }

    /** The tensors of a saved adapter, by name, with their shapes. */
    record Saved(Map<String, float[]> values, Map<String, long[]> shapes) {}

    static Saved saveTrainedAdapter(Path dir) throws IOException {
        PeftAdapterTest.saveTrainedAdapter(dir);
        Map<String, float[]> values = new LinkedHashMap<>();
        Map<String, long[]> shapes = new LinkedHashMap<>();
        try (SafetensorsFile file = SafetensorsFile.open(dir.resolve(PeftAdapter.WEIGHTS))) {
            for (String name : file.names()) {
                values.put(name, file.floats(name));
                shapes.put(name, file.entry(name).shape());
            }
        }
        return new Saved(values, shapes);
    }

    /** Rewrites the adapter's weights: {@code replaced} tensors as given, the others as they were (F32). */
    static void rewrite(Path dir, Saved saved, Map<String, Safetensors.Source> replaced) throws IOException {
        List<Safetensors.Source> sources = new ArrayList<>();
        saved.values().forEach((name, v) -> sources.add(replaced.getOrDefault(name,
                Safetensors.Source.ofFloats(name, v, saved.shapes().get(name)))));
        Safetensors.write(dir.resolve(PeftAdapter.WEIGHTS), sources, Map.of("format", "pt"));
    }

    static byte[] shorts(int[] bits) {
        ByteBuffer b = ByteBuffer.allocate(bits.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (int v : bits) {
            b.putShort((short) v);
        }
        return b.array();
    }

    static byte[] doubles(double[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (double v : values) {
            b.putDouble(v);
        }
        return b.array();
    }

    /** IEEE binary16 by its definition, written independently of {@code Float.float16ToFloat}. */
    static float f16(int bits) {
        int sign = (bits & 0x8000) != 0 ? -1 : 1, exponent = (bits >> 10) & 0x1f, mantissa = bits & 0x3ff;
        if (exponent == 31) {
            return mantissa == 0 ? sign * Float.POSITIVE_INFINITY : Float.NaN;
        }
        double magnitude = exponent == 0 ? mantissa * Math.pow(2, -24) : (1 + mantissa / 1024.0) * Math.pow(2, exponent - 15);
        return (float) (sign * magnitude);
    }

    static void assertBitsEqual(float[] want, float[] got, String what) {
        assertEquals(want.length, got.length, what);
        for (int i = 0; i < want.length; i++) {
            boolean same = Float.isNaN(want[i]) ? Float.isNaN(got[i]) : Float.floatToIntBits(want[i]) == Float.floatToIntBits(got[i]);
            assertTrue(same, what + " element " + i + ": want " + want[i] + " got " + got[i]);
        }
    }

    /** Loads {@code dir} onto a fresh base and returns the loaded factor of every key. */
    static Map<String, float[]> load(Path dir) throws IOException {
        Map<String, float[]> out = new LinkedHashMap<>();
        try (Sequential model = mlp(1)) {
            LoraModel lora = PeftAdapter.load(model, dir);
            lora.layers().forEach((path, layer) -> {
                out.put(PeftAdapter.key(path, "lora_A"), layer.loraA().toArray());
                out.put(PeftAdapter.key(path, "lora_B"), layer.loraB().toArray());
            });
        }
        return out;
    }

    // The edge values of binary16: ±0, the smallest and largest subnormals, the smallest normal,
    // the largest finite, ±infinity, NaNs, and ordinary values.
    static final int[] F16_EDGES = {0x0000, 0x8000, 0x0001, 0x8001, 0x03ff, 0x0400, 0x7bff, 0xfbff, 0x7c00, 0xfc00,
            0x7e00, 0x7c01, 0xfe00, 0x3c00, 0xc000, 0x3555, 0x3bff, 0x3c01, 0x0200, 0x1234};

    @Test
    void anF16AdapterLoadsWithEveryEdgeValueExact(@TempDir Path dir) throws IOException {
        Saved saved = saveTrainedAdapter(dir);
        Map<String, Safetensors.Source> f16 = new LinkedHashMap<>();
        Map<String, float[]> want = new LinkedHashMap<>();
        saved.values().forEach((name, v) -> {
            int[] bits = new int[v.length];
            for (int i = 0; i < v.length; i++) {
                bits[i] = name.equals(FC1_A) ? F16_EDGES[i % F16_EDGES.length] : Float.floatToFloat16(v[i]) & 0xffff;
            }
            f16.put(name, Safetensors.Source.ofBytes(name, SafetensorsDType.F16, shorts(bits), saved.shapes().get(name)));
            float[] w = new float[v.length];
            for (int i = 0; i < v.length; i++) {
                w[i] = f16(bits[i]);
            }
            want.put(name, w);
        });
        rewrite(dir, saved, f16);
        Map<String, float[]> got = load(dir);
        want.forEach((name, w) -> assertBitsEqual(w, got.get(name), name));
        assertEquals(0x1p-24f, got.get(FC1_A)[2]);
        assertEquals(65504f, got.get(FC1_A)[6]);
        assertEquals(Float.NEGATIVE_INFINITY, got.get(FC1_A)[9]);
    }

    @Test
    void aBf16AdapterLoadsAsTheTopHalfOfEachF32(@TempDir Path dir) throws IOException {
        Saved saved = saveTrainedAdapter(dir);
        int[] bits = {0x3f80, 0xbf80, 0x4049, 0x0001, 0x8000, 0x7f7f, 0x7f80, 0xff80, 0x7fc0, 0x0080};
        float[] want = {1f, -1f, 3.140625f, 0x1p-133f, -0f, 0x1.fep127f, Float.POSITIVE_INFINITY,
                Float.NEGATIVE_INFINITY, Float.NaN, 0x1p-126f};
        int n = saved.values().get(FC1_A).length;
        int[] all = new int[n];
        float[] wantAll = new float[n];
        for (int i = 0; i < n; i++) {
            all[i] = bits[i % bits.length];
            wantAll[i] = want[i % want.length];
        }
        rewrite(dir, saved, Map.of(FC1_A, Safetensors.Source.ofBytes(FC1_A, SafetensorsDType.BF16, shorts(all),
                saved.shapes().get(FC1_A))));
        Map<String, float[]> got = load(dir);
        assertBitsEqual(wantAll, got.get(FC1_A), FC1_A);
        assertArrayEquals(saved.values().get(FC3_B), got.get(FC3_B), "an F32 tensor beside a BF16 one");
    }

    @Test
    void anF64AdapterLoadsRoundedToNearestEven(@TempDir Path dir) throws IOException {
        Saved saved = saveTrainedAdapter(dir);
        double[] values = {0.1, -0.0, 1 + 0x1p-24, 1 + 3 * 0x1p-24, 1e-45, 1e-46, Double.POSITIVE_INFINITY, Double.NaN,
                Float.MAX_VALUE, -2.5};
        float[] want = {0.1f, -0f, 1f, 1 + 0x1p-22f, Float.MIN_VALUE, 0f, Float.POSITIVE_INFINITY, Float.NaN,
                Float.MAX_VALUE, -2.5f};
        int n = saved.values().get(FC3_B).length;
        double[] all = new double[n];
        float[] wantAll = new float[n];
        for (int i = 0; i < n; i++) {
            all[i] = values[i % values.length];
            wantAll[i] = want[i % want.length];
        }
        rewrite(dir, saved, Map.of(FC3_B, Safetensors.Source.ofBytes(FC3_B, SafetensorsDType.F64, doubles(all),
                saved.shapes().get(FC3_B))));
        assertBitsEqual(wantAll, load(dir).get(FC3_B), FC3_B);
    }

    static byte[] f32Bytes(float[] v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float x : v) {
            b.putFloat(x);
        }
        return b.array();
    }

    @Test
    void aTensorOfAnotherDTypeIsRefusedByNameAndChangesNothing(@TempDir Path dir) throws IOException {
        Saved saved = saveTrainedAdapter(dir);
        // I32 has F32's width, so the header is consistent: only the type is wrong
        rewrite(dir, saved, Map.of(FC3_B, Safetensors.Source.ofBytes(FC3_B, SafetensorsDType.I32,
                f32Bytes(saved.values().get(FC3_B)), saved.shapes().get(FC3_B))));
        try (Sequential model = mlp(1)) {
            ModelState before = ModelState.of(model);
            IOException e = assertThrows(IOException.class, () -> PeftAdapter.load(model, dir));
            assertTrue(e.getMessage().contains("layer fc3: tensor " + FC3_B + " is I32; a LoRA factor must be F32, F16, BF16 or F64"),
                    e.getMessage());
            before.assertUnchanged(model, "after a refused I32 factor");
        }
    }

    @Test
    void anF64ValueBeyondF32IsRefusedAndChangesNothing(@TempDir Path dir) throws IOException {
        Saved saved = saveTrainedAdapter(dir);
        double[] d = new double[saved.values().get(FC3_B).length];
        d[5] = -1e300;
        rewrite(dir, saved, Map.of(FC3_B, Safetensors.Source.ofBytes(FC3_B, SafetensorsDType.F64, doubles(d),
                saved.shapes().get(FC3_B))));
        try (Sequential model = mlp(1)) {
            ModelState before = ModelState.of(model);
            IOException e = assertThrows(IOException.class, () -> PeftAdapter.load(model, dir));
            assertTrue(e.getMessage().endsWith("tensor " + FC3_B + " element 5 is the F64 value -1.0E300, beyond the range of f32"),
                    e.getMessage());
            before.assertUnchanged(model, "after a refused F64 value");
        }
    }

    @Test
    void loadWeightsChecksEveryTensorBeforeChangingAnyFactor(@TempDir Path dir) throws IOException {
        Saved saved = saveTrainedAdapter(dir);
        rewrite(dir, saved, Map.of(FC3_B, Safetensors.Source.ofBytes(FC3_B, SafetensorsDType.I32,
                f32Bytes(saved.values().get(FC3_B)), saved.shapes().get(FC3_B))));
        try (Sequential model = mlp(1)) {
            LoraModel lora = Lora.apply(model, LoraConfig.of(2, 4, "fc1", "fc3"), 5);
            ModelState before = ModelState.of(model);
            IOException e = assertThrows(IOException.class, () -> PeftAdapter.loadWeights(lora, dir));
            assertTrue(e.getMessage().contains(FC3_B + " is I32"), e.getMessage());
            before.assertUnchanged(model, "after refused weights");
        }
    }

    @Test
    void loadWeightsRefusesAMergedLayer(@TempDir Path dir) throws IOException {
        saveTrainedAdapter(dir);
        try (Sequential model = mlp(1)) {
            LoraModel lora = Lora.apply(model, LoraConfig.of(2, 4, "fc1", "fc3"), 5);
            lora.merge();
            ModelState before = ModelState.of(model);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> PeftAdapter.loadWeights(lora, dir));
            assertEquals("LoRA layer fc1 is merged: unmerge() before loading weights", e.getMessage());
            before.assertUnchanged(model, "after loading into a merged adapter");
        }
    }

    static final String CONFIG = "\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 4, \"target_modules\": [\"fc1\", \"fc3\"], "
            + "\"lora_dropout\": 0.0, \"use_rslora\": false, \"bias\": \"none\", \"use_dora\": false";

    @Test
    void configValuesOfTheWrongJsonTypeAreErrorsNamingKeyValueAndFile(@TempDir Path dir) throws IOException {
        Map<String, String> cases = new LinkedHashMap<>();
        cases.put("\"r\": \"2\"", "\"r\" must be a positive integer, got \"2\"");
        cases.put("\"r\": 2.9", "\"r\" must be a positive integer, got 2.9");
        cases.put("\"r\": 2.0", "\"r\" must be a positive integer, got 2.0");
        cases.put("\"r\": true", "\"r\" must be a positive integer, got true");
        cases.put("\"r\": -1", "\"r\" must be a positive integer, got -1");
        cases.put("\"r\": 99999999999", "\"r\" must be a positive integer, got 99999999999");
        cases.put("\"r\": null", "\"r\" must be a positive integer, got null");
        cases.put("\"use_rslora\": \"yes\"", "\"use_rslora\" must be true or false, got \"yes\"");
        cases.put("\"use_rslora\": 1", "\"use_rslora\" must be true or false, got 1");
        cases.put("\"use_dora\": \"yes\"", "\"use_dora\" must be true or false, got \"yes\"");
        cases.put("\"lora_alpha\": \"4\"", "\"lora_alpha\" must be a positive number, got \"4\"");
        cases.put("\"lora_alpha\": 1e39", "\"lora_alpha\" must be a positive number, got 1.0E39");
        cases.put("\"lora_dropout\": \"0.1\"", "\"lora_dropout\" must be a number in [0, 1), got \"0.1\"");
        cases.put("\"target_modules\": [\"fc1\", 3]",
                "\"target_modules\" must be a layer name or a list of layer names, got [\"fc1\",3]");
        cases.put("\"target_modules\": []", "\"target_modules\" must be a layer name or a non-empty list of layer names, got []");
        cases.put("\"target_modules\": null", "\"target_modules\" must be a layer name or a non-empty list of layer names, got null");
        cases.put("\"bias\": false", "\"bias\" must be \"none\", \"all\" or \"lora_only\", got false");
        cases.put("\"rank_pattern\": \"fc1\"", "\"rank_pattern\" must be an object of layer names, got \"fc1\"");
        String inits = "true, false or one of PEFT's init methods (gaussian, eva, orthogonal, pissa, olora, corda, loftq, lora_ga)";
        cases.put("\"init_lora_weights\": 1", "\"init_lora_weights\" must be " + inits + ", got 1");
        cases.put("\"init_lora_weights\": \"kaiming\"", "\"init_lora_weights\" must be " + inits + ", got \"kaiming\"");
        cases.put("\"peft_type\": null", "peft_type is null, jrocm loads only LORA adapters");
        Path file = dir.resolve(PeftAdapter.CONFIG);
        for (Map.Entry<String, String> c : cases.entrySet()) {
            Files.writeString(file, "{" + CONFIG + ", " + c.getKey() + "}"); // the later duplicate key wins
            IOException e = assertThrows(IOException.class, () -> PeftAdapter.readConfig(dir), c.getKey());
            assertEquals(file + ": " + c.getValue(), e.getMessage(), c.getKey());
        }
        Files.writeString(file, "{" + CONFIG + "}");
        LoraConfig plain = PeftAdapter.readConfig(dir);
        assertEquals(LoraConfig.of(2, 4, "fc1", "fc3").withInit(LoraConfig.Init.KAIMING_UNIFORM), plain);
    }

    @Test
    void aConfigWithContentAfterItsObjectIsNotValidJson(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve(PeftAdapter.CONFIG), "{" + CONFIG + "} {\"r\": 8}");
        IOException e = assertThrows(IOException.class, () -> PeftAdapter.readConfig(dir));
        assertTrue(e.getMessage().startsWith(dir.resolve(PeftAdapter.CONFIG) + " is not valid JSON"), e.getMessage());
    }

    @Test
    void aConfigTypeErrorChangesNothing(@TempDir Path dir) throws IOException {
        saveTrainedAdapter(dir);
        Files.writeString(dir.resolve(PeftAdapter.CONFIG), "{" + CONFIG + ", \"r\": \"2\"}");
        try (Sequential model = mlp(1)) {
            ModelState before = ModelState.of(model);
            assertThrows(IOException.class, () -> PeftAdapter.load(model, dir));
            before.assertUnchanged(model, "after a refused config");
        }
    }
}
