// Distributed layer: launcher-environment detection, the `dist:` config, and real multi-process
// collectives over Gloo on 127.0.0.1 (ranks are forked children, every run bounded by a deadline):
// collectives, bucketed gradient averaging (2 and 3 ranks, fp32 + bf16, bf16 wire format),
// parameter broadcast, signature mismatch, dead and stuck peers, rendezvous timeout, and
// launch/local.sh. A Gloo-less build skips the multi-process cases visibly.
#include "tests/support/catch.h"

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "src/config/document.h"
#include "src/core/error.h"
#include "src/distributed/buckets.h"
#include "src/distributed/communicator.h"
#include "src/distributed/dist_config.h"
#include "src/distributed/dist_env.h"
#include "src/distributed/dist_error.h"
#include "src/distributed/grad_sync.h"
#include "src/distributed/param_sync.h"
#include "src/distributed/peer_processes.h"
#include "src/distributed/process_group.h"
#include "tests/support/paths.h"
#include "tests/unit/dist_ranks.h"

using namespace ibllm;
using namespace ibllm::dist;
using ibllm::test::describe;
using ibllm::test::RankOutcome;
using ibllm::test::run_ranks;

namespace {

// Clears every launcher variable for the test's duration and restores the originals afterwards.
class EnvGuard {
 public:
  EnvGuard() {
    for (const char* name : kVars) {
      const char* v = std::getenv(name);
      if (v != nullptr) saved_[name] = v;
      ::unsetenv(name);
    }
  }
  ~EnvGuard() {
    for (const char* name : kVars) ::unsetenv(name);
    for (const auto& [k, v] : saved_) ::setenv(k.c_str(), v.c_str(), 1);
  }
  void set(const char* name, const std::string& value) { ::setenv(name, value.c_str(), 1); }

 private:
  static constexpr const char* kVars[] = {
      "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
      "TORCHELASTIC_USE_AGENT_STORE", "TORCHELASTIC_RESTART_COUNT", "SLURM_PROCID",
      "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_TASKS_PER_NODE", "SLURM_NTASKS_PER_NODE",
      "SLURM_NODEID", "SLURM_JOB_NODELIST", "SLURM_NODELIST", "SLURM_JOB_ID"};
  std::map<std::string, std::string> saved_;
};

std::string config_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<no ConfigError>";
}

DistConfig gloo_config(int64_t timeout_s = 30) {
  DistConfig c;
  c.backend = ibllm::dist::Backend::kGloo;
  c.timeout_s = timeout_s;
  return c;
}

std::unique_ptr<Communicator> connect(int rank, int world, int port, const DistConfig& cfg) {
  return make_communicator(test::loopback_env(rank, world, port), cfg, at::Device(at::kCPU));
}

void expect(bool cond, const std::string& what) {
  if (!cond) throw std::runtime_error(what);
}

void require_all_ok(const std::vector<RankOutcome>& out) {
  INFO(describe(out));
  for (const auto& o : out) CHECK(o.ok);
}

#define IBLLM_REQUIRE_GLOO() \
  if (!IBLLM_DIST_HAS_GLOO) IBLLM_SKIP("built without Gloo headers (libgloo-dev)")

