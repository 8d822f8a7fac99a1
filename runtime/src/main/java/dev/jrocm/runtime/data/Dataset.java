package dev.jrocm.runtime.data;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.tensor.DType;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.stream.IntStream;

/**
 * A labelled image dataset held whole in (backend) memory: every image as one row of normalised
 * floats, every label as an int32. Images are stored channel-major (C, H, W) per row, so a row
 * can be viewed as an image for rendering. The tensors live outside any {@link Scope} and are
 * freed by {@link #close()}.
 */
public abstract class Dataset implements AutoCloseable {
    /**
     * Byte value → float as the reference workload normalises pixels: PyTorch's
     * {@code ToTensor()} (x/255) then {@code Normalize(0.5, 0.5)} ((x − 0.5)/0.5), in float32 and
     * in that order so the values match PyTorch's bit for bit.
     */
    static final float[] NORMALISED = new float[256];

    static {
        for (int b = 0; b < 256; b++) {
            NORMALISED[b] = (b / 255f - 0.5f) / 0.5f;
        }
    }

    private final String name;
    private final Tensor images; // (size, channels·height·width) f32
    private final Tensor labels; // (size) i32
    private final List<String> classNames;
    private final int channels, height, width;

    /** Takes ownership of {@code images} (size, c·h·w) f32 and {@code labels} (size) i32. */
    protected Dataset(String name, Tensor images, Tensor labels, List<String> classNames, int channels, int height, int width) {
        if (images.dtype() != DType.F32 || images.rank() != 2 || images.dim(1) != channels * height * width) {
            throw new IllegalArgumentException(name + ": images must be f32 (size, " + channels + "·" + height + "·" + width
                    + "), not " + images.describe());
        }
        if (labels.dtype() != DType.I32 || labels.rank() != 1 || labels.dim(0) != images.dim(0)) {
            throw new IllegalArgumentException(name + ": labels must be i32 (" + images.dim(0) + "), not " + labels.describe());
        }
        if (classNames.isEmpty()) {
            throw new IllegalArgumentException(name + ": a dataset needs at least one class");
        }
        this.name = name;
        this.images = images;
        this.labels = labels;
        this.classNames = List.copyOf(classNames);
        this.channels = channels;
        this.height = height;
        this.width = width;
    }

    /**
     * A dataset of the given rows (already normalised) and labels, copied to {@code backend}.
     * Labels must lie in [0, classNames.size()).
     */
    public static Dataset of(Backend backend, String name, float[] images, int[] labels, List<String> classNames,
                             int channels, int height, int width) {
        int features = channels * height * width;
        if (features < 1 || images.length != (long) labels.length * features) {
            throw new IllegalArgumentException(name + ": " + images.length + " floats are not " + labels.length
                    + " images of " + channels + "×" + height + "×" + width);
        }
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] < 0 || labels[i] >= classNames.size()) {
                throw new IllegalArgumentException(name + ": label " + labels[i] + " of row " + i + " is outside 0.."
                        + (classNames.size() - 1));
            }
        }
        Tensor x = Scope.detached(() -> Tensor.of(backend, images, labels.length, features));
        Tensor y = Scope.detached(() -> Tensor.ofInts(backend, labels, labels.length));
        return new Dataset(name, x, y, classNames, channels, height, width) {};
    }

    /**
     * Normalises {@code count} images of {@code features} bytes from {@code pixels} (image i at
     * {@code offset + i·stride}) straight into a new (count, features) tensor on {@code backend}:
     * one bulk pass, in parallel, through off-heap staging (no float[] on the heap).
     */
    static Tensor normalise(Backend backend, List<Pixels> parts, int features) {
        int count = parts.stream().mapToInt(Pixels::count).sum();
        Tensor images = Scope.detached(() -> Tensor.empty(backend, count, features));
        try (Arena arena = Arena.ofShared()) {
            MemorySegment staging = arena.allocate(Math.max(1L, (long) count * features * Float.BYTES), 16);
            int first = 0;
            for (Pixels part : parts) {
                int base = first;
                IntStream.range(0, part.count()).parallel().forEach(i -> {
                    long from = part.offset() + (long) i * part.stride();
                    long to = (long) (base + i) * features;
                    for (int j = 0; j < features; j++) {
                        staging.setAtIndex(ValueLayout.JAVA_FLOAT, to + j, NORMALISED[part.bytes()[(int) (from + j)] & 0xff]);
                    }
                });
                first += part.count();
            }
            if (count > 0) {
                backend.copyFromHost(staging.asSlice(0, (long) count * features * Float.BYTES), images.buffer());
            }
        } catch (RuntimeException e) {
            images.close();
            throw e;
        }
        return images;
    }

    /** {@code count} images in {@code bytes}, image i at {@code offset + i·stride}. */
    record Pixels(byte[] bytes, int offset, int stride, int count) {}

    /** An int32 tensor of labels, outside any scope. */
    static Tensor labelTensor(Backend backend, int[] labels) {
        return Scope.detached(() -> Tensor.ofInts(backend, labels, labels.length));
    }

    /** A short name, e.g. {@code "CIFAR-10 train"}. */
    public String name() { return name; }

    /** Number of images. */
    public int size() { return images.dim(0); }

    /** Floats per image: channels × height × width. */
    public int features() { return images.dim(1); }

    /** Number of classes. */
    public int classes() { return classNames.size(); }

    public List<String> classNames() { return classNames; }

    /** All images, (size, features) f32, normalised to [−1, 1], channel-major per row. Owned by this dataset. */
    public Tensor images() { return images; }

    /** All labels, (size) i32 in [0, classes). Owned by this dataset. */
    public Tensor labels() { return labels; }

    /** {@code {channels, height, width}} of one image, the layout of a row. */
    public int[] imageShape() { return new int[] {channels, height, width}; }

    public int channels() { return channels; }

    public int height() { return height; }

    public int width() { return width; }

    /** Frees the images and labels. Idempotent. */
    @Override
    public void close() {
        images.close();
        labels.close();
    }

    @Override
    public String toString() {
        return name + " (" + size() + " images of " + channels + "×" + height + "×" + width + ", " + classes() + " classes)";
    }
}
