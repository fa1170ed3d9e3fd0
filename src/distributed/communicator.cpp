// Communicator implementations: the no-op LocalCommunicator and the c10d-backed one (TCPStore
// rendezvous + a Gloo/NCCL process group built by the flavour file). A c10d vector argument means
// "one tensor per device of this process", not a list, so a list is sent as one collective per
// tensor: all are enqueued first, then waited, so Gloo/NCCL can overlap them.
#include "src/distributed/communicator.h"

#include <chrono>
#include <cstring>

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#if defined(IBLLM_WITH_CUDA) && IBLLM_WITH_CUDA
#include <c10/cuda/CUDAFunctions.h>
#endif

#include "src/core/error.h"
#include "src/distributed/dist_error.h"
#include "src/distributed/peer_processes.h"
#include "src/distributed/process_group.h"

namespace ibllm::dist {

Communicator::~Communicator() = default;
PendingCollective::~PendingCollective() = default;

namespace {

// The local "collective" is the identity: already complete.
class DoneCollective : public PendingCollective {
 public:
  void wait() override {}
};

}  // namespace

std::unique_ptr<PendingCollective> LocalCommunicator::start_all_reduce_sum(const at::Tensor&) {
  return std::make_unique<DoneCollective>();
}

int64_t Communicator::sum(int64_t v) {
  std::vector<at::Tensor> t{at::full({1}, v, at::TensorOptions(at::kLong).device(device()))};
  all_reduce_sum(t);
  return t[0].item<int64_t>();
}

double Communicator::sum(double v) {
  std::vector<at::Tensor> t{at::full({1}, v, at::TensorOptions(at::kDouble).device(device()))};
  all_reduce_sum(t);
  return t[0].item<double>();
}

std::vector<double> Communicator::sum(std::vector<double> v) {
  if (v.empty() || world_size() == 1) return v;
  std::vector<at::Tensor> t{at::tensor(v, at::TensorOptions(at::kDouble)).to(device())};
  all_reduce_sum(t);
  auto h = t[0].to(at::kCPU).contiguous();
  std::copy(h.data_ptr<double>(), h.data_ptr<double>() + h.numel(), v.begin());
  return v;
}

double Communicator::max(double v) {
  std::vector<at::Tensor> t{at::full({1}, v, at::TensorOptions(at::kDouble).device(device()))};
  all_reduce_max(t);
  return t[0].item<double>();
}

void LocalCommunicator::broadcast(std::vector<at::Tensor>&, int64_t root) {
  if (root != 0)
    throw DistError("broadcast from rank " + std::to_string(root) + " in a single process");
}

std::string resolve_backend(const DistConfig& cfg, at::Device device) {
  switch (cfg.backend) {
    case Backend::kAuto: return device.is_cuda() ? "nccl" : "gloo";
    case Backend::kGloo: return "gloo";
    case Backend::kNccl: break;
  }
  if (!device.is_cuda())
    throw ConfigError("dist.backend is nccl but the training device is " + device.str(),
                      "use dist.backend: gloo (or auto) for CPU training");
  return "nccl";
}

namespace {

using Clock = std::chrono::steady_clock;

class ProcessGroupCommunicator : public Communicator {
 public:
  ProcessGroupCommunicator(const DistEnv& env, std::string backend, at::Device device,
                           int64_t timeout_s, c10::intrusive_ptr<c10d::Store> store,
                           detail::ProcessGroupPtr pg, PeerProcesses peers)
      : env_(env),
        backend_(std::move(backend)),
        device_(device),
        timeout_s_(timeout_s),
        store_(std::move(store)),
        pg_(std::move(pg)),
        peers_(std::move(peers)) {}

  int64_t rank() const override { return env_.rank; }
  int64_t world_size() const override { return env_.world_size; }
  int64_t local_rank() const override { return env_.local_rank; }
  at::Device device() const override { return device_; }
  std::string backend() const override { return backend_; }

