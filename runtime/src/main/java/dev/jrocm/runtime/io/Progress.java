package dev.jrocm.runtime.io;

import java.io.PrintStream;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * A progress bar for long counts: bytes (downloads, extraction),
 * {@code label  [#########           ]   45%  12.3 MB/s  ETA 0:07}, or things such as samples,
 * {@code epoch 1  [#########           ]   45%  2,013 samples/s  ETA 0:07  loss 0.412} (the text
 * after ETA is the caller's {@link #note}). On a terminal it redraws one line with {@code \r} (at
 * most ten times a second); otherwise (a log, CI) it prints a plain line at every tenth of the
 * way, so logs stay short. With an unknown total it shows the amount and rate.
 */
public final class Progress {
    static final int WIDTH = 20;
    private static final long REDRAW_NANOS = 100_000_000L;

    /**
     * What is counted: {@link #BYTES} shows megabytes, any other unit a count of its name.
     *
     * @param name plural, as in {@code 2,013 samples/s}
     */
    public record Unit(String name) {
        public static final Unit BYTES = new Unit("bytes");

        String amount(double n) {
            return this.equals(BYTES) ? String.format(Locale.ROOT, "%.1f MB", n / 1e6) : String.format(Locale.ROOT, "%,.0f %s", n, name);
        }

        String rate(double perSecond) {
            return this.equals(BYTES) ? String.format(Locale.ROOT, "%.1f MB/s", perSecond / 1e6)
                    : String.format(Locale.ROOT, "%,.0f %s/s", perSecond, name);
        }
    }

    private final String label;
    private final long total; // in units, or −1 when unknown
    private final Unit unit;
    private final PrintStream out;
    private final boolean interactive;
    private final LongSupplier clock;
    private final long start;
    private long done;
    private long lastDraw;
    private boolean drawn;
    private int lastTenth;
    private boolean finished;
    private String note = "";
    private int drawnLength; // of the line on the terminal now, 0 when none

    /**
     * A bar counting bytes.
     *
     * @param total       the number of bytes expected, or −1 if unknown
     * @param interactive redraw in place with {@code \r} (a terminal) rather than print lines
     * @param nanoClock   the time source, {@code System::nanoTime} outside tests
     */
    public Progress(String label, long total, PrintStream out, boolean interactive, LongSupplier nanoClock) {
        this(label, total, Unit.BYTES, out, interactive, nanoClock);
    }

    /**
     * A bar counting {@code unit}s.
     *
     * @param total       the number expected, or −1 if unknown
     * @param interactive redraw in place with {@code \r} (a terminal) rather than print lines
     * @param nanoClock   the time source, {@code System::nanoTime} outside tests
     */
    public Progress(String label, long total, Unit unit, PrintStream out, boolean interactive, LongSupplier nanoClock) {
        this.label = label;
        this.total = total;
        this.unit = unit;
        this.out = out;
        this.interactive = interactive;
        this.clock = nanoClock;
        this.start = nanoClock.getAsLong();
    }

    /** A progress bar on standard error, redrawn in place when there is a console. */
    public static Progress console(String label, long total) {
        return new Progress(label, total, System.err, System.console() != null, System::nanoTime);
    }

    /** Records {@code amount} more done and redraws if it is time to. */
    public void advance(long amount) {
        done += amount;
        long now = clock.getAsLong();
        if (interactive) {
            if (!drawn || now - lastDraw >= REDRAW_NANOS) {
                drawn = true;
                lastDraw = now;
                draw(render(now));
            }
        } else if (total > 0) {
            int tenth = (int) Math.min(10, done * 10 / total);
            if (tenth > lastTenth && tenth < 10) {
                lastTenth = tenth;
                out.println(render(now));
            }
        }
    }

    /** The amount done so far. */
    public long done() { return done; }

    /** Text shown after the ETA from the next redraw on, such as {@code loss 0.412}; empty for none. */
    public void note(String text) {
        note = text;
    }

    /**
     * Prints {@code line} as a line of its own: on a terminal the bar is erased first and drawn
     * again below it at the next {@link #advance}.
     */
    public void println(String line) {
        erase();
        out.println(line);
        out.flush();
    }

    /** On a terminal, blanks the bar's line and leaves the cursor at its start; otherwise nothing. */
    public void erase() {
        if (drawnLength > 0) {
            out.print("\r" + " ".repeat(drawnLength) + "\r");
            out.flush();
            drawnLength = 0;
            drawn = false;
        }
    }

    /** Draws the final state and ends the line. Idempotent. */
    public void finish() {
        if (finished) {
            return;
        }
        finished = true;
        String line = render(clock.getAsLong());
        out.println(interactive ? "\r" + line + " ".repeat(Math.max(0, drawnLength - line.length())) : line);
        out.flush();
        drawnLength = 0;
    }

    private void draw(String line) {
        // Blanks what a longer line before left behind (a note grew shorter).
        out.print("\r" + line + " ".repeat(Math.max(0, drawnLength - line.length())));
        out.flush();
        drawnLength = Math.max(drawnLength, line.length());
    }

    /** The line for the current state at time {@code now}. */
    String render(long now) {
        double seconds = (now - start) / 1e9;
        double rate = seconds > 0 ? done / seconds : 0;
        String speed = unit.rate(rate);
        String after = note.isEmpty() ? "" : "  " + note;
        if (total <= 0) {
            return String.format(Locale.ROOT, "%s  %s  %s%s", label, unit.amount(done), speed, after);
        }
        double fraction = Math.min(1.0, (double) done / total);
        int filled = (int) (fraction * WIDTH);
        String bar = "#".repeat(filled) + " ".repeat(WIDTH - filled);
        String eta = rate > 0 ? clock(Math.round((total - Math.min(done, total)) / rate)) : "-:--";
        return String.format(Locale.ROOT, "%s  [%s]  %3d%%  %s  ETA %s%s", label, bar, (int) (fraction * 100), speed, eta, after);
    }

    static String clock(long seconds) {
        long h = seconds / 3600, m = seconds / 60 % 60, s = seconds % 60;
        return h > 0 ? String.format(Locale.ROOT, "%d:%02d:%02d", h, m, s) : String.format(Locale.ROOT, "%d:%02d", m, s);
    }
}