// Rank r's gradients for the GradSync tests: a fixed mix of fp32 and bf16 shapes.
std::vector<at::Tensor> rank_grads(int rank) {
  at::manual_seed(1000 + rank);
  const std::vector<std::pair<std::vector<int64_t>, at::ScalarType>> shapes = {
      {{64, 32}, at::kFloat}, {{32}, at::kBFloat16}, {{100}, at::kFloat},
      {{16, 16}, at::kBFloat16}, {{300}, at::kFloat}, {{7, 3}, at::kFloat},
      {{1}, at::kBFloat16},   {{50, 20}, at::kFloat}};
  std::vector<at::Tensor> g;
  for (const auto& [shape, dtype] : shapes) g.push_back(at::randn(shape).to(dtype));
  return g;
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

// Runs GradSync on `world` ranks and checks the result against the mean computed locally from
// every rank's (seeded) gradients. fp32 tolerance: 1e-6 relative to the largest element (the
// ring adds in a different order than the reference). bf16 buckets: the sum is rounded to bf16
// (relative step 2^-8) before the division, so 1e-2. bf16 wire format for fp32: each addend and the
// sum are rounded to bf16, so 2e-2 of the largest magnitude.
std::string grad_sync_body(int rank, int world, int port, bool bf16_comm) {
  auto comm = connect(rank, world, port, gloo_config());
  const std::vector<at::Tensor> mine = rank_grads(rank);
  std::vector<at::Tensor> params;
  for (const auto& g : mine) params.push_back(at::zeros_like(g));
  DistConfig cfg = gloo_config();
  cfg.bucket_mb = 4096.0 / (1024.0 * 1024.0);  // 4 KiB: several buckets per dtype
  cfg.bf16_grad_comm = bf16_comm;
  GradSync sync(*comm, params, cfg);
  expect(sync.num_buckets() >= 4, "expected several buckets, got " +
                                      std::to_string(sync.num_buckets()));
  std::vector<at::Tensor> grads;
  for (const auto& g : mine) grads.push_back(g.clone());
  sync.average(grads);
  std::string report;
  for (size_t i = 0; i < grads.size(); ++i) {
    at::Tensor mean = at::zeros(mine[i].sizes(), at::kDouble);
    for (int r = 0; r < world; ++r) mean += rank_grads(r)[i].to(at::kDouble);
    mean /= world;
    const double scale = mean.abs().max().item<double>() + 1e-12;
    const double err = max_abs_diff(grads[i], mean) / scale;
    const bool is_bf16 = mine[i].scalar_type() == at::kBFloat16;
    const double tol = is_bf16 ? 1e-2 : (bf16_comm ? 2e-2 : 1e-6);
    expect(grads[i].scalar_type() == mine[i].scalar_type(), "dtype changed");
    expect(err <= tol, "grad " + std::to_string(i) + " relative error " + std::to_string(err) +
                           " > " + std::to_string(tol));
    if (!is_bf16 && bf16_comm) report += " " + std::to_string(err);
  }
  return "buckets=" + std::to_string(sync.num_buckets()) + " bytes=" +
         std::to_string(sync.comm_bytes()) + report;
}

}  // namespace

TEST_CASE("dist config parses the dist: section strictly", "[dist]") {
  {
    auto doc = config::Document::from_string(
        "dist: {backend: gloo, timeout_s: 30, master_addr: node1, master_port: 1234, "
        "bucket_mb: 10, bf16_grad_comm: true, overlap: false, zero_stage: 1}\n",
        "d.yaml");
    const DistConfig c = parse_dist_config(doc.root().child("dist"));
    doc.finish();
    CHECK_FALSE(c.overlap);
    CHECK(c.zero_stage == 1);
    CHECK(DistConfig{}.overlap);
    CHECK(DistConfig{}.zero_stage == 0);
    CHECK(c.backend == ibllm::dist::Backend::kGloo);
    CHECK(c.timeout_s == 30);
    CHECK(c.master_addr == "node1");
    CHECK(c.master_port == 1234);
    CHECK(c.bucket_mb == 10.0);
    CHECK(c.bf16_grad_comm);
  }
  {
    auto doc = config::Document::from_string(
        "dist: {backend: mpi, timeout_s: 0, bucket_mb: 0, master_port: 70000, bucket: 3, "
        "zero_stage: 2}\n",
        "d.yaml");
    parse_dist_config(doc.root().child("dist"));
    const std::string msg = config_error([&] { doc.finish(); });
    CHECK(msg.find("dist.backend") != std::string::npos);
    CHECK(msg.find("dist.timeout_s") != std::string::npos);
    CHECK(msg.find("dist.bucket_mb") != std::string::npos);
    CHECK(msg.find("dist.master_port") != std::string::npos);
    CHECK(msg.find("dist.bucket") != std::string::npos);
    CHECK(msg.find("dist.zero_stage") != std::string::npos);
  }
  CHECK(resolve_backend(DistConfig{}, at::Device(at::kCPU)) == "gloo");
  CHECK(resolve_backend(DistConfig{}, at::Device(at::kCUDA, 0)) == "nccl");
  DistConfig nccl;
  nccl.backend = ibllm::dist::Backend::kNccl;
  CHECK(config_error([&] { resolve_backend(nccl, at::Device(at::kCPU)); }).find("nccl") !=
        std::string::npos);
}