  void all_reduce_sum(std::vector<at::Tensor>& tensors) override {
    reduce(tensors, c10d::ReduceOp::SUM, "all_reduce(sum)");
  }
  void all_reduce_max(std::vector<at::Tensor>& tensors) override {
    reduce(tensors, c10d::ReduceOp::MAX, "all_reduce(max)");
  }

  void broadcast(std::vector<at::Tensor>& tensors, int64_t root) override {
    if (root < 0 || root >= env_.world_size)
      throw DistError("broadcast root " + std::to_string(root) + " is outside [0, " +
                      std::to_string(env_.world_size) + ")");
    check_tensors(tensors, "broadcast");
    guarded("broadcast", [&] {
      std::vector<c10::intrusive_ptr<c10d::Work>> works;
      for (auto& t : tensors) {
        // A broadcast copies bits: bf16 (which Gloo 1.13 rejects) travels as fp16 bit patterns.
        std::vector<at::Tensor> one{t.scalar_type() == at::kBFloat16 ? t.view(at::kHalf) : t};
        c10d::BroadcastOptions opts;
        opts.rootRank = root;
        works.push_back(pg_->broadcast(one, opts));
      }
      for (auto& w : works) w->wait();
    });
  }

  std::vector<std::string> all_gather_strings(const std::string& mine) override {
    const auto n = env_.world_size;
    // Gloo/NCCL gather equal shapes only: gather the lengths, then the bytes padded to the longest.
    std::vector<at::Tensor> len_in{
        at::full({1}, static_cast<int64_t>(mine.size()), at::TensorOptions(at::kLong).device(device_))};
    std::vector<std::vector<at::Tensor>> len_out(1);
    for (int64_t r = 0; r < n; ++r) len_out[0].push_back(at::empty_like(len_in[0]));
    guarded("all_gather(lengths)", [&] { pg_->allgather(len_out, len_in)->wait(); });
    std::vector<int64_t> lens;
    int64_t longest = 1;
    for (const auto& t : len_out[0]) {
      lens.push_back(t.item<int64_t>());
      longest = std::max(longest, lens.back());
    }
    at::Tensor host = at::zeros({longest}, at::kByte);
    if (!mine.empty()) std::memcpy(host.data_ptr(), mine.data(), mine.size());
    std::vector<at::Tensor> in{host.to(device_)};
    std::vector<std::vector<at::Tensor>> out(1);
    for (int64_t r = 0; r < n; ++r) out[0].push_back(at::empty_like(in[0]));
    guarded("all_gather(strings)", [&] { pg_->allgather(out, in)->wait(); });
    std::vector<std::string> result;
    for (int64_t r = 0; r < n; ++r) {
      const at::Tensor bytes = out[0][static_cast<size_t>(r)].cpu();
      result.emplace_back(static_cast<const char*>(bytes.data_ptr()),
                          static_cast<size_t>(lens[static_cast<size_t>(r)]));
    }
    return result;
  }

  void barrier() override {
    if (backend_ == "nccl") {
      // NCCL's own barrier guesses the device from the global rank; a tiny all-reduce on ours
      // followed by a host read is an exact barrier.
      std::vector<at::Tensor> t{at::zeros({1}, at::TensorOptions(at::kFloat).device(device_))};
      all_reduce_sum(t);
      (void)t[0].item<float>();
      return;
    }
    guarded("barrier", [&] { pg_->barrier()->wait(); });
  }

