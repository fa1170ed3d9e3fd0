// Data-parallel wiring; see data_parallel.h.
#include "trainers/data_parallel.h"

#include <cstdio>

#include "src/distributed/param_sync.h"
#include "trainers/zero_optimizer.h"

namespace ibllm::train {

DataParallel::DataParallel(dist::Communicator& comm, const std::vector<NamedParameter>& params,
                           const dist::DistConfig& cfg)
    : comm_(comm) {
  for (const auto& p : params) params_.push_back(p.param);
  dist::broadcast_parameters(comm_, params_);
  if (comm_.backend() == "local") return;
  if (cfg.zero_stage == 1 && comm_.world_size() > 1)
    owner_ = dist::partition_by_size(params_, comm_.world_size());
  grad_sync_ = std::make_unique<dist::GradSync>(comm_, params_, cfg);
}

std::vector<bool> DataParallel::owned() const { return owned_mask(owner_, comm_.rank()); }

StepSync DataParallel::step_sync() {
  StepSync s;
  if (!grad_sync_) return s;
  s.world_size = comm_.world_size();
  if (grad_sync_->overlapping()) s.before_final_backward = [this] { grad_sync_->begin_final_backward(); };
  s.average_grads = [this](const std::vector<at::Tensor>& g) { grad_sync_->average(g); };
  s.sum_count = [this](int64_t n) { return comm_.sum(n); };
  if (!owner_.empty())
    s.after_update = [this] { dist::broadcast_from_owners(comm_, params_, owner_); };
  return s;
}

std::map<std::string, at::Tensor> DataParallel::optimizer_state(const AdamW& optimizer) {
  return owner_.empty() ? optimizer.state_dict() : gather_optimizer_state(comm_, optimizer, owner_);
}

std::string DataParallel::describe() const {
  if (!grad_sync_) return "";
  char b[160];
  std::snprintf(b, sizeof b, "gradient sync: %zu buckets, %.1f MB per step, %s%s",
                grad_sync_->num_buckets(), static_cast<double>(grad_sync_->comm_bytes()) / 1e6,
                grad_sync_->overlapping() ? "overlapped with backward" : "after backward",
                owner_.empty() ? "" : "; ZeRO-1 optimizer-state sharding");
  return b;
}

}  // namespace ibllm::train
