package dev.jrocm.runtime.nn;

import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class EmbeddingTest {
    static Backend backend;

    @BeforeAll
    static void open() { backend = new CpuBackend(); }

    @AfterAll
    static void close() { backend.close(); }

    @Test
    void indicesOfAnyShapeGiveTheirRowsWithTheEmbeddingDimensionLast() {
        try (Embedding emb = new Embedding(backend, 5, 4, 3); Scope s = Scope.open()) {
            float[] table = emb.weight().toArray();
            int[] idx = {4, 0, 2, 2, 1, 4};
            Tensor out = emb.forward(Tensor.ofInts(backend, idx, 2, 3));
            assertArrayEquals(new int[] {2, 3, 4}, out.shape());
            float[] expected = new float[idx.length * 4];
            for (int i = 0; i < idx.length; i++) {
                System.arraycopy(table, idx[i] * 4, expected, i * 4, 4);
            }
            assertArrayEquals(expected, out.toArray());
            assertArrayEquals(new int[] {6, 4}, emb.forward(Tensor.ofInts(backend, idx, 6)).shape());
        }
    }

    @Test
    void aRowUsedTwiceGetsTheSumOfItsGradientsAndUnusedRowsZero() {
        int[] idx = {3, 1, 3, 0}; // row 3 twice, rows 2 and 4 never
        int[] labels = {0, 1, 2, 1};
        try (Embedding emb = new Embedding(backend, 5, 3, 9); Scope s = Scope.open()) {
            float[] table = emb.weight().toArray();
            Tensor logits = emb.forward(Tensor.ofInts(backend, idx, 2, 2)).view(4, 3);
            Ops.crossEntropy(logits, Tensor.ofInts(backend, labels, 4)).backward();
            double[] expected = new double[15]; // d(mean CE)/d logits = (softmax − onehot)/rows, summed per row used
            for (int r = 0; r < idx.length; r++) {
                double max = Double.NEGATIVE_INFINITY, sum = 0;
                for (int c = 0; c < 3; c++) {
                    max = Math.max(max, table[idx[r] * 3 + c]);
                }
                for (int c = 0; c < 3; c++) {
                    sum += Math.exp(table[idx[r] * 3 + c] - max);
                }
                for (int c = 0; c < 3; c++) {
                    double p = Math.exp(table[idx[r] * 3 + c] - max) / sum;
                    expected[idx[r] * 3 + c] += (p - (c == labels[r] ? 1 : 0)) / idx.length;
                }
            }
            float[] grad = emb.weight().grad().toArray();
            for (int i = 0; i < 15; i++) {
                assertEquals(expected[i], grad[i], 1e-6, "d loss / d weight[" + i + "]");
            }
            for (int i : new int[] {6, 7, 8, 12, 13, 14}) {
                assertEquals(0f, grad[i], "rows 2 and 4 were not looked up");
            }
        }
    }

    @Test
    void theTableIsStandardNormalAndNamedAsPyTorchNamesIt() {
        try (Embedding emb = new Embedding(backend, 1000, 64, 5)) {
            assertEquals(List.of("weight"), List.copyOf(emb.stateDict().keySet()));
            assertArrayEquals(new int[] {1000, 64}, emb.weight().shape());
            float[] w = emb.weight().toArray();
            double mean = 0, sq = 0;
            for (float v : w) {
                mean += v / (double) w.length;
                sq += (double) v * v / w.length;
            }
            assertEquals(0, mean, 0.01); // 64 000 draws: the mean's std is 0.004
            assertEquals(1, Math.sqrt(sq), 0.01);
            assertEquals("Embedding(1000, 64)", emb.toString());
        }
    }

    @Test
    void badSizesAndIndicesAreRefusedNamingWhatWasWrong() {
        assertEquals("Embedding needs num, dim ≥ 1, got num=0, dim=4",
                assertThrows(IllegalArgumentException.class, () -> new Embedding(backend, 0, 4, 1)).getMessage());
        try (Embedding emb = new Embedding(backend, 5, 4, 3); Scope s = Scope.open()) {
            assertEquals("gatherRows: index 7 at position 2 is outside [0, 5)",
                    assertThrows(IllegalArgumentException.class,
                            () -> emb.forward(Tensor.ofInts(backend, new int[] {0, 1, 7, 2}, 2, 2))).getMessage());
            assertEquals("Embedding: indices must be i32, not f32 2 on cpu",
                    assertThrows(IllegalArgumentException.class,
                            () -> emb.forward(Tensor.of(backend, new float[] {0, 1}, 2))).getMessage());
        }
    }
}
