package dev.jrocm.runtime.device.cpu;

/**
 * A counter-based generator: value i of a stream depends only on (seed, i), so any backend can
 * produce any element independently and every backend produces the same numbers. SplitMix64's
 * finaliser over seed·φ + i; 24 random bits make a float in [0, 1).
 */
public final class CounterRandom {
    private CounterRandom() {}

    public static long bits(long seed, long index) {
        long z = seed * 0x9E3779B97F4A7C15L + index;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Uniform in [0, 1). */
    public static float uniform(long seed, long index) {
        return (bits(seed, index) >>> 40) * 0x1.0p-24f;
    }

    /** Standard normal: Box–Muller over elements 2j and 2j+1 of the stream; cos for even i, sin for odd. */
    public static float normal(long seed, long index) {
        long pair = index & ~1L;
        double u1 = ((bits(seed, pair) >>> 40) + 1) * 0x1.0p-24; // (0, 1]: the log stays finite
        double u2 = (bits(seed, pair + 1) >>> 40) * 0x1.0p-24;
        double r = Math.sqrt(-2 * Math.log(u1));
        double angle = 2 * Math.PI * u2;
        return (float) (r * ((index & 1) == 0 ? Math.cos(angle) : Math.sin(angle)));
    }
}
