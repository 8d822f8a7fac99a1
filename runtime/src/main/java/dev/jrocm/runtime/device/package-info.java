/**
 * Devices: which backends can run on this machine ({@link dev.jrocm.runtime.device.Devices},
 * {@link dev.jrocm.runtime.device.BackendStatus}), the one a program uses
 * ({@link dev.jrocm.runtime.device.Devices#best()}, {@link dev.jrocm.runtime.device.Devices#open},
 * chosen with {@code -Djrocm.device=} or {@code JROCM_DEVICE}), and what every backend offers
 * ({@link dev.jrocm.runtime.device.Backend}, {@link dev.jrocm.runtime.device.Buffer}).
 *
 * <p>Also the parts the backends share: the probe of each native library
 * ({@link dev.jrocm.runtime.device.NativeLibrary}), the error a failed GPU call throws
 * ({@link dev.jrocm.runtime.device.GpuException}) and the check that a backend computes what the
 * CPU computes ({@link dev.jrocm.runtime.device.SelfCheck}). The backends themselves live in
 * packages this module exports only to jrocm's own modules; a program reaches them through
 * {@code Devices} and works with the {@code Backend} it returns.
 */
package dev.jrocm.runtime.device;
