package dev.jrocm.lora;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
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
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.regex.MatchResult;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.jrocm.lora.PeftAdapterTest.mlp;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Seeded mutations of a valid saved adapter — bytes of the safetensors header and data flipped,
 * cut or inserted; dtypes, shapes and names changed; config values replaced by other JSON types or
 * dropped — each either loads exactly what the files say or is a clean {@link IOException} or
 * {@link IllegalArgumentException} with a message that leaves the model exactly as it was.
 */
class AdapterFuzzTest {
    /** Another run: {@code -Djrocm.fuzz.seed=… -Djrocm.fuzz.mutations=…}; a failure names both seeds. */
    static final long SEED = Long.getLong("jrocm.fuzz.seed", 20261202L);
    static final int MUTATIONS = Integer.getInteger("jrocm.fuzz.mutations", 300);
    static final ObjectMapper JSON = new ObjectMapper();

    @BeforeAll
    static void open() { PeftAdapterTest.open(); }

    @AfterAll
    static void close() { PeftAdapterTest.close(); }

    @Test
    void everyMutationLoadsExactlyOrFailsCleanlyLeavingTheModelUnchanged(@TempDir Path dir) throws IOException {
        Path valid = dir.resolve("valid");
        AdapterFilesTest.Saved saved = AdapterFilesTest.saveTrainedAdapter(valid);
        byte[] config = Files.readAllBytes(valid.resolve(PeftAdapter.CONFIG));
        List<byte[]> bases = new ArrayList<>(); // the adapter's weights in each float type an adapter may be saved in
        for (SafetensorsDType dtype : AdapterTensors.READABLE.stream().sorted().toList()) {
            AdapterFilesTest.rewrite(valid, saved, encoded(saved, dtype));
            bases.add(Files.readAllBytes(valid.resolve(PeftAdapter.WEIGHTS)));
        }
        Random random = new Random(SEED);
        int loaded = 0;
        for (int i = 0; i < MUTATIONS; i++) {
            long seed = random.nextLong();
            Path adapter = dir.resolve("m" + i);
            Files.createDirectories(adapter);
            Random r = new Random(seed);
            Mutation m = mutate(r, bases.get(r.nextInt(bases.size())), config);
            Files.write(adapter.resolve(PeftAdapter.WEIGHTS), m.weights());
            Files.write(adapter.resolve(PeftAdapter.CONFIG), m.config());
            String context = "mutation " + i + " (seed " + SEED + ", mutation seed " + seed + ": " + m.what() + ")";
            if (tryLoad(adapter, context)) {
                loaded++;
            }
        }
        // both outcomes must occur, or the mutations test only one path
        assertTrue(loaded > 0 && loaded < MUTATIONS, loaded + " of " + MUTATIONS + " mutations loaded");
    }

    /** Loads {@code adapter} onto a fresh base; whether it loaded. Fails on anything but the two clean outcomes. */
    static boolean tryLoad(Path adapter, String context) throws IOException {
        try (Sequential model = mlp(1)) {
            ModelState before = ModelState.of(model);
            LoraModel lora;
            try {
                lora = PeftAdapter.load(model, adapter);
            } catch (IOException | IllegalArgumentException e) {
                assertTrue(e.getMessage() != null && !e.getMessage().isBlank(), context + ": " + e + " has no message");
                before.assertUnchanged(model, context + ", failed with " + e);
                return false;
            } catch (RuntimeException | Error e) {
                throw new AssertionError(context + ": not a clean failure: " + e, e);
            }
            assertLoadedWhatTheFilesSay(adapter, lora, before, context);
            return true;
        }
    }

    /** The config's values as plain JSON says them, and each factor's values as the file's bytes say them. */
    static void assertLoadedWhatTheFilesSay(Path adapter, LoraModel lora, ModelState before, String context) throws IOException {
        JsonNode c = JSON.readTree(adapter.resolve(PeftAdapter.CONFIG).toFile());
        assertEquals("LORA", c.path("peft_type").textValue(), context + ": loaded a non-LORA config");
        assertTrue(c.get("r").isInt(), context + ": loaded r = " + c.get("r"));
        assertEquals(c.get("r").intValue(), lora.config().rank(), context);
        assertTrue(c.get("lora_alpha").isNumber(), context + ": loaded lora_alpha = " + c.get("lora_alpha"));
        assertEquals((float) c.get("lora_alpha").doubleValue(), lora.config().alpha(), context);
        JsonNode rs = c.path("use_rslora");
        assertTrue(rs.isMissingNode() || rs.isNull() || rs.isBoolean(), context + ": loaded use_rslora = " + rs);
        assertEquals(rs.asBoolean(false), lora.config().rsLora(), context);
        for (String flag : List.of("use_dora", "fan_in_fan_out")) {
            assertFalse(c.path(flag).asBoolean(false) || c.path(flag).isTextual(), context + ": loaded " + flag + " = " + c.get(flag));
        }
        try (SafetensorsFile file = SafetensorsFile.open(adapter.resolve(PeftAdapter.WEIGHTS))) {
            assertEquals(2 * lora.layers().size(), file.names().size(), context + ": tensors left unused");
            for (Map.Entry<String, LoraLayer> e : lora.layers().entrySet()) {
                assertFactor(file, PeftAdapter.key(e.getKey(), "lora_A"), e.getValue().loraA().toArray(), context);
                assertFactor(file, PeftAdapter.key(e.getKey(), "lora_B"), e.getValue().loraB().toArray(), context);
            }
        }
        before.values().forEach((name, v) -> assertTrue(Arrays.equals(v, lora.model().stateDict().get(name).toArray()),
                context + ": base parameter " + name + " changed"));
    }

