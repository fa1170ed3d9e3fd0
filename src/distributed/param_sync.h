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

// In place, from rank 0; under NoGradGuard (the parameters are leaves).
void broadcast_parameters(Communicator& comm, const std::vector<at::Tensor>& params);

// ZeRO-1 partition: the owning rank of each tensor, balancing element counts (largest first onto
// the least-loaded rank, ties to the lower rank). Deterministic, so every rank computes the same.
std::vector<int64_t> partition_by_size(const std::vector<at::Tensor>& tensors, int64_t world_size);

// In place: every rank receives each tensor's values from its owner (owner[i] for tensors[i]).
// Tensors of 1 MiB or more travel in place; smaller ones are packed into flat buckets per owner,
// so a set of many small tensors costs few collectives and no full-size staging copy is made.
// Under NoGradGuard.
void broadcast_from_owners(Communicator& comm, const std::vector<at::Tensor>& tensors,
                           const std::vector<int64_t>& owner);

// All-gathers every rank's signature; when any differs from rank 0's, throws a DistError on
// every rank naming the differing ranks and keys (JSON paths with both values).
void check_same_signature(Communicator& comm, const nlohmann::json& signature);

}  // namespace ibllm::dist
