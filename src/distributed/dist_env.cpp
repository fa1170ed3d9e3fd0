// Launcher environment detection; see dist_env.h. Slurm's per-node task count is read from
// SLURM_TASKS_PER_NODE ("8(x2)" or "2,1") at this node's SLURM_NODEID, so uneven allocations work.
#include "src/distributed/dist_env.h"

#include <cstdlib>
#include <string>
#include <vector>

#include "src/core/error.h"

namespace ibllm::dist {
namespace {

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? v : nullptr;
}

int64_t parse_int(const std::string& text, const std::string& var) {
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(text, &used, 10);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size())
    throw ConfigError("environment variable " + var + "='" + text + "' is not an integer",
                      "check the launcher (torchrun / srun / launch/local.sh) that set it");
  return static_cast<int64_t>(v);
}

int64_t required_int(const char* var, const std::string& why) {
  const char* v = env(var);
  if (v == nullptr)
    throw ConfigError(std::string("environment variable ") + var + " is not set, but " + why,
                      "launch with torchrun, srun or launch/local.sh, which set all of them");
  return parse_int(v, var);
}

[[noreturn]] void inconsistent(const std::string& var, const std::string& msg) {
  throw ConfigError("environment variable " + var + " is inconsistent: " + msg,
                    "check the launcher; a wrong rank would hang or corrupt the run");
}

void check_ranks(const DistEnv& e, const char* rank_var, const char* world_var,
                 const char* local_var, const char* local_world_var) {
  if (e.world_size < 1) inconsistent(world_var, "must be >= 1, got " + std::to_string(e.world_size));
  if (e.rank < 0 || e.rank >= e.world_size)
    inconsistent(rank_var, std::to_string(e.rank) + " is outside [0, " +
                               std::to_string(e.world_size) + ")");
  if (e.local_world_size < 1 || e.local_world_size > e.world_size)
    inconsistent(local_world_var, std::to_string(e.local_world_size) + " is outside [1, " +
                                      std::to_string(e.world_size) + "]");
  if (e.local_rank < 0 || e.local_rank >= e.local_world_size)
    inconsistent(local_var, std::to_string(e.local_rank) + " is outside [0, " +
                                std::to_string(e.local_world_size) + ")");
}

void check_port(int64_t port, const std::string& var) {
  if (port < 1 || port > 65535) inconsistent(var, std::to_string(port) + " is not a TCP port");
}

// Expands "8(x2),4" into {8, 8, 4}.
std::vector<int64_t> expand_tasks_per_node(const std::string& text) {
  std::vector<int64_t> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = text.find(',', pos);
    const std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos
                                                                          : comma - pos);
    const size_t paren = item.find("(x");
    const int64_t count = parse_int(item.substr(0, paren), "SLURM_TASKS_PER_NODE");
    int64_t repeat = 1;
    if (paren != std::string::npos) {
      if (item.back() != ')') inconsistent("SLURM_TASKS_PER_NODE", "cannot parse '" + text + "'");
      repeat = parse_int(item.substr(paren + 2, item.size() - paren - 3), "SLURM_TASKS_PER_NODE");
    }
    for (int64_t i = 0; i < repeat; ++i) out.push_back(count);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

DistEnv from_torchrun(const DistConfig& cfg) {
  const std::string why = "RANK is set (torchrun-style launch)";
  DistEnv e;
  e.source = "torchrun";
  e.rank = required_int("RANK", why);
  e.world_size = required_int("WORLD_SIZE", why);
  e.local_rank = required_int("LOCAL_RANK", why);
  e.local_world_size = required_int("LOCAL_WORLD_SIZE", why);
  check_ranks(e, "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE");
  if (!cfg.master_addr.empty()) {
    e.master_addr = cfg.master_addr;
  } else if (const char* a = env("MASTER_ADDR")) {
    e.master_addr = a;
  } else if (e.world_size > 1) {
    throw ConfigError("environment variable MASTER_ADDR is not set (world size " +
                          std::to_string(e.world_size) + ")",
                      "set MASTER_ADDR or dist.master_addr");
  }
  if (cfg.master_port > 0) {
    e.master_port = cfg.master_port;
  } else if (env("MASTER_PORT") != nullptr) {
    e.master_port = required_int("MASTER_PORT", why);
    check_port(e.master_port, "MASTER_PORT");
  } else if (e.world_size > 1) {
    throw ConfigError("environment variable MASTER_PORT is not set (world size " +
                          std::to_string(e.world_size) + ")",
                      "set MASTER_PORT or dist.master_port");
  }
  const char* agent = env("TORCHELASTIC_USE_AGENT_STORE");
  if (agent != nullptr && std::string(agent) == "True") {
    e.use_agent_store = true;
    const char* restart = env("TORCHELASTIC_RESTART_COUNT");
    e.store_prefix = std::string("/worker/attempt_") + (restart != nullptr ? restart : "0");
  }
  return e;
}

