package dev.jrocm.lora;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Reads PEFT's {@code adapter_config.json} strictly: each field jrocm uses must have the JSON type
 * PEFT writes ({@code r} an integer, {@code lora_alpha} a number, {@code use_rslora} a boolean,
 * {@code target_modules} a string or a list of strings, …), and each option that plain LoRA would
 * apply differently is refused by name. Every error names the file, the key and the value.
 */
final class AdapterConfig {
    private static final ObjectReader JSON = new ObjectMapper().reader()
            .with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    /** Init methods that start only the adapter: B at zero, A by some rule, the base as it was. */
    private static final List<String> KEEPS_BASE_INITS = List.of("gaussian", "eva", "orthogonal");
    /** Init methods that rewrite the base weights when PEFT makes the adapter: it then fits only that rewritten base. */
    private static final List<String> BASE_REWRITING_INITS = List.of("pissa", "olora", "corda", "loftq", "lora_ga");

    private final Path file;
    private final JsonNode n;

    private AdapterConfig(Path file, JsonNode n) {
        this.file = file;
        this.n = n;
    }

    /** The config in {@code file}. */
    static LoraConfig read(Path file) throws IOException {
        JsonNode n;
        try {
            n = JSON.readTree(Files.readAllBytes(file));
        } catch (NoSuchFileException e) {
            throw new NoSuchFileException(file.toString(), null, "no LoRA adapter here: " + PeftAdapter.CONFIG + " is missing");
        } catch (IOException e) {
            throw new IOException(file + " is not valid JSON: " + e.getMessage(), e);
        }
        if (n == null || !n.isObject()) {
            throw new IOException(file + " does not hold a JSON object");
        }
        return new AdapterConfig(file, n).config();
    }

