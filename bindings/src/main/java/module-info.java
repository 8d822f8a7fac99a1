/**
 * jextract output for the native libraries jrocm calls. Generated, never edited by hand
 * ({@code scripts/regenerate-bindings.sh}); only the runtime's device layer may use it, and only
 * after its probe has loaded the library.
 */
module dev.jrocm.bindings {
    exports dev.jrocm.bindings.hip to dev.jrocm.runtime;
    exports dev.jrocm.bindings.hiprtc to dev.jrocm.runtime;
    exports dev.jrocm.bindings.hipblas to dev.jrocm.runtime;
    exports dev.jrocm.bindings.miopen to dev.jrocm.runtime;
    exports dev.jrocm.bindings.cuda to dev.jrocm.runtime;
    exports dev.jrocm.bindings.nvrtc to dev.jrocm.runtime;
    exports dev.jrocm.bindings.cublas to dev.jrocm.runtime;
    exports dev.jrocm.bindings.cblas to dev.jrocm.runtime;
}
