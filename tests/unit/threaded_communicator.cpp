// See threaded_communicator.h.
#include "tests/unit/threaded_communicator.h"

#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include <ATen/ATen.h>

namespace ibllm::test {

enum class Op { kSum, kMax, kBroadcast, kGather, kBarrier };

// One collective as every rank contributes it.
struct Round {
  Op op = Op::kBarrier;
  std::vector<at::Tensor> tensors;   // per rank (one tensor each)
  std::vector<std::string> strings;  // per rank (kGather)
  int arrived = 0;
  int left = 0;  // ranks that have not yet taken their result
  bool done = false;
};

class ThreadedWorld {
 public:
  explicit ThreadedWorld(int n) : n_(n) {}
  int size() const { return n_; }

  // Rank `rank`'s part of collective `seq`; blocks until every rank has arrived, then returns the
  // gathered strings (kGather) and leaves the result in `t` (the other ops).
  std::vector<std::string> join(uint64_t seq, int rank, Op op, const at::Tensor& t, int64_t root,
                                const std::string& s) {
    std::unique_lock<std::mutex> lock(mu_);
    Round& r = rounds_[seq];
    if (r.arrived == 0) {
      r.op = op;
      r.tensors.resize(static_cast<size_t>(n_));
      r.strings.resize(static_cast<size_t>(n_));
      r.left = n_;
    } else if (r.op != op) {
      throw std::logic_error("collective " + std::to_string(seq) + " mismatched across ranks");
    }
    r.tensors[static_cast<size_t>(rank)] = t;
    r.strings[static_cast<size_t>(rank)] = s;
    if (++r.arrived == n_) {
      reduce(r, root);
      r.done = true;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return r.done; });
    }
    auto strings = r.strings;
    if (--r.left == 0) rounds_.erase(seq);
    return strings;
  }

 private:
  static void reduce(Round& r, int64_t root) {
    if (r.op == Op::kGather || r.op == Op::kBarrier) return;
    at::Tensor acc;
    if (r.op == Op::kBroadcast) {
      acc = r.tensors[static_cast<size_t>(root)].clone();
    } else {
      acc = r.tensors[0].clone();
      for (size_t i = 1; i < r.tensors.size(); ++i)
        acc = r.op == Op::kSum ? acc + r.tensors[i] : at::maximum(acc, r.tensors[i]);
    }
    for (auto& t : r.tensors) t.copy_(acc);
  }

  const int n_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, Round> rounds_;
};

namespace {

struct Job {
  Op op;
  at::Tensor tensor;
  int64_t root = 0;
  std::string text;
  std::promise<std::vector<std::string>> result;
};

class Pending : public dist::PendingCollective {
 public:
  explicit Pending(std::future<std::vector<std::string>> f) : f_(std::move(f)) {}
  void wait() override {
    if (f_.valid()) f_.get();
  }

 private:
  std::future<std::vector<std::string>> f_;
};

class ThreadedCommunicator : public dist::Communicator {
 public:
  ThreadedCommunicator(std::shared_ptr<ThreadedWorld> world, int rank)
      : world_(std::move(world)), rank_(rank), worker_([this] { run(); }) {}
  ~ThreadedCommunicator() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }
  int64_t rank() const override { return rank_; }
  int64_t world_size() const override { return world_->size(); }
  int64_t local_rank() const override { return rank_; }
  at::Device device() const override { return at::Device(at::kCPU); }
  std::string backend() const override { return "threads"; }

  void all_reduce_sum(std::vector<at::Tensor>& tensors) override {
    for (auto& t : tensors) submit(Op::kSum, t, 0, "").get();
  }
  void all_reduce_max(std::vector<at::Tensor>& tensors) override {
    for (auto& t : tensors) submit(Op::kMax, t, 0, "").get();
  }
  std::unique_ptr<dist::PendingCollective> start_all_reduce_sum(const at::Tensor& tensor) override {
    return std::make_unique<Pending>(submit(Op::kSum, tensor, 0, ""));
  }
  void broadcast(std::vector<at::Tensor>& tensors, int64_t root) override {
    for (auto& t : tensors) submit(Op::kBroadcast, t, root, "").get();
  }
  std::vector<std::string> all_gather_strings(const std::string& mine) override {
    return submit(Op::kGather, at::Tensor(), 0, mine).get();
  }
  void barrier() override { submit(Op::kBarrier, at::Tensor(), 0, "").get(); }

 private:
  std::future<std::vector<std::string>> submit(Op op, const at::Tensor& t, int64_t root,
                                               const std::string& s) {
    auto job = std::make_unique<Job>();
    job->op = op;
    job->tensor = t;
    job->root = root;
    job->text = s;
    auto f = job->result.get_future();
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(job));
    }
    cv_.notify_all();
    return f;
  }
  // The rank's collectives, in submission order (which is the sequence every rank shares).
  void run() {
    uint64_t seq = 0;
    for (;;) {
      std::unique_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      try {
        job->result.set_value(world_->join(seq++, rank_, job->op, job->tensor, job->root, job->text));
      } catch (...) {
        job->result.set_exception(std::current_exception());
      }
    }
  }

  std::shared_ptr<ThreadedWorld> world_;
  const int rank_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Job>> queue_;
  bool stop_ = false;
  std::thread worker_;  // last: it starts running in the constructor
};

}  // namespace

std::vector<std::unique_ptr<dist::Communicator>> make_threaded_group(int world) {
  auto w = std::make_shared<ThreadedWorld>(world);
  std::vector<std::unique_ptr<dist::Communicator>> out;
  for (int r = 0; r < world; ++r) out.push_back(std::make_unique<ThreadedCommunicator>(w, r));
  return out;
}

}  // namespace ibllm::test
