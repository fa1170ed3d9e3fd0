// ZeRO-1 for AdamW: each rank keeps and updates the Adam moments of its own shard of the
// trainable tensors (dist::partition_by_size), then every rank receives the updated values from
// the owners (dist::broadcast_from_owners). Gradients are still all-reduced in full, so clipping
// and the skip decision are unchanged; the result is bit for bit the unsharded update. Checkpoints
// hold the full, unsharded optimizer state, so they resume on any world size with or without it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "src/distributed/communicator.h"
#include "trainers/adamw.h"

namespace ibllm::train {

// owner[i] == rank, per parameter (empty owner = everything owned: no sharding).
std::vector<bool> owned_mask(const std::vector<int64_t>& owner, int64_t rank);

// Collective: the full AdamW::state_dict() of the unsharded optimizer, assembled from every
// rank's shard: on rank 0 as CPU tensors, empty on the other ranks. Moves one tensor at a time
// (bounded extra memory on the non-writing ranks).
std::map<std::string, at::Tensor> gather_optimizer_state(dist::Communicator& comm,
                                                         const AdamW& optimizer,
                                                         const std::vector<int64_t>& owner);

}  // namespace ibllm::train
