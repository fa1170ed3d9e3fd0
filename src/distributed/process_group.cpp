// Process-group construction (see process_group.h): c10d Gloo and NCCL backends. NCCL's watchdog
// tears a hung job down only with async error handling on, so it is requested (TORCH_ name, and
// the old NCCL_ name older launch scripts set) unless the user set it.
#include <cstdlib>

#include "src/core/error.h"
#include "src/distributed/process_group.h"

#if IBLLM_DIST_HAS_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#if IBLLM_DIST_HAS_NCCL
#include <torch/csrc/distributed/c10d/NCCLUtils.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "src/distributed/communicator.h"

namespace ibllm::dist::detail {

ProcessGroupPtr make_gloo_group(const GroupSpec& spec) {
#if IBLLM_DIST_HAS_GLOO
  auto opts = c10d::ProcessGroupGloo::Options::create(spec.timeout);
  opts->devices.push_back(make_gloo_device(spec.master_addr));
  return c10::make_intrusive<c10d::ProcessGroupGloo>(spec.store, spec.rank, spec.size, opts);
#else
  (void)spec;
  throw NotBuiltError("gloo", "the gloo distributed backend (CPU training with several processes)");
#endif
}

ProcessGroupPtr make_nccl_group(const GroupSpec& spec) {
#if IBLLM_DIST_HAS_NCCL
  ::setenv("TORCH_NCCL_ASYNC_ERROR_HANDLING", "1", /*overwrite=*/0);
  auto opts = c10d::ProcessGroupNCCL::Options::create();
  opts->timeout = spec.timeout;
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(spec.store, spec.rank, spec.size, opts);
#else
  (void)spec;
  throw NotBuiltError("nccl", "the nccl distributed backend (multi-GPU training)");
#endif
}

}  // namespace ibllm::dist::detail

namespace ibllm::dist {

std::string nccl_version() {
#if IBLLM_DIST_HAS_NCCL
  return c10d::getNcclVersion();  // the loaded libnccl's ncclGetVersion, through torch
#else
  return "off (built without the NCCL backend)";
#endif
}

}  // namespace ibllm::dist
