// Start-of-run consistency across ranks: rank 0's parameter values are broadcast to all (so
// different random initialisations cannot diverge), and a signature (names, shapes, dtypes, or
// anything JSON) is compared across ranks before the first step, so a rank built from a different
// config fails loudly instead of all-reducing mismatched buckets.
#pragma once

#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "src/distributed/communicator.h"

namespace ibllm::dist {

// In place, from rank 0, in flat buckets; under NoGradGuard (the parameters are leaves).
void broadcast_parameters(Communicator& comm, const std::vector<at::Tensor>& params);

// All-gathers every rank's signature; when any differs from rank 0's, throws a DistError on
// every rank naming the differing ranks and keys (JSON paths with both values).
void check_same_signature(Communicator& comm, const nlohmann::json& signature);

}  // namespace ibllm::dist
