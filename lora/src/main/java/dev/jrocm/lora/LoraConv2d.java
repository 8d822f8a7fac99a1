package dev.jrocm.lora;

import dev.jrocm.runtime.autograd.ConvOps;
import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.nn.Conv2d;
import dev.jrocm.runtime.tensor.Tensor;

/**
 * A frozen {@link Conv2d} plus a low-rank update, as PEFT's {@code lora.Conv2d}:
 * {@code y = conv(x, W) + b + s·B(A(x))}, where A is a {@code Conv2d(in, r, kernel, stride,
 * padding, dilation, bias=False)} — the base's geometry — with weight (r, in, kh, kw), and B a
 * 1×1 {@code Conv2d(r, out, bias=False)} with weight (out, r, 1, 1), starting at zero. Parameter
 * names follow PEFT: the base's {@code weight} and {@code bias}, {@code lora_A.weight},
 * {@code lora_B.weight}.
 *
 * <p>The update is computed on activations (A's r channels, then the 1×1 B), never as a kernel —
 * except by {@link #merge()}, which folds ΔW = s·B·A (viewed as (out, r)·(r, in·kh·kw)) into W
 * once. With the base frozen no base-kernel gradient is computed.
 *
 * <p>PEFT 0.21 builds its {@code lora_A} without the base's dilation, so on a dilated base layer
 * its A reads other windows than the base does (its output is usually not even the base's size)
 * and its forward disagrees with its own merged kernel; here A takes the base's dilation, and the
 * forward and {@link #merge()} agree. For dilation 1 the two are the same.
 */
public final class LoraConv2d extends LoraLayer {
    private static final int[] ONE = {1, 1}, NONE = {0, 0};
    private final Conv2d base;

    /** Wraps {@code base} (whose weight and bias are frozen) with a fresh adapter. */
    LoraConv2d(Conv2d base, LoraConfig config, long seed) {
        super(checkRank(base, config.rank()), base.weight(), base.bias(), aShape(base, config.rank()),
                new int[] {base.outChannels(), config.rank(), 1, 1}, config, seed);
        this.base = base;
    }

    /** The most a rank can be: ΔW viewed as (out, in·kh·kw) has at most min(in·kh·kw, out). */
    static int maxRank(Conv2d base) {
        int[] k = base.kernelSize();
        return (int) Math.min((long) base.inChannels() * k[0] * k[1], base.outChannels());
    }

    private static Conv2d checkRank(Conv2d base, int r) {
        if (r > maxRank(base)) {
            throw new IllegalArgumentException("LoRA rank " + r + " exceeds min(in·kh·kw, out) = " + maxRank(base)
                    + " of " + base);
        }
        return base;
    }

    private static int[] aShape(Conv2d base, int r) {
        int[] k = base.kernelSize();
        return new int[] {r, base.inChannels(), k[0], k[1]};
    }

    // s is applied to A's r channels rather than to the out channels of B's result: the same
    // product, on a fraction of the elements.
    @Override
    Tensor adapted(Tensor x, float p, long seed) {
        Tensor y = base.forward(x);
        Tensor h = ConvOps.conv2d(Ops.dropout(x, p, seed), loraA(), null, base.stride(), base.padding(), base.dilation());
        return Ops.add(y, ConvOps.conv2d(Ops.scale(h, scale()), loraB(), null, ONE, NONE, ONE));
    }

    /** The wrapped layer (its kernel includes s·B·A while merged). */
    @Override
    public Conv2d base() { return base; }
}