    static void assertFactor(SafetensorsFile file, String name, float[] got, String context) throws IOException {
        SafetensorsFile.Entry entry = file.entry(name);
        ByteBuffer b = ByteBuffer.wrap(file.bytes(name)).order(ByteOrder.LITTLE_ENDIAN);
        float[] want = new float[got.length];
        for (int i = 0; i < want.length; i++) {
            want[i] = switch (entry.dtype()) {
                case F32 -> b.getFloat();
                case F16 -> AdapterFilesTest.f16(b.getShort() & 0xffff);
                case BF16 -> Float.intBitsToFloat((b.getShort() & 0xffff) << 16);
                case F64 -> (float) b.getDouble();
                default -> throw new AssertionError(context + ": loaded " + name + " of type " + entry.dtype());
            };
        }
        assertFalse(b.hasRemaining(), context + ": " + name + " has more elements than were loaded");
        AdapterFilesTest.assertBitsEqual(want, got, context + ": " + name);
    }

    /** Every tensor of {@code saved} in {@code dtype}, rounded to it. */
    static Map<String, Safetensors.Source> encoded(AdapterFilesTest.Saved saved, SafetensorsDType dtype) {
        Map<String, Safetensors.Source> out = new LinkedHashMap<>();
        saved.values().forEach((name, v) -> {
            int[] halves = new int[v.length];
            double[] doubles = new double[v.length];
            for (int i = 0; i < v.length; i++) {
                halves[i] = dtype == SafetensorsDType.F16 ? Float.floatToFloat16(v[i]) : Float.floatToIntBits(v[i]) >>> 16;
                doubles[i] = v[i];
            }
            byte[] bytes = switch (dtype) {
                case F32 -> AdapterFilesTest.f32Bytes(v);
                case F64 -> AdapterFilesTest.doubles(doubles);
                default -> AdapterFilesTest.shorts(halves);
            };
            out.put(name, Safetensors.Source.ofBytes(name, dtype, bytes, saved.shapes().get(name)));
        });
        return out;
    }

    record Mutation(byte[] weights, byte[] config, String what) {}

    static final SafetensorsDType[] DTYPES = SafetensorsDType.values();
    static final List<JsonNode> VALUES = values();

    static List<JsonNode> values() {
        JsonNodeFactory f = JsonNodeFactory.instance;
        List<JsonNode> v = new ArrayList<>(List.of(f.textNode("2"), f.numberNode(2), f.numberNode(2.9), f.numberNode(2.0),
                f.booleanNode(true), f.booleanNode(false), f.nullNode(), f.numberNode(-1), f.numberNode(0), f.numberNode(1),
                f.numberNode(4), f.numberNode(1e39), f.numberNode(99999999999L), f.numberNode(0.5), f.numberNode(1.0),
                f.textNode("fc1"), f.textNode("LORA"), f.textNode("yes"), f.textNode("gaussian"), f.textNode("none"),
                f.textNode("fc[13]"), f.objectNode(), f.arrayNode()));
        v.add(f.arrayNode().add("fc1"));
        v.add(f.arrayNode().add("fc1").add("fc3"));
        v.add(f.arrayNode().add("fc3").add("fc1").add("fc2"));
        v.add(f.arrayNode().add("fc1").add(3));
        v.add(f.objectNode().put("fc1", 4));
        return v;
    }

    static final List<String> KEYS = List.of("peft_type", "r", "lora_alpha", "lora_dropout", "target_modules",
            "use_rslora", "use_dora", "fan_in_fan_out", "bias", "init_lora_weights", "rank_pattern", "modules_to_save",
            "task_type");

