package dev.jrocm.samples;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.HashSet;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AxisTest {

    static List<String> labels(Axis axis) {
        return axis.ticks().stream().map(axis::label).toList();
    }

    @Test
    void aShortRunOfBatchesIsTickedAtWholeBatches() {
        // the old axis put five ticks over 0..1.6 batches and labelled 1.6 as "2"
        assertEquals(List.of("0", "1", "2"), labels(Axis.of(0, 1.6, 6, true)));
        assertEquals(List.of("0", "1", "2", "3", "4", "5"), labels(Axis.of(0, 5, 6, true)));
        assertEquals(List.of("0", "1"), labels(Axis.of(0, 1, 6, true)));
    }

    @Test
    void fractionalDataGetsFractionalTicksWithTheirDecimals() {
        assertEquals(List.of("0.0", "0.5", "1.0", "1.5", "2.0"), labels(Axis.of(0, 1.6, 5, false)));
    }

    @Test
    void aFullRunOfBatchesIsTickedEveryFiveHundred() {
        assertEquals(List.of("0", "500", "1000", "1500", "2000"), labels(Axis.of(0, 1875, 6, true)));
    }

    @Test
    void lossesAreTickedAtTenthsOrFifths() {
        assertEquals(List.of("0.0", "0.2", "0.4", "0.6", "0.8"), labels(Axis.of(0, 0.7, 5, false)));
        assertEquals(List.of("0.3", "0.4", "0.5", "0.6", "0.7"), labels(Axis.of(0.31, 0.66, 5, false)));
    }

    @Test
    void aTinyRangeGetsEnoughDecimalsToTellTicksApart() {
        Axis axis = Axis.of(0.32811, 0.32829, 5, false);
        assertEquals(5e-5, axis.step(), 1e-15);
        assertEquals(List.of("0.32810", "0.32815", "0.32820", "0.32825", "0.32830"), labels(axis));
    }

    @Test
    void equalEndsAreWidenedAroundTheValue() {
        Axis axis = Axis.of(0.5, 0.5, 5, false);
        assertTrue(axis.min() < 0.5 && axis.max() > 0.5, axis.toString());
        assertEquals(List.of("-1", "0", "1"), labels(Axis.of(0, 0, 2, false)));
    }

    @ParameterizedTest
    @CsvSource({"0, 1.6, 6, true", "0, 5, 6, true", "0, 1875, 6, true", "0, 0.7, 5, false", "0.2394, 1.283, 5, false",
            "0.32811, 0.32829, 5, false", "0, 937.5, 6, true", "-3.2, 7.9, 5, false", "0, 123456, 6, true"})
    void ticksAreRoundCoverTheDataAndHaveDistinctLabelsThatReadAsTheirValues(double lo, double hi, int ticks, boolean whole) {
        Axis axis = Axis.of(lo, hi, ticks, whole);
        assertTrue(axis.min() <= lo && axis.max() >= hi, axis + " does not cover " + lo + ".." + hi);
        double mantissa = axis.step() / Math.pow(10, Math.floor(Math.log10(axis.step()) + 1e-9));
        assertTrue(List.of(1.0, 2.0, 5.0).stream().anyMatch(m -> Math.abs(m - mantissa) < 1e-9), "step " + axis.step());
        List<Double> values = axis.ticks();
        assertTrue(values.size() >= 2 && values.size() <= 2 * ticks + 1, values.toString());
        List<String> labels = labels(axis);
        assertEquals(labels.size(), new HashSet<>(labels).size(), "labels repeat: " + labels);
        for (int i = 0; i < values.size(); i++) {
            assertEquals(values.get(i), Double.parseDouble(labels.get(i)), axis.step() * 1e-6, labels.toString());
        }
    }

    @Test
    void anEmptyOrBackwardRangeIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Axis.of(2, 1, 5, false));
        assertEquals("no axis for 2.0..1.0 with 5 ticks", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Axis.of(0, Double.NaN, 5, false));
    }

    @Test
    void roundNumbersBelowAndAbove() {
        assertEquals(5, Axis.floor125(5.33));
        assertEquals(50, Axis.floor125(62.7));
        assertEquals(200, Axis.floor125(312.6));
        assertEquals(2000, Axis.floor125(2083.3));
        assertEquals(1000, Axis.floor125(1000));
        assertEquals(1, Axis.floor125(0.4));
        assertEquals(0.5, Axis.ceil125(0.32), 1e-15);
        assertEquals(500, Axis.ceil125(312.5), 1e-9);
        assertEquals(1, Axis.ceil125(1), 1e-15);
        assertEquals(10, Axis.ceil125(6), 1e-15);
    }
}
