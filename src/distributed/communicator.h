// The collectives the trainer needs, hiding c10d behind one interface. World size 1 is a LocalCommunicator whose calls are no-ops,
// so single-process code paths are the same code. Every call is collective: all ranks must make
// the same calls in the same order (never inside `if (rank == 0)`).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "src/distributed/dist_config.h"
#include "src/distributed/dist_env.h"

namespace ibllm::dist {

// A collective in flight (see Communicator::start_all_reduce_sum). wait() blocks until it is done
// and the result is in the tensor; it throws DistError when the collective failed or timed out.
// A handle must be waited on before its tensor is read or the handle destroyed.
class PendingCollective {
 public:
  virtual ~PendingCollective();
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator();
  virtual int64_t rank() const = 0;
  virtual int64_t world_size() const = 0;
  virtual int64_t local_rank() const = 0;
  // Where tensors handed to the collectives must live (cpu for Gloo, cuda:<local> for NCCL).
  virtual at::Device device() const = 0;
  // The backend in use: "local", "gloo" or "nccl".
  virtual std::string backend() const = 0;
  // In place, element-wise over ranks. Tensors must be contiguous and on device().
  virtual void all_reduce_sum(std::vector<at::Tensor>& tensors) = 0;
  virtual void all_reduce_max(std::vector<at::Tensor>& tensors) = 0;
  // Starts an in-place SUM of one tensor and returns at once (the backends run it on their own
  // threads/streams), so callers can overlap it with compute. Callable from the autograd thread.
  virtual std::unique_ptr<PendingCollective> start_all_reduce_sum(const at::Tensor& tensor) = 0;
  // In place: every rank receives root's values.
  virtual void broadcast(std::vector<at::Tensor>& tensors, int64_t root) = 0;
  // Every rank's string, indexed by rank (lengths may differ).
  virtual std::vector<std::string> all_gather_strings(const std::string& mine) = 0;
  virtual void barrier() = 0;

  // Host-value conveniences on top of the collectives (one small collective each).
  int64_t sum(int64_t v);
  int64_t sum(int v) { return sum(static_cast<int64_t>(v)); }  // sum(1) is not ambiguous
  double sum(double v);
  double max(double v);
  // Element-wise sum of host values over ranks, in one collective.
  std::vector<double> sum(std::vector<double> v);
};

// A single process: every collective is the identity.
class LocalCommunicator : public Communicator {
 public:
  explicit LocalCommunicator(at::Device device = at::Device(at::kCPU)) : device_(device) {}
  int64_t rank() const override { return 0; }
  int64_t world_size() const override { return 1; }
  int64_t local_rank() const override { return 0; }
  at::Device device() const override { return device_; }
  std::string backend() const override { return "local"; }
  void all_reduce_sum(std::vector<at::Tensor>&) override {}
  void all_reduce_max(std::vector<at::Tensor>&) override {}
  std::unique_ptr<PendingCollective> start_all_reduce_sum(const at::Tensor& tensor) override;
  void broadcast(std::vector<at::Tensor>& tensors, int64_t root) override;
  std::vector<std::string> all_gather_strings(const std::string& mine) override { return {mine}; }
  void barrier() override {}

 private:
  at::Device device_;
};

// "gloo" or "nccl" for cfg.backend on `device` ("auto": nccl on cuda, gloo on cpu). Throws
// ConfigError for nccl on a cpu device.
std::string resolve_backend(const DistConfig& cfg, at::Device device);

// World size 1: a LocalCommunicator. Otherwise a c10d TCPStore rendezvous (rank 0 hosts it, or
// torchrun's agent does) and a Gloo or NCCL process group with cfg.timeout_s as its timeout. For
// NCCL the CUDA device is set to the local rank first (device 0 when Slurm/CUDA_VISIBLE_DEVICES
// shows each rank a single GPU). Throws DistError when the rendezvous fails or times out, and
// NotBuiltError when the backend was compiled out.
// `group_of_one`: a single process gets a real process group too (a private TCPStore on
// 127.0.0.1 and a free port unless the environment names one), so the collectives run and can be
// timed (`ibllm bench` with bench.grad_sync).
std::unique_ptr<Communicator> make_communicator(const DistEnv& env, const DistConfig& cfg,
                                                at::Device device, bool group_of_one = false);

// The version of the NCCL library this process runs with ("2.30.7"; needs no GPU), or "off (...)"
// when the build has no NCCL backend.
std::string nccl_version();

}  // namespace ibllm::dist
