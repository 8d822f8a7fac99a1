package dev.jrocm.samples;

import dev.jrocm.runtime.io.AtomicFile;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.channels.Channels;
import java.nio.file.Path;
import java.util.List;

/**
 * The workflow's pictures, drawn with Java2D and written with ImageIO: a grid of test images with
 * their true and predicted labels, and the loss curves of both training phases. Text needs a
 * font; a machine without any (no fontconfig fonts) still gets the pictures, without words.
 */
final class Pictures {
    private static final Color GOOD = new Color(0x1B7F3B), BAD = new Color(0xC0392B), INK = new Color(0x222222);
    private static final Color FULL = new Color(0x1F77B4), LORA = new Color(0xFF7F0E);

    private Pictures() {}

    /**
     * The shown batch: one tile per image (scaled up), with the true label and the predictions
     * before and after LoRA fine-tuning under it, green when right and red when wrong.
     *
     * @param pixels per image, channel-major values in [−1, 1] (the normalised dataset rows)
     */
    static BufferedImage samples(List<float[]> pixels, int channels, int height, int width, List<String> truth,
                                 List<String> before, List<String> after, String title) {
        int scale = Math.max(1, 112 / Math.max(height, width));
        int tileW = Math.max(width * scale, 120), tileH = height * scale;
        int textH = 54, pad = 10, titleH = 30;
        int cols = Math.min(pixels.size(), 8), rows = (pixels.size() + cols - 1) / cols;
        BufferedImage img = new BufferedImage(pad + cols * (tileW + pad), titleH + rows * (tileH + textH + pad) + pad,
                BufferedImage.TYPE_INT_RGB);
        Graphics2D g = canvas(img);
        boolean text = text(g, title, pad, 20, INK, 15f);
        for (int i = 0; i < pixels.size(); i++) {
            int x0 = pad + (i % cols) * (tileW + pad), y0 = titleH + (i / cols) * (tileH + textH + pad);
            BufferedImage tile = image(pixels.get(i), channels, height, width);
            g.drawImage(tile, x0 + (tileW - width * scale) / 2, y0, width * scale, height * scale, null);
            if (text) {
                text(g, "true: " + truth.get(i), x0, y0 + tileH + 15, INK, 12f);
                text(g, "before: " + before.get(i), x0, y0 + tileH + 31, before.get(i).equals(truth.get(i)) ? GOOD : BAD, 12f);
                text(g, "after: " + after.get(i), x0, y0 + tileH + 47, after.get(i).equals(truth.get(i)) ? GOOD : BAD, 12f);
            }
        }
        g.dispose();
        return img;
    }

