package dev.jrocm.runtime.io;

import java.io.PrintStream;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * A progress bar for long byte counts (downloads, extraction):
 * {@code label  [#########           ]  45%  12.3 MB/s  ETA 0:07}. On a terminal it redraws one
 * line with {@code \r} (at most ten times a second); otherwise (a log, CI) it prints a plain line
 * at every tenth of the way, so logs stay short. With an unknown total it shows bytes and rate.
 */
public final class Progress {
    static final int WIDTH = 20;
    private static final long REDRAW_NANOS = 100_000_000L;

    private final String label;
    private final long total; // bytes, or −1 when unknown
    private final PrintStream out;
    private final boolean interactive;
    private final LongSupplier clock;
    private final long start;
    private long done;
    private long lastDraw;
    private boolean drawn;
    private int lastTenth;
    private boolean finished;

    /**
     * @param total       the number of bytes expected, or −1 if unknown
     * @param interactive redraw in place with {@code \r} (a terminal) rather than print lines
     * @param nanoClock   the time source, {@code System::nanoTime} outside tests
     */
    public Progress(String label, long total, PrintStream out, boolean interactive, LongSupplier nanoClock) {
        this.label = label;
        this.total = total;
        this.out = out;
        this.interactive = interactive;
        this.clock = nanoClock;
        this.start = nanoClock.getAsLong();
    }

    /** A progress bar on standard error, redrawn in place when there is a console. */
    public static Progress console(String label, long total) {
        return new Progress(label, total, System.err, System.console() != null, System::nanoTime);
    }

    /** Records {@code bytes} more done and redraws if it is time to. */
    public void advance(long bytes) {
        done += bytes;
        long now = clock.getAsLong();
        if (interactive) {
            if (!drawn || now - lastDraw >= REDRAW_NANOS) {
                drawn = true;
                lastDraw = now;
                out.print("\r" + render(now));
                out.flush();
            }
        } else if (total > 0) {
            int tenth = (int) Math.min(10, done * 10 / total);
            if (tenth > lastTenth && tenth < 10) {
                lastTenth = tenth;
                out.println(render(now));
            }
        }
    }

    /** Bytes done so far. */
    public long done() { return done; }

    /** Draws the final state and ends the line. Idempotent. */
    public void finish() {
        if (finished) {
            return;
        }
        finished = true;
        String line = render(clock.getAsLong());
        out.println(interactive ? "\r" + line : line);
        out.flush();
    }

    /** The line for the current state at time {@code now}. */
    String render(long now) {
        double seconds = (now - start) / 1e9;
        double rate = seconds > 0 ? done / seconds : 0;
        String speed = String.format(Locale.ROOT, "%.1f MB/s", rate / 1e6);
        if (total <= 0) {
            return String.format(Locale.ROOT, "%s  %.1f MB  %s", label, done / 1e6, speed);
        }
        double fraction = Math.min(1.0, (double) done / total);
        int filled = (int) (fraction * WIDTH);
        String bar = "#".repeat(filled) + " ".repeat(WIDTH - filled);
        String eta = rate > 0 ? clock(Math.round((total - Math.min(done, total)) / rate)) : "-:--";
        return String.format(Locale.ROOT, "%s  [%s]  %3d%%  %s  ETA %s", label, bar, (int) (fraction * 100), speed, eta);
    }

    static String clock(long seconds) {
        long h = seconds / 3600, m = seconds / 60 % 60, s = seconds % 60;
        return h > 0 ? String.format(Locale.ROOT, "%d:%02d:%02d", h, m, s) : String.format(Locale.ROOT, "%d:%02d", m, s);
    }
}
