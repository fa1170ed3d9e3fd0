// Internal: the seam between our common c10d code and the LibTorch flavour. In 1.13 the Gloo/NCCL
// classes derive from c10d::ProcessGroup; in 2.x from c10d::Backend (ProcessGroup wraps backends).
// Both bases expose the same allreduce/broadcast/allgather/barrier, so the common code holds a
// ProcessGroupPtr and only process_group.cpp constructs it (one source for both flavours).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/version.h>

#if TORCH_VERSION_MAJOR >= 2
#include <torch/csrc/distributed/c10d/Backend.hpp>
#else
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#endif

// Gloo's headers are optional (Debian: libgloo-dev; absent on the GPU machine).
// USE_C10D_GLOO / USE_C10D_NCCL come from find_package(Torch); without them the c10d headers
// declare nothing.
#if defined(IBLLM_WITH_GLOO) && IBLLM_WITH_GLOO && defined(USE_C10D_GLOO) && \
    __has_include(<gloo/rendezvous/store.h>)
#define IBLLM_DIST_HAS_GLOO 1
#else
#define IBLLM_DIST_HAS_GLOO 0
#endif
#if defined(IBLLM_WITH_NCCL) && IBLLM_WITH_NCCL && defined(USE_C10D_NCCL)
#define IBLLM_DIST_HAS_NCCL 1
#else
#define IBLLM_DIST_HAS_NCCL 0
#endif

namespace gloo::transport {
class Device;
}

namespace ibllm::dist::detail {

#if TORCH_VERSION_MAJOR >= 2
using ProcessGroupPtr = c10::intrusive_ptr<c10d::Backend>;
#else
using ProcessGroupPtr = c10::intrusive_ptr<c10d::ProcessGroup>;
#endif

struct GroupSpec {
  c10::intrusive_ptr<c10d::Store> store;
  int rank = 0;
  int size = 1;
  std::chrono::milliseconds timeout{600000};
  std::string master_addr;  // picks Gloo's network interface (loopback for a local job)
};

// In process_group.cpp. Throw NotBuiltError when compiled out.
ProcessGroupPtr make_gloo_group(const GroupSpec& spec);
ProcessGroupPtr make_nccl_group(const GroupSpec& spec);

#if IBLLM_DIST_HAS_GLOO
// Common (gloo_device.cpp): GLOO_SOCKET_IFNAME if set, loopback for a loopback master, else the
// host's default interface.
std::shared_ptr<::gloo::transport::Device> make_gloo_device(const std::string& master_addr);
#endif

}  // namespace ibllm::dist::detail
