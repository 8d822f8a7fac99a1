package dev.jrocm.runtime.device.hip;

import dev.jrocm.runtime.device.GpuException;
import dev.jrocm.runtime.device.NativeLibrary;
import dev.jrocm.runtime.device.TestDoubles;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * How HipDriver decides on MIOpen ({@link MIOpenDnn#openIfPresent}), with the C test double
 * standing in for libMIOpen: used when found, left out when switched off, and an error that names
 * the file and the switch when it is found but cannot start.
 */
class MIOpenDnnTest {
    /** The double refuses to start on this stream (fake_miopen.c, FAKE_BROKEN_STREAM). */
    static final MemorySegment BROKEN_STREAM = MemorySegment.ofAddress(0xdead0);
    static Runnable restore;
    static Path library;

    @BeforeAll
    static void substituteTheDouble() throws Exception {
        library = TestDoubles.build("fake_miopen");
        restore = TestDoubles.substitute(NativeLibrary.MIOPEN, library);
    }

    @AfterAll
    static void restoreTheProbe() {
        restore.run();
    }

    @AfterEach
    void clearTheSwitch() {
        System.clearProperty(MIOpenDnn.PROPERTY);
    }

    @Test
    void aFoundLibraryIsUsed() {
        try (MIOpenDnn dnn = MIOpenDnn.openIfPresent(MemorySegment.NULL)) {
            assertNotNull(dnn);
        }
    }

    @Test
    void theSwitchLeavesItOut() {
        for (String off : new String[] {"off", "false", "0", "NO"}) {
            System.setProperty(MIOpenDnn.PROPERTY, off);
            assertFalse(MIOpenDnn.enabled(), off);
            assertNull(MIOpenDnn.openIfPresent(MemorySegment.NULL), off);
        }
        System.setProperty(MIOpenDnn.PROPERTY, "on");
        assertTrue(MIOpenDnn.enabled());
    }

    @Test
    void aLibraryThatCannotStartIsAnErrorNamingTheFileAndTheSwitch() {
        GpuException e = assertThrows(GpuException.class, () -> MIOpenDnn.openIfPresent(BROKEN_STREAM));
        assertTrue(e.getMessage().contains("miopenCreateWithStream"), e.getMessage());
        assertTrue(e.getMessage().contains("miopenStatusInternalError"), e.getMessage());
        assertTrue(e.getMessage().contains("MIOpen failure (fake MIOpen: no kernel database)"), e.getMessage());
        assertTrue(e.getMessage().contains(library.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("JROCM_MIOPEN=off"), e.getMessage());
    }
}