    static Mutation mutate(Random r, byte[] weights, byte[] config) throws IOException {
        int headerLength = (int) ByteBuffer.wrap(weights).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        String header = new String(weights, 8, headerLength, StandardCharsets.UTF_8);
        byte[] data = Arrays.copyOfRange(weights, 8 + headerLength, weights.length);
        return switch (r.nextInt(11)) {
            case 0 -> {
                byte[] w = weights.clone();
                int at = 8 + r.nextInt(headerLength);
                w[at] ^= (byte) (1 << r.nextInt(8));
                yield new Mutation(w, config, "header bit flipped at byte " + at);
            }
            case 1 -> {
                byte[] w = weights.clone();
                int at = 8 + headerLength + r.nextInt(data.length);
                w[at] = (byte) r.nextInt(256);
                yield new Mutation(w, config, "data byte " + at + " set to " + (w[at] & 0xff));
            }
            case 2 -> {
                int length = r.nextInt(weights.length);
                yield new Mutation(Arrays.copyOf(weights, length), config, "weights truncated to " + length + " bytes");
            }
            case 3 -> {
                int at = r.nextInt(weights.length + 1), n = 1 + r.nextInt(8);
                byte[] w = new byte[weights.length + n];
                System.arraycopy(weights, 0, w, 0, at);
                for (int k = 0; k < n; k++) {
                    w[at + k] = (byte) r.nextInt(256);
                }
                System.arraycopy(weights, at, w, at + n, weights.length - at);
                yield new Mutation(w, config, n + " random bytes inserted at " + at);
            }
            case 4 -> {
                byte[] w = weights.clone();
                int at = r.nextInt(8);
                w[at] = (byte) r.nextInt(256);
                yield new Mutation(w, config, "header length byte " + at + " set to " + (w[at] & 0xff));
            }
            case 5 -> {
                SafetensorsDType to = DTYPES[r.nextInt(DTYPES.length)];
                String h = replaceNth(header, "\"dtype\":\"[A-Z0-9_]+\"", "\"dtype\":\"" + to + "\"", r.nextInt(4));
                yield new Mutation(withHeader(h, data), config, "a dtype changed to " + to);
            }
            case 6 -> {
                String[] shapes = {"[2,20]", "[20,2]", "[4,10]", "[2,20,1]", "[40]", "[]", "[16,2]", "[0,20]", "[2,-20]",
                        "[2,2e1]", "[2,\"20\"]", "[4294967298,20]"};
                String to = shapes[r.nextInt(shapes.length)];
                int which = r.nextInt(4);
                String h = replaceNth(header, "\"shape\":\\[[0-9,]*\\]", "\"shape\":" + to, which);
                yield new Mutation(withHeader(h, data), config, "shape " + which + " changed to " + to);
            }
            case 7 -> {
                String[][] names = {{"lora_A", "lora_a"}, {"fc1", "fc2"}, {"fc3", "fc1"}, {"base_model.model.", ""},
                        {".weight", ".bias"}};
                String[] n = names[r.nextInt(names.length)];
                String h = replaceNth(header, Pattern.quote(n[0]), n[1], r.nextInt(2));
                yield new Mutation(withHeader(h, data), config, "a name's '" + n[0] + "' changed to '" + n[1] + "'");
            }
            case 8 -> {
                ObjectNode c = (ObjectNode) JSON.readTree(config);
                String key = KEYS.get(r.nextInt(KEYS.size()));
                JsonNode value = VALUES.get(r.nextInt(VALUES.size()));
                c.set(key, value);
                yield new Mutation(weights, JSON.writeValueAsBytes(c), "config " + key + " set to " + value);
            }
            case 9 -> {
                ObjectNode c = (ObjectNode) JSON.readTree(config);
                List<String> present = new ArrayList<>();
                c.fieldNames().forEachRemaining(present::add);
                String key = present.get(r.nextInt(present.size()));
                c.remove(key);
                yield new Mutation(weights, JSON.writeValueAsBytes(c), "config " + key + " dropped");
            }
            default -> {
                byte[] c = config.clone();
                int at = r.nextInt(c.length);
                if (r.nextBoolean()) {
                    c[at] = (byte) r.nextInt(256);
                    yield new Mutation(weights, c, "config byte " + at + " set to " + (c[at] & 0xff));
                }
                yield new Mutation(weights, Arrays.copyOf(c, at), "config truncated to " + at + " bytes");
            }
        };
    }

    // The {@code n}th match (or the last, if there are fewer) of {@code regex} replaced by {@code to}.
    static String replaceNth(String s, String regex, String to, int n) {
        Matcher m = Pattern.compile(regex).matcher(s);
        MatchResult last = null;
        for (int k = 0; k <= n && m.find(); k++) {
            last = m.toMatchResult();
        }
        return last == null ? s : s.substring(0, last.start()) + to + s.substring(last.end());
    }

    static byte[] withHeader(String header, byte[] data) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN)
                .putLong(h.length).put(h).put(data).array();
    }
}
