package dev.jrocm.examples;

import dev.jrocm.lora.LoraConfig;
import dev.jrocm.lora.PeftAdapter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Each example run as its main runs it (on {@code Devices.best()}), with few epochs, and what it did checked. */
class ExamplesTest {
    static final PrintStream QUIET = new PrintStream(OutputStream.nullOutputStream());

    @TempDir
    Path dir;

    @Test
    void mlpClassifierLowersItsLossAndLearnsTheClusters() {
        MlpClassifier.Result run = MlpClassifier.run(new String[] {"3"}, QUIET);
        List<Double> losses = run.epochLosses();
        assertEquals(3, losses.size(), "one loss per epoch");
        assertTrue(losses.getLast() < losses.getFirst() / 2, "the loss fell by half or more: " + losses);
        assertTrue(run.testAccuracy() > 0.95, "test accuracy " + run.testAccuracy());
    }

    @Test
    void loraFineTuneAdaptsToTheShiftedTaskAndLoadPeftAdapterGetsTheSameAccuracyBack() throws IOException {
        LoraFineTune.Result tuned = LoraFineTune.run(new String[] {dir.toString(), "3"}, QUIET);
        assertTrue(tuned.baseAccuracy() > 0.95, "base model on its task: " + tuned.baseAccuracy());
        assertTrue(tuned.shiftedBaseAccuracy() < 0.7, "base model on the shifted task: " + tuned.shiftedBaseAccuracy());
        assertTrue(tuned.adaptedAccuracy() > 0.95, "with the adapter: " + tuned.adaptedAccuracy());
        assertEquals(tuned.adaptedAccuracy(), tuned.mergedAccuracy(), 0.005, "merged against unmerged");

        assertEquals(dir.resolve(LoraFineTune.BASE_FILE), tuned.baseFile());
        assertEquals(dir.resolve(LoraFineTune.ADAPTER_DIR), tuned.adapterDir());
        assertTrue(Files.size(tuned.baseFile()) > 0);
        assertTrue(Files.size(tuned.adapterDir().resolve(PeftAdapter.WEIGHTS)) > 0);
        LoraConfig saved = PeftAdapter.readConfig(tuned.adapterDir());
        assertEquals(2, saved.rank());
        assertEquals(List.of("fc1", "fc2", "fc3"), saved.targets());

        LoadPeftAdapter.Result loaded = LoadPeftAdapter.run(
                new String[] {tuned.baseFile().toString(), tuned.adapterDir().toString()}, QUIET);
        assertEquals(tuned.shiftedBaseAccuracy(), loaded.baseAccuracy(), "the base model as saved before LoRA");
        assertEquals(tuned.adaptedAccuracy(), loaded.adaptedAccuracy(), "the adapter as saved");
        assertEquals(saved, loaded.config());
    }

    @Test
    void loraFineTuneWithoutAnOutputFolderSaysHowToCallIt() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LoraFineTune.run(new String[0], QUIET));
        assertEquals("usage: " + LoraFineTune.USAGE, e.getMessage());
    }

    @Test
    void anEpochCountThatIsNotAPositiveIntegerIsRefusedByValue() {
        for (String epochs : List.of("many", "0", "-2")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> MlpClassifier.run(new String[] {epochs}, QUIET));
            assertEquals("epochs must be a positive integer, got '" + epochs + "'\nusage: " + MlpClassifier.USAGE,
                    e.getMessage());
        }
    }

    @Test
    void loadPeftAdapterOfAFolderWithoutAnAdapterNamesTheMissingFile() throws IOException {
        LoraFineTune.Result tuned = LoraFineTune.run(new String[] {dir.toString(), "1"}, QUIET);
        Path empty = Files.createDirectories(dir.resolve("empty"));
        IOException e = assertThrows(IOException.class, () -> LoadPeftAdapter.run(
                new String[] {tuned.baseFile().toString(), empty.toString()}, QUIET));
        assertTrue(e.getMessage().contains(empty.resolve(PeftAdapter.CONFIG).toString()), e.getMessage());
    }
}
