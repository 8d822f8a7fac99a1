/**
 * jrocm's runtime: devices and their backends (CPU, HIP, CUDA), and — built on them — tensors,
 * autograd, layers, optimizers, datasets and checkpoints. The only module that touches the
 * generated bindings.
 */
module dev.jrocm.runtime {
    requires dev.jrocm.bindings;
    requires com.fasterxml.jackson.databind;   // safetensors headers, checkpoint.json
    requires org.apache.commons.compress;      // the CIFAR-10 tarball
    requires java.net.http;                    // Cifar10Downloader
    requires static jdk.incubator.vector;      // SkinnyGemm, only when --add-modules names it

    exports dev.jrocm.runtime.device;
    exports dev.jrocm.runtime.device.cpu;
    exports dev.jrocm.runtime.device.hip;
    exports dev.jrocm.runtime.device.cuda;
    exports dev.jrocm.runtime.device.gpu;
    exports dev.jrocm.runtime.tensor;
    exports dev.jrocm.runtime.autograd;
    exports dev.jrocm.runtime.nn;
    exports dev.jrocm.runtime.optim;
    exports dev.jrocm.runtime.data;
    exports dev.jrocm.runtime.io;
}
