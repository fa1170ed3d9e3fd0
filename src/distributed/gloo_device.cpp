// Picks the network device Gloo's pairs connect over; see process_group.h. A loopback master means
// a single-machine job, where the host name may resolve to an address nothing listens on (Debian
// maps it to 127.0.1.1), so loopback is used explicitly.
#include "src/distributed/process_group.h"

#if IBLLM_DIST_HAS_GLOO
#include <cstdlib>

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

namespace ibllm::dist::detail {

std::shared_ptr<::gloo::transport::Device> make_gloo_device(const std::string& master_addr) {
  const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
  if (ifname != nullptr && *ifname != '\0')
    return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  if (master_addr.empty() || master_addr == "localhost" || master_addr.rfind("127.", 0) == 0)
    return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

}  // namespace ibllm::dist::detail
#endif
