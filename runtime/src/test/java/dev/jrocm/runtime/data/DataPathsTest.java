package dev.jrocm.runtime.data;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;

class DataPathsTest {

    @Test
    void thePropertyComesFirstThenDataThenTheHomeDirectory() {
        Path home = Path.of(System.getProperty("user.home"), ".jrocm", "data");
        Path local = Path.of("data").toAbsolutePath().normalize();
        String saved = System.getProperty(DataPaths.PROPERTY);
        try {
            System.setProperty(DataPaths.PROPERTY, "/srv/datasets/../datasets");
            assertEquals(Path.of("/srv/datasets"), DataPaths.roots().getFirst());
            assertEquals(Path.of("/srv/datasets"), DataPaths.downloadRoot());
            assertEquals(local, DataPaths.roots().get(DataPaths.roots().size() - 2));
            assertEquals(home, DataPaths.roots().getLast());
            System.clearProperty(DataPaths.PROPERTY);
            if (System.getenv(DataPaths.ENVIRONMENT) == null) {
                assertEquals(java.util.List.of(local, home), DataPaths.roots());
                assertEquals(home, DataPaths.downloadRoot());
            }
        } finally {
            if (saved == null) {
                System.clearProperty(DataPaths.PROPERTY);
            } else {
                System.setProperty(DataPaths.PROPERTY, saved);
            }
        }
    }
}