DistEnv from_slurm(const DistConfig& cfg) {
  const std::string why = "SLURM_PROCID is set (srun launch)";
  DistEnv e;
  e.source = "slurm";
  e.rank = required_int("SLURM_PROCID", why);
  e.world_size = required_int("SLURM_NTASKS", why);
  e.local_rank = required_int("SLURM_LOCALID", why);
  const char* local_world_var = "SLURM_TASKS_PER_NODE";
  if (const char* tpn = env("SLURM_TASKS_PER_NODE")) {
    const std::vector<int64_t> per_node = expand_tasks_per_node(tpn);
    const int64_t node = env("SLURM_NODEID") != nullptr ? required_int("SLURM_NODEID", why) : 0;
    if (node < 0 || node >= static_cast<int64_t>(per_node.size()))
      inconsistent("SLURM_NODEID", std::to_string(node) + " is outside the " +
                                       std::to_string(per_node.size()) +
                                       " nodes of SLURM_TASKS_PER_NODE='" + tpn + "'");
    e.local_world_size = per_node[static_cast<size_t>(node)];
  } else if (env("SLURM_NTASKS_PER_NODE") != nullptr) {
    local_world_var = "SLURM_NTASKS_PER_NODE";
    e.local_world_size = required_int("SLURM_NTASKS_PER_NODE", why);
  } else {
    e.local_world_size = e.world_size;  // one node unless Slurm says otherwise
  }
  check_ranks(e, "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", local_world_var);
  if (!cfg.master_addr.empty()) {
    e.master_addr = cfg.master_addr;
  } else if (const char* a = env("MASTER_ADDR")) {
    e.master_addr = a;
  } else if (const char* list = env("SLURM_JOB_NODELIST")) {
    e.master_addr = first_slurm_host(list);
  } else if (const char* list2 = env("SLURM_NODELIST")) {
    e.master_addr = first_slurm_host(list2);
  } else if (e.world_size > 1) {
    throw ConfigError("neither dist.master_addr, MASTER_ADDR nor SLURM_JOB_NODELIST is set",
                      "set dist.master_addr to the first node's host name");
  }
  if (cfg.master_port > 0) {
    e.master_port = cfg.master_port;
  } else if (env("MASTER_PORT") != nullptr) {
    e.master_port = required_int("MASTER_PORT", why);
    check_port(e.master_port, "MASTER_PORT");
  } else {
    // Derived from the job id so two jobs sharing a node do not collide on one port.
    const char* job = env("SLURM_JOB_ID");
    e.master_port = kDefaultMasterPort + (job != nullptr ? parse_int(job, "SLURM_JOB_ID") % 1000 : 0);
  }
  return e;
}

}  // namespace

std::string first_slurm_host(const std::string& nodelist) {
  // The first entry ends at a comma outside brackets.
  size_t end = 0;
  int depth = 0;
  for (; end < nodelist.size(); ++end) {
    const char ch = nodelist[end];
    if (ch == '[') ++depth;
    if (ch == ']') --depth;
    if (ch == ',' && depth == 0) break;
  }
  const std::string first = nodelist.substr(0, end);
  const size_t open = first.find('[');
  if (open == std::string::npos) return first;
  const size_t close = first.find(']', open);
  if (close == std::string::npos)
    inconsistent("SLURM_JOB_NODELIST", "unbalanced '[' in '" + nodelist + "'");
  const std::string range = first.substr(open + 1, close - open - 1);
  const size_t stop = range.find_first_of(",-");
  // Zero padding is kept as written ("gpu[03-05]" -> "gpu03").
  return first.substr(0, open) + range.substr(0, stop) + first.substr(close + 1);
}

DistEnv detect_dist_env(const DistConfig& cfg) {
  if (env("RANK") != nullptr || env("WORLD_SIZE") != nullptr) return from_torchrun(cfg);
  if (env("SLURM_PROCID") != nullptr) return from_slurm(cfg);
  DistEnv e;
  e.source = "single";
  return e;
}

}  // namespace ibllm::dist
