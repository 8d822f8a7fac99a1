package dev.jrocm.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The PNG of GFLOP/s by GEMM path and shape that scripts/bench.sh writes: one group of horizontal
 * bars per shape, one bar per path, on a log scale (the naive loops and OpenBLAS are two orders
 * of magnitude apart). Reads the installed environment's {@code gemm} rows of summary.json
 * (benchmarks/summarize.py). Java2D, so
 * it needs no plotting library.
 *
 * <pre>java -Djava.awt.headless=true -cp benchmarks.jar dev.jrocm.benchmarks.GemmPlot summary.json gemm.png</pre>
 */
public final class GemmPlot {
    private GemmPlot() {}

    private static final String[] PATHS = {"naive", "java", "skinny", "cblas", "numpy", "gpu"};
    private static final Color[] COLORS = {new Color(0x9e9e9e), new Color(0xe69f00), new Color(0x009e73),
            new Color(0x0072b2), new Color(0xcc79a7), new Color(0xd55e00)};
    private static final String[] LABELS = {"pure Java, naive", "pure Java, blocked + parallel",
            "skinny (Vector API, ≤ 16 rows)", "OpenBLAS via FFM", "numpy (same OpenBLAS, from C)", "GPU (hipBLAS/cuBLAS)"};

    public static void main(String[] args) throws IOException {
        JsonNode summary = new ObjectMapper().readTree(Path.of(args[0]).toFile());
        Map<String, Map<String, Double>> byShape = new LinkedHashMap<>();
        for (JsonNode row : summary.path("gemm")) {
            // One environment, so that the bars compare like with like (summary.md has the other).
            if (row.hasNonNull("gflops") && "installed".equals(row.path("environment").asText())) {
                byShape.computeIfAbsent(row.get("shape").asText(), s -> new LinkedHashMap<>())
                        .put(row.get("path").asText(), row.get("gflops").asDouble());
            }
        }
        List<String> present = new ArrayList<>();
        for (String p : PATHS) {
            if (byShape.values().stream().anyMatch(m -> m.containsKey(p))) {
                present.add(p);
            }
        }
        int bar = 11, gap = 14, left = 190, right = 60, top = 70, legendRows = present.size();
        int groupHeight = present.size() * bar + gap;
        int width = 1000, plotHeight = Math.max(1, byShape.size()) * groupHeight;
        int height = top + plotHeight + 50 + legendRows * 18 + 20;
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, width, height);
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 16));
        g.drawString("Single-precision GEMM, GFLOP/s (log scale), by path and shape m×n×k:op", left, 28);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
        String machine = summary.path("machine").path("cpu").asText("") + ", "
                + summary.path("machine").path("cores").asText("") + " cores; environment as installed (OPENBLAS_CORETYPE="
                + summary.path("machine").path("OPENBLAS_CORETYPE").asText("unset") + ")";
        g.drawString(machine, left, 46);

        double lo = 1, hi = 1000; // GFLOP/s axis, decades
        for (Map<String, Double> m : byShape.values()) {
            for (double v : m.values()) {
                hi = Math.max(hi, Math.pow(10, Math.ceil(Math.log10(v))));
                lo = Math.min(lo, Math.pow(10, Math.floor(Math.log10(Math.max(v, 1e-3)))));
            }
        }
        int plotWidth = width - left - right;
        double logLo = Math.log10(lo), logHi = Math.log10(hi);
        g.setStroke(new BasicStroke(1f));
        for (int d = (int) logLo; d <= (int) logHi; d++) {
            int x = left + (int) Math.round((d - logLo) / (logHi - logLo) * plotWidth);
            g.setColor(new Color(0xdddddd));
            g.drawLine(x, top - 5, x, top + plotHeight);
            g.setColor(Color.DARK_GRAY);
            String label = d >= 0 ? String.valueOf((long) Math.pow(10, d)) : String.valueOf(Math.pow(10, d));
            g.drawString(label, x - g.getFontMetrics().stringWidth(label) / 2, top + plotHeight + 15);
        }
        g.drawString("GFLOP/s", left + plotWidth / 2 - 20, top + plotHeight + 32);

        int y = top;
        FontMetrics fm = g.getFontMetrics();
        for (Map.Entry<String, Map<String, Double>> e : byShape.entrySet()) {
            g.setColor(Color.BLACK);
            g.drawString(e.getKey(), left - 10 - fm.stringWidth(e.getKey()), y + present.size() * bar / 2 + 4);
            for (int i = 0; i < present.size(); i++) {
                Double v = e.getValue().get(present.get(i));
                if (v != null && v > 0) {
                    int w = (int) Math.round((Math.log10(v) - logLo) / (logHi - logLo) * plotWidth);
                    g.setColor(COLORS[indexOf(present.get(i))]);
                    g.fillRect(left, y + i * bar, Math.max(1, w), bar - 2);
                    g.setColor(Color.DARK_GRAY);
                    g.drawString(String.format(v >= 10 ? "%.0f" : "%.1f", v), left + w + 3, y + i * bar + bar - 3);
                }
            }
            y += groupHeight;
        }
        int ly = top + plotHeight + 50;
        for (String p : present) {
            g.setColor(COLORS[indexOf(p)]);
            g.fillRect(left, ly - 10, 14, 10);
            g.setColor(Color.BLACK);
            g.drawString(LABELS[indexOf(p)], left + 20, ly);
            ly += 18;
        }
        g.dispose();
        ImageIO.write(image, "png", Path.of(args[1]).toFile());
    }

    private static int indexOf(String path) {
        for (int i = 0; i < PATHS.length; i++) {
            if (PATHS[i].equals(path)) {
                return i;
            }
        }
        throw new IllegalArgumentException(path);
    }
}