TEST_CASE("dist env: single process, torchrun and Slurm variables", "[dist]") {
  EnvGuard guard;
  const DistConfig none;
  SECTION("nothing set: a single process") {
    const DistEnv e = detect_dist_env(none);
    CHECK(e.source == "single");
    CHECK(e.rank == 0);
    CHECK(e.world_size == 1);
  }
  SECTION("torchrun") {
    guard.set("RANK", "5");
    guard.set("WORLD_SIZE", "16");
    guard.set("LOCAL_RANK", "5");
    guard.set("LOCAL_WORLD_SIZE", "8");
    guard.set("MASTER_ADDR", "10.0.0.1");
    guard.set("MASTER_PORT", "29501");
    DistEnv e = detect_dist_env(none);
    CHECK(e.source == "torchrun");
    CHECK(e.rank == 5);
    CHECK(e.world_size == 16);
    CHECK(e.local_rank == 5);
    CHECK(e.local_world_size == 8);
    CHECK(e.master_addr == "10.0.0.1");
    CHECK(e.master_port == 29501);
    CHECK_FALSE(e.use_agent_store);
    DistConfig over;
    over.master_addr = "head";
    over.master_port = 4000;
    e = detect_dist_env(over);
    CHECK(e.master_addr == "head");
    CHECK(e.master_port == 4000);
    guard.set("TORCHELASTIC_USE_AGENT_STORE", "True");
    guard.set("TORCHELASTIC_RESTART_COUNT", "2");
    e = detect_dist_env(none);
    CHECK(e.use_agent_store);
    CHECK(e.store_prefix == "/worker/attempt_2");
    // torchrun wins over Slurm when both are present (torchrun inside an allocation).
    guard.set("SLURM_PROCID", "0");
    guard.set("SLURM_NTASKS", "2");
    CHECK(detect_dist_env(none).source == "torchrun");
  }
  SECTION("torchrun: inconsistent or missing values name the variable") {
    guard.set("RANK", "2");
    guard.set("WORLD_SIZE", "2");
    guard.set("LOCAL_RANK", "0");
    guard.set("LOCAL_WORLD_SIZE", "2");
    guard.set("MASTER_ADDR", "127.0.0.1");
    guard.set("MASTER_PORT", "29500");
    CHECK(config_error([&] { detect_dist_env(none); }).find("RANK") != std::string::npos);
    guard.set("RANK", "1");
    guard.set("LOCAL_RANK", "x1");
    CHECK(config_error([&] { detect_dist_env(none); }).find("LOCAL_RANK='x1'") !=
          std::string::npos);
    guard.set("LOCAL_RANK", "1");
    guard.set("LOCAL_WORLD_SIZE", "4");
    CHECK(config_error([&] { detect_dist_env(none); }).find("LOCAL_WORLD_SIZE") !=
          std::string::npos);
    guard.set("LOCAL_WORLD_SIZE", "2");
    guard.set("MASTER_PORT", "99999");
    CHECK(config_error([&] { detect_dist_env(none); }).find("MASTER_PORT") != std::string::npos);
    ::unsetenv("MASTER_PORT");
    CHECK(config_error([&] { detect_dist_env(none); }).find("MASTER_PORT") != std::string::npos);
    ::unsetenv("LOCAL_WORLD_SIZE");
    CHECK(config_error([&] { detect_dist_env(none); }).find("LOCAL_WORLD_SIZE is not set") !=
          std::string::npos);
    ::unsetenv("RANK");  // WORLD_SIZE alone is still a torchrun launch, with RANK missing
    CHECK(config_error([&] { detect_dist_env(none); }).find("RANK is not set") !=
          std::string::npos);
  }
  SECTION("Slurm") {
    guard.set("SLURM_PROCID", "9");
    guard.set("SLURM_NTASKS", "16");
    guard.set("SLURM_LOCALID", "1");
    guard.set("SLURM_TASKS_PER_NODE", "8(x2)");
    guard.set("SLURM_NODEID", "1");
    guard.set("SLURM_JOB_NODELIST", "gpu[07-08]");
    guard.set("SLURM_JOB_ID", "123456");
    DistEnv e = detect_dist_env(none);
    CHECK(e.source == "slurm");
    CHECK(e.rank == 9);
    CHECK(e.world_size == 16);
    CHECK(e.local_rank == 1);
    CHECK(e.local_world_size == 8);
    CHECK(e.master_addr == "gpu07");
    CHECK(e.master_port == kDefaultMasterPort + 456);
    guard.set("MASTER_PORT", "31000");
    CHECK(detect_dist_env(none).master_port == 31000);
    DistConfig over;
    over.master_addr = "head";
    over.master_port = 4000;
    e = detect_dist_env(over);
    CHECK(e.master_addr == "head");
    CHECK(e.master_port == 4000);
    guard.set("SLURM_TASKS_PER_NODE", "3,1");
    guard.set("SLURM_NTASKS", "4");
    guard.set("SLURM_PROCID", "3");
    guard.set("SLURM_LOCALID", "0");
    CHECK(detect_dist_env(none).local_world_size == 1);
    guard.set("SLURM_PROCID", "4");
    CHECK(config_error([&] { detect_dist_env(none); }).find("SLURM_PROCID") != std::string::npos);
    guard.set("SLURM_PROCID", "0");
    guard.set("SLURM_LOCALID", "1");
    CHECK(config_error([&] { detect_dist_env(none); }).find("SLURM_LOCALID") !=
          std::string::npos);
    ::unsetenv("SLURM_LOCALID");
    CHECK(config_error([&] { detect_dist_env(none); }).find("SLURM_LOCALID is not set") !=
          std::string::npos);
  }
  SECTION("Slurm host lists") {
    CHECK(first_slurm_host("node1") == "node1");
    CHECK(first_slurm_host("node1,node2") == "node1");
    CHECK(first_slurm_host("gpu[03-05,9],cpu1") == "gpu03");
    CHECK(first_slurm_host("rack1-[12,14]-ib") == "rack1-12-ib");
  }
}

