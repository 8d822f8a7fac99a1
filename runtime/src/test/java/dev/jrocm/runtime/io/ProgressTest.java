package dev.jrocm.runtime.io;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;

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
    void etaIsMinutesAndSecondsOrHours() {
        assertEquals("0:07", Progress.clock(7));
        assertEquals("2:05", Progress.clock(125));
        assertEquals("1:00:01", Progress.clock(3601));
    }
}
