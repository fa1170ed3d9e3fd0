// Process-group construction (see process_group.h). The same source serves both LibTorch flavours:
// in 1.x the Gloo and NCCL classes are c10d::ProcessGroups, in 2.x c10d::Backends used directly (no
// ProcessGroup wrapper, which would need the dispatcher-registered ops); ProcessGroupPtr names the
// right base. NCCL's watchdog tears a hung job down only with async error handling on (off by
// default in 1.x), so it is requested — 2.2+ also reads the TORCH_ name — unless the user set it.
#include <torch/version.h>

#include <cstdlib>

#include "src/core/error.h"
#include "src/distributed/process_group.h"

#if IBLLM_DIST_HAS_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#if IBLLM_DIST_HAS_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

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
#if TORCH_VERSION_MAJOR >= 2
  ::setenv("TORCH_NCCL_ASYNC_ERROR_HANDLING", "1", /*overwrite=*/0);
#endif
  ::setenv("NCCL_ASYNC_ERROR_HANDLING", "1", /*overwrite=*/0);
  auto opts = c10d::ProcessGroupNCCL::Options::create();
  opts->timeout = spec.timeout;
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(spec.store, spec.rank, spec.size, opts);
#else
  (void)spec;
  throw NotBuiltError("nccl", "the nccl distributed backend (multi-GPU training)");
#endif
}

}  // namespace ibllm::dist::detail