    private LoraConfig config() throws IOException {
        JsonNode type = n.path("peft_type");
        if (!type.isTextual() || !type.textValue().equals("LORA")) {
            throw new IOException(file + ": peft_type is " + (type.isTextual() ? "'" + type.textValue() + "'" : describe(type))
                    + ", jrocm loads only LORA adapters");
        }
        for (String key : List.of("r", "lora_alpha", "target_modules")) {
            if (!n.has(key)) {
                throw new IOException(file + ": \"" + key + "\" is missing");
            }
        }
        int rank = rank();
        float alpha = alpha();
        float dropout = dropout();
        List<String> targets = targets();
        boolean rsLora = flag("use_rslora");
        LoraConfig.Init init = init();
        List<String> unsupported = unsupported();
        if (!unsupported.isEmpty()) {
            throw new IOException(file + ": jrocm cannot apply this adapter as PEFT would: " + String.join("; ", unsupported));
        }
        try {
            return new LoraConfig(rank, alpha, dropout, targets, init, rsLora);
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + e.getMessage(), e);
        }
    }

    private int rank() throws IOException {
        JsonNode r = n.get("r");
        if (!r.isIntegralNumber() || !r.canConvertToInt() || r.intValue() < 1) {
            throw wrong("r", "a positive integer", r);
        }
        return r.intValue();
    }

    private float alpha() throws IOException {
        JsonNode v = n.get("lora_alpha");
        float alpha = v.isNumber() ? (float) v.doubleValue() : Float.NaN;
        if (!(Float.isFinite(alpha) && alpha > 0f)) {
            throw wrong("lora_alpha", "a positive number", v);
        }
        return alpha;
    }

    // Absent is 0, as in PEFT.
    private float dropout() throws IOException {
        if (!n.has("lora_dropout")) {
            return 0f;
        }
        JsonNode v = n.get("lora_dropout");
        float p = v.isNumber() ? (float) v.doubleValue() : Float.NaN;
        if (!(p >= 0f && p < 1f)) {
            throw wrong("lora_dropout", "a number in [0, 1)", v);
        }
        return p;
    }

    private List<String> targets() throws IOException {
        JsonNode t = n.get("target_modules");
        List<String> targets = new ArrayList<>();
        if (t.isTextual()) {
            // PEFT reads a lone string as a regular expression over module names
            if (!t.textValue().matches("[A-Za-z0-9_.]+")) {
                throw new IOException(file + ": target_modules is the regular expression '" + t.textValue()
                        + "'; jrocm loads adapters whose target_modules names the layers");
            }
            targets.add(t.textValue());
        } else if (t.isArray() && !t.isEmpty()) {
            for (JsonNode x : t) {
                if (!x.isTextual()) {
                    throw wrong("target_modules", "a layer name or a list of layer names", t);
                }
                targets.add(x.textValue());
            }
        } else {
            // an empty or absent list means every Linear to jrocm but PEFT's per-architecture defaults
            throw wrong("target_modules", "a layer name or a non-empty list of layer names", t);
        }
        return targets;
    }

    // A boolean option: absent or null is false, as in PEFT.
    private boolean flag(String key) throws IOException {
        JsonNode v = n.path(key);
        if (v.isMissingNode() || v.isNull()) {
            return false;
        }
        if (!v.isBoolean()) {
            throw wrong(key, "true or false", v);
        }
        return v.booleanValue();
    }

    // Only the names PEFT knows: an unknown one PEFT itself refuses.
    private LoraConfig.Init init() throws IOException {
        JsonNode init = n.path("init_lora_weights");
        boolean known = init.isMissingNode() || init.isBoolean() || (init.isTextual() && (KEEPS_BASE_INITS.contains(init.textValue())
                || BASE_REWRITING_INITS.stream().anyMatch(init.textValue().toLowerCase(Locale.ROOT)::startsWith)));
        if (!known) {
            throw wrong("init_lora_weights", "true, false or one of PEFT's init methods (" + String.join(", ", KEEPS_BASE_INITS)
                    + ", " + String.join(", ", BASE_REWRITING_INITS) + ")", init);
        }
        return init.isTextual() && init.textValue().equals("gaussian") ? LoraConfig.Init.GAUSSIAN
                : LoraConfig.Init.KAIMING_UNIFORM;
    }

    /**
     * The PEFT options of a LoRA config that jrocm's plain LoRA (one rank and alpha, y += s·x·Aᵀ·Bᵀ
     * on the named Linear layers) would silently apply differently, each named with its value.
     */
    private List<String> unsupported() throws IOException {
        List<String> found = new ArrayList<>();
        for (String flag : List.of("use_dora", "lora_bias", "fan_in_fan_out", "use_qalora")) {
            if (flag(flag)) {
                found.add(flag + " is true");
            }
        }
        JsonNode bias = n.path("bias");
        if (!bias.isMissingNode() && !bias.isTextual()) {
            throw wrong("bias", "\"none\", \"all\" or \"lora_only\"", bias);
        }
        if (bias.isTextual() && !bias.textValue().equals("none")) {
            found.add("bias is '" + bias.textValue() + "' (the adapter trains biases)");
        }
        for (String pattern : List.of("rank_pattern", "alpha_pattern")) {
            JsonNode v = n.path(pattern);
            if (!v.isMissingNode() && !v.isNull() && !v.isObject()) {
                throw wrong(pattern, "an object of layer names", v);
            }
            if (v.size() > 0) {
                found.add(pattern + " is " + v + " (a rank or alpha per layer)");
            }
        }
        for (String field : List.of("layers_to_transform", "layers_pattern", "exclude_modules", "layer_replication",
                "target_parameters", "modules_to_save", "trainable_token_indices")) {
            JsonNode v = n.path(field);
            if (!v.isMissingNode() && !v.isNull() && !(v.isContainerNode() && v.isEmpty())) {
                found.add(field + " is " + describe(v));
            }
        }
        JsonNode init = n.path("init_lora_weights");
        if (init.isTextual() && BASE_REWRITING_INITS.stream().anyMatch(init.textValue().toLowerCase(Locale.ROOT)::startsWith)) {
            found.add("init_lora_weights is '" + init.textValue() + "', which rewrites the base weights");
        }
        return found;
    }

    private IOException wrong(String key, String must, JsonNode got) {
        return new IOException(file + ": \"" + key + "\" must be " + must + ", got " + describe(got));
    }

    private static String describe(JsonNode node) {
        String text = node.isMissingNode() ? "missing" : node.toString();
        return text.length() > 80 ? text.substring(0, 77) + "..." : text;
    }
}
