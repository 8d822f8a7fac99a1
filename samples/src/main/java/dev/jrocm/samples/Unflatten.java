package dev.jrocm.samples;

import dev.jrocm.runtime.nn.Module;
import dev.jrocm.runtime.tensor.Tensor;

/**
 * The dataset's flat rows (n, c·h·w) viewed as images (n, c, h, w), as PyTorch's
 * {@code nn.Unflatten(1, (c, h, w))}; a view, so the gradient flows back through it. No parameters.
 */
final class Unflatten extends Module {
    private final int channels, height, width;

    Unflatten(int channels, int height, int width) {
        this.channels = channels;
        this.height = height;
        this.width = width;
    }

    /** @throws IllegalArgumentException when x is not (n, c·h·w) */
    @Override
    public Tensor forward(Tensor x) {
        int features = channels * height * width;
        if (x.rank() != 2 || x.dim(1) != features) {
            throw new IllegalArgumentException("Unflatten: x of " + x.shapeString() + " is not n×" + features + " (n images of "
                    + channels + "×" + height + "×" + width + ")");
        }
        return x.view(x.dim(0), channels, height, width);
    }

    @Override
    public String toString() {
        return "Unflatten(dim=1, unflattened_size=(" + channels + ", " + height + ", " + width + "))";
    }
}