TEST_CASE("dist buckets: dtype-homogeneous, ordered, capped", "[dist]") {
  const std::vector<at::Tensor> t = {at::zeros({10}), at::zeros({4}, at::kBFloat16),
                                     at::zeros({20}), at::zeros({100}), at::zeros({3}),
                                     at::zeros({2}, at::kBFloat16)};
  const auto plan = plan_buckets(t, 30 * 4);  // 30 fp32 elements
  // fp32: {0,2} (30 elements), {3} (alone, larger than the cap), {4}; bf16: {1,5}
  REQUIRE(plan.size() == 4);
  CHECK(plan[0].members == std::vector<size_t>{0, 2});
  CHECK(plan[0].offsets == std::vector<int64_t>{0, 10});
  CHECK(plan[1].members == std::vector<size_t>{3});
  CHECK(plan[2].members == std::vector<size_t>{4});
  CHECK(plan[3].members == std::vector<size_t>{1, 5});
  CHECK(plan[3].dtype == at::kBFloat16);
  // Single process: the local communicator and GradSync are no-ops that still validate input.
  LocalCommunicator local;
  GradSync sync(local, t, DistConfig{});
  std::vector<at::Tensor> g;
  for (const auto& x : t) g.push_back(at::ones_like(x));
  sync.average(g);
  CHECK(g[0].sum().item<float>() == 10.0f);
  g[1] = at::Tensor();
  CHECK_THROWS_AS(sync.average(g), DistError);
  g[1] = at::ones({4});  // fp32 gradient for a bf16 parameter
  CHECK_THROWS_AS(sync.average(g), DistError);
  CHECK(local.sum(int64_t{7}) == 7);
  CHECK(local.all_gather_strings("x") == std::vector<std::string>{"x"});
}

