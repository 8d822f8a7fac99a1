package dev.jrocm.lora;

import dev.jrocm.runtime.nn.Module;
import dev.jrocm.runtime.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

/**
 * Everything a failed load or apply must leave as it was: which module object sits at each path
 * (and its mode), which tensor object is each parameter, its values and its requires-grad flag.
 */
record ModelState(Map<String, Module> modules, Map<String, Boolean> training, Map<String, Tensor> parameters,
                  Map<String, float[]> values, Map<String, Boolean> requiresGrad) {

    static ModelState of(Module model) {
        ModelState s = new ModelState(new LinkedHashMap<>(), new LinkedHashMap<>(), new LinkedHashMap<>(),
                new LinkedHashMap<>(), new LinkedHashMap<>());
        s.walk("", model);
        model.namedParameters().forEach((name, p) -> {
            s.parameters.put(name, p);
            s.values.put(name, p.toArray());
            s.requiresGrad.put(name, p.requiresGrad());
        });
        return s;
    }

    private void walk(String path, Module m) {
        modules.put(path, m);
        training.put(path, m.isTraining());
        m.children().forEach((name, child) -> walk(path.isEmpty() ? name : path + "." + name, child));
    }

    /** Fails, saying what differs and {@code context}, unless {@code model} is exactly in this state. */
    void assertUnchanged(Module model, String context) {
        ModelState now = of(model);
        assertEquals(modules.keySet(), now.modules.keySet(), context + ": the module structure changed");
        modules.forEach((path, m) -> assertSame(m, now.modules.get(path), context + ": module '" + path + "' was replaced"));
        assertEquals(training, now.training, context + ": a train/eval mode changed");
        assertEquals(parameters.keySet(), now.parameters.keySet(), context + ": the parameter names changed");
        parameters.forEach((name, p) -> assertSame(p, now.parameters.get(name), context + ": parameter " + name + " was replaced"));
        values.forEach((name, v) -> assertArrayEquals(v, now.values.get(name), context + ": parameter " + name + " changed"));
        assertEquals(requiresGrad, now.requiresGrad, context + ": a requires-grad flag changed");
    }
}
