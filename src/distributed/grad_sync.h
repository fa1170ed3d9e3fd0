// Data-parallel gradient averaging: the C++ replacement for DDP's reducer. Gradients are packed
// into dtype-homogeneous flat buckets (planned once from the parameter list in reverse order, the
// order backward produces them, so every rank's plan is identical), one all-reduce SUM per
// bucket, then divided by the world size (Gloo has no AVG). With bf16_grad_comm, fp32 buckets
// travel as bf16 and are divided after unpacking. With overlap, gradient hooks start each
// bucket's all-reduce during the step's last backward as soon as all its members are final;
// buckets start strictly in plan order on every rank, which keeps the collectives matched.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include <ATen/core/Tensor.h>

#include "src/distributed/buckets.h"
#include "src/distributed/communicator.h"
#include "src/distributed/dist_config.h"

namespace ibllm::dist {

class GradSync {
 public:
  // Registers gradient hooks on `params` (leaves that require grad) when cfg.overlap and the world
  // has several ranks; they are removed again by the destructor.
  GradSync(Communicator& comm, std::vector<at::Tensor> params, const DistConfig& cfg);
  ~GradSync();
  GradSync(const GradSync&) = delete;
  GradSync& operator=(const GradSync&) = delete;

  // Overlap: call right before the backward that completes this step's gradients (the last
  // micro-batch's). Its gradient hooks then pack each arriving gradient (plus what earlier
  // micro-batches accumulated in .grad) and start a bucket's all-reduce once all its members have
  // arrived. Without overlap (or on one rank) a no-op. average() must follow on every rank.
  void begin_final_backward();
  // In place. `grads[i]` belongs to params[i]: defined (zero-filled when unused), same shape,
  // dtype and device. One call per optimizer step, on every rank: packs what the hooks did not,
  // starts the remaining buckets, waits for all, divides and writes the averages into `grads`.
  void average(const std::vector<at::Tensor>& grads);

  size_t num_buckets() const { return buckets_.size(); }
  int64_t comm_bytes() const;  // bytes all-reduced per call
  bool overlapping() const { return !hooks_.empty(); }
  // Buckets whose all-reduce the last step started from inside backward (overlap diagnostics).
  size_t started_in_backward() const { return started_in_backward_; }

 private:
  void on_grad(size_t param, const at::Tensor& grad);
  void start_ready_buckets();  // caller holds mu_
  void reset_step();

  Communicator& comm_;
  std::vector<at::Tensor> params_;
  std::vector<Bucket> buckets_;
  std::vector<at::Tensor> buffers_;  // one flat buffer per bucket, in the communication dtype
  std::vector<size_t> bucket_of_, slot_of_;  // per parameter: its bucket and position in it
  std::vector<unsigned> hooks_;              // hook handles, per parameter (overlap only)
  std::vector<size_t> hooked_;               // the parameters carrying them

  // Per-step overlap state, guarded by mu_ (hooks run on the autograd engine's thread).
  std::mutex mu_;
  bool armed_ = false;
  std::vector<char> packed_;           // per parameter: its gradient is in its bucket
  std::vector<size_t> missing_;        // per bucket: members not yet packed
  size_t next_ = 0;                    // buckets [0, next_) have been started
  std::vector<std::unique_ptr<PendingCollective>> pending_;
  size_t started_in_backward_ = 0;
};

}  // namespace ibllm::dist
