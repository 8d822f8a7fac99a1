package dev.jrocm.runtime.device;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * What the C test double of MIOpen ({@code src/test/c/fake_miopen.c}) recorded: how often each
 * entry point was called, the descriptors alive, the last workspace and the last convolution and
 * pooling descriptors. The double must already be loaded ({@link TestDoubles#build} and
 * System.load, or a probe that loaded it); its symbols are found through the loader lookup.
 */
public final class FakeMIOpen {
    private FakeMIOpen() {}

    private static MethodHandle function(String name, FunctionDescriptor type) {
        MemorySegment symbol = SymbolLookup.loaderLookup().find(name)
                .orElseThrow(() -> new IllegalStateException(name + ": the MIOpen test double is not loaded"));
        return Linker.nativeLinker().downcallHandle(symbol, type);
    }

    /** How many times MIOpen's entry point {@code name} was called since the double was loaded. */
    public static int calls(String name) {
        try (Arena arena = Arena.ofConfined()) {
            return (int) function("fake_miopen_calls", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS))
                    .invokeExact(arena.allocateFrom(name));
        } catch (Throwable e) {
            throw new AssertionError(e);
        }
    }

    /** Tensor, convolution and pooling descriptors created and not yet destroyed. */
    public static int live() {
        try {
            return (int) function("fake_miopen_live", FunctionDescriptor.of(ValueLayout.JAVA_INT)).invokeExact();
        } catch (Throwable e) {
            throw new AssertionError(e);
        }
    }

    /** The address of the last workspace a call was given (0 for none). */
    public static long lastWorkspace() {
        try {
            MemorySegment s = (MemorySegment) function("fake_miopen_last_workspace",
                    FunctionDescriptor.of(ValueLayout.ADDRESS)).invokeExact();
            return s.address();
        } catch (Throwable e) {
            throw new AssertionError(e);
        }
    }

    /** The size in bytes of the last workspace a call was given. */
    public static long lastWorkspaceBytes() {
        try {
            return (long) function("fake_miopen_last_workspace_size", FunctionDescriptor.of(ValueLayout.JAVA_LONG)).invokeExact();
        } catch (Throwable e) {
            throw new AssertionError(e);
        }
    }

    private static int[] ints(String name, int count) {
        try {
            MemorySegment s = (MemorySegment) function(name, FunctionDescriptor.of(ValueLayout.ADDRESS)).invokeExact();
            return s.reinterpret(4L * count).toArray(ValueLayout.JAVA_INT);
        } catch (Throwable e) {
            throw new AssertionError(e);
        }
    }

    /** The last convolution descriptor used: mode, padH, padW, strideH, strideW, dilH, dilW. */
    public static int[] lastConvolution() {
        return ints("fake_miopen_last_conv", 7);
    }

    /** The last pooling descriptor used: mode, kh, kw, padH, padW, strideH, strideW. */
    public static int[] lastPooling() {
        return ints("fake_miopen_last_pool", 7);
    }
}