TEST_CASE("dist 2 Gloo ranks: all_reduce, broadcast, all_gather, barrier", "[dist][skips]") {
  IBLLM_REQUIRE_GLOO();
  const int port = test::free_port();
  const auto out = run_ranks(2, 60, [&](int rank) -> std::string {
    auto comm = connect(rank, 2, port, gloo_config());
    expect(comm->rank() == rank && comm->world_size() == 2 && comm->backend() == "gloo",
           "identity");
    std::vector<at::Tensor> t{at::full({5}, rank + 1.0f), at::arange(4, at::kLong) * (rank + 1)};
    comm->all_reduce_sum(t);
    expect(at::equal(t[0], at::full({5}, 3.0f)), "float sum");
    expect(at::equal(t[1], at::arange(4, at::kLong) * 3), "int64 sum");
    expect(comm->sum(int64_t{rank + 10}) == 21, "sum(int64)");
    expect(comm->sum(rank + 1) == 3, "sum(int)");
    expect(comm->sum(0.5 * rank) == 0.5, "sum(double)");
    expect(comm->max(rank == 1 ? 7.5 : -2.0) == 7.5, "max");
    std::vector<at::Tensor> b{at::full({3}, rank * 10.0f), at::full({2, 2}, rank, at::kInt)};
    comm->broadcast(b, 1);
    expect(at::equal(b[0], at::full({3}, 10.0f)) && at::equal(b[1], at::full({2, 2}, 1, at::kInt)),
           "broadcast from rank 1");
    const std::string long_one = std::string(1000, 'x') + "rank1";
    const auto all = comm->all_gather_strings(rank == 0 ? "" : long_one);
    expect(all.size() == 2 && all[0].empty() && all[1] == long_one,
           "all_gather_strings: sizes " + std::to_string(all.size()) + " " +
               (all.empty() ? "" : std::to_string(all[0].size()) + " " + std::to_string(all.back().size())));
    comm->barrier();
    bool threw = false;
    try {
      comm->broadcast(b, 2);
    } catch (const DistError&) {
      threw = true;
    }
    expect(threw, "broadcast root outside the world must throw");
    return "ok";
  });
  require_all_ok(out);
}

TEST_CASE("dist GradSync averages gradients over 2 and 3 Gloo ranks", "[dist][skips]") {
  IBLLM_REQUIRE_GLOO();
  for (int world : {2, 3}) {
    for (bool bf16_comm : {false, true}) {
      const int port = test::free_port();
      const auto out = run_ranks(world, 90, [&](int rank) {
        return grad_sync_body(rank, world, port, bf16_comm);
      });
      INFO("world " << world << " bf16_grad_comm " << bf16_comm);
      require_all_ok(out);
      if (bf16_comm) WARN("bf16 wire relative errors (fp32 grads): " << out[0].message);
    }
  }
}

TEST_CASE("dist broadcast_parameters makes differently initialised params identical", "[dist][skips]") {
  IBLLM_REQUIRE_GLOO();
  auto init = [](int rank) {
    at::manual_seed(rank);
    return std::vector<at::Tensor>{at::randn({40, 30}).requires_grad_(true),
                                   at::randn({7}).to(at::kBFloat16).requires_grad_(true),
                                   at::randn({3, 3, 3}).requires_grad_(true)};
  };
  const int port = test::free_port();
  const auto out = run_ranks(3, 60, [&](int rank) -> std::string {
    auto comm = connect(rank, 3, port, gloo_config());
    std::vector<at::Tensor> params = init(rank);
    const std::vector<at::Tensor> ref = init(0);
    const std::vector<at::Tensor> own = init(rank);
    broadcast_parameters(*comm, params);
    for (size_t i = 0; i < params.size(); ++i) {
      expect(at::equal(params[i].detach(), ref[i].detach()), "param " + std::to_string(i));
      expect(params[i].requires_grad(), "still a trainable leaf");
      if (rank != 0)
        expect(!at::equal(own[i].detach(), ref[i].detach()), "ranks started different");
    }
    return "ok";
  });
  require_all_ok(out);
}

TEST_CASE("dist signature mismatch: every rank throws a clean error naming it", "[dist][skips]") {
  IBLLM_REQUIRE_GLOO();
  const int port = test::free_port();
  const auto out = run_ranks(3, 60, [&](int rank) -> std::string {
    auto comm = connect(rank, 3, port, gloo_config());
    nlohmann::json sig = {{"llama.adapter_query.weight", {{"shape", {10, 4096}}, {"dtype", "F32"}}},
                          {"visual_proj.bias", {{"shape", {4096}}, {"dtype", "F32"}}}};
    check_same_signature(*comm, sig);  // identical: passes everywhere
    if (rank == 2) {
      sig["visual_proj.bias"]["shape"] = {512};
      sig["extra.weight"] = {{"shape", {1}}, {"dtype", "BF16"}};
    }
    try {
      check_same_signature(*comm, sig);
    } catch (const DistError& e) {
      throw std::runtime_error(std::string("DistError: ") + e.what());
    }
    comm->barrier();
    return "no error";
  });
  INFO(describe(out));
  for (const auto& o : out) {
    CHECK_FALSE(o.killed);
    CHECK(o.exit_code == 1);
    CHECK(o.message.find("DistError: model signature differs") != std::string::npos);
    CHECK(o.message.find("rank(s) 2 differ") != std::string::npos);
    CHECK(o.message.find("/visual_proj.bias/shape = [512] on rank 2, [4096] on rank 0") !=
          std::string::npos);
    CHECK(o.message.find("/extra.weight/dtype = \"BF16\" only on rank 2") != std::string::npos);
  }
}