 private:
  // One tensor's all-reduce, started. Gloo (1.13) cannot reduce bf16: such a tensor travels as
  // fp32 and is rounded back once, in wait().
  class C10dCollective : public PendingCollective {
   public:
    C10dCollective(ProcessGroupCommunicator& comm, at::Tensor tensor, c10d::ReduceOp op,
                   const char* what)
        : comm_(comm), tensor_(std::move(tensor)), wire_(tensor_), what_(what) {
      comm_.check_tensors({tensor_}, what_);
      if (comm_.backend_ == "gloo" && tensor_.scalar_type() == at::kBFloat16)
        wire_ = tensor_.to(at::kFloat);
      start_ = Clock::now();
      comm_.guarded(what_, start_, [&] {
        std::vector<at::Tensor> one{wire_};
        c10d::AllreduceOptions opts;
        opts.reduceOp = op;
        work_ = comm_.pg_->allreduce(one, opts);
      });
    }
    void wait() override {
      if (!work_) return;
      auto work = std::move(work_);
      comm_.guarded(what_, start_, [&] { work->wait(); });
      if (!wire_.is_same(tensor_)) tensor_.copy_(wire_);
    }

   private:
    ProcessGroupCommunicator& comm_;
    at::Tensor tensor_, wire_;
    const char* what_;
    Clock::time_point start_;
    c10::intrusive_ptr<c10d::Work> work_;
  };

  std::unique_ptr<PendingCollective> start_all_reduce_sum(const at::Tensor& tensor) override {
    return std::make_unique<C10dCollective>(*this, tensor, c10d::ReduceOp::SUM,
                                            "all_reduce(sum)");
  }

  void reduce(std::vector<at::Tensor>& tensors, c10d::ReduceOp op, const char* what) {
    // All started first, then waited, so Gloo/NCCL can overlap them.
    std::vector<std::unique_ptr<PendingCollective>> pending;
    for (const auto& t : tensors) pending.push_back(std::make_unique<C10dCollective>(*this, t, op, what));
    for (auto& p : pending) p->wait();
  }

  void check_tensors(const std::vector<at::Tensor>& tensors, const char* what) const {
    for (size_t i = 0; i < tensors.size(); ++i) {
      const auto& t = tensors[i];
      if (!t.defined() || !t.is_contiguous() || t.device() != device_)
        throw DistError(std::string(what) + ": tensor " + std::to_string(i) +
                            " must be defined, contiguous and on " + device_.str() +
                            (t.defined() ? " (it is on " + t.device().str() + ")" : ""),
                        "this is a bug in the caller");
    }
  }

  template <class F>
  void guarded(const char* what, F&& f) {
    guarded(what, Clock::now(), std::forward<F>(f));
  }
  template <class F>
  void guarded(const char* what, Clock::time_point start, F&& f) {
    try {
      f();
    } catch (const Error&) {
      throw;
    } catch (const c10::Error& e) {
      fail(what, start, e.what_without_backtrace());
    } catch (const std::exception& e) {
      fail(what, start, e.what());
    }
  }

  [[noreturn]] void fail(const char* what, Clock::time_point start, const std::string& cause) {
    const double waited = std::chrono::duration<double>(Clock::now() - start).count();
    // Which peer is gone matters more than the transport's words (which name only an address).
    const std::string peers = peers_.describe(std::chrono::milliseconds(500));
    throw DistError("rank " + std::to_string(env_.rank) + "/" + std::to_string(env_.world_size) +
                        ": " + what + " over " + backend_ + " failed after " +
                        std::to_string(static_cast<int64_t>(waited)) + " s: " + peers + " (" +
                        backend_ + ": " + cause + ")",
                    "another rank died, hung or took a different code path (timeout " +
                        std::to_string(timeout_s_) + " s, dist.timeout_s); check the first "
                        "error in the other ranks' logs");
  }

  DistEnv env_;
  std::string backend_;
  at::Device device_;
  int64_t timeout_s_;
  c10::intrusive_ptr<c10d::Store> store_;  // kept alive: rank 0 hosts the server
  detail::ProcessGroupPtr pg_;
  PeerProcesses peers_;
};

at::Device comm_device(const DistEnv& env, const std::string& backend, at::Device device) {
  if (backend != "nccl") return at::Device(at::kCPU);
#if defined(IBLLM_WITH_CUDA) && IBLLM_WITH_CUDA
  const int64_t count = static_cast<int64_t>(c10::cuda::device_count());
  // One visible GPU per rank (srun --gpus-per-task, CUDA_VISIBLE_DEVICES per rank): device 0.
  const int64_t index = count == 1 ? 0 : env.local_rank;
  if (index >= count)
    throw DistError("LOCAL_RANK " + std::to_string(env.local_rank) + " needs GPU " +
                        std::to_string(index) + " but only " + std::to_string(count) +
                        " are visible",
                    "start at most one rank per GPU (torchrun --nproc_per_node <= GPUs)");
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(index));
  (void)device;
  return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index));
