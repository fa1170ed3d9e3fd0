// runtime_info(): compile-time feature flags from CMake plus what LibTorch reports at run time.
#include "src/core/runtime_info.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <dlfcn.h>

#include <thread>

#include "src/core/build_info.h"

#if IBLLM_WITH_OPENCV
#include <opencv2/core/utility.hpp>
#include <opencv2/core/version.hpp>
#endif
#if IBLLM_WITH_SNDFILE
#include <sndfile.h>
#endif

namespace ibllm::core {
namespace {

// 13020 -> "13.2" (CUDART_VERSION), 92600 -> "9.26.0" (CUDNN_VERSION, 9.x: major*10000+minor*100).
std::string cuda_version_name(long v) {
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}
std::string cudnn_version_name(long v) {
  if (v >= 90000)
    return std::to_string(v / 10000) + "." + std::to_string((v % 10000) / 100) + "." +
           std::to_string(v % 100);
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 100) + "." +
         std::to_string(v % 100);
}

}  // namespace

nlohmann::ordered_json runtime_info() {
  nlohmann::ordered_json j;
  j["ibllm_version"] = version();
  j["git_sha"] = git_sha();
  j["build_type"] = IBLLM_BUILD_TYPE;
  j["compiler"] = __VERSION__;
  j["cxx_standard"] = static_cast<long>(__cplusplus);
  j["libtorch"] = TORCH_VERSION;
  j["blas"] = blas_library();
  j["cuda_built"] = static_cast<bool>(IBLLM_WITH_CUDA);
  bool cuda = torch::cuda::is_available();
#if IBLLM_WITH_CUDA
  // The hooks live in libtorch_cuda (always loaded by a CUDA build); none of these needs a driver.
  const auto& hooks = at::detail::getCUDAHooks();
  j["torch_cuda"] = cuda_version_name(hooks.versionCUDART());  // the CUDA torch was built for
  j["cuda_toolkit"] = IBLLM_CUDA_TOOLKIT_VERSION;              // the headers ibllm compiled with
  j["cudnn"] = cudnn_version_name(hooks.versionRuntimeCuDNN());
  j["cudnn_torch_built"] = cudnn_version_name(hooks.versionCuDNN());
#endif
  j["cuda_available"] = cuda;
  j["cuda_devices"] = cuda ? static_cast<int>(torch::cuda::device_count()) : 0;
  j["cuda_device"] = cuda ? std::to_string(torch::cuda::device_count()) + " visible"
                          : std::string("no CUDA device (running on the CPU)");
  j["cudnn_available"] = cuda && at::globalContext().hasCuDNN();
  j["nccl_built"] = static_cast<bool>(IBLLM_WITH_NCCL);
  j["gloo_built"] = static_cast<bool>(IBLLM_WITH_GLOO);
#if IBLLM_WITH_OPENCV
  j["opencv"] = CV_VERSION;
#else
  j["opencv"] = "off (built without OpenCV: image/video decoding unavailable)";
#endif
#if IBLLM_WITH_SNDFILE
  j["libsndfile"] = sf_version_string();
#else
  j["libsndfile"] = "off (built without libsndfile: audio decoding unavailable)";
#endif
  j["hardware_threads"] = static_cast<int>(std::thread::hardware_concurrency());
  j["intra_op_threads"] = at::get_num_threads();
  j["inter_op_threads"] = at::get_num_interop_threads();
  return j;
}

std::string blas_library() {
  // What torch's CPU matmuls call. The x86 wheels are built with BLAS_INFO=mkl (MKL linked into
  // libtorch_cpu): that is the answer even when another BLAS is loaded too (OpenCV pulls in
  // liblapack -> libopenblas here). A build calling the system's libblas.so.3 uses whatever
  // implementation the alternatives system loaded.
  const std::string config = at::show_config();
  const auto key = config.find("BLAS_INFO=");
  if (key != std::string::npos) {
    const auto begin = key + 10;
    const std::string info = config.substr(begin, config.find_first_of(", \n", begin) - begin);
    if (info == "mkl" || info == "accelerate" || info == "armpl") return info;
  }
  if (dlsym(RTLD_DEFAULT, "openblas_set_num_threads")) return "openblas";
  if (dlsym(RTLD_DEFAULT, "mkl_set_num_threads")) return "mkl";
  if (dlsym(RTLD_DEFAULT, "bli_thread_set_num_threads")) return "blis";
  if (dlsym(RTLD_DEFAULT, "sgemm_")) return "reference";
  return "builtin";
}

int configure_threads(int intra_op) {
  int n = intra_op > 0 ? intra_op : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(n);
  // LibTorch parallelises over its own intra-op threads; a BLAS pool on top oversubscribes the
  // cores (measured on 2 cores: 150 ms -> 22 ms per tiny training step with OpenBLAS at 1 thread).
  using SetThreads = void (*)(int);
  if (auto f = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(1);
#if IBLLM_WITH_OPENCV
  // Decoding runs in loader workers; OpenCV's own pool on top would oversubscribe the cores.
  cv::setNumThreads(1);
#endif
  return at::get_num_threads();
}

}  // namespace ibllm::core