TEST_CASE("dist peer liveness from /proc/<pid>/stat: zombie, exiting, reused pid", "[dist]") {
  using dist::parse_proc_stat;
  using dist::stat_says_alive;
  // Field 2 may hold spaces and parentheses; fields 9 (flags) and 22 (start time) are read.
  const std::string running =
      "4242 (ibllm (rank) 1) S 1 4242 4242 0 -1 4194560 9000 0 0 0 12 3 0 0 20 0 5 0 777123 "
      "1000000 2000 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0";
  const auto st = parse_proc_stat(running);
  REQUIRE(st);
  CHECK(st->state == 'S');
  CHECK(st->flags == 4194560u);
  CHECK(st->start_time == 777123u);
  CHECK(stat_says_alive(*st, 777123));
  CHECK_FALSE(stat_says_alive(*st, 777124));  // another process got the pid
  dist::ProcStat zombie = *st;
  zombie.state = 'Z';
  CHECK_FALSE(stat_says_alive(zombie, 777123));
  // SIGKILLed and exiting (PF_EXITING = 0x4), still 'R' or 'D' while its memory is torn down: its
  // sockets may already be closed, so the peers' collectives fail and it must count as dead.
  dist::ProcStat exiting = *st;
  exiting.state = 'D';
  exiting.flags |= 0x4;
  CHECK_FALSE(stat_says_alive(exiting, 777123));
  CHECK_FALSE(parse_proc_stat("4242 (truncated) S 1 2 3"));
  CHECK_FALSE(parse_proc_stat(""));
  // This process, read for real: alive; a reaped child: not.
  const auto read_text = [](const std::string& path) {
    return dist::read_proc_file(path).value_or("");
  };
  dist::PeerProcess self;
  self.pid = ::getpid();
  self.start_time = parse_proc_stat(read_text("/proc/self/stat"))->start_time;
  CHECK(dist::peer_alive(self));
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  REQUIRE(child > 0);
  dist::PeerProcess kid;
  kid.pid = child;
  kid.start_time =
      parse_proc_stat(read_text("/proc/" + std::to_string(child) + "/stat"))->start_time;
  for (int i = 0; i < 200 && dist::peer_alive(kid); ++i)  // exited, not reaped: a zombie
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK_FALSE(dist::peer_alive(kid));
  int status = 0;
  ::waitpid(child, &status, 0);
  CHECK_FALSE(dist::peer_alive(kid));
  // A read() that fails (ESRCH for a process mid-exit; EISDIR here, which fails the same way
  // every time) is "cannot read", not an exception: the 2-rank campaign's survivor once reported
  // "basic_filebuf::underflow error reading the file: No such process" instead of the dead rank.
  const auto tmp = std::filesystem::temp_directory_path().string();
  std::optional<std::string> text;
  CHECK_NOTHROW(text = dist::read_proc_file(tmp));
  CHECK_FALSE(text);
  CHECK_FALSE(dist::read_proc_file("/proc/no-such-entry"));
  const auto self_stat = dist::read_proc_file("/proc/self/stat");
  REQUIRE(self_stat);
  CHECK(parse_proc_stat(*self_stat));
}

