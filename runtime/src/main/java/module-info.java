/**
 * jrocm's runtime: devices and their backends (CPU, HIP, CUDA), and — built on them — tensors,
 * autograd, layers, optimizers, datasets and checkpoints. The only module that touches the
 * generated bindings.
 */
@SuppressWarnings("module") // the modules named in the qualified exports are built after this one
module dev.jrocm.runtime {
    requires dev.jrocm.bindings;
    requires com.fasterxml.jackson.databind;   // safetensors headers, checkpoint.json
    requires org.apache.commons.compress;      // the CIFAR-10 tarball
    requires java.net.http;                    // Cifar10Downloader
    requires static jdk.incubator.vector;      // SkinnyGemm, only when --add-modules names it

    exports dev.jrocm.runtime.device;
    // The backends themselves are internals: programs get one from Devices (open, best) and use it
    // as a Backend. jrocm's own modules reach into them: lora's and samples' tests build a
    // CpuBackend directly, the benchmarks time the GEMM paths and profile the GPU backend over
    // each driver.
    exports dev.jrocm.runtime.device.cpu to dev.jrocm.lora, dev.jrocm.samples, dev.jrocm.benchmarks;
    exports dev.jrocm.runtime.device.gpu to dev.jrocm.benchmarks;
    exports dev.jrocm.runtime.device.hip to dev.jrocm.benchmarks;
    exports dev.jrocm.runtime.device.cuda to dev.jrocm.benchmarks;
    exports dev.jrocm.runtime.tensor;
    exports dev.jrocm.runtime.autograd;
    exports dev.jrocm.runtime.nn;
    exports dev.jrocm.runtime.optim;
    exports dev.jrocm.runtime.data;
    exports dev.jrocm.runtime.io;
}
