package dev.jrocm.runtime.device;

import java.util.List;

/**
 * {@link BackendContractTest#backends()} for tests in other packages (optimizers, clipping):
 * the CPU backends and a GPU one (the real device, or the emulated CUDA backend). A test class
 * that uses them closes them in its {@code @AfterAll} with {@link #closeAll()}, which also undoes
 * the library substitution of the emulated backend.
 */
public final class ContractBackends {
    private ContractBackends() {}

    public static List<Backend> all() {
        return BackendContractTest.backends();
    }

    public static void closeAll() {
        BackendContractTest.closeBackends();
    }
}