TEST_CASE("dist a dead or stuck peer makes the others fail within the timeout", "[dist][skips]") {
  IBLLM_REQUIRE_GLOO();
  SECTION("a rank exits before the collective") {
    const int port = test::free_port();
    const auto out = run_ranks(3, 40, [&](int rank) -> std::string {
      auto comm = connect(rank, 3, port, gloo_config(5));
      // Every pair of the mesh is connected before rank 1 dies (without the barrier a loaded
      // machine lets rank 1 exit while rank 2 is still joining, which fails in the join instead).
      comm->barrier();
      if (rank == 1) ::_exit(3);
      std::vector<at::Tensor> t{at::ones({1000})};
      comm->all_reduce_sum(t);
      comm->all_reduce_sum(t);
      return "all_reduce returned";
    });
    INFO(describe(out));
    CHECK(out[1].exit_code == 3);
    for (int r : {0, 2}) {
      CHECK_FALSE(out[static_cast<size_t>(r)].killed);
      CHECK(out[static_cast<size_t>(r)].exit_code == 1);
      CHECK(out[static_cast<size_t>(r)].message.find("all_reduce(sum) over gloo failed") !=
            std::string::npos);
      // The dead rank is named (not only Gloo's "Connection reset by peer [address]").
      CHECK(out[static_cast<size_t>(r)].message.find("rank 1 (pid ") != std::string::npos);
      CHECK(out[static_cast<size_t>(r)].message.find("on this machine) has exited") !=
            std::string::npos);
    }
  }
  SECTION("a rank never joins the collective (hung peer)") {
    const int port = test::free_port();
    const auto out = run_ranks(2, 40, [&](int rank) -> std::string {
      auto comm = connect(rank, 2, port, gloo_config(3));
      if (rank == 1) {
        std::this_thread::sleep_for(std::chrono::seconds(8));  // well past rank 0's 3 s timeout
        ::_exit(0);
      }
      std::vector<at::Tensor> t{at::ones({10})};
      comm->all_reduce_sum(t);
      return "all_reduce returned";
    });
    INFO(describe(out));
    CHECK_FALSE(out[0].killed);
    CHECK(out[0].exit_code == 1);
    CHECK(out[0].message.find("all_reduce(sum) over gloo failed") != std::string::npos);
    CHECK(out[0].message.find("rank 1 on this machine is still running") != std::string::npos);
  }
  SECTION("a rank never arrives at the rendezvous") {
    const int port = test::free_port();
    const auto out = run_ranks(1, 40, [&](int) -> std::string {
      connect(0, 2, port, gloo_config(2));
      return "rendezvous returned";
    });
    INFO(describe(out));
    CHECK_FALSE(out[0].killed);
    CHECK(out[0].exit_code == 1);
    // Depending on timing, the TCPStore or Gloo's pair set-up gives up first.
    const std::string at = "rendezvous at 127.0.0.1:" + std::to_string(port);
    const bool named = out[0].message.find(at + ") failed") != std::string::npos ||
                       out[0].message.find(at + " failed") != std::string::npos;
    CHECK(named);
  }
}

TEST_CASE("dist measurement: all-reduce of 100 MB fp32 in 25 MB buckets, 2 Gloo ranks", "[dist][skips]") {
  IBLLM_REQUIRE_GLOO();
  const int port = test::free_port();
  const auto out = run_ranks(2, 120, [&](int rank) -> std::string {
    auto comm = connect(rank, 2, port, gloo_config());
    std::vector<at::Tensor> params;
    for (int i = 0; i < 4; ++i) params.push_back(at::zeros({25 * 1024 * 1024 / 4}));
    std::vector<at::Tensor> grads;
    for (const auto& p : params) grads.push_back(at::full_like(p, rank + 1.0f));
    std::string report;
    for (bool bf16 : {false, true}) {
      DistConfig cfg = gloo_config();
      cfg.bucket_mb = 25.0;
      cfg.bf16_grad_comm = bf16;
      GradSync sync(*comm, params, cfg);
      sync.average(grads);  // warm-up (connections, first-touch of the buffers)
      comm->barrier();
      const auto t0 = std::chrono::steady_clock::now();
      const int reps = 3;
      for (int i = 0; i < reps; ++i) sync.average(grads);
      const double s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
      report += (bf16 ? " bf16-wire: " : "fp32: ") + std::to_string(s * 1e3) + " ms/step (" +
                std::to_string(sync.num_buckets()) + " buckets, " +
                std::to_string(sync.comm_bytes() / 1e6) + " MB)";
    }
    return report;
  });
  require_all_ok(out);
  WARN("GradSync 100 MB on 2 Gloo ranks (loopback, 1 thread each): " << out[0].message);
}

