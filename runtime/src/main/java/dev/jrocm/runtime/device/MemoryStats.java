package dev.jrocm.runtime.device;

/**
 * What a backend's caching pool has done.
 *
 * @param systemAllocations times the pool asked the system/driver for memory (a steady training
 *                          loop makes none)
 * @param bytesInUse bytes held by live buffers
 * @param bytesReserved bytes the pool holds in all, in use or cached
 */
public record MemoryStats(long systemAllocations, long bytesInUse, long bytesReserved) {}
