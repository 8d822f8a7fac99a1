package dev.jrocm.runtime.io;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ProgressTest {
    final AtomicLong now = new AtomicLong();
    final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    final PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);

    String printed() { return bytes.toString(StandardCharsets.UTF_8); }

    @Test
    void aLineShowsBarPercentRateAndEta() {
        Progress p = new Progress("data", 100_000_000, out, false, now::get);
        now.set(2_000_000_000L);
        p.advance(45_000_000); // 22.5 MB/s, 55 MB left: 2.4 s
        assertEquals("data  [#########           ]   45%  22.5 MB/s  ETA 0:02", p.render(now.get()));
    }

    @Test
    void withoutAConsoleItPrintsALineAtEveryTenth() {
        Progress p = new Progress("f", 1000, out, false, now::get);
        for (int i = 0; i < 20; i++) {
            now.addAndGet(1_000_000_000L);
            p.advance(50); // 50 B/s
        }
        p.finish();
        p.finish(); // idempotent
        String[] lines = printed().split("\n");
        assertEquals(10, lines.length); // 10 %, 20 %, … 90 %, then the final line
        assertEquals("f  [##                  ]   10%  0.0 MB/s  ETA 0:18", lines[0]);
        assertEquals("f  [####################]  100%  0.0 MB/s  ETA 0:00", lines[9]);
    }

    @Test
    void onAConsoleItRedrawsOneLineAtMostTenTimesASecond() {
        Progress p = new Progress("f", 1000, out, true, now::get);
        p.advance(100);
        now.addAndGet(50_000_000L);
        p.advance(100); // too soon: not drawn
        now.addAndGet(100_000_000L);
        p.advance(100);
        p.finish();
        assertEquals("\rf  [##                  ]   10%  0.0 MB/s  ETA -:--"
                + "\rf  [######              ]   30%  0.0 MB/s  ETA 0:00"
                + "\rf  [######              ]   30%  0.0 MB/s  ETA 0:00\n", printed().replace("\r\n", "\n").replace(
                        System.lineSeparator(), "\n"));
    }

    @Test
    void anUnknownTotalShowsBytesAndRate() {
        Progress p = new Progress("f", -1, out, false, now::get);
        now.set(1_000_000_000L);
        p.advance(12_300_000);
        assertEquals("f  12.3 MB  12.3 MB/s", p.render(now.get()));
        assertEquals(12_300_000, p.done());
    }

    @Test
    void aCountShowsItsUnitPerSecondAndTheNoteAfterTheEta() {
        Progress p = new Progress("epoch 1", 1000, new Progress.Unit("samples"), out, false, now::get);
        now.set(2_000_000_000L);
        p.note("loss 0.412");
        p.advance(450); // 225 samples/s, 550 left: 2.4 s
        assertEquals("epoch 1  [#########           ]   45%  225 samples/s  ETA 0:02  loss 0.412", p.render(now.get()));
        Progress unknown = new Progress("epoch 1", -1, new Progress.Unit("samples"), out, false, now::get);
        now.addAndGet(2_000_000_000L);
        unknown.advance(1234);
        assertEquals("epoch 1  1,234 samples  617 samples/s", unknown.render(now.get()));
    }

    @Test
    void onAConsoleALinePrintedBetweenRedrawsErasesTheBarWhichComesBackBelowIt() {
        Progress p = new Progress("f", 1000, new Progress.Unit("rows"), out, true, now::get);
        now.set(1_000_000_000L);
        p.advance(100);
        String bar = "f  [##                  ]   10%  100 rows/s  ETA 0:09";
        p.println("[0,   1] loss: 0.500");
        p.advance(100); // at once: the bar is not on the screen
        String bar2 = "f  [####                ]   20%  200 rows/s  ETA 0:04";
        p.erase();
        p.erase(); // nothing left to erase
        String blank = "\r" + " ".repeat(bar.length()) + "\r";
        assertEquals("\r" + bar + blank + "[0,   1] loss: 0.500\n" + "\r" + bar2 + blank,
                printed().replace(System.lineSeparator(), "\n"));
    }

    @Test
    void aShorterRedrawBlanksWhatTheLongerLineLeft() {
        Progress p = new Progress("f", 1000, new Progress.Unit("rows"), out, true, now::get);
        now.set(1_000_000_000L);
        p.note("loss 10.000");
        p.advance(100);
        now.addAndGet(100_000_000L);
        p.note("loss 1.000");
        p.advance(0);
        String[] draws = printed().split("\r");
        assertEquals(3, draws.length, printed());
        assertEquals(draws[1].length(), draws[2].length(), printed());
        assertTrue(draws[2].stripTrailing().endsWith("loss 1.000") && draws[2].endsWith(" "), draws[2]);
    }

    @Test
    void etaIsMinutesAndSecondsOrHours() {
        assertEquals("0:07", Progress.clock(7));
        assertEquals("2:05", Progress.clock(125));
        assertEquals("1:00:01", Progress.clock(3601));
    }
}