TEST_CASE("dist torchrun agent store: every rank joins as a client under the attempt prefix",
          "[dist][skips]") {
  IBLLM_REQUIRE_GLOO();
  // Rank 2 plays torchrun's agent (torch >= 2.4, TORCHELASTIC_USE_AGENT_STORE=True): it hosts
  // the TCPStore; ranks 0 and 1 must not start a second server on the same port.
  const int port = test::free_port();
  auto client = [&](bool server) {
    c10d::TCPStoreOptions o;
    o.port = static_cast<std::uint16_t>(port);
    o.isServer = server;
    o.waitWorkers = false;
    o.timeout = std::chrono::seconds(30);
    return c10::make_intrusive<c10d::TCPStore>("127.0.0.1", o);
  };
  const auto out = run_ranks(3, 60, [&](int rank) -> std::string {
    if (rank == 2) {
      auto store = client(true);
      while (store->add("done", 0) < 2) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      return "agent";
    }
    DistEnv env = test::loopback_env(rank, 2, port);
    env.use_agent_store = true;
    env.store_prefix = "/worker/attempt_0";
    auto comm = make_communicator(env, gloo_config(), at::Device(at::kCPU));
    const int64_t total = comm->sum(int64_t{rank + 1});
    client(false)->add("done", 1);
    expect(total == 3, "sum " + std::to_string(total));
    return "ok";
  });
  require_all_ok(out);
}

// Worker for the launch/local.sh test: joins the job described by the launcher's environment.
// Hidden ([.]): it only makes sense under a launcher.
TEST_CASE("dist launcher worker", "[.dist_worker]") {
  DistConfig cfg = gloo_config(20);
  const DistEnv env = detect_dist_env(cfg);
  REQUIRE(env.source == "torchrun");
  auto comm = make_communicator(env, cfg, at::Device(at::kCPU));
  const int64_t total = comm->sum(env.rank + 1);
  std::printf("worker rank %lld of %lld: sum %lld\n", static_cast<long long>(env.rank),
              static_cast<long long>(env.world_size), static_cast<long long>(total));
  REQUIRE(total == env.world_size * (env.world_size + 1) / 2);
}

TEST_CASE("dist launch/local.sh spawns ranks, prefixes output, stops on failure", "[dist]") {
  const auto dir = test::scratch_dir("dist_local_sh");
  const std::string script = (test::source_dir() / "launch" / "local.sh").string();
  auto run = [&](const std::string& args, const std::string& name) {
    const std::string log = (dir / name).string();
    const int status = std::system((script + " " + args + " > " + log + " 2>&1").c_str());
    std::ifstream in(log);
    std::stringstream ss;
    ss << in.rdbuf();
    return std::make_pair(WIFEXITED(status) ? WEXITSTATUS(status) : -1, ss.str());
  };
  {
    const auto [rc, text] = run(
        "2 -- /bin/sh -c 'echo \"env $RANK/$WORLD_SIZE $LOCAL_RANK/$LOCAL_WORLD_SIZE "
        "$MASTER_ADDR:$MASTER_PORT\"'",
        "ok.log");
    INFO(text);
    CHECK(rc == 0);
    CHECK(text.find("[rank 0] env 0/2 0/2 127.0.0.1:") != std::string::npos);
    CHECK(text.find("[rank 1] env 1/2 1/2 127.0.0.1:") != std::string::npos);
  }
  {
    const auto [rc, text] = run(
        "3 -- /bin/sh -c 'if [ $RANK = 1 ]; then exit 7; fi; sleep 20; echo survived'",
        "fail.log");
    INFO(text);
    CHECK(rc == 7);
    CHECK(text.find("survived") == std::string::npos);
    CHECK(text.find("rank 1 exited with status 7") != std::string::npos);
  }
  {
    const auto [rc, text] = run("0 -- /bin/true", "usage.log");
    CHECK(rc == 2);
  }
  if (IBLLM_DIST_HAS_GLOO) {
    // End to end: environment -> detect_dist_env -> TCPStore + Gloo, in 2 launched processes.
    const auto [rc, text] = run("2 -- /proc/" + std::to_string(::getpid()) +
                                    "/exe \"[.dist_worker]\"",
                                "worker.log");
    INFO(text);
    CHECK(rc == 0);
    CHECK(text.find("[rank 0] worker rank 0 of 2: sum 3") != std::string::npos);
    CHECK(text.find("[rank 1] worker rank 1 of 2: sum 3") != std::string::npos);
  }
}