#else
  (void)env;
  (void)device;
  throw NotBuiltError("cuda", "the nccl backend");
#endif
}

}  // namespace

std::unique_ptr<Communicator> make_communicator(const DistEnv& env_in, const DistConfig& cfg,
                                                at::Device device, bool group_of_one) {
  if (env_in.world_size <= 1 && !group_of_one) return std::make_unique<LocalCommunicator>(device);
  DistEnv env = env_in;
  if (env.world_size <= 1 && env.master_addr.empty()) env.master_addr = "127.0.0.1";
  const std::string backend = resolve_backend(cfg, device);
  const at::Device cdev = comm_device(env, backend, device);
  const std::chrono::milliseconds timeout(cfg.timeout_s * 1000);
  const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
  spdlog::info("dist: rank {}/{} (local {}/{}, from {}) joining {} via {} rendezvous at {}",
               env.rank, env.world_size, env.local_rank, env.local_world_size, env.source,
               backend, env.use_agent_store ? "torchrun's" : "a TCPStore", where);

  c10::intrusive_ptr<c10d::Store> store;
  try {
    c10d::TCPStoreOptions opts;
    opts.port = static_cast<std::uint16_t>(env.master_port);
    opts.isServer = env.rank == 0 && !env.use_agent_store;
    opts.numWorkers = static_cast<std::size_t>(env.world_size);
    opts.waitWorkers = !env.use_agent_store;
    opts.timeout = timeout;
    store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, opts);
    if (!env.store_prefix.empty())
      store = c10::make_intrusive<c10d::PrefixStore>(env.store_prefix, store);
  } catch (const std::exception& e) {
    const auto* c10e = dynamic_cast<const c10::Error*>(&e);
    throw DistError("rank " + std::to_string(env.rank) + ": rendezvous at " + where +
                        " failed: " + (c10e != nullptr ? c10e->what_without_backtrace() : e.what()),
                    "all " + std::to_string(env.world_size) +
                        " ranks must start within dist.timeout_s (" +
                        std::to_string(cfg.timeout_s) + " s) and reach MASTER_ADDR:MASTER_PORT; "
                        "is the port free and the address right?");
  }

  detail::GroupSpec spec;
  spec.store = store;
  spec.rank = static_cast<int>(env.rank);
  spec.size = static_cast<int>(env.world_size);
  spec.timeout = timeout;
  spec.master_addr = env.master_addr;
  PeerProcesses::publish(*store, env.rank);  // before the group forms: see peer_processes.h
  detail::ProcessGroupPtr pg;
  try {
    pg = backend == "nccl" ? detail::make_nccl_group(spec) : detail::make_gloo_group(spec);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    const auto* c10e = dynamic_cast<const c10::Error*>(&e);
    throw DistError("rank " + std::to_string(env.rank) + ": joining the " + backend +
                        " process group (rendezvous at " + where + ") failed: " +
                        (c10e != nullptr ? c10e->what_without_backtrace() : e.what()),
                    "another rank failed during start-up, or the network between nodes is "
                    "blocked (GLOO_SOCKET_IFNAME / NCCL_SOCKET_IFNAME select the interface)");
  }
  auto peers = PeerProcesses::read(*store, env.rank, env.world_size);
  return std::make_unique<ProcessGroupCommunicator>(env, backend, cdev, cfg.timeout_s, store, pg,
                                                    std::move(peers));
}

}  // namespace ibllm::dist
