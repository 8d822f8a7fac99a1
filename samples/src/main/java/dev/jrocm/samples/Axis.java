package dev.jrocm.samples;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A plot axis whose ticks sit at round numbers: steps of 1, 2 or 5 times a power of ten, the
 * ends widened to the tick before and after the data, and labels with just enough decimals to
 * tell the ticks apart (a step of 0.2 labels {@code 0.4}, a step of 500 labels {@code 1500}).
 *
 * @param min  the axis's lower end, a multiple of {@code step}
 * @param max  the axis's upper end, a multiple of {@code step}
 * @param step the distance between ticks
 */
record Axis(double min, double max, double step) {

    /**
     * The axis for data from {@code lo} to {@code hi} with about {@code ticks} intervals; with
     * {@code whole} (counts, such as batches) the step is at least 1, so no tick falls between
     * two counts. Equal ends are widened around the value.
     */
    static Axis of(double lo, double hi, int ticks, boolean whole) {
        if (!Double.isFinite(lo) || !Double.isFinite(hi) || lo > hi || ticks < 1) {
            throw new IllegalArgumentException("no axis for " + lo + ".." + hi + " with " + ticks + " ticks");
        }
        if (hi == lo) {
            double pad = lo == 0 ? 1 : Math.abs(lo) * 0.05;
            lo -= pad;
            hi += pad;
        }
        double step = ceil125((hi - lo) / ticks);
        if (whole) {
            step = Math.max(1, step);
        }
        // A hair of slack so data a rounding error past a tick does not add a whole step.
        double slack = step * 1e-9;
        return new Axis(Math.floor((lo + slack) / step) * step, Math.ceil((hi - slack) / step) * step, step);
    }

    /** The tick values from {@link #min} to {@link #max}, each computed from its index (no drift). */
    List<Double> ticks() {
        long first = Math.round(min / step), last = Math.round(max / step);
        List<Double> values = new ArrayList<>();
        for (long i = first; i <= last; i++) {
            values.add(i * step);
        }
        return values;
    }

    /** {@code value} as its tick label: as many decimals as the step needs, none for a step ≥ 1. */
    String label(double value) {
        int decimals = Math.max(0, (int) -Math.floor(Math.log10(step) + 1e-9));
        String text = String.format(Locale.ROOT, "%." + decimals + "f", value);
        return text.matches("-0(\\.0*)?") ? text.substring(1) : text;
    }

    /** Where {@code value} falls between the ends: 0 at {@link #min}, 1 at {@link #max}. */
    double fraction(double value) {
        return (value - min) / (max - min);
    }

    /** The smallest number of the form 1, 2 or 5 times a power of ten that is at least {@code x} (> 0). */
    static double ceil125(double x) {
        double power = Math.pow(10, Math.floor(Math.log10(x)));
        for (double m : new double[] {1, 2, 5, 10}) {
            if (m * power >= x * (1 - 1e-12)) {
                return m * power;
            }
        }
        return 10 * power;
    }

    /** The largest count of the form 1, 2 or 5 times a power of ten that is at most {@code x}; 1 when {@code x} is below 1. */
    static int floor125(double x) {
        if (x < 1) {
            return 1;
        }
        double power = Math.pow(10, Math.floor(Math.log10(x) + 1e-12));
        for (double m : new double[] {5, 2, 1}) {
            if (m * power <= x * (1 + 1e-12)) {
                return (int) Math.round(m * power);
            }
        }
        return (int) Math.round(power);
    }
}