    /** One normalised image as RGB (grey images repeat their channel). */
    static BufferedImage image(float[] pixels, int channels, int height, int width) {
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        int plane = height * width;
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                int p = y * width + x;
                int r = byteOf(pixels[p]);
                int gr = channels == 3 ? byteOf(pixels[plane + p]) : r;
                int b = channels == 3 ? byteOf(pixels[2 * plane + p]) : r;
                img.setRGB(x, y, (r << 16) | (gr << 8) | b);
            }
        }
        return img;
    }

    private static int byteOf(float normalised) {
        return Math.clamp(Math.round((normalised * 0.5f + 0.5f) * 255f), 0, 255);
    }

    /**
     * Loss curves: the mean losses of full training and then of LoRA fine-tuning, against the
     * number of batches trained so far, on axes ticked at round numbers ({@link Axis}).
     *
     * @param full  (batch, loss) points of full training, batches counted from the start
     * @param lora  (batch, loss) points of LoRA training, counted on from where full training ended
     */
    static BufferedImage lossCurves(List<double[]> full, List<double[]> lora, String title) {
        int w = 900, h = 480, left = 80, right = 20, top = 40, bottom = 60;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = canvas(img);
        double maxX = 1, minY = Double.MAX_VALUE, maxY = -Double.MAX_VALUE;
        for (List<double[]> series : List.of(full, lora)) {
            for (double[] p : series) {
                maxX = Math.max(maxX, p[0]);
                minY = Math.min(minY, p[1]);
                maxY = Math.max(maxY, p[1]);
            }
        }
        if (minY > maxY) {
            minY = 0;
            maxY = 1;
        }
        Axis xAxis = Axis.of(0, maxX, 6, true), yAxis = Axis.of(minY, maxY, 5, false);
        int plotW = w - left - right, plotH = h - top - bottom;
        g.setColor(new Color(0xDDDDDD));
        for (double v : yAxis.ticks()) {
            int y = top + (int) Math.round(plotH * (1 - yAxis.fraction(v)));
            g.drawLine(left, y, left + plotW, y);
        }
        g.setColor(INK);
        g.drawRect(left, top, plotW, plotH);
        boolean text = text(g, title, left, 25, INK, 15f);
        if (text) {
            for (double v : yAxis.ticks()) {
                String label = yAxis.label(v);
                int y = top + (int) Math.round(plotH * (1 - yAxis.fraction(v)));
                aligned(g, label, left - 8, y + 4, 11f, 1);
            }
            for (double v : xAxis.ticks()) {
                String label = xAxis.label(v);
                int x = left + (int) Math.round(plotW * xAxis.fraction(v));
                g.drawLine(x, top + plotH, x, top + plotH + 4);
                aligned(g, label, x, top + plotH + 18, 11f, 0.5);
            }
            aligned(g, "batches trained (each point: the mean loss of the batches since the previous one)", left + plotW / 2, h - 14,
                    12f, 0.5);
            Graphics2D turned = (Graphics2D) g.create();
            turned.rotate(-Math.PI / 2);
            aligned(turned, "training loss (cross-entropy)", -(top + plotH / 2), 18, 12f, 0.5);
            turned.dispose();
        }
        plot(g, full, FULL, left, top, plotW, plotH, xAxis, yAxis);
        plot(g, lora, LORA, left, top, plotW, plotH, xAxis, yAxis);
        if (text) {
            legend(g, "full training", FULL, left + plotW - 170, top + 20);
            legend(g, "LoRA fine-tuning", LORA, left + plotW - 170, top + 38);
        }
        g.dispose();
        return img;
    }

    /** Text placed by {@code anchor}: {@code where} 0 starts it there, 0.5 centres it, 1 ends it there. */
    private static void aligned(Graphics2D g, String s, int anchor, int y, float size, double where) {
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 1).deriveFont(size));
        text(g, s, anchor - (int) Math.round(where * g.getFontMetrics().stringWidth(s)), y, INK, size);
    }

    private static void plot(Graphics2D g, List<double[]> points, Color color, int left, int top, int plotW, int plotH,
                             Axis xAxis, Axis yAxis) {
        g.setColor(color);
        g.setStroke(new BasicStroke(2f));
        int px = -1, py = -1;
        for (double[] p : points) {
            int x = left + (int) Math.round(plotW * xAxis.fraction(p[0]));
            int y = top + (int) Math.round(plotH * (1 - yAxis.fraction(p[1])));
            if (px >= 0) {
                g.drawLine(px, py, x, y);
            }
            g.fillOval(x - 3, y - 3, 6, 6);
            px = x;
            py = y;
        }
        g.setStroke(new BasicStroke(1f));
    }

    private static void legend(Graphics2D g, String label, Color color, int x, int y) {
        g.setColor(color);
        g.fillRect(x, y - 8, 18, 4);
        text(g, label, x + 24, y - 2, INK, 12f);
    }

    private static Graphics2D canvas(BufferedImage img) {
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, img.getWidth(), img.getHeight());
        return g;
    }

    /** Draws text; false when this machine cannot render any font (then the caller skips text). */
    private static boolean text(Graphics2D g, String s, int x, int y, Color color, float size) {
        try {
            g.setColor(color);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 1).deriveFont(size));
            g.drawString(s, x, y);
            return true;
        } catch (RuntimeException | Error e) { // a JDK without fonts throws from its font manager
            return false;
        }
    }

    /** Writes {@code img} as PNG to {@code file} atomically (a half-written picture never appears). */
    static void writePng(BufferedImage img, Path file) throws IOException {
        AtomicFile.write(file, out -> {
            if (!ImageIO.write(img, "png", Channels.newOutputStream(out))) {
                throw new IOException("no PNG writer in this JDK");
            }
        });
    }
}
