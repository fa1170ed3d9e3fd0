// Internal: the seam between our common c10d code and the backends. The Gloo and NCCL classes
// derive from c10d::Backend (used directly, without the ProcessGroup wrapper, which would need the
// dispatcher-registered ops); the common code holds a ProcessGroupPtr and only process_group.cpp
// constructs one, so only it and gloo_device.cpp include a backend header.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

// Gloo's headers are optional (Debian: libgloo-dev; absent on the GPU machine). The wheel ships no
// Gloo headers; Debian's are used only to compile ProcessGroupGloo.hpp's declarations — every Gloo
// function that runs is the wheel's own (a test checks that no gloo:: symbol is defined in ibllm's
// binaries; docs/distributed.md).
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

using ProcessGroupPtr = c10::intrusive_ptr<c10d::Backend>;

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
